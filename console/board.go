package console

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
)

// The states a device shows on the board.
const (
	DeviceFree         = "free"
	DeviceRinging      = "ringing"
	DeviceInCall       = "in call"
	DeviceOutOfService = "out of service"
)

// Board is what a room's board shows.
type Board struct {
	Room    gateway.Room
	Devices []DeviceRow
	// Live are the verifications being routed, dialled or in call.
	Live []VerificationRow
	// Queue are those waiting for a free device, in arrival order.
	Queue []VerificationRow
	// Flags are those of the flag window that never connected.
	Flags []VerificationRow
	// Reports are the room's checks on which, in the flag window, the
	// public reported misconduct in her feedback, newest first.
	Reports []ReportRow
	At      time.Time
	// Opens is whether the viewer opens checks asked for by radio or 999
	// (a supervisor or a 999 call handler).
	Opens bool
	// Missing are the channels no device of the room can serve now.
	Missing []gateway.Channel
}

// ReportRow is a misconduct report from her feedback as the board shows
// it: the check, when, and how she was treated; her words go to
// professional standards, not to the board.
type ReportRow struct {
	V       VerificationRow
	Treated string
	At      time.Time
}

// DeviceRow is one device as the board shows it.
type DeviceRow struct {
	ID       string
	Name     string
	State    string // free, ringing, in call, out of service
	Health   []string
	Battery  int // -1 unknown
	LastSeen time.Time
	Apps     []gateway.Channel
	Holder   string // the reference of the verification holding it
}

// VerificationRow is one verification as the board and history show it.
type VerificationRow struct {
	ID        string
	Reference string
	State     gateway.State
	Origin    gateway.Origin
	Collar    string // the officer's collar number; for a public call, empty
	Caller    string // a public caller's number, masked
	RoomID    string
	Channel   gateway.Channel
	Device    string
	JoinURL   string
	Reason    string
	Outcome   *gateway.Outcome
	Flagged   bool
	CreatedAt time.Time
	Attempts  []AttemptRow
	// Check is the supervisor's check as recorded: shown to those who
	// judge the verification only (gateway.Role.Judges); nil for a public
	// call, or on a page for ops staff.
	Check *CheckView
	// Judge is whether the viewer judges it: is shown the check and
	// records the outcome. The same for every frame of a viewer's role, so
	// not part of Sum.
	Judge bool `json:"-"`
	// Sum identifies what the row shows, so that a live board replaces
	// only the rows that changed.
	Sum string
}

// AttemptRow is one attempt as the board shows it.
type AttemptRow struct {
	Seq       int
	Channel   gateway.Channel
	Device    string
	Room      string
	Tries     int
	Result    string
	StartedAt time.Time
	Open      bool
}

// Awaiting reports whether the supervisor can record an outcome now.
func (v VerificationRow) Awaiting() bool {
	return v.State == gateway.StateConnected && v.Outcome == nil
}

// liveStates are the states the board shows as live.
var liveStates = []gateway.State{gateway.StateRouting, gateway.StateQueued, gateway.StateDialling, gateway.StateConnected}

// row returns the board's and history's view of v.
func row(v gateway.Verification) VerificationRow {
	out := VerificationRow{
		ID: v.ID, Reference: v.Reference, State: v.State, Origin: v.Origin, Collar: v.Officer.Collar, Caller: v.Caller,
		RoomID: v.RoomID, Channel: v.Channel, Device: v.DeviceID, JoinURL: v.JoinURL, Reason: v.Reason, Outcome: v.Outcome,
		Flagged: v.NeverConnected(), CreatedAt: v.CreatedAt,
	}
	if out.Origin == "" {
		out.Origin = gateway.OriginOfficer
	}
	if out.Origin == gateway.OriginPublic {
		out.Collar = ""
	}
	for _, a := range v.Attempts {
		result := string(a.Result)
		if a.Open() {
			result = "in progress"
		}
		out.Attempts = append(out.Attempts, AttemptRow{Seq: a.Seq, Channel: a.Channel, Device: a.DeviceID, Room: a.RoomID,
			Tries: a.Tries, Result: strings.ReplaceAll(result, "_", " "), StartedAt: a.StartedAt, Open: a.Open()})
	}
	if n := len(v.Attempts); n > 0 {
		last := v.Attempts[n-1]
		if out.Channel == "" {
			out.Channel = last.Channel
		}
		if out.Device == "" && last.Open() {
			out.Device = last.DeviceID
		}
		if out.JoinURL == "" && last.Open() {
			out.JoinURL = last.JoinURL
		}
	}
	return summed(out)
}

