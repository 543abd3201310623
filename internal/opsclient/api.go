package opsclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Room is an operations room as the ops API shows it.
type Room struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Boroughs   []string          `json:"boroughs"`
	Number     string            `json:"number"`      // the published number the public calls
	DeskNumber string            `json:"desk_number"` // the supervisor desk's number, PSTN's last resort
	Handles    map[string]string `json:"handles"`     // the room's own handles by channel
	Neighbours []string          `json:"neighbours"`  // overflow rooms, nearest first
	UpdatedAt  *time.Time        `json:"updated_at"`
}

// RoomList is the answer of GET /v1/rooms.
type RoomList struct {
	Rooms []Room `json:"rooms"`
}

// RoomAnswer is the answer of GET and PATCH /v1/rooms/{id}.
type RoomAnswer struct {
	Room Room `json:"room"`
}

// RoomPatch is a change of a room: only the fields set are sent.
type RoomPatch struct {
	Number     *string           `json:"number,omitempty"`
	DeskNumber *string           `json:"desk_number,omitempty"`
	Handles    map[string]string `json:"handles,omitempty"`
	Neighbours *[]string         `json:"neighbours,omitempty"`
}

// Rooms lists the operations rooms.
func (c *Client) Rooms(ctx context.Context) (RoomList, json.RawMessage, error) {
	return call[RoomList](ctx, c, http.MethodGet, "/v1/rooms", nil, nil)
}

// Room returns one room.
func (c *Client) Room(ctx context.Context, id string) (RoomAnswer, json.RawMessage, error) {
	return call[RoomAnswer](ctx, c, http.MethodGet, "/v1/rooms/"+seg(id), nil, nil)
}

// SetRoom changes a room's numbers, handles or neighbours.
func (c *Client) SetRoom(ctx context.Context, id string, p RoomPatch) (RoomAnswer, json.RawMessage, error) {
	return call[RoomAnswer](ctx, c, http.MethodPatch, "/v1/rooms/"+seg(id), nil, p)
}

