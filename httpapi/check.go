package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/roster"
	"github.com/safeconnection/gateway/router"
)

// eventVisible reports whether tok's holder may see ev, an event of a
// verification of origin o: the supervisor's check (the officer's roster
// entry and warning signs) is for those who judge the verification alone.
func eventVisible(tok gateway.Token, o gateway.Origin, ev gateway.Event) bool {
	return ev.Type != gateway.EventCheck || tok.Role.Judges(o)
}

// Judging refuses tok's holder unless he judges verifications of origin
// o (gateway.Role.Judges) for room: what says what he may not do ("record
// outcomes"). EFORBIDDEN.
func Judging(tok gateway.Token, o gateway.Origin, room, what string) error {
	if !tok.Role.Judges(o) {
		if tok.Role == gateway.RoleHandler {
			return gateway.Errorf(gateway.EFORBIDDEN, "a 999 call handler may %s for checks asked for by radio or 999 only: a supervisor judges this one", what)
		}
		return gateway.Errorf(gateway.EFORBIDDEN, "only a supervisor may %s", what)
	}
	return CoversRoom(tok, room, what)
}

// CoversRoom refuses a supervisor whose credential is limited to rooms
// other than room: what says what he may not do there ("see the check").
// Other credentials, and a supervisor's limited to no rooms, pass.
// EFORBIDDEN.
func CoversRoom(tok gateway.Token, room, what string) error {
	sup := tok.Supervisor
	if sup == nil || sup.Covers(room) {
		return nil
	}
	return gateway.Errorf(gateway.EFORBIDDEN, "%s may %s for rooms %s only, not for room %s",
		sup.Name(), what, strings.Join(sup.Rooms, ", "), room)
}

// Viewer is the supervisor tok is issued to as outcomes name him ("PS
// 42"); "" for a credential that names none.
func Viewer(tok gateway.Token) string {
	if tok.Supervisor == nil {
		return ""
	}
	return tok.Supervisor.Name()
}

// AssessmentFor decodes a recorded assessment as tok's supervisor is
// shown it: the refusals of the officer by other supervisors than him
// (roster.Assessment.For). It reports whether that is other than what was
// recorded; false, too, for a document that is not an assessment.
func AssessmentFor(tok gateway.Token, doc string) (roster.Assessment, bool) {
	var as roster.Assessment
	if err := json.Unmarshal([]byte(doc), &as); err != nil {
		return as, false
	}
	return as.For(Viewer(tok))
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
	// Grounds is the officer's stated reason for the stop; Corrections
	// are supervisors' corrections of it, oldest first.
	Grounds     string       `json:"grounds"`
	Corrections []Correction `json:"corrections"`
}

// Correction is a supervisor's correction of the grounds for a stop: By
// is his rank and number; Rank, Number and Room (the room he corrected
// them for) are his credential's, empty in a record of before they were
// kept.
type Correction struct {
	Grounds string    `json:"grounds"`
	By      string    `json:"by"`
	Rank    string    `json:"rank,omitempty"`
	Number  string    `json:"number,omitempty"`
	Room    string    `json:"room,omitempty"`
	At      time.Time `json:"at"`
}

// CorrectionOf is the correction of the grounds ev records, if it is one.
func CorrectionOf(ev gateway.Event) (Correction, bool) {
	g, by := ev.Data[gateway.DataGrounds], ev.Data[gateway.DataCorrectedBy]
	if g == "" || by == "" {
		return Correction{}, false
	}
	return Correction{Grounds: g, By: by, Rank: ev.Data[router.DataCorrectorRank], Number: ev.Data[router.DataCorrectorNumber],
		Room: ev.Data[router.DataCorrectorRoom], At: ev.At}, true
}

// CorrectorFor is the supervisor (or 999 call handler) of tok as a
// correction of the grounds of v records him. ENOIDENTITY for a
// credential that names nobody; EFORBIDDEN when he does not judge v
// (Judging).
func CorrectorFor(tok gateway.Token, v gateway.Verification) (router.Corrector, error) {
	return judgeFor(tok, v, "correct the grounds")
}

