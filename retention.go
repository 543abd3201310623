package gateway

import (
	"context"
	"time"
)

// Retention. A verification closed (in a terminal state) for longer than the
// retention period, and not on legal hold, loses its personal fields and
// keeps its skeleton: ids, times, room, device, channel, state, reference,
// the outcome's result and time, the attempts' results, every leaf of the
// log. An event's leaf loses its nonce with the event's personal fields in
// the same transaction, so CheckEventLeaf and every proof still hold.
//
// Erased, field by field:
//   - verifications: officer (collar, warrant, force), location (lat, lon),
//     contacts, join link, reason, the outcome's supervisor, note, rank,
//     number, room and credential, the caller's masked number and keyed
//     hash, the request's fingerprint and idempotency key;
//   - attempts: join link, provider reference, error text;
//   - events: message, data, report (and the leaf's nonce);
//   - orders for the verification: handle, join link, reference.
//
// The ops record is not erased: its entries name staff and devices, and
// their leaves keep their nonces.

// Hold is a legal hold on a verification: while it stands, retention keeps
// everything.
type Hold struct {
	VerificationID string    `json:"verification"`
	Reason         string    `json:"reason"`
	By             Actor     `json:"by"`
	At             time.Time `json:"at"` // set by the store
}

// The ops record's actions of retention.
const (
	OpsHoldPlace    = "verification.hold"
	OpsHoldLift     = "verification.unhold"
	OpsRetentionRun = "retention.erase"
)

// RetentionStore keeps legal holds and erases the personal fields of old
// closed verifications.
type RetentionStore interface {
	// PlaceHold puts a verification on legal hold, writing ev (its Before
	// and After set by the store) in the same transaction. ENOTFOUND;
	// EINVALID with no reason; ECONFLICT when it is already held.
	PlaceHold(ctx context.Context, h Hold, ev OpsEvent) (Hold, error)
	// LiftHold lifts the hold, writing ev in the same transaction.
	// ENOTFOUND when the verification is not held.
	LiftHold(ctx context.Context, id string, ev OpsEvent) error
	// HoldOf returns the verification's hold; ENOTFOUND when none.
	HoldOf(ctx context.Context, id string) (Hold, error)
	// Erased reports when the verification's personal fields were erased;
	// the zero time when they were not. ENOTFOUND.
	Erased(ctx context.Context, id string) (time.Time, error)
	// EraseClosed erases the personal fields of at most limit verifications
	// in a terminal state last changed before cutoff, not held and not yet
	// erased, and returns their IDs. Safe to run on every instance at once:
	// a verification is erased once.
	EraseClosed(ctx context.Context, cutoff time.Time, limit int) ([]string, error)
}
