package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
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

// writeRoster writes a roster with PC1234 (warrant W998877, photo sam.png,
// a real image) on a plain-clothes shift covering now in areas, and
// returns its path.
func writeRoster(tb testing.TB, areas string) string {
	tb.Helper()
	dir := tb.TempDir()
	now := time.Now().UTC()
	csv := "collar,warrant,name,rank,shift_start,shift_end,plain_clothes,areas,photo\n" +
		fmt.Sprintf("PC1234,W998877,Sam Clarke,PC,%s,%s,yes,%s,sam.png\n",
			now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339), areas)
	path := filepath.Join(dir, "roster.csv")
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sam.png"), photoPNG(tb), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// photoPNG is a small real PNG: a face-sized grey square.
func photoPNG(tb testing.TB) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 60, 80))
	for y := 0; y < 80; y++ {
		for x := 0; x < 60; x++ {
			img.Set(x, y, color.RGBA{R: uint8(100 + x), G: uint8(90 + y), B: 120, A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// TestChecksByOtherRoutes checks that a supervisor opens a check asked for
// by radio or 999 with POST /v1/checks: connected at once with no call
// placed, the officer's roster entry and signs recorded (an unknown collar
// shows as not on the roster), the outcome recorded as for any other, a
// receipt that says nothing personal, and bad requests refused.
func TestChecksByOtherRoutes(t *testing.T) {
	g := startGateway(t, testEnv(t, "GATEWAY_ROSTER="+writeRoster(t, "Westminster")), nil)

	var v httpapi.VerificationView
	g.call(t, "POST", "/v1/checks", g.supervisor, map[string]string{
		"origin": "radio", "collar": "PC1234", "room": "AW", "grounds": "Seen trying car doors",
	}, http.StatusCreated, &v)
	if v.Origin != gateway.OriginRadio || v.State != gateway.StateConnected || v.Room != "AW" || len(v.Attempts) != 0 {
		t.Fatalf("the radio check %+v", v)
	}
	var check httpapi.CheckReply
	g.call(t, "GET", "/v1/verifications/"+v.ID+"/check", g.supervisor, nil, 200, &check)
	var as roster.Assessment
	if err := json.Unmarshal(check.Assessment, &as); err != nil || check.RecordedAt == nil {
		t.Fatalf("the check %+v: %v", check, err)
	}
	if as.Entry == nil || as.Entry.Name != "Sam Clarke" || as.Shift == nil || as.PhotoSHA256 == "" || check.Grounds != "Seen trying car doors" {
		t.Fatalf("the radio check's assessment %s, grounds %q", check.Assessment, check.Grounds)
	}
	g.call(t, "GET", "/v1/verifications/"+v.ID+"/check", g.token(t, gateway.RoleOps, "ops"), nil, 403, nil)

	done := g.outcome(t, v.ID, gateway.OutcomeVerified)
	if done.State != gateway.StateVerified {
		t.Fatalf("after the outcome: %s", done.State)
	}
	status, receipt := g.send(t, "GET", "/receipt/"+v.Reference, "", nil, http.Header{"Accept": {"application/json"}})
	var rec httpapi.Receipt
	if err := json.Unmarshal(receipt, &rec); err != nil || status != http.StatusOK || rec.Outcome != httpapi.ReceiptVerified {
		t.Fatalf("receipt: %d %s", status, receipt)
	}
	_, page := g.send(t, "GET", "/receipt/"+v.Reference, "", nil, http.Header{"Accept": {"text/html"}})
	for what, b := range map[string][]byte{"receipt": receipt, "receipt page": page, "log": []byte(g.log.tail(1 << 30))} {
		for _, secret := range []string{"W998877", "Sam Clarke", string(photoPNG(t)[:16])} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("the %s shows %q", what, secret)
			}
		}
	}

	var unknown httpapi.VerificationView
	g.call(t, "POST", "/v1/checks", g.supervisor, map[string]string{"origin": "999", "collar": "ZZ9999", "room": "AW"}, http.StatusCreated, &unknown)
	g.call(t, "GET", "/v1/verifications/"+unknown.ID+"/check", g.supervisor, nil, 200, &check)
	if unknown.Origin != gateway.Origin999 || !strings.Contains(check.Summary, string(roster.SignNotOnRoster)) {
		t.Fatalf("a 999 check of an unknown collar: %+v %s", unknown, check.Summary)
	}

	for name, body := range map[string]any{
		"officer origin": map[string]string{"origin": "officer", "collar": "PC1234", "room": "AW"},
		"no collar":      map[string]string{"origin": "radio", "room": "AW"},
		"unknown room":   map[string]string{"origin": "radio", "collar": "PC1234", "room": "ZZ"},
		"unknown field":  map[string]any{"origin": "radio", "collar": "PC1234", "room": "AW", "extra": 1},
	} {
		t.Run(name, func(t *testing.T) {
			g.call(t, "POST", "/v1/checks", g.supervisor, body, http.StatusBadRequest, nil)
		})
	}
	g.call(t, "POST", "/v1/checks", g.officer, map[string]string{"origin": "radio", "collar": "PC1234", "room": "AW"}, http.StatusForbidden, nil)
}

// TestRefusalsByOtherSupervisors checks that the refusals sign a
// supervisor is shown counts the refusals of the officer recorded by other
// supervisors, never his own, whoever opened the check, and that the
// record keeps who refused him.
func TestRefusalsByOtherSupervisors(t *testing.T) {
	g := startGateway(t, testEnv(t, "GATEWAY_ROSTER="+writeRoster(t, "Westminster")), nil)
	g.m.Router.Assessor.(rosterAssessor).a.Refresh = 0 // every check reads the record afresh
	supervisor := func(number string) string {
		secret, hash := gateway.NewSecret()
		if err := g.m.Store.CreateToken(context.Background(), gateway.Token{ID: gateway.NewID("t_"), Role: gateway.RoleSupervisor,
			Name: "PS " + number, Hash: hash, Supervisor: &gateway.SupervisorIdentity{Rank: "PS", Number: number}}); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	other, third := supervisor("7"), supervisor("9")
	open := func(by string) string {
		var v httpapi.VerificationView
		g.call(t, "POST", "/v1/checks", by, map[string]string{"origin": "radio", "collar": "PC1234", "room": "AW"}, http.StatusCreated, &v)
		return v.ID
	}
	refuse := func(by, id string) {
		g.call(t, "POST", "/v1/verifications/"+id+"/outcome", by, map[string]string{"outcome": "refused", "note": "no warrant card"}, http.StatusOK, nil)
	}
	refuse(g.supervisor, open(g.supervisor))
	refuse(other, open(other))

	refusals := func(who, id string) string {
		t.Helper()
		var check httpapi.CheckReply
		g.call(t, "GET", "/v1/verifications/"+id+"/check", who, nil, http.StatusOK, &check)
		var as roster.Assessment
		if err := json.Unmarshal(check.Assessment, &as); err != nil {
			t.Fatal(err)
		}
		hasSign := strings.Contains(check.Summary, string(roster.SignRefusals))
		for _, s := range as.Signs {
			if s.Code == roster.SignRefusals {
				if !hasSign {
					t.Errorf("the summary %q leaves out the refusals sign", check.Summary)
				}
				return s.Figures["refusals_90d"]
			}
		}
		if hasSign {
			t.Errorf("the summary %q shows a refusals sign the assessment has not", check.Summary)
		}
		return "0"
	}
	// A check he opens, one another opens, an officer's: to each
	// supervisor, the refusals by the others.
	for name, id := range map[string]string{"his own": open(g.supervisor), "another's": open(third),
		"the officer's": g.request(t, trafalgar, contact{Channel: "facetime", Handle: "officer@example.org"}).ID} {
		eventually(t, "the check is recorded", func() bool {
			var check httpapi.CheckReply
			g.call(t, "GET", "/v1/verifications/"+id+"/check", third, nil, http.StatusOK, &check)
			return check.RecordedAt != nil
		})
		for who, want := range map[string]string{g.supervisor: "1", other: "1", third: "2"} {
			if got := refusals(who, id); got != want {
				t.Errorf("%s check: a supervisor is shown %s refusal(s) by others, want %s", name, got, want)
			}
		}
	}
}