// Lease is a device's current claim by a verification.
type Lease struct {
	Holder    string    `json:"holder"` // the verification holding the device
	Fence     int64     `json:"fence"`
	ClaimedAt time.Time `json:"claimed_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Problem is one reason a device is not routable on some channel.
type Problem struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Health is what the gateway makes of a device: the channels it can be
// routed on now, and what stands in the way of the others.
type Health struct {
	Routable []string  `json:"routable"`
	Problems []Problem `json:"problems"`
}

// Device is a handset as the ops API shows it.
type Device struct {
	ID       string            `json:"id"`
	Room     string            `json:"room"`
	Name     string            `json:"name"`
	Number   string            `json:"number"`
	Handles  map[string]string `json:"handles"`
	Status   string            `json:"status"`  // in_service, out_of_service, retired
	Battery  *int              `json:"battery"` // percent; nil: never reported
	Apps     []string          `json:"apps"`
	LastSeen *time.Time        `json:"last_seen"`
	LastUsed *time.Time        `json:"last_used"`
	Version  int64             `json:"version"`
	Lease    *Lease            `json:"lease"`
	Health   *Health           `json:"health"` // nil from a gateway that does not judge health
}

// Credential is a device agent's new credential; the secret is shown once.
type Credential struct {
	Token  string `json:"token"`
	Secret string `json:"secret"`
}

// DeviceAnswer is the answer of a device's creation, reading or change.
type DeviceAnswer struct {
	Device     Device      `json:"device"`
	Credential *Credential `json:"credential"`
	// Pending is true when the change waits for a call in progress to end.
	Pending bool `json:"pending"`
	// Changes are the fields changed, by name.
	Changes map[string]json.RawMessage `json:"changes"`
}

// DeviceList is the answer of GET /v1/devices.
type DeviceList struct {
	Devices []Device `json:"devices"`
}

// DeviceFilter chooses the devices listed.
type DeviceFilter struct {
	Room    string // empty: every room
	Retired bool   // retired devices too
}

// NewDevice is a handset to add to a room.
type NewDevice struct {
	Room    string            `json:"room"`
	Name    string            `json:"name,omitempty"`
	Number  string            `json:"number,omitempty"`
	Handles map[string]string `json:"handles,omitempty"`
}

// Rotation is a change of a handset's name, number or handles, or a new
// agent credential for it: only the fields set are sent.
type Rotation struct {
	Name             *string            `json:"name,omitempty"`
	Number           *string            `json:"number,omitempty"`
	Handles          *map[string]string `json:"handles,omitempty"`
	RotateCredential bool               `json:"rotate_credential,omitempty"`
	Reason           string             `json:"reason,omitempty"`
}

// reasonBody is the body of a change of a device's service.
type reasonBody struct {
	Reason string `json:"reason"`
}

// DeviceVersion is one version of a device in its history.
type DeviceVersion struct {
	Version int64             `json:"version"`
	At      time.Time         `json:"at"`
	By      string            `json:"by"`
	Name    string            `json:"name"`
	Number  string            `json:"number"`
	Handles map[string]string `json:"handles"`
	Status  string            `json:"status"`
	Reason  string            `json:"reason"`
}

// DeviceHistory is the answer of GET /v1/devices/{id}/history.
type DeviceHistory struct {
	Versions []DeviceVersion `json:"versions"`
}

// Devices lists devices.
func (c *Client) Devices(ctx context.Context, f DeviceFilter) (DeviceList, json.RawMessage, error) {
	q := url.Values{}
	if f.Room != "" {
		q.Set("room", f.Room)
	}
	if f.Retired {
		q.Set("retired", "true")
	}
	return call[DeviceList](ctx, c, http.MethodGet, "/v1/devices", q, nil)
}

// Device returns one device.
func (c *Client) Device(ctx context.Context, id string) (DeviceAnswer, json.RawMessage, error) {
	return call[DeviceAnswer](ctx, c, http.MethodGet, "/v1/devices/"+seg(id), nil, nil)
}

// AddDevice adds a handset; the answer holds its agent's credential.
func (c *Client) AddDevice(ctx context.Context, d NewDevice) (DeviceAnswer, json.RawMessage, error) {
	return call[DeviceAnswer](ctx, c, http.MethodPost, "/v1/devices", nil, d)
}

// RotateDevice changes a handset's name, number or handles, or issues its
// agent a new credential.
func (c *Client) RotateDevice(ctx context.Context, id string, r Rotation) (DeviceAnswer, json.RawMessage, error) {
	return call[DeviceAnswer](ctx, c, http.MethodPost, "/v1/devices/"+seg(id)+"/rotate", nil, r)
}

// DeviceOut takes a handset out of service: it keeps a call in progress
// and takes no new one.
func (c *Client) DeviceOut(ctx context.Context, id, reason string) (DeviceAnswer, json.RawMessage, error) {
	return call[DeviceAnswer](ctx, c, http.MethodPost, "/v1/devices/"+seg(id)+"/out-of-service", nil, reasonBody{reason})
}

// DeviceReturn puts a handset back in service.
func (c *Client) DeviceReturn(ctx context.Context, id, reason string) (DeviceAnswer, json.RawMessage, error) {
	return call[DeviceAnswer](ctx, c, http.MethodPost, "/v1/devices/"+seg(id)+"/return", nil, reasonBody{reason})
}

// RetireDevice retires a handset for good; its agent's credential is
// revoked and its history kept.
func (c *Client) RetireDevice(ctx context.Context, id, reason string) (DeviceAnswer, json.RawMessage, error) {
	return call[DeviceAnswer](ctx, c, http.MethodPost, "/v1/devices/"+seg(id)+"/retire", nil, reasonBody{reason})
}

// DeviceHistory returns every version of a device, oldest first.
func (c *Client) DeviceHistory(ctx context.Context, id string) (DeviceHistory, json.RawMessage, error) {
	return call[DeviceHistory](ctx, c, http.MethodGet, "/v1/devices/"+seg(id)+"/history", nil, nil)
}

// Officer is an officer's credential's holder. Warrant is sent when the
// credential is issued and never shown again.
type Officer struct {
	Force   string `json:"force,omitempty"`
	Collar  string `json:"collar,omitempty"`
	Warrant string `json:"warrant,omitempty"`
}

// Supervisor is a supervisor's credential's holder and the rooms they
// supervise.
type Supervisor struct {
	Rank   string   `json:"rank,omitempty"`
	Number string   `json:"number,omitempty"`
	Rooms  []string `json:"rooms,omitempty"`
}

// CredentialView is a credential as the ops API shows it, without its
// secret.
type CredentialView struct {
	ID         string      `json:"id"`
	Role       string      `json:"role"`
	Name       string      `json:"name"`
	Subject    string      `json:"subject"`
	Officer    *Officer    `json:"officer"`
	Supervisor *Supervisor `json:"supervisor"`
	IssuedAt   *time.Time  `json:"issued_at"`
	ExpiresAt  *time.Time  `json:"expires_at"`
	RevokedAt  *time.Time  `json:"revoked_at"`
}

// NewCredential is a credential to issue.
type NewCredential struct {
	Role       string      `json:"role"`
	Name       string      `json:"name"`
	Subject    string      `json:"subject,omitempty"`
	Officer    *Officer    `json:"officer,omitempty"`
	Supervisor *Supervisor `json:"supervisor,omitempty"`
	// ExpiresIn is its life, as a Go duration ("720h"); empty: the
	// gateway's default.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// IssuedCredential is the answer of POST /v1/credentials: the secret is
// shown this once.
type IssuedCredential struct {
	Credential CredentialView `json:"credential"`
	Secret     string         `json:"secret"`
}

// CredentialList is the answer of GET /v1/credentials.
type CredentialList struct {
	Credentials []CredentialView `json:"credentials"`
}

// CredentialAnswer is the answer of a credential's revocation.
type CredentialAnswer struct {
	Credential CredentialView `json:"credential"`
}

// IssueCredential issues a credential.
func (c *Client) IssueCredential(ctx context.Context, n NewCredential) (IssuedCredential, json.RawMessage, error) {
	return call[IssuedCredential](ctx, c, http.MethodPost, "/v1/credentials", nil, n)
}

// Credentials lists credentials, of one role or of all when role is empty.
func (c *Client) Credentials(ctx context.Context, role string) (CredentialList, json.RawMessage, error) {
	q := url.Values{}
	if role != "" {
		q.Set("role", role)
	}
	return call[CredentialList](ctx, c, http.MethodGet, "/v1/credentials", q, nil)
}

// RevokeCredential revokes a credential.
func (c *Client) RevokeCredential(ctx context.Context, id string) (CredentialAnswer, json.RawMessage, error) {
	return call[CredentialAnswer](ctx, c, http.MethodPost, "/v1/credentials/"+seg(id)+"/revoke", nil, nil)
}

// Outcome is a supervisor's judgement of a verification.
type Outcome struct {
	Outcome    string    `json:"outcome"` // verified, refused
	Supervisor string    `json:"supervisor"`
	Note       string    `json:"note"`
	At         time.Time `json:"at"`
}

// Attempt is one try on one channel with one device.
type Attempt struct {
	Channel   string     `json:"channel"`
	Device    string     `json:"device"`
	Room      string     `json:"room"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at"`
	Tries     int        `json:"tries"`
	Result    string     `json:"result"`
	Error     string     `json:"error"`
}

