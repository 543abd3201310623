package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/safeconnection/gateway"
)

// eventVisible reports whether tok's holder may see ev: the supervisor's
// check (the officer's roster entry and warning signs) is for supervisors
// alone.
func eventVisible(tok gateway.Token, ev gateway.Event) bool {
	return ev.Type != gateway.EventCheck || tok.Role == gateway.RoleSupervisor
}

// CheckReply answers GET /v1/verifications/{id}/check: what the supervisor
// is shown of the officer, as it was recorded when the check was made (the
// roster may have changed since). Assessment is null while it is being
// made, and for a verification that has none (a public call).
type CheckReply struct {
	Verification string          `json:"verification"`
	Assessment   json.RawMessage `json:"assessment"`
	RecordedAt   *time.Time      `json:"recorded_at"`
	Summary      string          `json:"summary,omitempty"`
}

// GET /v1/verifications/{id}/check (supervisor)
func (s *Server) verificationCheck(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	v, err := s.verificationFor(r, tok)
	if err != nil {
		return err
	}
	evs, err := s.Verifications.Events(r.Context(), v.ID, 0, 0)
	if err != nil {
		return err
	}
	out := CheckReply{Verification: v.ID, Assessment: json.RawMessage("null")}
	for _, ev := range evs {
		doc := ev.Data[gateway.DataAssessment]
		if ev.Type != gateway.EventCheck || !json.Valid([]byte(doc)) {
			continue
		}
		// The first is what was shown when the check was made.
		at := ev.At
		out.Assessment, out.RecordedAt, out.Summary = json.RawMessage(doc), &at, ev.Message
		break
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}
