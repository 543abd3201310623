package gateway

import (
	"context"
	"time"
)

// The store contract. Both stores (store/sqlite, store/postgres) implement
// Store and pass the one conformance suite in store/storetest. Every method
// that changes something has committed it durably when it returns.

// DeviceStore keeps the device pool.
type DeviceStore interface {
	// CreateDevice adds a device, in service, never seen. ECONFLICT if the ID
	// exists, EINVALID if the device has no ID or room.
	CreateDevice(ctx context.Context, d Device) (Device, error)
	// Device returns one device with its live lease, if any. ENOTFOUND.
	Device(ctx context.Context, id string) (Device, error)
	// Devices lists devices (with their live leases) ordered by room and ID;
	// an empty room lists every room. Retired devices only when asked.
	Devices(ctx context.Context, room string, withRetired bool) ([]Device, error)
	// UpdateDevice reads the device, applies fn and writes it back in one
	// transaction, bumping Version (a rotation: new name, number, handles,
	// status). A live lease is never touched: a call in progress goes on.
	// ENOTFOUND; ECONFLICT when the device is retired; fn's error as is.
	UpdateDevice(ctx context.Context, id string, fn func(*Device) error) (Device, error)
	// Heartbeat records that the device's agent is alive, with its battery
	// and working apps; LastSeen is the store's clock. ENOTFOUND.
	Heartbeat(ctx context.Context, id string, battery int, apps []Channel) (Device, error)
	// RecordHeartbeat is Heartbeat with everything the agent reports,
	// charging included (Heartbeat records it as not charging). ENOTFOUND.
	RecordHeartbeat(ctx context.Context, id string, hb HeartbeatReport) (Device, error)
}

// HeartbeatReport is what a device's agent says of its handset in a
// heartbeat.
type HeartbeatReport struct {
	Battery  int       // percent; -1 unknown
	Charging bool      // on a charger
	Apps     []Channel // apps signed in and working
}

// ClaimRequest asks for a free device.
type ClaimRequest struct {
	RoomIDs []string // rooms in order of preference: the local room, then its neighbours
	Channel Channel  // the device must support it
	Holder  string   // the verification that will hold the lease
	TTL     time.Duration
	// Stale: a device whose last heartbeat is older than this (store's
	// clock) is not routable. Zero means heartbeats are not checked.
	Stale   time.Duration
	Exclude []string // device IDs not to claim (they already failed this verification)
	// BatteryFloor: a device under this battery percentage and not charging
	// is not routable. Zero does not look at the battery.
	BatteryFloor int
}

// Health is the policy a claim judges devices by: Stale and BatteryFloor.
// The stores claim only a device it says serves the channel.
func (r ClaimRequest) Health() HealthPolicy {
	return HealthPolicy{Stale: r.Stale, BatteryFloor: r.BatteryFloor}
}

// ClaimStore hands out devices under leases.
type ClaimStore interface {
	// Claim atomically takes the least recently used free, in-service, fresh
	// device supporting the channel, trying the rooms in order, and leases it
	// to the holder with a fence higher than any before on that device.
	// EUNAVAILABLE when no device qualifies.
	Claim(ctx context.Context, req ClaimRequest) (Lease, Device, error)
	// Renew extends a live lease by ttl from now. ECONFLICT when the lease is
	// not the device's current one (released, expired and swept, or a newer
	// fence).
	Renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// Release ends a lease. ECONFLICT when it is not the device's current
	// one: a stale holder cannot release a newer claim.
	Release(ctx context.Context, l Lease, reason string) error
	// ExpireLeases frees every lease whose expiry has passed by the store's
	// clock and returns them.
	ExpireLeases(ctx context.Context) ([]Lease, error)
	// ClaimHistory lists claims, oldest first; an empty device ID lists all.
	ClaimHistory(ctx context.Context, deviceID string) ([]ClaimRecord, error)
	// FreeDevices counts routable free devices by room (in service, no live
	// lease, heartbeat within stale; zero stale skips that check).
	FreeDevices(ctx context.Context, stale time.Duration) (map[string]int, error)
	// ClaimDevice atomically leases the named device to the holder, with a
	// fence higher than any before on it, when it is in service, free (a
	// lease expired but not swept counts as free) and supports the
	// channel; its heartbeat is not checked (its agent has just spoken).
	// ENOTFOUND for no such device; ECONFLICT when it holds a live lease
	// or is not in service; EINVALID when it does not support the channel,
	// or for a claim without device, holder or positive TTL.
	ClaimDevice(ctx context.Context, c DeviceClaim) (Lease, Device, error)
}

