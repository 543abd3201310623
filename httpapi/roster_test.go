package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/roster"
)

// jpeg is the start of a JPEG file: enough for the photo route's check.
var jpeg = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00photo-bytes")

func rosterEnv(t *testing.T) (*httpapitest.Env, *roster.Source) {
	t.Helper()
	dir := t.TempDir()
	csv := "collar,warrant,name,rank,shift_start,shift_end,plain_clothes,areas,photo\n" +
		"1234AW,WC100234,Sam Clarke,PC,2026-12-03 18:00,2026-12-04 04:00,yes,Westminster,1234aw.jpg\n" +
		"5678CE,WC200871,Priya Shah,DC,2026-12-03 07:00,2026-12-03 17:00,no,,not-a-photo.jpg\n" +
		"9NA,WC3,Tom Reid,DS,2026-12-03 07:00,2026-12-03 17:00,no,,missing.png\n" +
		"bad,,,,,,,,\n"
	for name, b := range map[string][]byte{"roster.csv": []byte(csv), "1234aw.jpg": jpeg, "not-a-photo.jpg": []byte("<html>")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := roster.NewSource(filepath.Join(dir, "roster.csv"), roster.Options{}, nil)
	now := time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC)
	src.Now = func() time.Time { return now.Add(-2 * time.Hour) }
	if err := src.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := httpapitest.New(t, func(s *httpapi.Server) {
		s.Roster = httpapi.Roster{Source: src, Photos: dir, Stale: time.Hour}
		s.Now = func() time.Time { return now }
	})
	return e, src
}

func TestRosterRoutes(t *testing.T) {
	e, _ := rosterEnv(t)
	_, sup := e.Token(t, gateway.RoleSupervisor, "")
	_, ops := e.Token(t, gateway.RoleOps, "")
	_, officer := e.Token(t, gateway.RoleOfficer, "")
	_, agent := e.Token(t, gateway.RoleAgent, "d_1")

	// Who may see what.
	for _, c := range []struct {
		path   string
		secret string
		status int
	}{
		{"/v1/roster", "", 401}, {"/v1/roster", officer, 403}, {"/v1/roster", agent, 403},
		{"/v1/roster", ops, 200}, {"/v1/roster", sup, 200},
		{"/v1/roster/officers/1234AW", ops, 403}, {"/v1/roster/officers/1234AW", officer, 403},
		{"/v1/roster/officers/1234AW/photo", "", 401}, {"/v1/roster/officers/1234AW/photo", officer, 403},
		{"/v1/roster/officers/1234AW/photo", ops, 403}, {"/v1/roster/officers/1234AW/photo", agent, 403},
	} {
		r := do(t, e, call{method: "GET", path: c.path, secret: c.secret})
		if r.status != c.status {
			t.Errorf("GET %s (credential %v): %d, want %d (%s)", c.path, c.secret != "", r.status, c.status, r.body)
		}
	}

	st := decode[httpapi.RosterStatus](t, do(t, e, call{method: "GET", path: "/v1/roster", secret: ops}))
	if !st.Configured || st.Officers != 3 || st.Shifts != 3 || len(st.Problems) != 1 || st.Problems[0].Line != 5 ||
		!st.Stale || st.AgeSeconds != 7200 {
		t.Fatalf("status %+v", st)
	}

	r := do(t, e, call{method: "GET", path: "/v1/roster/officers/1234%20aw", secret: sup})
	wantStatus(t, r, 200)
	if bytes.Contains(r.body, []byte("WC100234")) || bytes.Contains(r.body, []byte("1234aw.jpg")) {
		t.Errorf("the entry shows the warrant number or the photo's file: %s", r.body)
	}
	entry := decode[httpapi.RosterEntry](t, r)
	if entry.Officer.Name != "Sam Clarke" || !entry.HasPhoto || entry.OnDuty == nil || !entry.OnDuty.PlainClothes {
		t.Errorf("entry %+v", entry)
	}
	wantError(t, do(t, e, call{method: "GET", path: "/v1/roster/officers/4242XX", secret: sup}), 404, "not_found")

	r = do(t, e, call{method: "GET", path: "/v1/roster/officers/1234AW/photo", secret: sup})
	wantStatus(t, r, 200)
	if !bytes.Equal(r.body, jpeg) || r.header.Get("Content-Type") != "image/jpeg" ||
		!strings.Contains(r.header.Get("Cache-Control"), "no-store") || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("photo: %q %v", r.body, r.header)
	}
	// A file that is not an image, and one that is missing, are no photo.
	for _, c := range []string{"5678CE", "9NA"} {
		wantError(t, do(t, e, call{method: "GET", path: "/v1/roster/officers/" + c + "/photo", secret: sup}), 404, "not_found")
	}
	unread := 0
	for _, entry := range e.Log.AllEntries() {
		if s, _ := entry.String(); strings.Contains(s, "WC") || strings.Contains(s, "photo-bytes") {
			t.Errorf("a log line names a warrant number or a photo: %s", s)
		}
		if strings.Contains(entry.Message, "cannot be read") {
			// The missing photo is logged by its roster line alone.
			unread++
			if s, _ := entry.String(); strings.Contains(s, "9NA") || strings.Contains(s, "missing.png") || entry.Data["roster_line"] != 4 {
				t.Errorf("the missing photo's log line names the officer or his photo, or not its line: %s", s)
			}
		}
	}
	if unread != 1 {
		t.Errorf("%d log lines of a photo that cannot be read, want 1", unread)
	}
}

func TestRosterNotConfigured(t *testing.T) {
	e := httpapitest.New(t)
	_, sup := e.Token(t, gateway.RoleSupervisor, "")
	st := decode[httpapi.RosterStatus](t, do(t, e, call{method: "GET", path: "/v1/roster", secret: sup}))
	if st.Configured || st.LoadedAt != nil {
		t.Errorf("status %+v", st)
	}
	r := do(t, e, call{method: "GET", path: "/v1/roster/officers/1234AW/photo", secret: sup})
	wantError(t, r, http.StatusNotFound, "not_found")
}

// TestRequestLogNamesNoCollar: the request log shows the route of a
// request for an officer's roster entry or photo, not the collar number in
// its path.
func TestRequestLogNamesNoCollar(t *testing.T) {
	e, _ := rosterEnv(t)
	_, sup := e.Token(t, gateway.RoleSupervisor, "")
	for _, p := range []string{"/v1/roster/officers/1234AW", "/v1/roster/officers/1234AW/photo"} {
		do(t, e, call{method: "GET", path: p, secret: sup})
	}
	paths := map[string]bool{}
	for _, en := range e.Log.AllEntries() {
		if en.Message != "request" {
			continue
		}
		line, _ := en.String()
		if strings.Contains(line, "1234AW") {
			t.Errorf("the request log names a collar: %s", line)
		}
		paths[fmt.Sprint(en.Data["path"])] = true
	}
	for _, want := range []string{"/v1/roster/officers/{collar}", "/v1/roster/officers/{collar}/photo"} {
		if !paths[want] {
			t.Errorf("no request logged as %s; logged %v", want, paths)
		}
	}
}
