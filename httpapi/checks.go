package httpapi

import (
	"context"
	"net/http"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/router"
)

// CheckOpener is the router's ability to open a check asked for by radio
// or over a 999 call (router.Router has it).
type CheckOpener interface {
	OpenCheck(ctx context.Context, c router.OpenCheck) (gateway.Verification, error)
}

// CheckRequest is the body of POST /v1/checks: a check a supervisor opens
// for a member of the public who asked for it over the officer's radio or
// by dialling 999.
type CheckRequest struct {
	Origin  string `json:"origin"`            // radio or 999
	Collar  string `json:"collar"`            // the officer's collar number
	Room    string `json:"room"`              // the room making the check
	Grounds string `json:"grounds,omitempty"` // the stated grounds for the stop
}

// OpenCheck checks and opens a check by radio or 999 for tok's holder, a
// supervisor, through the code path of POST /v1/checks, so that the
// console and the API leave the same record. EINVALID; EFORBIDDEN when
// his credential is limited to other rooms; EUNAVAILABLE when the router
// cannot open checks.
func (s *Server) OpenCheck(ctx context.Context, tok gateway.Token, body CheckRequest) (gateway.Verification, error) {
	co, ok := s.Router.(CheckOpener)
	if !ok {
		return gateway.Verification{}, gateway.Errorf(gateway.EUNAVAILABLE, "this gateway cannot open checks")
	}
	origin := gateway.Origin(body.Origin)
	if !origin.Spoken() {
		return gateway.Verification{}, invalid("origin must be radio or 999")
	}
	collar, err := checkText("collar", body.Collar, MaxCollar)
	if err != nil {
		return gateway.Verification{}, err
	}
	room, err := checkText("room", body.Room, 64)
	if err != nil {
		return gateway.Verification{}, err
	}
	if err := CoversRoom(tok, room, "open checks"); err != nil {
		return gateway.Verification{}, err
	}
	grounds, err := checkGrounds("grounds", body.Grounds)
	if err != nil {
		return gateway.Verification{}, err
	}
	name := tok.Name
	if name == "" {
		name = tok.ID
	}
	return co.OpenCheck(ctx, router.OpenCheck{Origin: origin, Collar: collar, RoomID: room, Grounds: grounds, By: tok.ID, Name: name,
		Supervisor: Viewer(tok)})
}

// POST /v1/checks (supervisor)
func (s *Server) createCheck(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	data, err := readLimited(r.Body, s.maxBody())
	if err != nil {
		return err
	}
	var body CheckRequest
	if err := unmarshalStrict(data, &body); err != nil {
		return err
	}
	v, err := s.OpenCheck(r.Context(), tok, body)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, NewVerificationView(v))
	return nil
}