// summed is rw with its Sum set from what it shows.
func summed(rw VerificationRow) VerificationRow {
	rw.Sum = ""
	b, _ := json.Marshal(rw)
	h := fnv.New64a()
	h.Write(b)
	rw.Sum = fmt.Sprintf("%016x", h.Sum64())
	return rw
}

// local is rw with its times in the console's time zone.
func (c *Console) local(rw VerificationRow) VerificationRow {
	loc := c.location()
	rw.CreatedAt = rw.CreatedAt.In(loc)
	rw.Attempts = append([]AttemptRow(nil), rw.Attempts...)
	for i := range rw.Attempts {
		rw.Attempts[i].StartedAt = rw.Attempts[i].StartedAt.In(loc)
	}
	return rw
}

// concerns reports whether v belongs on room's board: it is the room's, or
// one of its attempts is on the room's devices (an overflow call).
func concerns(v gateway.Verification, room string) bool {
	if v.RoomID == room {
		return true
	}
	for _, a := range v.Attempts {
		if a.RoomID == room {
			return true
		}
	}
	return false
}

// board reads a room's board from the store.
func (c *Console) board(ctx context.Context, room gateway.Room) (Board, error) {
	now := c.now()
	b := Board{Room: room, At: now.In(c.location())}
	devices, err := c.Store.Devices(ctx, room.ID, false)
	if err != nil {
		return Board{}, err
	}
	live, err := c.Store.Verifications(ctx, gateway.VerificationFilter{States: liveStates})
	if err != nil {
		return Board{}, err
	}
	flagged, err := c.Store.Verifications(ctx, gateway.VerificationFilter{
		States: []gateway.State{gateway.StateFailed, gateway.StateCancelled}, RoomID: room.ID, Since: now.Add(-c.flagWindow()),
	})
	if err != nil {
		return Board{}, err
	}
	byID := map[string]gateway.Verification{}
	for _, v := range live {
		byID[v.ID] = v
		if !concerns(v, room.ID) {
			continue
		}
		if v.State == gateway.StateQueued {
			b.Queue = append(b.Queue, c.local(row(v)))
			continue
		}
		rw := row(v)
		if rw.Check, err = c.checkFor(ctx, v); err != nil {
			return Board{}, err
		}
		b.Live = append(b.Live, c.local(summed(rw)))
	}
	for i := len(flagged) - 1; i >= 0; i-- { // newest first
		if v := flagged[i]; v.NeverConnected() {
			b.Flags = append(b.Flags, c.local(row(v)))
		}
	}
	if b.Reports, err = c.reports(ctx, room.ID, now); err != nil {
		return Board{}, err
	}
	for _, d := range devices {
		b.Devices = append(b.Devices, c.deviceRow(d, byID, now))
	}
	if c.Routable != nil {
		all, err := c.Routable.RoomHealth(ctx)
		if err != nil {
			c.logger().WithError(err).Warn("console: the routable devices could not be counted")
		}
		for _, h := range all {
			if h.RoomID == room.ID {
				b.Missing = h.Missing
			}
		}
	}
	return b, nil
}

// reports are the room's misconduct reports of the flag window, newest
// first.
func (c *Console) reports(ctx context.Context, room string, now time.Time) ([]ReportRow, error) {
	if c.Feedback == nil {
		return nil, nil
	}
	fs, err := c.Feedback.FeedbackSince(ctx, now.Add(-c.flagWindow()))
	if err != nil {
		return nil, err
	}
	var out []ReportRow
	for i := len(fs) - 1; i >= 0; i-- {
		f := fs[i]
		if !f.Misconduct {
			continue
		}
		v, err := c.Store.Verification(ctx, f.VerificationID)
		if err != nil {
			return nil, err
		}
		if v.RoomID == room {
			out = append(out, ReportRow{V: c.local(row(v)), Treated: f.Treated, At: f.At.In(c.location())})
		}
	}
	return out, nil
}