// Transition is a change of a verification's state, applied atomically with
// its event.
type Transition struct {
	From  []State             // the states it may leave; empty: any
	To    State               // the new state; empty: unchanged
	Set   func(*Verification) // other fields to change, applied after the state check; may be nil
	Event Event               // written with the change; its State and VerificationID are filled in
	// Attempt, when set, is written in the same transaction, after the
	// state check, as PutAttempt would write it, with AttemptEvent before
	// Event (its State, when empty, the state before the change). It must
	// belong to the verification. A refused transition writes neither.
	Attempt      *Attempt
	AttemptEvent Event
}

// VerificationFilter selects verifications.
type VerificationFilter struct {
	States []State // any of them; empty: all
	RoomID string
	Since  time.Time // created at or after it; zero: any time
	Limit  int       // 0: no limit
	// Until: created before it; zero: any time.
	Until time.Time
	// Outcome: the supervisor recorded this outcome; empty: any.
	Outcome OutcomeResult
	// Channel: connected on this channel; empty: any.
	Channel Channel
	// Origin: asked for by this origin (OriginOfficer takes in those of
	// before origins); empty: any.
	Origin Origin
	// Newest lists newest first (by CreatedAt), the Limit newest.
	Newest bool
}

// VerificationStore keeps verifications, their attempts and their events.
type VerificationStore interface {
	// CreateVerification stores a new verification with its first event.
	// With a non-empty idempotency key already used by the same requester it
	// stores nothing and returns the existing verification and false, or
	// EIDEMPOTENCY when both have a Fingerprint and they differ: the key
	// used again with another request. The check is atomic: of concurrent
	// calls with one key, one stores its verification, and each other one
	// gets it, or EIDEMPOTENCY.
	CreateVerification(ctx context.Context, v Verification, idempotencyKey string, ev Event) (Verification, bool, error)
	// Verification returns one verification with its attempts (by Seq).
	// ENOTFOUND.
	Verification(ctx context.Context, id string) (Verification, error)
	// VerificationByReference finds one by its public reference. ENOTFOUND.
	VerificationByReference(ctx context.Context, ref string) (Verification, error)
	// Verifications lists verifications with their attempts, oldest first
	// (queued ones by QueuedAt, then CreatedAt).
	Verifications(ctx context.Context, f VerificationFilter) ([]Verification, error)
	// Transition applies t in one transaction and returns the result.
	// ENOTFOUND; ECONFLICT when the current state is not in t.From.
	Transition(ctx context.Context, id string, t Transition) (Verification, Event, error)
	// PutAttempt inserts or updates an attempt (by ID) and writes ev with it.
	PutAttempt(ctx context.Context, a Attempt, ev Event) (Event, error)
	// Attempt returns one attempt by its ID. ENOTFOUND.
	Attempt(ctx context.Context, id string) (Attempt, error)
	// AttemptByProviderRef finds the attempt a provider reference belongs to.
	// ENOTFOUND.
	AttemptByProviderRef(ctx context.Context, channel Channel, ref string) (Attempt, error)
	// AppendEvent writes an event and returns it with its Seq and At.
	AppendEvent(ctx context.Context, ev Event) (Event, error)
	// MessageEvent returns the note that recorded sending the message with
	// the messaging service's ID messageID (an EventNote whose
	// Data[DataMessage] is messageID), the earliest if several. ENOTFOUND.
	MessageEvent(ctx context.Context, messageID string) (Event, error)
	// Events returns events with Seq > after, oldest first; an empty
	// verification ID returns every verification's; limit 0 is no limit.
	// One verification's events commit in Seq order, so reading its events
	// after the last Seq seen never misses one; across verifications a
	// store may commit a lower Seq after a higher one (PostgreSQL does).
	Events(ctx context.Context, verificationID string, after int64, limit int) ([]Event, error)
	// Own makes instance the owner of a live verification for ttl: when it
	// has no owner, is owned by instance already (a renewal), or its owner's
	// hold has lapsed (store's clock). ECONFLICT when another instance holds
	// it; ENOTFOUND.
	Own(ctx context.Context, id, instance string, ttl time.Duration) (Verification, error)
	// Orphans lists verifications whose owner's hold has lapsed or who have
	// no owner, and that still need a router: those in routing, queued or
	// dialling, and those connected whose call holds its device (a live
	// lease). A connected call whose device was released (the call ended
	// before the supervisor recorded the outcome) needs none: it is not an
	// orphan, so no instance takes it over again and again.
	Orphans(ctx context.Context) ([]Verification, error)
	// VerificationByKey returns the verification a requester made with an
	// idempotency key (see CreateVerification). ENOTFOUND.
	VerificationByKey(ctx context.Context, requestedBy, key string) (Verification, error)
}