// judgeFor is the supervisor (or 999 call handler) of tok as a record of
// what he did on v names him; what says what ("correct the grounds").
// ENOIDENTITY; EFORBIDDEN (Judging).
func judgeFor(tok gateway.Token, v gateway.Verification, what string) (router.Corrector, error) {
	sup, err := staffOf(tok)
	if err != nil {
		return router.Corrector{}, err
	}
	if err := Judging(tok, v.Origin, v.RoomID, what); err != nil {
		return router.Corrector{}, err
	}
	return router.Corrector{Supervisor: sup.Name(), Rank: sup.Rank, Number: sup.Number, Room: v.RoomID, By: tok.ID}, nil
}

// staffOf is the supervisor or 999 call handler tok is issued to.
// ENOIDENTITY for a credential that names nobody.
func staffOf(tok gateway.Token) (gateway.SupervisorIdentity, error) {
	if sup := tok.Supervisor; sup != nil && sup.Name() != "" {
		return *sup, nil
	}
	return gateway.SupervisorIdentity{}, gateway.Errorf(gateway.ENOIDENTITY,
		"this %s credential does not say whose it is: ask ops staff for a credential issued to you", tok.Role)
}

// groundsBody is the wire form of a correction of the grounds.
type groundsBody struct {
	Grounds string `json:"grounds"`
}

// GroundsCorrector is the router's ability to record a supervisor's
// correction of the grounds for a stop (router.Router has it).
type GroundsCorrector interface {
	CorrectGrounds(ctx context.Context, id, grounds string, by router.Corrector) (gateway.Event, error)
}

// POST /v1/verifications/{id}/grounds (supervisor)
func (s *Server) correctGrounds(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	gc, ok := s.Router.(GroundsCorrector)
	if !ok {
		return gateway.Errorf(gateway.EUNAVAILABLE, "this gateway cannot record corrections")
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	data, err := readLimited(r.Body, s.maxBody())
	if err != nil {
		return err
	}
	var body groundsBody
	if err := unmarshalStrict(data, &body); err != nil {
		return err
	}
	grounds, err := checkGrounds("grounds", body.Grounds)
	if err != nil {
		return err
	}
	if grounds == "" {
		return invalid("grounds is required")
	}
	v, err := s.verificationFor(r, tok)
	if err != nil {
		return err
	}
	by, err := CorrectorFor(tok, v)
	if err != nil {
		return err
	}
	if _, err := gc.CorrectGrounds(r.Context(), v.ID, grounds, by); err != nil {
		return err
	}
	return s.verificationCheck(w, r, tok)
}

// GET /v1/verifications/{id}/check (supervisor)
func (s *Server) verificationCheck(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	v, err := s.verificationFor(r, tok)
	if err != nil {
		return err
	}
	if err := Judging(tok, v.Origin, v.RoomID, "see the check"); err != nil {
		return err
	}
	evs, err := s.Verifications.Events(r.Context(), v.ID, 0, 0)
	if err != nil {
		return err
	}
	out := CheckReply{Verification: v.ID, Assessment: json.RawMessage("null"), Corrections: []Correction{}}
	for i, ev := range evs {
		if i == 0 {
			out.Grounds = ev.Data[gateway.DataGrounds]
		} else if c, ok := CorrectionOf(ev); ok {
			out.Corrections = append(out.Corrections, c)
		}
		doc := ev.Data[gateway.DataAssessment]
		if ev.Type != gateway.EventCheck || out.RecordedAt != nil || !json.Valid([]byte(doc)) {
			continue
		}
		// The first is what was shown when the check was made.
		at := ev.At
		out.Assessment, out.RecordedAt, out.Summary = json.RawMessage(doc), &at, ev.Message
		if as, changed := AssessmentFor(tok, doc); changed {
			if b, err := json.Marshal(as); err == nil {
				out.Assessment, out.Summary = b, roster.Summary(as.Signs)
			}
		}
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}