// Verification is one encounter as the API shows it.
type Verification struct {
	ID        string    `json:"id"`
	Reference string    `json:"reference"`
	State     string    `json:"state"`
	Origin    string    `json:"origin"`
	Caller    string    `json:"caller"` // a public caller's number, masked
	Room      string    `json:"room"`
	Device    string    `json:"device"`
	Channel   string    `json:"channel"`
	JoinURL   string    `json:"join_url"`
	Reason    string    `json:"reason"`
	Advice    string    `json:"advice"`
	Outcome   *Outcome  `json:"outcome"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Deadline  time.Time `json:"deadline"`
	Attempts  []Attempt `json:"attempts"`
}

// VerificationList is the answer of GET /v1/verifications.
type VerificationList struct {
	Verifications []Verification `json:"verifications"`
}

// VerificationFilter chooses the verifications listed: the zero value
// of a field does not filter.
type VerificationFilter struct {
	Room    string
	Since   time.Time
	Until   time.Time
	Outcome string // verified, refused, …
	Channel string
	Origin  string // officer, public
	Limit   int
}

// query is the filter as the API's query parameters.
func (f VerificationFilter) query() url.Values {
	q := url.Values{}
	set(q, "room", f.Room)
	setTime(q, "since", f.Since)
	setTime(q, "until", f.Until)
	set(q, "outcome", f.Outcome)
	set(q, "channel", f.Channel)
	set(q, "origin", f.Origin)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// Verifications lists verifications.
func (c *Client) Verifications(ctx context.Context, f VerificationFilter) (VerificationList, json.RawMessage, error) {
	return call[VerificationList](ctx, c, http.MethodGet, "/v1/verifications", f.query(), nil)
}

// Verification returns one verification with its attempts.
func (c *Client) Verification(ctx context.Context, id string) (Verification, json.RawMessage, error) {
	return call[Verification](ctx, c, http.MethodGet, "/v1/verifications/"+seg(id), nil, nil)
}

// OpsEvent is one entry of the ops record: who changed what, when, from
// what to what, and why.
type OpsEvent struct {
	ID     Number          `json:"id"`
	At     time.Time       `json:"at"`
	Actor  Actor           `json:"actor"`
	Action string          `json:"action"`
	Room   string          `json:"room"`
	Device string          `json:"device"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Reason string          `json:"reason"`
}