// SameRequest is the stores' check of an idempotency key used again: nil
// when the fingerprint stored with the key and the new request's are the
// same or either is empty (not kept, or not given), else EIDEMPOTENCY.
func SameRequest(stored, fingerprint string) error {
	if stored != "" && fingerprint != "" && stored != fingerprint {
		return Errorf(EIDEMPOTENCY, "this Idempotency-Key was used before with a different request")
	}
	return nil
}

// TokenStore keeps credentials, hashed.
type TokenStore interface {
	// CreateToken stores a token with its identities and expiry; its
	// IssuedAt is the store's clock when zero. ECONFLICT if its ID or hash
	// exists.
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash finds a token that is neither revoked nor expired by the
	// store's clock, reading the store every time (a revocation on another
	// instance counts at once). ENOTFOUND.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// Tokens lists every token, revoked ones too.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken revokes a token (RevokedAt the store's clock; revoking
	// it again keeps the first time). ENOTFOUND.
	RevokeToken(ctx context.Context, id string) error
	// Token returns one token, revoked or expired too. ENOTFOUND.
	Token(ctx context.Context, id string) (Token, error)
	// EndSessions ends the token's console sessions, on every instance:
	// it adds one to its SessionsEnded. ENOTFOUND.
	EndSessions(ctx context.Context, id string) error
}

// RefusalStore keeps the record of requests refused for whom they named.
type RefusalStore interface {
	// RecordRefusal stores r with its ID and At (the store's clock) and
	// returns it. EINVALID without a reason or credential.
	RecordRefusal(ctx context.Context, r Refusal) (Refusal, error)
	// Refusals lists refusals at or after since, oldest first, of one room
	// (or of all when room is empty), at most limit (0: no limit).
	Refusals(ctx context.Context, room string, since time.Time, limit int) ([]Refusal, error)
}

// OrderKind is what a dial order tells a device agent to do.
type OrderKind string

// The order kinds. Append only.
const (
	OrderDial   OrderKind = "dial"   // call the officer's handle in the channel's app
	OrderJoin   OrderKind = "join"   // open a meeting link
	OrderHangUp OrderKind = "hangup" // end the call of an earlier order
)

// OrderStatus is how far an order has got.
type OrderStatus string

// The order statuses. Append only.
const (
	OrderPending   OrderStatus = "pending"   // waiting for the agent
	OrderDelivered OrderStatus = "delivered" // the agent has taken it
	OrderDone      OrderStatus = "done"      // the agent reported a final status
	OrderCancelled OrderStatus = "cancelled" // withdrawn before the agent took it
)

// Order is an instruction to a device agent.
type Order struct {
	ID             string      `json:"id"`
	DeviceID       string      `json:"device"`
	VerificationID string      `json:"verification"`
	AttemptID      string      `json:"attempt"`
	Kind           OrderKind   `json:"kind"`
	Channel        Channel     `json:"channel"`
	Handle         string      `json:"handle,omitempty"`   // whom to call
	JoinURL        string      `json:"join_url,omitempty"` // what to open
	Reference      string      `json:"reference"`
	Status         OrderStatus `json:"status"`
	CreatedAt      time.Time   `json:"created_at"`
	ExpiresAt      time.Time   `json:"expires_at"` // an agent must not act on it after this
}