// deviceRow is how the board shows d.
func (c *Console) deviceRow(d gateway.Device, live map[string]gateway.Verification, now time.Time) DeviceRow {
	out := DeviceRow{ID: d.ID, Name: d.Name, State: DeviceFree, Battery: d.Battery, LastSeen: d.LastSeen.In(c.location()), Apps: d.Apps}
	if d.Lease != nil {
		out.State = DeviceRinging
		if v, ok := live[d.Lease.Holder]; ok {
			out.Holder = v.Reference
			if v.State == gateway.StateConnected {
				out.State = DeviceInCall
			}
		}
	} else if d.Status != gateway.DeviceInService {
		out.State = DeviceOutOfService
	}
	for _, p := range c.health().Check(d, now).Problems {
		if p.Code == gateway.HealthOutOfService {
			continue // the state says so
		}
		out.Health = append(out.Health, p.Reason)
	}
	return out
}

// health is the policy the board judges devices by.
func (c *Console) health() gateway.HealthPolicy {
	if c.Health != nil {
		return *c.Health
	}
	return gateway.HealthPolicy{Stale: c.stale(), BatteryFloor: gateway.DefaultBatteryFloor}
}

func (c *Console) boardPage(w http.ResponseWriter, r *http.Request, s session) error {
	room, err := c.room(r)
	if err != nil {
		return err
	}
	b, err := c.board(r.Context(), room)
	if err != nil {
		return err
	}
	b = forRole(b, s.Token.Role)
	v := c.view(s, room.Name, b)
	v.RoomID = room.ID
	v.Message = flash(r)
	return c.render(w, http.StatusOK, "board.html", v)
}

// flash is the message a redirect back to the board carries.
func flash(r *http.Request) string {
	switch r.URL.Query().Get("done") {
	case "verified":
		return "Recorded: verified."
	case "refused":
		return "Recorded: refused."
	case "grounds":
		return "Recorded: the corrected grounds."
	case "word":
		return "Recorded: you read her the check word."
	case "opened":
		return "The check is open: record its outcome when you have checked him."
	}
	return ""
}

// forRole is b as the viewer's role sees it: the check of a verification
// and its photo for those who judge it (a supervisor every one, a 999 call
// handler those asked for by radio or 999), neither for ops staff.
func forRole(b Board, role gateway.Role) Board {
	b.Opens = role.OpensChecks()
	b.Live = append([]VerificationRow(nil), b.Live...)
	for i := range b.Live {
		if b.Live[i].Judge = role.Judges(b.Live[i].Origin); !b.Live[i].Judge && b.Live[i].Check != nil {
			b.Live[i].Check = nil
			b.Live[i] = summed(b.Live[i])
		}
	}
	return b
}

// fragment renders the live part of a board as the viewer's role sees it.
func fragment(b Board, role gateway.Role) (string, error) {
	b = forRole(b, role)
	var sb strings.Builder
	if err := pages.ExecuteTemplate(&sb, "boardbody", view{Data: b, RoomID: b.Room.ID}); err != nil {
		return "", gateway.E("console.fragment", gateway.EINTERNAL, err)
	}
	return sb.String(), nil
}

// back sends the browser, after a form of verification id's is done,
// back where it came from: the board of the form's room when it names
// one, else the verification's record, with what was done (flash).
func (c *Console) back(w http.ResponseWriter, r *http.Request, id, done string) {
	to := "/console/verifications/" + id
	if room := r.PostFormValue("room"); room != "" {
		if _, ok := c.Rooms.Room(room); ok {
			to = "/console/rooms/" + room
		}
	}
	http.Redirect(w, r, to+"?done="+done, http.StatusSeeOther)
}

// outcomePost records a supervisor's outcome from the board's buttons
// through the API's own code path, and goes back to the board.
func (c *Console) outcomePost(w http.ResponseWriter, r *http.Request, s session) error {
	if !s.Token.Role.Staff() {
		return gateway.Errorf(gateway.EFORBIDDEN, "only a supervisor or a 999 call handler records outcomes")
	}
	id := r.PathValue("id")
	result := r.PostFormValue("outcome")
	v, err := c.Outcomes.RecordOutcome(r.Context(), s.Token, id, httpapi.OutcomeRequest{
		Outcome: result, Note: r.PostFormValue("note"),
	})
	if err != nil {
		return err
	}
	c.back(w, r, v.ID, string(v.Outcome.Result))
	return nil
}

// ago says how long before now t was, roughly.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// label is a state or value as people read it.
func label(s any) string { return strings.ReplaceAll(fmt.Sprint(s), "_", " ") }

func writeJSON(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
