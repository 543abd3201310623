package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/safeconnection/gateway"
)

// MaxRefusals bounds one answer of GET /v1/refusals.
const MaxRefusals = 500

// RefusalsView is the answer of GET /v1/refusals.
type RefusalsView struct {
	Room     string            `json:"room,omitempty"`
	Since    time.Time         `json:"since"`
	Refusals []gateway.Refusal `json:"refusals"`
}

// listRefusals answers GET /v1/refusals?room=AW&hours=24: the requests
// refused in the last hours for naming another officer than their
// credential's, of the room (or of every room), oldest first. They hold
// collar numbers, never a warrant number.
func (s *Server) listRefusals(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	if s.Refusals == nil {
		return gateway.Errorf(gateway.EUNAVAILABLE, "refusals are not kept here")
	}
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
	since := s.storeNow(r.Context()).Add(-time.Duration(hours) * time.Hour)
	rs, err := s.Refusals.Refusals(r.Context(), room, since, MaxRefusals)
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []gateway.Refusal{}
	}
	s.writeJSON(w, r, http.StatusOK, RefusalsView{Room: room, Since: since.UTC(), Refusals: rs})
	return nil
}
