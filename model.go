package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// Room is an operations room: the area it covers, its published number, and
// the neighbouring rooms that take its overflow, nearest first.
type Room struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Boroughs   []string `json:"boroughs"`
	Number     string   `json:"number"`      // published E.164 number the public dials
	DeskNumber string   `json:"desk_number"` // the supervisor desk's E.164 number, for PSTN when no device is free
	Neighbours []string `json:"neighbours"`  // room IDs, nearest first
	// Handles are the room's published video handles by channel (its
	// WhatsApp number, say), for the public to call it on.
	Handles map[Channel]string `json:"handles,omitempty"`
	// UpdatedAt is when ops staff last changed the room over the rooms
	// file; zero for a room as the file has it.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// DeviceStatus is whether a device may take new calls.
type DeviceStatus string

// The device statuses. Append only.
const (
	DeviceInService    DeviceStatus = "in_service"     // routable when its heartbeat is fresh and it is free
	DeviceOutOfService DeviceStatus = "out_of_service" // keeps a call in progress, takes no new one
	DeviceRetired      DeviceStatus = "retired"        // gone for good; keeps its history
)

// ParseDeviceStatus returns the status named s, or an EINVALID error.
func ParseDeviceStatus(s string) (DeviceStatus, error) {
	switch d := DeviceStatus(s); d {
	case DeviceInService, DeviceOutOfService, DeviceRetired:
		return d, nil
	}
	return "", Errorf(EINVALID, "unknown device status %q (known: in_service, out_of_service, retired)", s)
}

// Device is a dedicated handset in a room.
type Device struct {
	ID       string             `json:"id"`
	RoomID   string             `json:"room"`
	Name     string             `json:"name"`
	Number   string             `json:"number"`  // E.164 SIM number
	Handles  map[Channel]string `json:"handles"` // the device's handle per app (its Apple ID, WhatsApp number, Zoom user...)
	Status   DeviceStatus       `json:"status"`
	Battery  int                `json:"battery"` // percent, from the last heartbeat; -1 unknown
	Apps     []Channel          `json:"apps"`    // apps the agent last reported signed in and working
	LastSeen time.Time          `json:"last_seen"`
	Charging bool               `json:"charging"`  // from the last heartbeat
	LastUsed time.Time          `json:"last_used"` // when its last claim was taken; least recently used goes first
	Version  int64              `json:"version"`   // bumped on every rotation
	// Lease is the live claim on the device, if any (read-only: set by the store).
	Lease *Lease `json:"lease,omitempty"`
}

// Supports reports whether the device has a handle for channel c. A device
// supports PSTN when it has a number.
func (d Device) Supports(c Channel) bool {
	if c == ChannelPSTN {
		return d.Number != ""
	}
	return d.Handles[c] != ""
}

