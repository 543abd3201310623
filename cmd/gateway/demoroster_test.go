package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/roster"
)

// TestDemoRoster checks that the demo's officer is on the demo's own
// roster: a verification made with the demo officer's credential gets a
// check that finds his entry, on duty in plain clothes, with his photo.
func TestDemoRoster(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := startDemo(t, dir)
	if want := filepath.Join(dir, demoRosterFile); m.Config.Roster != want {
		t.Fatalf("the demo's roster is %q, want %q", m.Config.Roster, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, "demo-tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tokens map[string]string
	if err := json.Unmarshal(b, &tokens); err != nil {
		t.Fatal(err)
	}
	g := &rig{m: m, log: &logBuffer{}, client: newClient(t),
		officer: tokens[string(gateway.RoleOfficer)], supervisor: tokens[string(gateway.RoleSupervisor)]}

	body := verificationRequest(trafalgar, contact{Channel: "facetime", Handle: "officer@example.org"})
	delete(body, "officer") // his credential says who he is
	var v httpapi.VerificationView
	g.call(t, "POST", "/v1/verifications", g.officer, body, http.StatusCreated, &v)
	var check httpapi.CheckReply
	eventually(t, "the check is recorded", func() bool {
		g.call(t, "GET", "/v1/verifications/"+v.ID+"/check", g.supervisor, nil, http.StatusOK, &check)
		return check.RecordedAt != nil
	})
	var as roster.Assessment
	if err := json.Unmarshal(check.Assessment, &as); err != nil {
		t.Fatal(err)
	}
	if as.Entry == nil || as.Entry.Name != demoName || as.Entry.Collar != roster.NormalizeCollar(demoOfficer.Collar) ||
		as.Shift == nil || !as.Shift.PlainClothes || as.PhotoSHA256 == "" {
		t.Fatalf("the demo officer's check: %s", check.Assessment)
	}
	for _, s := range as.Signs {
		switch s.Code {
		case roster.SignNotOnRoster, roster.SignNotOnDuty, roster.SignNotPlainClothes, roster.SignOutsideArea, roster.SignWarrantMismatch:
			t.Errorf("the demo officer's check shows %s: %s", s.Code, s.Reason)
		}
	}

	status, photo := g.send(t, "GET", "/v1/roster/officers/"+roster.NormalizeCollar(demoOfficer.Collar)+"/photo", g.supervisor, nil, nil)
	if status != http.StatusOK || len(photo) == 0 {
		t.Fatalf("the demo officer's photo: %d", status)
	}
}

// TestDemoRosterConfigured checks that the demo keeps a roster the user
// configured, and writes none of its own.
func TestDemoRosterConfigured(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	own := filepath.Join(t.TempDir(), "roster.csv")
	if err := os.WriteFile(own, []byte("collar,warrant,name,rank,shift_start,shift_end,plain_clothes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startDemo(t, dir, "GATEWAY_ROSTER="+own)
	if m.Config.Roster != own {
		t.Errorf("the demo's roster is %q, want the configured %q", m.Config.Roster, own)
	}
	if _, err := os.Stat(filepath.Join(dir, demoRosterFile)); !os.IsNotExist(err) {
		t.Errorf("the demo wrote its roster beside a configured one: %v", err)
	}
}