// OrderStore keeps dial orders for device agents.
type OrderStore interface {
	// PutOrder stores a new pending order. ECONFLICT if the ID exists.
	PutOrder(ctx context.Context, o Order) error
	// TakeOrders returns the device's pending, unexpired orders oldest first
	// and marks them delivered, in one transaction.
	TakeOrders(ctx context.Context, deviceID string) ([]Order, error)
	// Order returns one order. ENOTFOUND.
	Order(ctx context.Context, id string) (Order, error)
	// SetOrderStatus moves an order on. ENOTFOUND.
	SetOrderStatus(ctx context.Context, id string, s OrderStatus) error
}

// Bus carries wake-ups: within one gateway, and between instances that share
// a store. A message says "look in the store"; it carries no data that is not
// already stored, so a missed one loses nothing that a read cannot recover.
type Bus interface {
	// Publish sends payload to every subscriber of topic, on every instance.
	Publish(ctx context.Context, topic, payload string) error
	// Subscribe returns a channel of payloads published on topic from now on
	// and a function that ends the subscription. A slow subscriber may miss
	// messages, never block the publisher.
	Subscribe(topic string) (<-chan string, func())
}

// The bus topics.
const (
	TopicEvents  = "events"   // payload: verification ID; a new event was written
	TopicAttempt = "attempt:" // + attempt ID; payload: event Seq; a report arrived for the attempt
	TopicOrders  = "orders:"  // + device ID; payload: order ID; a new order for the device
	TopicDevices = "devices"  // payload: room ID; a device may have become free
	TopicCancel  = "cancel:"  // + verification ID; the officer cancelled or the supervisor ended it
)

// Store is everything the gateway keeps.
type Store interface {
	DeviceStore
	ClaimStore
	VerificationStore
	TokenStore
	RefusalStore
	OrderStore
	ReplayStore
	OpsStore
	LogStore
	RetentionStore
	OutboxStore
	FeedbackStore
	Bus
	// Now is the store's clock: lease expiry and heartbeats are judged by it.
	Now(ctx context.Context) (time.Time, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	Close() error
}

// OpsStore keeps what ops staff change of the rooms and the device pool,
// with the ops record: every change is written with its OpsEvent in one
// transaction. A device change made while the device is in a call (holds
// a live lease) waits: it is kept as the device's pending change and made
// when the lease is released, lapses or is swept, in that transaction, with
// a new version in the device's history and an OpsDeviceApplied event.
type OpsStore interface {
	// AddDevice adds a device as CreateDevice does, with its first version
	// in its history (by ev.Actor, for ev.Reason) and ev. ECONFLICT,
	// EINVALID as CreateDevice.
	AddDevice(ctx context.Context, d Device, ev OpsEvent) (Device, error)
	// ChangeDevice makes change c to the device as Device.Plan decides,
	// given its pending change and whether it is in a call, and writes ev
	// with the device before and after (the pending change, when it
	// waits). A change made at once bumps Version, adds a version to the
	// history and does to the agent's credentials what c.Credentials
	// says (sparing c.KeepCredential). ENOTFOUND; Plan's errors.
	ChangeDevice(ctx context.Context, id string, c DeviceChange, ev OpsEvent) (DeviceOutcome, error)
	// PendingChange returns the device's change that waits for its call
	// to end, nil if none. ENOTFOUND.
	PendingChange(ctx context.Context, id string) (*DeviceChange, error)
	// DeviceHistory lists every version of the device, oldest first.
	// ENOTFOUND.
	DeviceHistory(ctx context.Context, id string) ([]DeviceVersion, error)
	// RoomOverrides lists the stored room overrides, by room ID.
	RoomOverrides(ctx context.Context) ([]RoomOverride, error)
	// PutRoomOverride stores o (its UpdatedAt the store's clock) with ev,
	// and publishes TopicRooms. EINVALID without a room ID.
	PutRoomOverride(ctx context.Context, o RoomOverride, ev OpsEvent) (RoomOverride, error)
	// AppendOpsEvent writes an entry of the ops record on its own, for an
	// action whose change is not the store's to make (a credential issued
	// or revoked), and returns it with its ID and At. EINVALID without an
	// action.
	AppendOpsEvent(ctx context.Context, ev OpsEvent) (OpsEvent, error)
	// OpsEvents lists the ops record, oldest first.
	OpsEvents(ctx context.Context, f OpsEventFilter) ([]OpsEvent, error)
}

// TopicRooms is the bus topic of room changes; payload: the room ID. An
// instance that hears it reads the room overrides again.
const TopicRooms = "rooms"