// Number is an ID the gateway sends as a JSON number or string; it keeps
// its digits as they came.
type Number string

// UnmarshalJSON takes a number or a string.
func (n *Number) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*n = Number(s)
		return nil
	}
	var num json.Number
	if err := json.Unmarshal(b, &num); err != nil {
		return err
	}
	*n = Number(num.String())
	return nil
}

// Actor is who made a change: a credential's ID and its holder's name.
type Actor struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// UnmarshalJSON takes {"id","name"}, or a string as the name.
func (a *Actor) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = Actor{Name: s}
		return nil
	}
	type plain Actor
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*a = Actor(p)
	return nil
}

// String is the actor's name, else its credential's ID.
func (a Actor) String() string {
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}

// OpsEventList is the answer of GET /v1/ops-events.
type OpsEventList struct {
	Events []OpsEvent `json:"events"`
}

// OpsEventFilter chooses the ops record's entries listed.
type OpsEventFilter struct {
	Room   string
	Device string
	Since  time.Time
	Until  time.Time
	Limit  int
}

// OpsEvents lists the ops record's entries.
func (c *Client) OpsEvents(ctx context.Context, f OpsEventFilter) (OpsEventList, json.RawMessage, error) {
	q := url.Values{}
	set(q, "room", f.Room)
	set(q, "device", f.Device)
	setTime(q, "since", f.Since)
	setTime(q, "until", f.Until)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return call[OpsEventList](ctx, c, http.MethodGet, "/v1/ops-events", q, nil)
}

// Flags is the answer of GET /v1/flags: verifications that never
// connected.
type Flags struct {
	Room      string         `json:"room"`
	Since     time.Time      `json:"since"`
	Flags     []Verification `json:"flags"`
	Truncated bool           `json:"truncated"`
}

// Flags lists a room's (or every room's, for "") verifications of the last
// hours (0: the gateway's default) that never connected.
func (c *Client) Flags(ctx context.Context, room string, hours int) (Flags, json.RawMessage, error) {
	q := url.Values{}
	set(q, "room", room)
	if hours > 0 {
		q.Set("hours", strconv.Itoa(hours))
	}
	return call[Flags](ctx, c, http.MethodGet, "/v1/flags", q, nil)
}

func set(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setTime(q url.Values, k string, t time.Time) {
	if !t.IsZero() {
		q.Set(k, t.UTC().Format(time.RFC3339))
	}
}

// OutboxEntry is one message to the force's incident system, as
// GET /v1/outbox lists it.
type OutboxEntry struct {
	ID           string    `json:"id"`
	Verification string    `json:"verification"`
	Type         string    `json:"type"`
	State        string    `json:"state"`
	Attempts     int       `json:"attempts"`
	NextAt       time.Time `json:"next_at"`
	LastError    string    `json:"last_error"`
	Since        time.Time `json:"since"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// OutboxList is the answer of GET /v1/outbox.
type OutboxList struct {
	Entries []OutboxEntry `json:"entries"`
}

// OutboxFilter chooses the outbox entries listed.
type OutboxFilter struct {
	State        string // pending, delivered or dead; "" any
	Verification string
	Limit        int
}

// Outbox lists the outbox's entries, oldest first.
func (c *Client) Outbox(ctx context.Context, f OutboxFilter) (OutboxList, json.RawMessage, error) {
	q := url.Values{}
	set(q, "state", f.State)
	set(q, "verification", f.Verification)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return call[OutboxList](ctx, c, http.MethodGet, "/v1/outbox", q, nil)
}

// ReplayOutbox makes a dead (or delivered) entry pending again, with the
// reason for the ops record.
func (c *Client) ReplayOutbox(ctx context.Context, id, reason string) (OutboxEntry, json.RawMessage, error) {
	return call[OutboxEntry](ctx, c, http.MethodPost, "/v1/outbox/"+seg(id)+"/replay", nil, reasonBody{reason})
}
