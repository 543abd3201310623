package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/roster"
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

// TestSupervisorsCheck checks that an officer's verification gets its
// roster entry and warning signs recorded as they were when it was made,
// that only a supervisor sees them, and that a later roster does not change
// what was recorded.
func TestSupervisorsCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "roster.csv")
	now := time.Now().UTC()
	write := func(start, end time.Time, plain string) {
		t.Helper()
		csv := "collar,warrant,name,rank,shift_start,shift_end,plain_clothes,areas,photo\n" +
			fmt.Sprintf("PC1234,W998877,Sam Clarke,PC,%s,%s,%s,Westminster,sam.jpg\n", start.Format(time.RFC3339), end.Format(time.RFC3339), plain)
		if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(now.Add(-time.Hour), now.Add(time.Hour), "yes")
	if err := os.WriteFile(filepath.Join(dir, "sam.jpg"), jpegBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, testEnv(t, "GATEWAY_ROSTER="+path), nil)

	v := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "officer@example.org"})
	var check httpapi.CheckReply
	eventually(t, "the check is recorded", func() bool {
		g.call(t, "GET", "/v1/verifications/"+v.ID+"/check", g.supervisor, nil, 200, &check)
		return check.RecordedAt != nil
	})
	var as roster.Assessment
	if err := json.Unmarshal(check.Assessment, &as); err != nil {
		t.Fatal(err)
	}
	// His credential was issued as the test began: the one sign.
	if as.Entry == nil || as.Entry.Name != "Sam Clarke" || as.Shift == nil || as.PhotoSHA256 == "" ||
		len(as.Signs) != 1 || as.Signs[0].Code != roster.SignNewCredential {
		t.Fatalf("assessment %s", check.Assessment)
	}
	if bytes.Contains(check.Assessment, []byte("W998877")) {
		t.Errorf("the assessment shows the warrant number: %s", check.Assessment)
	}

	// Only a supervisor sees it: not the officer, not ops, not a 999 call
	// handler (the officer asked for it himself), not in the officer's or
	// the call handler's event stream.
	handler := g.token(t, gateway.RoleHandler, "Call handler 3012")
	g.call(t, "GET", "/v1/verifications/"+v.ID+"/check", g.officer, nil, 403, nil)
	g.call(t, "GET", "/v1/verifications/"+v.ID+"/check", g.token(t, gateway.RoleOps, "ops"), nil, 403, nil)
	g.call(t, "GET", "/v1/verifications/"+v.ID+"/check", handler, nil, 403, nil)
	for _, who := range []string{g.officer, handler, g.supervisor} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp := g.openEventsAs(t, ctx, who, v.ID)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if got := bytes.Contains(b, []byte(`"type":"check"`)); got != (who == g.supervisor) {
			t.Errorf("the check in the event stream: %v, want %v (supervisor's stream: %v)\n%s", got, !got, who == g.supervisor, b)
		}
		if who == g.officer {
			noRosterFields(t, "the officer's event stream", b, as.PhotoSHA256)
		}
	}
	// Nor in his own view of the verification: no roster name, warrant
	// number or photo.
	status, view := g.send(t, "GET", "/v1/verifications/"+v.ID, g.officer, nil, nil)
	if status != http.StatusOK {
		t.Fatalf("the officer's view: %d %s", status, view)
	}
	noRosterFields(t, "the officer's view", view, as.PhotoSHA256)

	// The roster changes: he is now in uniform and off duty. A new check
	// shows it; the first keeps what was shown.
	write(now.Add(-5*time.Hour), now.Add(-4*time.Hour), "no")
	if err := g.m.RosterSource.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	var again httpapi.CheckReply
	g.call(t, "GET", "/v1/verifications/"+v.ID+"/check", g.supervisor, nil, 200, &again)
	if !bytes.Equal(again.Assessment, check.Assessment) {
		t.Errorf("the recorded check changed with the roster:\n%s\n%s", check.Assessment, again.Assessment)
	}
	v2 := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "officer@example.org"})
	eventually(t, "the second check is recorded", func() bool {
		g.call(t, "GET", "/v1/verifications/"+v2.ID+"/check", g.supervisor, nil, 200, &check)
		return check.RecordedAt != nil
	})
	if !strings.Contains(check.Summary, string(roster.SignNotOnDuty)) {
		t.Errorf("the second check: %s %s", check.Summary, check.Assessment)
	}
}

var jpegBytes = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")

