package console

import (
	"net/http"
	"net/url"
	"time"

	"github.com/safeconnection/gateway"
)

// HistoryFilter is what the history page selects by; the zero value is
// everything of the last week.
type HistoryFilter struct {
	Room    string
	From    string // a date, 2006-01-02, in the console's time zone
	To      string // a date, inclusive
	Outcome string // verified, refused, failed, cancelled, awaiting, live; empty: any
	Channel string
	Origin  string // officer, public, radio, 999; empty: any
}

// The outcomes the history filters by, and the states each means.
var historyOutcomes = map[string][]gateway.State{
	"verified":  {gateway.StateVerified},
	"refused":   {gateway.StateRefused},
	"failed":    {gateway.StateFailed},
	"cancelled": {gateway.StateCancelled},
	"awaiting":  {gateway.StateConnected},
	"live":      {gateway.StateRouting, gateway.StateQueued, gateway.StateDialling},
	"flagged":   {gateway.StateFailed, gateway.StateCancelled},
}

// History is the history page's data.
type History struct {
	Filter    HistoryFilter
	Outcomes  []string
	Channels  []gateway.Channel
	Rows      []VerificationRow
	Truncated bool
}

// parseFilter reads and checks the history's query. EINVALID.
func (c *Console) parseFilter(q url.Values) (HistoryFilter, time.Time, time.Time, error) {
	f := HistoryFilter{Room: q.Get("room"), From: q.Get("from"), To: q.Get("to"), Outcome: q.Get("outcome"),
		Channel: q.Get("channel"), Origin: q.Get("origin")}
	loc := c.location()
	today := time.Date(c.now().In(loc).Year(), c.now().In(loc).Month(), c.now().In(loc).Day(), 0, 0, 0, 0, loc)
	from, to := today.AddDate(0, 0, -7), today.AddDate(0, 0, 1)
	if f.Room != "" {
		if _, ok := c.Rooms.Room(f.Room); !ok {
			return f, from, to, gateway.Errorf(gateway.EINVALID, "room: there is no operations room %.20q", f.Room)
		}
	}
	if f.From != "" {
		t, err := time.ParseInLocation("2006-01-02", f.From, loc)
		if err != nil {
			return f, from, to, gateway.Errorf(gateway.EINVALID, "from: a date, as 2026-12-03")
		}
		from = t
	}
	if f.To != "" {
		t, err := time.ParseInLocation("2006-01-02", f.To, loc)
		if err != nil {
			return f, from, to, gateway.Errorf(gateway.EINVALID, "to: a date, as 2026-12-03")
		}
		to = t.AddDate(0, 0, 1)
	}
	if !to.After(from) {
		return f, from, to, gateway.Errorf(gateway.EINVALID, "to: a date on or after from")
	}
	if _, ok := historyOutcomes[f.Outcome]; f.Outcome != "" && !ok {
		return f, from, to, gateway.Errorf(gateway.EINVALID, "outcome: one of verified, refused, failed, cancelled, awaiting, live, flagged")
	}
	switch gateway.Origin(f.Origin) {
	case "", gateway.OriginOfficer, gateway.OriginPublic, gateway.OriginRadio, gateway.Origin999:
	default:
		return f, from, to, gateway.Errorf(gateway.EINVALID, "origin: officer, public, radio or 999")
	}
	if len(f.Channel) > 20 {
		return f, from, to, gateway.Errorf(gateway.EINVALID, "channel: no such channel")
	}
	return f, from, to, nil
}

func (c *Console) historyPage(w http.ResponseWriter, r *http.Request, s session) error {
	f, from, to, err := c.parseFilter(r.URL.Query())
	if err != nil {
		return err
	}
	vs, err := c.Store.Verifications(r.Context(), gateway.VerificationFilter{States: historyOutcomes[f.Outcome], RoomID: f.Room, Since: from})
	if err != nil {
		return err
	}
	h := History{Filter: f, Outcomes: []string{"verified", "refused", "awaiting", "live", "failed", "cancelled", "flagged"}}
	seen := map[gateway.Channel]bool{}
	for i := len(vs) - 1; i >= 0; i-- { // newest first
		v := vs[i]
		if !v.CreatedAt.Before(to) {
			continue
		}
		rw := row(v)
		if f.Origin != "" && string(rw.Origin) != f.Origin || f.Channel != "" && string(rw.Channel) != f.Channel {
			continue
		}
		if f.Outcome == "flagged" && !rw.Flagged {
			continue
		}
		if len(h.Rows) == MaxHistory {
			h.Truncated = true
			break
		}
		h.Rows = append(h.Rows, c.local(rw))
	}
	for _, v := range vs {
		if v.Channel != "" && !seen[v.Channel] {
			seen[v.Channel] = true
			h.Channels = append(h.Channels, v.Channel)
		}
	}
	if f.Channel != "" && !seen[gateway.Channel(f.Channel)] {
		h.Channels = append(h.Channels, gateway.Channel(f.Channel))
	}
	v := c.view(s, "History", h)
	v.RoomID = f.Room
	return c.render(w, http.StatusOK, "history.html", v)
}

// Record is a verification's full record page's data.
type Record struct {
	V        VerificationRow
	Room     string
	Events   []EventRow
	Deadline time.Time
	Updated  time.Time
	// Judge is whether the viewer judges it: is shown the check and
	// records the outcome (gateway.Role.Judges).
	Judge bool
}

// EventRow is one entry of a record.
type EventRow struct {
	Seq     int64
	At      time.Time
	Type    gateway.EventType
	State   gateway.State
	Message string
	Report  string
}

func (c *Console) recordPage(w http.ResponseWriter, r *http.Request, s session) error {
	id := r.PathValue("id")
	v, err := c.Store.Verification(r.Context(), id)
	if gateway.ErrorCode(err) == gateway.ENOTFOUND {
		return gateway.Errorf(gateway.ENOTFOUND, "there is no verification %.40q", id)
	}
	if err != nil {
		return err
	}
	evs, err := c.Store.Events(r.Context(), v.ID, 0, 0)
	if err != nil {
		return err
	}
	loc := c.location()
	rec := Record{V: c.local(row(v)), Room: v.RoomID, Deadline: v.Deadline.In(loc), Updated: v.UpdatedAt.In(loc),
		Judge: s.Token.Role.Judges(v.Origin)}
	if room, ok := c.Rooms.Room(v.RoomID); ok {
		rec.Room = room.Name
	}
	if rec.Judge {
		if rec.V.Check, err = c.checkForViewer(r.Context(), v, &s.Token); err != nil {
			return err
		}
	}
	for _, ev := range evs {
		if ev.Type == gateway.EventCheck && !rec.Judge {
			continue // the supervisor's check is for supervisors alone
		}
		er := EventRow{Seq: ev.Seq, At: ev.At.In(loc), Type: ev.Type, State: ev.State, Message: ev.Message}
		if ev.Report != nil {
			er.Report = string(ev.Report.Status)
		}
		rec.Events = append(rec.Events, er)
	}
	pv := c.view(s, "Verification "+v.Reference, rec)
	pv.RoomID = v.RoomID
	pv.Message = flash(r)
	return c.render(w, http.StatusOK, "record.html", pv)
}
