package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/console"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/router"
)

// recordCheck appends to v's record a check that shows Sam Clarke with a
// warning sign.
func recordCheck(t testing.TB, e *env, v gateway.Verification) {
	t.Helper()
	doc := `{"entry":{"collar":"PC1234","name":"Sam Clarke","rank":"PC","shifts":[]},"signs":[{"code":"outside_area","reason":"The stop is outside the area he is assigned to.","figures":{"assigned":"Camden"}}],"roster_loaded_at":"2026-12-03T17:00:00Z","at":"2026-12-03T17:00:00Z"}`
	if _, err := e.Store.AppendEvent(context.Background(), gateway.Event{VerificationID: v.ID, Type: gateway.EventCheck,
		Message: "the supervisor's check: 1 warning sign(s): outside_area", Data: map[string]string{gateway.DataAssessment: doc}}); err != nil {
		t.Fatal(err)
	}
}

// TestCheckForSupervisorsOnly checks that the recorded check (entry and
// warning signs with their reasons and figures) is on a supervisor's board
// and record page, and that ops staff see neither it nor its event, nor the
// photo route, nor the grounds form.
func TestCheckForSupervisorsOnly(t *testing.T) {
	e := newEnv(t, nil)
	v := connected(t, e)
	recordCheck(t, e, v)

	_, sup := e.Token(t, gateway.RoleSupervisor, "PS 42")
	s := e.browser(t)
	s.signIn(sup)
	for _, path := range []string{"/console/rooms/AW", "/console/verifications/" + v.ID} {
		_, page := s.do("GET", path, nil)
		for _, want := range []string{"Sam Clarke", "outside area", "(assigned: Camden)", `action="/console/verifications/` + v.ID + `/grounds"`} {
			if !strings.Contains(page, want) {
				t.Errorf("the supervisor's %s lacks %q", path, want)
			}
		}
	}

	_, ops := e.Token(t, gateway.RoleOps, "ops")
	o := e.browser(t)
	o.signIn(ops)
	var form string
	for _, path := range []string{"/console/rooms/AW", "/console/verifications/" + v.ID} {
		_, page := o.do("GET", path, nil)
		form = page
		for _, not := range []string{"Sam Clarke", "outside", "supervisor's check", "/grounds", "/photo", "Open a check"} {
			if strings.Contains(page, not) {
				t.Errorf("ops staff's %s shows %q", path, not)
			}
		}
	}
	if resp, _ := o.do("GET", "/console/verifications/"+v.ID+"/photo", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("ops staff's photo: %d, want 403", resp.StatusCode)
	}
	resp, _ := o.do("POST", "/console/verifications/"+v.ID+"/grounds", url.Values{"grounds": {"x"}, "csrf": {csrf(t, form)}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("ops staff correcting the grounds: %d, want 403", resp.StatusCode)
	}
	resp, _ = o.do("POST", "/console/checks", url.Values{"origin": {"radio"}, "collar": {"PC1234"}, "room": {"AW"}, "csrf": {csrf(t, form)}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("ops staff opening a check: %d, want 403", resp.StatusCode)
	}
}

// fakeChecks opens every check it is asked for and has a photo of
// everyone, counting the checks it opened.
type fakeChecks struct {
	opened int
	last   httpapi.CheckRequest
}

func (f *fakeChecks) OpenCheck(_ context.Context, _ gateway.Token, body httpapi.CheckRequest) (gateway.Verification, error) {
	f.opened++
	f.last = body
	return gateway.Verification{ID: "v_opened", RoomID: body.Room}, nil
}

func (f *fakeChecks) OfficerPhoto(string) ([]byte, string, error) {
	return []byte("\x89PNG\r\n\x1a\n"), "image/png", nil
}

// fakeGrounds records every correction, counting them.
type fakeGrounds struct{ corrected int }

func (f *fakeGrounds) CorrectGrounds(_ context.Context, id, _ string, _ router.Corrector) (gateway.Event, error) {
	f.corrected++
	return gateway.Event{VerificationID: id}, nil
}

// TestCheckCoversTheRoom checks that a supervisor whose credential is
// limited to other rooms than the verification's is refused its photo and
// the correction of its grounds, and the opening of a check for a room he
// does not cover, as he is its outcome; nothing refused reaches the
// gateway.
func TestCheckCoversTheRoom(t *testing.T) {
	checks, grounds := &fakeChecks{}, &fakeGrounds{}
	e := newEnv(t, func(c *console.Console) { c.Checks, c.Grounds = checks, grounds })
	v := connected(t, e)
	recordCheck(t, e, v)
	secret, hash := gateway.NewSecret()
	if err := e.Store.CreateToken(context.Background(), gateway.Token{ID: gateway.NewID("t_"), Role: gateway.RoleSupervisor, Name: "PS 7",
		Hash: hash, Supervisor: &gateway.SupervisorIdentity{Rank: "PS", Number: "7", Rooms: []string{"CE"}}}); err != nil {
		t.Fatal(err)
	}
	s := e.browser(t)
	s.signIn(secret)
	_, page := s.do("GET", "/console/rooms/CE", nil)
	token := csrf(t, page)
	if resp, _ := s.do("GET", "/console/verifications/"+v.ID+"/photo", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the photo of another room's verification: %d, want 403", resp.StatusCode)
	}
	resp, _ := s.do("POST", "/console/verifications/"+v.ID+"/grounds", url.Values{"grounds": {"x"}, "csrf": {token}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("correcting the grounds of another room's verification: %d, want 403", resp.StatusCode)
	}
	resp, _ = s.do("POST", "/console/checks", url.Values{"origin": {"radio"}, "collar": {"PC1234"}, "room": {"AW"}, "csrf": {token}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("opening a check for another room: %d, want 403", resp.StatusCode)
	}
	if checks.opened != 0 || grounds.corrected != 0 {
		t.Fatalf("refused: %d checks opened, %d corrections recorded", checks.opened, grounds.corrected)
	}

	// His own room's check he opens.
	resp, _ = s.do("POST", "/console/checks", url.Values{"origin": {"radio"}, "collar": {"PC1234"}, "room": {"CE"}, "csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther || checks.opened != 1 {
		t.Errorf("opening a check for his room: %d, %d opened", resp.StatusCode, checks.opened)
	}
}

// TestOpenCheckStopPlace checks that the open-check form offers the stop's
// borough and location, passes the one given to the gateway, none when
// neither is, and refuses a latitude without a longitude, or a number that
// is not one, opening nothing.
func TestOpenCheckStopPlace(t *testing.T) {
	checks := &fakeChecks{}
	e := newEnv(t, func(c *console.Console) { c.Checks = checks })
	_, sup := e.Token(t, gateway.RoleSupervisor, "PS 42")
	s := e.browser(t)
	s.signIn(sup)
	_, page := s.do("GET", "/console/checks/new?room=AW", nil)
	for _, want := range []string{`name="borough"`, `<option value="">Not known</option>`, `name="lat"`, `name="lon"`, "any of the room's boroughs"} {
		if !strings.Contains(page, want) {
			t.Errorf("the open-check form lacks %q", want)
		}
	}
	token := csrf(t, page)
	post := func(extra url.Values) int {
		form := url.Values{"origin": {"radio"}, "collar": {"PC1234"}, "room": {"AW"}, "csrf": {token}}
		for k, v := range extra {
			form[k] = v
		}
		resp, _ := s.do("POST", "/console/checks", form)
		return resp.StatusCode
	}
	if st := post(nil); st != http.StatusSeeOther || checks.last.Location != nil || checks.last.Borough != "" {
		t.Errorf("no place: %d, %+v", st, checks.last)
	}
	if st := post(url.Values{"borough": {"Kensington and Chelsea"}}); st != http.StatusSeeOther || checks.last.Borough != "Kensington and Chelsea" {
		t.Errorf("a borough: %d, %+v", st, checks.last)
	}
	if st := post(url.Values{"lat": {" 51.4924"}, "lon": {"-0.1565 "}}); st != http.StatusSeeOther || checks.last.Location == nil ||
		*checks.last.Location.Lat != 51.4924 || *checks.last.Location.Lon != -0.1565 {
		t.Errorf("a location: %d, %+v", st, checks.last)
	}
	opened := checks.opened
	for _, bad := range []url.Values{{"lat": {"51.5"}}, {"lat": {"north"}, "lon": {"0"}}} {
		if st := post(bad); st != http.StatusBadRequest {
			t.Errorf("%v: %d, want 400", bad, st)
		}
	}
	if checks.opened != opened {
		t.Errorf("a bad location opened a check")
	}
}

// TestCheckShowsAreaAndRosterAge checks that the check shows the area the
// officer's shift assigns him and how old the roster it consulted was when
// the check was made (or that none was loaded), on the board and the
// record page, and that ops staff see neither.
func TestCheckShowsAreaAndRosterAge(t *testing.T) {
	for name, c := range map[string]struct {
		doc   string
		wants []string
	}{
		"on his shift": {`{"entry":{"collar":"PC1234","name":"Sam Clarke","rank":"PC","shifts":[]},` +
			`"shift":{"start":"2026-12-03T16:00:00Z","end":"2026-12-04T02:00:00Z","plain_clothes":true,"areas":["Westminster","Kensington and Chelsea"]},` +
			`"signs":[],"roster_loaded_at":"2026-12-03T15:00:00Z","at":"2026-12-03T17:00:00Z"}`,
			[]string{"Assigned area", "Westminster, Kensington and Chelsea", "The duty roster was loaded 2 h before the check, at 3 Dec 2026 15:00:00."}},
		"no roster": {`{"signs":[{"code":"roster_stale","reason":"No duty roster has been loaded."}],"roster_loaded_at":"0001-01-01T00:00:00Z","at":"2026-12-03T17:00:00Z"}`,
			[]string{"No duty roster was loaded when the check was made."}},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			v := connected(t, e)
			if _, err := e.Store.AppendEvent(context.Background(), gateway.Event{VerificationID: v.ID, Type: gateway.EventCheck,
				Message: "the supervisor's check", Data: map[string]string{gateway.DataAssessment: c.doc}}); err != nil {
				t.Fatal(err)
			}
			_, sup := e.Token(t, gateway.RoleSupervisor, "PS 42")
			s := e.browser(t)
			s.signIn(sup)
			_, board := s.do("GET", "/console/rooms/AW", nil)
			_, page := s.do("GET", "/console/verifications/"+v.ID, nil)
			for where, p := range map[string]string{"record page": page, "board": section(t, board, `id="check-`+v.ID+`"`)} {
				for _, want := range c.wants {
					if !strings.Contains(p, want) {
						t.Errorf("the %s's check lacks %q", where, want)
					}
				}
			}

			_, ops := e.Token(t, gateway.RoleOps, "ops")
			o := e.browser(t)
			o.signIn(ops)
			for _, path := range []string{"/console/rooms/AW", "/console/verifications/" + v.ID} {
				_, page := o.do("GET", path, nil)
				for _, not := range []string{"Assigned area", "Kensington and Chelsea", "duty roster was loaded"} {
					if strings.Contains(page, not) {
						t.Errorf("ops staff's %s shows %q", path, not)
					}
				}
			}
		})
	}
}

// section is the part of page from the element with attr to the end of
// its section.
func section(tb testing.TB, page, attr string) string {
	tb.Helper()
	i := strings.Index(page, attr)
	if i < 0 {
		tb.Fatalf("no %s in the page", attr)
	}
	j := strings.Index(page[i:], "</section>")
	if j < 0 {
		return page[i:]
	}
	return page[i : i+j]
}