// noRosterFields fails the test if b shows the roster's name of the
// officer of TestSupervisorsCheck, his warrant number in any spacing, his
// photo's file name or hash, or the assessment.
func noRosterFields(tb testing.TB, what string, b []byte, photoSHA256 string) {
	tb.Helper()
	for _, not := range []string{"Sam Clarke", "W998877", "W-998877", "998877", "sam.jpg", photoSHA256, "photo", "assessment"} {
		if not != "" && bytes.Contains(b, []byte(not)) {
			tb.Errorf("%s shows %q: %s", what, not, b)
		}
	}
}

// openEventsAs opens a verification's event stream with the secret.
func (g *rig) openEventsAs(tb testing.TB, ctx context.Context, secret, id string) *http.Response {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", g.m.URL()+"/v1/verifications/"+id+"/events", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := g.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("event stream: status %d", resp.StatusCode)
	}
	return resp
}

// TestGroundsOfTheStop checks that the officer's stated grounds are in the
// record and that a supervisor's correction stands beside them, the
// statement kept.
func TestGroundsOfTheStop(t *testing.T) {
	g := startGateway(t, testEnv(t), nil)
	body := verificationRequest(trafalgar, contact{Channel: "facetime", Handle: "officer@example.org"})
	body["grounds"] = "  Seen   trying car doors\non Whitehall "
	var v httpapi.VerificationView
	g.call(t, "POST", "/v1/verifications", g.officer, body, http.StatusCreated, &v)

	var check httpapi.CheckReply
	g.call(t, "GET", "/v1/verifications/"+v.ID+"/check", g.supervisor, nil, 200, &check)
	if check.Grounds != "Seen trying car doors on Whitehall" || len(check.Corrections) != 0 {
		t.Fatalf("check %+v", check)
	}
	fix := map[string]string{"grounds": "Matched the description of a suspect in a reported theft from cars"}
	g.call(t, "POST", "/v1/verifications/"+v.ID+"/grounds", g.officer, fix, http.StatusForbidden, nil)
	g.call(t, "POST", "/v1/verifications/"+v.ID+"/grounds", g.supervisor, map[string]string{"grounds": " "}, http.StatusBadRequest, nil)
	g.call(t, "POST", "/v1/verifications/"+v.ID+"/grounds", g.supervisor, map[string]any{"grounds": "x", "extra": 1}, http.StatusBadRequest, nil)
	g.call(t, "POST", "/v1/verifications/v_nope/grounds", g.supervisor, fix, http.StatusNotFound, nil)
	g.call(t, "POST", "/v1/verifications/"+v.ID+"/grounds", g.supervisor, fix, http.StatusOK, &check)
	// The corrector is the credential's supervisor, as an outcome records
	// him, not the credential's free-text name ("PS 42" here too).
	if check.Grounds != "Seen trying car doors on Whitehall" || len(check.Corrections) != 1 || check.Corrections[0].Grounds != fix["grounds"] {
		t.Fatalf("after the correction: %+v", check)
	}
	sup := g.token(t, gateway.RoleSupervisor, "the late desk") // demoSupervisor: PS 42
	g.call(t, "POST", "/v1/verifications/"+v.ID+"/grounds", sup, map[string]string{"grounds": "Seen trying car doors on Whitehall, twice"}, http.StatusOK, &check)
	want := httpapi.Correction{Grounds: "Seen trying car doors on Whitehall, twice", By: demoSupervisor.Name(), Rank: demoSupervisor.Rank,
		Number: demoSupervisor.Number, Room: v.Room}
	got := check.Corrections[len(check.Corrections)-1]
	if got.At.IsZero() || got.By != want.By || got.Rank != want.Rank || got.Number != want.Number || got.Room != want.Room || got.Grounds != want.Grounds {
		t.Fatalf("the correction %+v, want %+v", got, want)
	}
	evs, err := g.m.Store.Events(context.Background(), v.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Data["by"] == "" || last.Data["by"] == last.Data[gateway.DataCorrectedBy] || strings.Contains(last.Message, "the late desk") {
		t.Errorf("the record of the correction: %+v", last)
	}
	// A supervisor credential that names no one corrects nothing.
	secret, hash := gateway.NewSecret()
	if err := g.m.Store.CreateToken(context.Background(), gateway.Token{ID: gateway.NewID("t_"), Role: gateway.RoleSupervisor, Name: "PS 99", Hash: hash}); err != nil {
		t.Fatal(err)
	}
	g.call(t, "POST", "/v1/verifications/"+v.ID+"/grounds", secret, fix, http.StatusUnprocessableEntity, nil)

	body["grounds"] = strings.Repeat("x", httpapi.MaxGrounds+1)
	g.call(t, "POST", "/v1/verifications", g.officer, body, http.StatusBadRequest, nil)
}
