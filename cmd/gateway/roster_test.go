package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
)

// TestRosterLoadedAtStart checks that GATEWAY_ROSTER's file is loaded at
// start with its bad rows reported, that its areas are checked against the
// rooms' boroughs and IDs, and that a roster that cannot be read does not
// stop the gateway.
func TestRosterLoadedAtStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "roster.csv")
	csv := "collar,warrant,name,rank,shift_start,shift_end,plain_clothes,areas\n" +
		"1234AW,WC100234,Sam Clarke,PC,2026-12-03 18:00,2026-12-04 04:00,yes,Westminster;AW\n" +
		"5678AW,WC100235,Jo Bell,PC,2026-12-03 18:00,2026-12-04 04:00,yes,Gotham\n"
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, testEnv(t, "GATEWAY_ROSTER="+path), nil)
	sup := g.token(t, gateway.RoleSupervisor, "PS 1")
	var st httpapi.RosterStatus
	g.call(t, "GET", "/v1/roster", sup, nil, 200, &st)
	if !st.Configured || st.Officers != 1 || len(st.Problems) != 1 || st.Problems[0].Line != 3 || st.LoadedAt == nil {
		t.Fatalf("roster status %+v", st)
	}

	missing := startGateway(t, testEnv(t, "GATEWAY_ROSTER="+filepath.Join(dir, "none.csv")), nil)
	missing.call(t, "GET", "/v1/roster", missing.token(t, gateway.RoleOps, "ops"), nil, 200, &st)
	if !st.Configured || st.LoadedAt != nil || st.LastError == "" || !st.Stale {
		t.Fatalf("a missing roster: %+v", st)
	}
}