// Channels lists the channels the device supports: those it has a handle
// for, by name, then PSTN when it has a number.
func (d Device) Channels() []Channel {
	var out []Channel
	for c, h := range d.Handles {
		if h != "" && c != ChannelPSTN {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	if d.Number != "" {
		out = append(out, ChannelPSTN)
	}
	return out
}

// Fresh reports whether the device's heartbeat is newer than cutoff.
func (d Device) Fresh(cutoff time.Time) bool { return !d.LastSeen.Before(cutoff) }

// CheckCallable refuses a device that nothing can be called on: no number
// and no handle. EINVALID.
func (d Device) CheckCallable() error {
	if d.Number == "" && len(d.Handles) == 0 {
		return Errorf(EINVALID, "a device needs a number or at least one handle")
	}
	return nil
}

// DeviceChange is a change ops staff make to a device of the pool: a
// rotation (a new name, number or handles: a handset swapped, its SIM
// changed), taking it out of service or back, retiring it, or a new
// credential for its agent. A nil field leaves the device's as it is; a nil
// Handles leaves its handles, an empty one removes them all.
//
// What waits for the call to end: a change never touches the device's live
// lease, so a call in progress goes on as it was placed, and the device's
// new name, number, handles or status count from its next claim (out of
// service or retired, it gets none). Only its agent's credentials change at
// once (see Credentials).
type DeviceChange struct {
	Name    *string
	Number  *string
	Handles map[Channel]string
	Status  *DeviceStatus
	// RotateCredential issues the device's agent a new credential and
	// revokes its others.
	RotateCredential bool
	// KeepCredential is the token ID of the new credential, issued before
	// the change is made: the revocation of the agent's others spares it.
	KeepCredential string
}

// Edits reports whether the change writes the device itself: a new
// credential alone does not (and bumps no Version).
func (c DeviceChange) Edits() bool {
	return c.Name != nil || c.Number != nil || c.Handles != nil || c.Status != nil
}

// retires reports whether the change retires the device.
func (c DeviceChange) retires() bool { return c.Status != nil && *c.Status == DeviceRetired }

// Check refuses a change that no device can take, whatever it is now: one
// that changes nothing, or retires the device with a new credential.
// EINVALID.
func (c DeviceChange) Check() error {
	if !c.Edits() && !c.RotateCredential {
		return Errorf(EINVALID, "nothing to change: give name, number, handles, status or rotate_credential")
	}
	if c.retires() && c.RotateCredential {
		return Errorf(EINVALID, "a retired device gets no new credential")
	}
	return nil
}

// Apply makes the change to d, leaving its lease as it is. EINVALID when
// the change fails Check or, editing d, would leave it nothing to call on
// (CheckCallable); ECONFLICT when d is retired: a retired device takes no
// more changes, a new credential included. On an error d is unchanged.
func (d *Device) Apply(c DeviceChange) error {
	if err := c.Check(); err != nil {
		return err
	}
	if d.Status == DeviceRetired {
		return Errorf(ECONFLICT, "device %s is retired", d.ID)
	}
	next := *d
	if c.Name != nil {
		next.Name = *c.Name
	}
	if c.Number != nil {
		next.Number = *c.Number
	}
	if c.Handles != nil {
		next.Handles = maps.Clone(c.Handles)
	}
	if c.Status != nil {
		next.Status = *c.Status
	}
	if !c.Edits() {
		return nil // a new credential alone changes nothing of the device
	}
	if err := next.CheckCallable(); err != nil {
		return err
	}
	*d = next
	return nil
}

// CredentialChange is what a device change does to its agent's
// credentials.
type CredentialChange int

// The credential changes.
const (
	CredentialKept    CredentialChange = iota // the agent's credential goes on working
	CredentialRenewed                         // a new one is issued (shown once) and the agent's others revoked
	CredentialRevoked                         // the device is retired: every credential of its agent is revoked
)

// Credentials says what the change, once applied, does to the agent's
// credentials.
func (c DeviceChange) Credentials() CredentialChange {
	switch {
	case c.RotateCredential:
		return CredentialRenewed
	case c.retires():
		return CredentialRevoked
	}
	return CredentialKept
}

// Lease is a claim on a device with an expiry. Fence grows with every claim of
// the device, so a holder whose claim was swept cannot renew or release a
// newer one.
type Lease struct {
	DeviceID  string    `json:"device"`
	RoomID    string    `json:"room"`
	Holder    string    `json:"holder"` // the verification holding it
	Fence     int64     `json:"fence"`
	ClaimedAt time.Time `json:"claimed_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ClaimRecord is one claim in a device's history.
type ClaimRecord struct {
	DeviceID   string     `json:"device"`
	Fence      int64      `json:"fence"`
	Holder     string     `json:"holder"`
	ClaimedAt  time.Time  `json:"claimed_at"`
	ReleasedAt *time.Time `json:"released_at,omitempty"`
	Reason     string     `json:"reason,omitempty"` // released, expired, ...
}

// Officer is who asks for a verification, as he states it.
type Officer struct {
	Collar  string `json:"collar"`
	Warrant string `json:"warrant"`
	// Force is the officer's force, from his credential; empty for a
	// verification of before credentials carried identities.
	Force string `json:"force,omitempty"`
}

// Location is a WGS84 position.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Contact is one way to reach the officer, in his order of preference.
type Contact struct {
	Channel Channel `json:"channel"`
	Handle  string  `json:"handle"`
	// Links asks for the join link of a meeting-style channel to be sent to
	// this contact by message as well (WhatsApp contacts only).
	Links bool `json:"links,omitempty"`
}

// OutcomeResult is a supervisor's judgement.
type OutcomeResult string

// The outcomes. Append only.
const (
	OutcomeVerified OutcomeResult = "verified"
	OutcomeRefused  OutcomeResult = "refused"
)

// Outcome is the supervisor's record of the check.
type Outcome struct {
	Result     OutcomeResult `json:"outcome"`
	Supervisor string        `json:"supervisor"`
	Note       string        `json:"note,omitempty"`
	At         time.Time     `json:"at"`
	// Rank, Number and Room are the supervisor as his credential names
	// him, and the room he recorded it for; empty for an outcome of
	// before credentials carried identities. Supervisor is then his rank
	// and number.
	Rank   string `json:"rank,omitempty"`
	Number string `json:"number,omitempty"`
	Room   string `json:"room,omitempty"`
	// By is the ID of the credential that recorded it.
	By string `json:"by,omitempty"`
}

// Origin is who asked for a verification.
type Origin string

// The origins. Append only.
const (
	OriginOfficer Origin = "officer" // the officer app asked (the stored origin of a verification from before origins)
	OriginPublic  Origin = "public"  // a member of the public called a room's published number
	// OriginRadio is a check a supervisor opened from the console for a
	// member of the public who asked for it over the officer's radio on
	// loudspeaker: no call is placed.
	OriginRadio Origin = "radio"
	// Origin999 is a check a supervisor or 999 call handler opened for a
	// member of the public who dialled 999: no call is placed.
	Origin999 Origin = "999"
)

// Spoken reports whether o is a check made by radio or over a 999 call,
// opened from the console, with no call placed by the gateway.
func (o Origin) Spoken() bool { return o == OriginRadio || o == Origin999 }

// Verification is one encounter from request to outcome.
type Verification struct {
	ID          string     `json:"id"`
	Reference   string     `json:"reference"`
	State       State      `json:"state"`
	Officer     Officer    `json:"officer"`
	Location    Location   `json:"location"`
	Contacts    []Contact  `json:"contacts"`
	RoomID      string     `json:"room"`
	DeviceID    string     `json:"device,omitempty"`  // the device that connected
	Channel     Channel    `json:"channel,omitempty"` // the channel that connected
	JoinURL     string     `json:"join_url,omitempty"`
	Reason      string     `json:"reason,omitempty"` // why it failed, was cancelled or closed
	Outcome     *Outcome   `json:"outcome,omitempty"`
	RequestedBy string     `json:"requested_by"` // token ID of the officer app; for a public call "public:" + the room ID
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	Deadline    time.Time  `json:"deadline"` // the end of the time budget
	Attempts    []Attempt  `json:"attempts"`
	Owner       string     `json:"owner,omitempty"` // the gateway instance routing it
	OwnerUntil  *time.Time `json:"-"`               // when the owner's hold lapses unless renewed
	Lease       *Lease     `json:"lease,omitempty"` // the device claim it holds, if any
	QueuedAt    *time.Time `json:"queued_at,omitempty"`
	Origin      Origin     `json:"origin"` // who asked: empty reads as OriginOfficer
	// Fingerprint identifies the request that made it (Request.Fingerprint):
	// kept with its idempotency key, so that the key used again with another
	// request is refused (see VerificationStore.CreateVerification). Stores
	// keep it and do not read it back.
	Fingerprint string `json:"-"`
	// A public caller's number is kept only masked to its last 3 digits
	// (MaskCaller) and as a keyed hash (HashCaller), never in clear; both
	// are empty for an officer's request and for a withheld number.
	Caller     string `json:"caller,omitempty"`
	CallerHash string `json:"-"`
}

// NeverConnected reports whether v, an officer's request, ended without its
// call ever connecting: it failed, or the officer cancelled it before it
// connected. Such a verification is flagged to its room: an officer who
// opens a check and abandons it is what a supervisor must see. A public
// caller who hung up is not an officer abandoning a check.
func (v Verification) NeverConnected() bool {
	if v.Origin == OriginPublic || v.Origin.Spoken() {
		return false
	}
	if v.State != StateFailed && v.State != StateCancelled {
		return false
	}
	if v.Channel != "" {
		return false
	}
	for _, a := range v.Attempts {
		if a.Result == ResultConnected {
			return false
		}
	}
	return true
}

// MaskCaller is a caller's number as the record may show it: its last 3
// digits after a fixed run of dots, whatever its length ("•••••••123"); ""
// for a number with fewer than 3 digits (withheld, "anonymous").
func MaskCaller(number string) string {
	var digits []byte
	for i := 0; i < len(number); i++ {
		if c := number[i]; c >= '0' && c <= '9' {
			digits = append(digits, c)
		}
	}
	if len(digits) < 3 {
		return ""
	}
	return "•••••••" + string(digits[len(digits)-3:])
}

// HashCaller is a caller's number as a keyed hash: hex HMAC-SHA256 under
// key, so that calls from one number can be linked without the number
// being kept. "" for an empty number or key.
func HashCaller(key []byte, number string) string {
	if number == "" || len(key) == 0 {
		return ""
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(number))
	return hex.EncodeToString(m.Sum(nil))
}

// AttemptResult is how an attempt ended.
type AttemptResult string

// The attempt results. Append only.
const (
	ResultPending   AttemptResult = ""          // still running
	ResultConnected AttemptResult = "connected" // the call connected
	ResultNotPlaced AttemptResult = "not_placed"
	ResultRejected  AttemptResult = "rejected"
	ResultNoAnswer  AttemptResult = "no_answer"
	ResultFailed    AttemptResult = "failed"    // placed but failed
	ResultUnknown   AttemptResult = "unknown"   // the provider may have acted; hung up
	ResultCancelled AttemptResult = "cancelled" // withdrawn: officer cancelled, budget spent, gateway stopped
	ResultSkipped   AttemptResult = "skipped"   // not tried: the provider's circuit breaker is open
)

// Attempt is one try on one channel with one device.
type Attempt struct {
	ID             string        `json:"id"`
	VerificationID string        `json:"verification"`
	Seq            int           `json:"seq"`
	Channel        Channel       `json:"channel"`
	RoomID         string        `json:"room"`
	DeviceID       string        `json:"device"`
	ProviderRef    string        `json:"provider_ref,omitempty"`
	JoinURL        string        `json:"join_url,omitempty"`
	StartedAt      time.Time     `json:"started_at"`
	EndedAt        *time.Time    `json:"ended_at"`
	Tries          int           `json:"tries"`
	Result         AttemptResult `json:"result"`
	Error          string        `json:"error,omitempty"`
}

// Open reports whether the attempt is still running.
func (a Attempt) Open() bool { return a.EndedAt == nil }

// EventType classifies an event in a verification's record.
type EventType string

// The event types. Append only.
const (
	EventState   EventType = "state"   // the verification changed state
	EventAttempt EventType = "attempt" // an attempt started, was retried or ended
	EventReport  EventType = "report"  // a provider or agent reported on a leg
	EventOutcome EventType = "outcome" // the supervisor recorded the outcome
	EventNote    EventType = "note"    // anything else worth the record (skipped channel, take-over)
	// EventCheck records what the supervisor is shown of the officer (his
	// duty-roster entry and the warning signs, Data[DataAssessment]) as it
	// was when the check was made. It is for supervisors only: never in
	// the officer's view, a public page or a receipt.
	EventCheck EventType = "check"
)

// DataGrounds is the Data key of the officer's stated grounds for the stop,
// in the first event of his verification, and of a supervisor's correction
// of them (an EventNote with DataCorrectedBy).
const (
	DataGrounds     = "grounds"
	DataCorrectedBy = "corrected_by"
)

// DataAssessment is the Data key of an EventCheck: the assessment, a JSON
// document.
const DataAssessment = "assessment"

// DataMessage is the Data key of a note recording a message sent (a join
// link by WhatsApp): the messaging service's ID of the message, by which
// its later delivery statuses find the verification (see
// VerificationStore.MessageEvent).
const DataMessage = "message"

// Event is one entry in a verification's durable record.
type Event struct {
	Seq            int64             `json:"seq"` // store-wide, increasing
	VerificationID string            `json:"verification"`
	Type           EventType         `json:"type"`
	State          State             `json:"state"` // the verification's state after the event
	AttemptID      string            `json:"attempt,omitempty"`
	Message        string            `json:"message"`
	Data           map[string]string `json:"data,omitempty"`
	// Report is the report an EventReport records, as it was made.
	Report   *Report   `json:"report,omitempty"`
	At       time.Time `json:"at"`
	Instance string    `json:"instance,omitempty"`
}

// HasChannel reports whether cs contains c.
func HasChannel(cs []Channel, c Channel) bool { return slices.Contains(cs, c) }

// RoomChange is a change ops staff make to a room's published details over
// the rooms file. A nil field leaves the room's as it is; a non-nil empty
// Handles or Neighbours removes them all.
type RoomChange struct {
	Number     *string
	DeskNumber *string
	Handles    map[Channel]string
	Neighbours []string
}

// Empty reports whether the change changes nothing.
func (c RoomChange) Empty() bool {
	return c.Number == nil && c.DeskNumber == nil && c.Handles == nil && c.Neighbours == nil
}

// Apply returns r with the change made (its boroughs, name and ID as they
// were). It checks nothing: the rooms check the result against each other
// (see rooms.Set.Check).
func (c RoomChange) Apply(r Room) Room {
	if c.Number != nil {
		r.Number = *c.Number
	}
	if c.DeskNumber != nil {
		r.DeskNumber = *c.DeskNumber
	}
	if c.Handles != nil {
		r.Handles = maps.Clone(c.Handles)
	}
	if c.Neighbours != nil {
		r.Neighbours = slices.Clone(c.Neighbours)
	}
	return r
}

// RoomOverride is what ops staff have set of a room over the rooms file:
// its published number, desk number, handles and neighbours, all four, as
// they stand after the last change. It replaces those of the file's room at
// start and whenever it changes.
type RoomOverride struct {
	RoomID     string             `json:"room"`
	Number     string             `json:"number"`
	DeskNumber string             `json:"desk_number"`
	Handles    map[Channel]string `json:"handles"`
	Neighbours []string           `json:"neighbours"`
	UpdatedAt  time.Time          `json:"updated_at"` // set by the store
}

// OverrideOf is the override that gives a room r's published details.
func OverrideOf(r Room) RoomOverride {
	return RoomOverride{RoomID: r.ID, Number: r.Number, DeskNumber: r.DeskNumber,
		Handles: maps.Clone(r.Handles), Neighbours: slices.Clone(r.Neighbours), UpdatedAt: r.UpdatedAt}
}

// On returns r with the override's details.
func (o RoomOverride) On(r Room) Room {
	r.Number, r.DeskNumber = o.Number, o.DeskNumber
	r.Handles, r.Neighbours = maps.Clone(o.Handles), slices.Clone(o.Neighbours)
	if r.Neighbours == nil {
		r.Neighbours = []string{}
	}
	r.UpdatedAt = o.UpdatedAt
	return r
}

// Merge returns the change that c followed by next makes: next's fields
// over c's, and next's credential (and the one it keeps) when it renews
// one.
func (c DeviceChange) Merge(next DeviceChange) DeviceChange {
	out := c
	if next.Name != nil {
		out.Name = next.Name
	}
	if next.Number != nil {
		out.Number = next.Number
	}
	if next.Handles != nil {
		out.Handles = maps.Clone(next.Handles)
	}
	if next.Status != nil {
		out.Status = next.Status
	}
	if next.RotateCredential {
		out.RotateCredential, out.KeepCredential = true, next.KeepCredential
	}
	if out.retires() {
		out.RotateCredential, out.KeepCredential = false, "" // every credential goes
	}
	return out
}

// DevicePlan is what a device change does, decided by Device.Plan: the
// device as it is from now on, and the change that waits for the call in
// progress to end, if any.
type DevicePlan struct {
	// Device is the device from now on: changed when the change takes
	// effect at once, as it was when it waits.
	Device Device
	// Applied reports whether Device was changed (and its Version is to be
	// bumped, with a new version in its history).
	Applied bool
	// Pending is the change that waits for the call to end, merged with any
	// that waited already; nil when nothing waits.
	Pending *DeviceChange
	// Credentials is what is done to the agent's credentials now.
	Credentials CredentialChange
}

// Plan decides what change c does to d, given the change that already
// waits for d's call to end (nil if none) and whether d is in a call (holds
// a live lease). Not in a call, c (over any waiting change) takes effect
// at once. In a call, the call goes on as it was placed: c is merged into
// the waiting change, and nothing of d changes, its agent's credentials
// included (the old handset keeps reporting on the call; a new credential
// is issued at once but the others are revoked when the call ends).
// EINVALID when the change fails Check or would leave d nothing to call
// on; ECONFLICT when d is retired, or is to be retired when its call ends.
func (d Device) Plan(c DeviceChange, waiting *DeviceChange, inCall bool) (DevicePlan, error) {
	if err := c.Check(); err != nil {
		return DevicePlan{}, err
	}
	if d.Status == DeviceRetired {
		return DevicePlan{}, Errorf(ECONFLICT, "device %s is retired", d.ID)
	}
	merged := c
	if waiting != nil {
		if waiting.retires() {
			return DevicePlan{}, Errorf(ECONFLICT, "device %s is to be retired when its call ends", d.ID)
		}
		merged = waiting.Merge(c)
	}
	next := d
	if err := next.Apply(merged); err != nil {
		return DevicePlan{}, err
	}
	if inCall {
		return DevicePlan{Device: d, Pending: &merged, Credentials: CredentialKept}, nil
	}
	return DevicePlan{Device: next, Applied: merged.Edits(), Credentials: merged.Credentials()}, nil
}

// Changes lists what the change sets, by its wire name: "name", "number",
// "handles", "status" and "rotate_credential", for answers and the ops
// record.
func (c DeviceChange) Changes() map[string]any {
	out := map[string]any{}
	if c.Name != nil {
		out["name"] = *c.Name
	}
	if c.Number != nil {
		out["number"] = *c.Number
	}
	if c.Handles != nil {
		out["handles"] = maps.Clone(c.Handles)
	}
	if c.Status != nil {
		out["status"] = *c.Status
	}
	if c.RotateCredential {
		out["rotate_credential"] = true
	}
	return out
}

// DeviceVersion is one version in a device's history: what it was from At
// on, who made it so and why.
type DeviceVersion struct {
	Version int64              `json:"version"`
	At      time.Time          `json:"at"`
	By      string             `json:"by"` // the token ID of who made the change; "" for the gateway's own
	Name    string             `json:"name"`
	Number  string             `json:"number"`
	Handles map[Channel]string `json:"handles"`
	Status  DeviceStatus       `json:"status"`
	Reason  string             `json:"reason"`
}

// DeviceOutcome is what a device change did: the device as it is now,
// and what waits for its call in progress to end.
type DeviceOutcome struct {
	Device Device
	// Pending is the change that waits for the call to end (merged with
	// any that waited already); nil when the change took effect at once.
	Pending *DeviceChange
}

// The ops record's actions. Append only.
const (
	OpsDeviceAdd     = "device.add"
	OpsDevicePatch   = "device.patch"
	OpsDeviceRotate  = "device.rotate"
	OpsDeviceOut     = "device.out_of_service"
	OpsDeviceReturn  = "device.return"
	OpsDeviceRetire  = "device.retire"
	OpsDeviceApplied = "device.pending_applied" // a change that waited for a call took effect
	OpsRoomUpdate    = "room.update"
	OpsTokenIssue    = "token.issue"
	OpsTokenRevoke   = "token.revoke"
)

// Actor is who did an ops action: a credential's ID and its holder's name.
type Actor struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// GatewayActorID is the actor ID of what the gateway's own jobs write in
// the ops record (the retention job, the outbox), as opposed to staff.
const GatewayActorID = "gateway"

// OpsEvent is one entry in the ops record: who did what to which device or
// room, with the thing before and after, and when.
type OpsEvent struct {
	ID       int64     `json:"id"` // set by the store, increasing
	At       time.Time `json:"at"` // set by the store
	Actor    Actor     `json:"actor"`
	Action   string    `json:"action"`
	RoomID   string    `json:"room,omitempty"`
	DeviceID string    `json:"device,omitempty"`
	// Before and After are the thing changed as JSON; null when there was
	// none before (an addition) or is none after.
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Reason string          `json:"reason,omitempty"`
}

// OpsEventFilter selects entries of the ops record.
type OpsEventFilter struct {
	RoomID   string
	DeviceID string
	Since    time.Time // at or after; zero: any
	Until    time.Time // before; zero: any
	Limit    int       // 0: no limit
}

// Refusal is a request refused for whom it named, recorded for the room's
// supervisors: an officer-app credential used to ask for a check in the name
// of another officer (a phone passed on, or stolen). It holds no warrant
// number and nothing of a member of the public.
type Refusal struct {
	ID      int64     `json:"id"`   // set by the store, increasing
	At      time.Time `json:"at"`   // set by the store
	RoomID  string    `json:"room"` // the room covering where it was asked from; "" outside every room
	TokenID string    `json:"credential"`
	Reason  string    `json:"reason"`  // RefusalOfficerMismatch
	Officer string    `json:"officer"` // the credential's officer: his collar number
	Stated  string    `json:"stated"`  // the collar number the request stated
}

// The refusal reasons. Append only.
const (
	RefusalOfficerMismatch = "officer_mismatch"
)
