package gateway

import (
	"context"
	"encoding/json"
	"time"
)

// The delivery of the record to the force's incident system. When a
// verification closes (its first event in a terminal state) the store
// writes, in that event's transaction, an outbox entry of type
// OutboxClosed, and one of type OutboxFlagged when it never connected
// (Verification.NeverConnected). Each entry's body is built once, by
// OutboxMessages, and sent with the entry's ID on every try.

// The types of outbox entry. Append only.
const (
	OutboxClosed  = "verification.closed"  // a verification reached a terminal state
	OutboxFlagged = "verification.flagged" // it ended without its call ever connecting
)

// OutboxState is how far an entry's delivery has got.
type OutboxState string

// The outbox states. Append only.
const (
	OutboxPending   OutboxState = "pending"   // not yet answered with a 2xx
	OutboxDelivered OutboxState = "delivered" // the receiver answered 2xx
	OutboxDead      OutboxState = "dead"      // given up: its retry window passed, or the receiver answered 410
)

// OutboxEntry is one message to the force's incident system.
type OutboxEntry struct {
	ID             string          `json:"id"` // "msg_" + random, the webhook-id of every try
	VerificationID string          `json:"verification"`
	Type           string          `json:"type"`
	Body           json.RawMessage `json:"-"` // built once (OutboxMessages)
	State          OutboxState     `json:"state"`
	Attempts       int             `json:"attempts"`
	NextAt         time.Time       `json:"next_at"`
	LastError      string          `json:"last_error,omitempty"` // no secrets, no body
	// Since is when its retry window began: its writing, or the replay
	// that made it pending again.
	Since     time.Time `json:"since"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// OutboxTry is what one try of an entry came to, as its deliverer
// records it.
type OutboxTry struct {
	State  OutboxState // pending (to be tried again at NextAt), delivered or dead
	NextAt time.Time
	Error  string // no secrets, no body
}

// OutboxFilter selects outbox entries.
type OutboxFilter struct {
	VerificationID string
	State          OutboxState // empty: any
	Limit          int         // 0: no limit
}

// OpsOutboxReplay is the ops record's action of an entry made pending
// again by ops; OpsOutboxDead of one given up.
const (
	OpsOutboxReplay = "outbox.replay"
	OpsOutboxDead   = "outbox.dead"
)

// OutboxStore keeps the outbox. A store given an incident system to
// deliver to writes OutboxMessages' entries in the transaction of the
// event that closes a verification; instances claim due entries, try
// them, and settle each try.
type OutboxStore interface {
	// ClaimOutbox leases to instance, for ttl, at most limit pending
	// entries due by the store's clock, with no live lease of another
	// instance and no pending entry of their verification written before
	// them (so one verification's entries go in order), oldest first,
	// with their bodies. Of instances claiming at once, no two get one
	// entry. An instance's own leases are its to take again (it claims one
	// batch at a time, so none of them is in flight; restarted under its
	// name after a crash, it goes on at once).
	ClaimOutbox(ctx context.Context, instance string, ttl time.Duration, limit int) ([]OutboxEntry, error)
	// SettleOutbox records a try of an entry claimed by instance: its
	// attempts one more, t's state, next time and error, its lease given
	// up. A try that makes it dead writes ev (its Before and After set by
	// the store) in the same transaction. ENOTFOUND; ECONFLICT when
	// instance no longer holds the entry (its lease lapsed and another
	// took it).
	SettleOutbox(ctx context.Context, id, instance string, t OutboxTry, ev OpsEvent) (OutboxEntry, error)
	// OutboxEntries lists entries oldest first, without bodies.
	OutboxEntries(ctx context.Context, f OutboxFilter) ([]OutboxEntry, error)
	// OutboxEntry returns one entry with its body. ENOTFOUND.
	OutboxEntry(ctx context.Context, id string) (OutboxEntry, error)
	// ReplayOutbox makes a delivered or dead entry pending again with its
	// id, due now, its attempts 0 and its retry window from now, writing
	// ev in the same transaction. ENOTFOUND; ECONFLICT when it is pending.
	ReplayOutbox(ctx context.Context, id string, ev OpsEvent) (OutboxEntry, error)
}

// OutboxBody is what an incident system is told of a verification: no
// member of the public's number or its hash, no warrant number, no join
// link, no note.
type OutboxBody struct {
	Type         string        `json:"type"`
	Verification string        `json:"verification"`
	Reference    string        `json:"reference"`
	Room         string        `json:"room"`
	Origin       Origin        `json:"origin"`
	State        State         `json:"state"`
	Reason       string        `json:"reason,omitempty"`
	Outcome      OutcomeResult `json:"outcome,omitempty"`
	Supervisor   string        `json:"supervisor,omitempty"` // the supervisor's collar or rank and number
	Officer      string        `json:"officer,omitempty"`    // the officer's collar number
	Force        string        `json:"force,omitempty"`
	Device       string        `json:"device,omitempty"`
	Channel      Channel       `json:"channel,omitempty"`
	CreatedAt    time.Time     `json:"created_at"`
	ClosedAt     time.Time     `json:"closed_at"`
	Seq          int64         `json:"event"` // the closing event's Seq
}

// OutboxMessages returns the entries to write with ev, the event just
// written for v (as it is after the event): none unless ev is v's first
// event in a terminal state (closed tells whether an OutboxClosed entry
// exists already), else OutboxClosed, and OutboxFlagged when v never
// connected. Their IDs are new, their bodies built once, pending from at.
func OutboxMessages(v Verification, ev Event, closed bool, at time.Time) ([]OutboxEntry, error) {
	if closed || !ev.State.Terminal() {
		return nil, nil
	}
	types := []string{OutboxClosed}
	if v.NeverConnected() {
		types = append(types, OutboxFlagged)
	}
	var out []OutboxEntry
	for _, typ := range types {
		b := OutboxBody{Type: typ, Verification: v.ID, Reference: v.Reference, Room: v.RoomID, Origin: v.Origin,
			State: ev.State, Reason: v.Reason, Officer: v.Officer.Collar, Force: v.Officer.Force,
			Device: v.DeviceID, Channel: v.Channel, CreatedAt: v.CreatedAt.UTC(), ClosedAt: ev.At.UTC(), Seq: ev.Seq}
		if b.Origin == "" {
			b.Origin = OriginOfficer
		}
		if v.Outcome != nil {
			b.Outcome, b.Supervisor = v.Outcome.Result, v.Outcome.Supervisor
		}
		body, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		out = append(out, pendingEntry(v.ID, typ, body, at))
	}
	return out, nil
}

// pendingEntry is a new outbox entry of a verification, pending from at.
func pendingEntry(verification, typ string, body []byte, at time.Time) OutboxEntry {
	return OutboxEntry{ID: NewID("msg_"), VerificationID: verification, Type: typ, Body: body,
		State: OutboxPending, NextAt: at, Since: at, CreatedAt: at, UpdatedAt: at}
}

// OutboxChange returns ev with the entry before and after a change as its
// Before and After, bodies left out: the ops record's entry of an outbox
// entry given up or replayed.
func OutboxChange(ev OpsEvent, before, after OutboxEntry) (OpsEvent, error) {
	before.Body, after.Body = nil, nil
	b, err := json.Marshal(before)
	if err != nil {
		return ev, err
	}
	a, err := json.Marshal(after)
	if err != nil {
		return ev, err
	}
	ev.Before, ev.After = b, a
	return ev, nil
}
