package httpapi

import (
	"context"
	"math"
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
	// Location is where the stop is, or Borough the borough, one of the
	// room's, it is in: optional, at most one. With neither, the officer's
	// assigned area is judged against all of the room's boroughs.
	Location *StopLocation `json:"location,omitempty"`
	Borough  string        `json:"borough,omitempty"`
}

// StopLocation is where a stop is, as a WGS84 position: the wire form of an
// officer's request's location and of a check's.
type StopLocation struct {
	Lat *float64 `json:"lat"`
	Lon *float64 `json:"lon"`
}

// check returns the position: both coordinates given, finite and in
// range. EINVALID.
func (l StopLocation) check() (gateway.Location, error) {
	switch {
	case l.Lat == nil:
		return gateway.Location{}, invalid("location.lat is required")
	case l.Lon == nil:
		return gateway.Location{}, invalid("location.lon is required")
	}
	lat, lon := *l.Lat, *l.Lon
	if math.IsNaN(lat) || math.IsInf(lat, 0) || lat < -90 || lat > 90 {
		return gateway.Location{}, invalid("location.lat must be between -90 and 90")
	}
	if math.IsNaN(lon) || math.IsInf(lon, 0) || lon < -180 || lon > 180 {
		return gateway.Location{}, invalid("location.lon must be between -180 and 180")
	}
	return gateway.Location{Lat: lat, Lon: lon}, nil
}

// OpenCheck checks and opens a check by radio or 999 for tok's holder, a
// supervisor or a 999 call handler, through the code path of POST /v1/checks, so that the
// console and the API leave the same record. EINVALID; EOUTSIDE for a
// stop location no room covers; EFORBIDDEN when
// his credential is limited to other rooms; EUNAVAILABLE when the router
// cannot open checks.
func (s *Server) OpenCheck(ctx context.Context, tok gateway.Token, body CheckRequest) (gateway.Verification, error) {
	if !tok.Role.OpensChecks() {
		return gateway.Verification{}, gateway.Errorf(gateway.EFORBIDDEN, "only a supervisor or a 999 call handler opens a check")
	}
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
	c := router.OpenCheck{Origin: origin, Collar: collar, RoomID: room, Grounds: grounds, By: tok.ID, Name: tok.Name,
		Supervisor: Viewer(tok)}
	if c.Name == "" {
		c.Name = tok.ID
	}
	if body.Location != nil {
		loc, err := body.Location.check()
		if err != nil {
			return gateway.Verification{}, err
		}
		c.Location = &loc
	}
	if c.Borough, err = checkOptionalText("borough", body.Borough, 64); err != nil {
		return gateway.Verification{}, err
	}
	if c.Location != nil && c.Borough != "" {
		return gateway.Verification{}, invalid("give the stop's location or its borough, not both")
	}
	return co.OpenCheck(ctx, c)
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
	s.writeJSON(w, r, http.StatusCreated, s.viewOf(v))
	return nil
}
