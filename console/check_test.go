package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
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
