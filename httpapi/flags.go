package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/safeconnection/gateway"
)

// Flags: the verifications that never connected, by room. An officer who
// opens a check and abandons it before it connects (or whose check failed)
// is what a supervisor must see.

// The window GET /v1/flags looks back over, in hours.
const (
	DefaultFlagHours = 24
	MaxFlagHours     = 7 * 24
	// MaxFlags bounds one answer; Truncated says when there were more.
	MaxFlags = 500
)

// FlagsView is the answer of GET /v1/flags.
type FlagsView struct {
	Room      string             `json:"room,omitempty"`
	Since     time.Time          `json:"since"`
	Flags     []VerificationView `json:"flags"`
	Truncated bool               `json:"truncated"`
}

// listFlags answers GET /v1/flags?room=AW&hours=24: the room's (or every
// room's) verifications created in the last hours that ended without
// connecting, oldest first.
func (s *Server) listFlags(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	q := r.URL.Query()
	room := q.Get("room")
	if room != "" && s.Rooms != nil {
		if _, ok := s.Rooms.Room(room); !ok {
			return gateway.Errorf(gateway.EINVALID, "room: no operations room %.20q", room)
		}
	}
	hours := DefaultFlagHours
	if h := q.Get("hours"); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 1 || n > MaxFlagHours {
			return gateway.Errorf(gateway.EINVALID, "hours: a whole number from 1 to %d", MaxFlagHours)
		}
		hours = n
	}
	since := s.now().Add(-time.Duration(hours) * time.Hour)
	vs, err := s.Verifications.Verifications(r.Context(), gateway.VerificationFilter{
		States: []gateway.State{gateway.StateFailed, gateway.StateCancelled}, RoomID: room, Since: since,
	})
	if err != nil {
		return err
	}
	out := FlagsView{Room: room, Since: since.UTC(), Flags: []VerificationView{}}
	for _, v := range vs {
		if !v.NeverConnected() {
			continue
		}
		if len(out.Flags) == MaxFlags {
			out.Truncated = true
			break
		}
		out.Flags = append(out.Flags, s.viewOf(v))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}
