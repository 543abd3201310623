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

// TestCallHandlersChecks checks the 999 call handler's part: he opens a
// check asked for by 999, sees the officer's roster entry and signs,
// corrects the grounds and records the outcome in his own name, which the
// receipt shows; on a verification the officer asked for himself he sees
// no check and records nothing (403), and what a supervisor may do there
// is not touched.
func TestCallHandlersChecks(t *testing.T) {
	g := startGateway(t, testEnv(t, "GATEWAY_ROSTER="+writeRoster(t, "Westminster")), nil)
	handler := g.token(t, gateway.RoleHandler, "Call handler 3012")

	var v httpapi.VerificationView
	g.call(t, "POST", "/v1/checks", handler, map[string]string{"origin": "999", "collar": "PC1234", "room": "AW"}, http.StatusCreated, &v)
	var check httpapi.CheckReply
	g.call(t, "GET", "/v1/verifications/"+v.ID+"/check", handler, nil, 200, &check)
	var as roster.Assessment
	if err := json.Unmarshal(check.Assessment, &as); err != nil || as.Entry == nil || as.Entry.Name != "Sam Clarke" {
		t.Fatalf("the call handler's check: %s (%v)", check.Assessment, err)
	}
	g.call(t, "GET", "/v1/roster/officers/PC1234", handler, nil, 200, nil)
	g.call(t, "POST", "/v1/verifications/"+v.ID+"/grounds", handler, map[string]string{"grounds": "Asked for her name"}, 200, &check)
	if len(check.Corrections) != 1 || check.Corrections[0].By != "Call handler 3012" {
		t.Fatalf("the correction %+v, want one by Call handler 3012", check.Corrections)
	}
	var done httpapi.VerificationView
	g.call(t, "POST", "/v1/verifications/"+v.ID+"/outcome", handler, map[string]string{"outcome": "verified", "supervisor": "PS 99"}, 200, &done)
	if done.State != gateway.StateVerified || done.Outcome == nil || done.Outcome.Supervisor != "Call handler 3012" {
		t.Fatalf("after the call handler's outcome: %+v", done)
	}
	var rec httpapi.Receipt
	_, receipt := g.send(t, "GET", "/receipt/"+v.Reference, "", nil, http.Header{"Accept": {"application/json"}})
	if err := json.Unmarshal(receipt, &rec); err != nil || rec.Outcome != httpapi.ReceiptVerified || rec.Supervisor != "Call handler 3012" {
		t.Fatalf("the receipt %s (%v), want verified by Call handler 3012", receipt, err)
	}

	// The officer's own request is a supervisor's to judge.
	own := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "officer@example.org"})
	eventually(t, "the officer's check is recorded", func() bool {
		g.call(t, "GET", "/v1/verifications/"+own.ID+"/check", g.supervisor, nil, 200, &check)
		return check.RecordedAt != nil
	})
	g.call(t, "GET", "/v1/verifications/"+own.ID, handler, nil, 200, nil)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/verifications/" + own.ID + "/check", ""},
		{"POST", "/v1/verifications/" + own.ID + "/grounds", `{"grounds":"Asked for her name"}`},
		{"POST", "/v1/verifications/" + own.ID + "/outcome", `{"outcome":"refused"}`},
	} {
		status, b := g.send(t, c.method, c.path, handler, []byte(c.body), nil)
		if status != http.StatusForbidden || !strings.Contains(string(b), "call handler") {
			t.Errorf("%s %s as the call handler: %d %s, want 403 naming the call handler's part", c.method, c.path, status, b)
		}
	}
	if evs := g.events(t, own.ID); evs[len(evs)-1].Type == gateway.EventOutcome {
		t.Errorf("a refused call handler's outcome was recorded: %+v", evs[len(evs)-1])
	}
	// A call handler's credential cannot ask for a verification.
	g.call(t, "POST", "/v1/verifications", handler, verificationRequest(trafalgar), http.StatusForbidden, nil)
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

// TestCheckStopPlace checks that a radio or 999 check judges the officer's
// assigned area against the stop's location or borough when given, and
// against all of the room's boroughs, saying so, when neither is: an
// officer of Kensington and Chelsea is in Westminster's room's area, not
// outside it for not being in its first borough.
func TestCheckStopPlace(t *testing.T) {
	g := startGateway(t, testEnv(t, "GATEWAY_ROSTER="+writeRoster(t, "Kensington and Chelsea")), nil)
	assess := func(body map[string]any) (httpapi.VerificationView, roster.Assessment) {
		t.Helper()
		body["origin"], body["collar"], body["room"] = "radio", "PC1234", "AW"
		var v httpapi.VerificationView
		g.call(t, "POST", "/v1/checks", g.supervisor, body, http.StatusCreated, &v)
		var check httpapi.CheckReply
		g.call(t, "GET", "/v1/verifications/"+v.ID+"/check", g.supervisor, nil, http.StatusOK, &check)
		var as roster.Assessment
		if err := json.Unmarshal(check.Assessment, &as); err != nil {
			t.Fatal(err)
		}
		return v, as
	}
	outside := func(as roster.Assessment) *roster.Sign {
		for i := range as.Signs {
			if as.Signs[i].Code == roster.SignOutsideArea {
				return &as.Signs[i]
			}
		}
		return nil
	}
	for name, c := range map[string]struct {
		body    map[string]any
		outside bool
	}{
		"no place given":                {map[string]any{}, false},
		"his borough":                   {map[string]any{"borough": "kensington and chelsea"}, false},
		"the room's other borough":      {map[string]any{"borough": "Westminster"}, true},
		"a location in his borough":     {map[string]any{"location": map[string]float64{"lat": 51.4924, "lon": -0.1565}}, false}, // Sloane Square
		"a location in another borough": {map[string]any{"location": map[string]float64{"lat": trafalgar.Lat, "lon": trafalgar.Lon}}, true},
	} {
		t.Run(name, func(t *testing.T) {
			v, as := assess(c.body)
			if got := outside(as); (got != nil) != c.outside {
				t.Fatalf("outside his area: %+v, want %v (%+v)", got, c.outside, as)
			}
			_, given := c.body["location"]
			if _, b := c.body["borough"]; b {
				given = true
			}
			if !given && (as.StopBorough != "" || strings.Join(as.StopBoroughs, ";") != "Westminster;Kensington and Chelsea;Hammersmith and Fulham") {
				t.Errorf("no place given: judged against %q %q, want the room's boroughs", as.StopBorough, as.StopBoroughs)
			}
			if given && (as.StopBorough == "" || len(as.StopBoroughs) != 0) {
				t.Errorf("a place given: judged against %q %q", as.StopBorough, as.StopBoroughs)
			}
			evs, err := g.m.Store.Events(context.Background(), v.ID, 0, 0)
			if err != nil || len(evs) == 0 || given == strings.Contains(evs[0].Message, "place not given") {
				t.Errorf("the record's first event %+v (place given: %v)", evs, given)
			}
		})
	}

	// Not in any of the room's boroughs: outside, with the boroughs it was
	// judged against.
	g2 := startGateway(t, testEnv(t, "GATEWAY_ROSTER="+writeRoster(t, "Camden")), nil)
	var v httpapi.VerificationView
	g2.call(t, "POST", "/v1/checks", g2.supervisor, map[string]string{"origin": "999", "collar": "PC1234", "room": "AW"}, http.StatusCreated, &v)
	var check httpapi.CheckReply
	g2.call(t, "GET", "/v1/verifications/"+v.ID+"/check", g2.supervisor, nil, http.StatusOK, &check)
	var as roster.Assessment
	if err := json.Unmarshal(check.Assessment, &as); err != nil {
		t.Fatal(err)
	}
	if s := outside(as); s == nil || !strings.Contains(s.Figures["stop_boroughs"], "Kensington and Chelsea") || s.Figures["assigned"] != "Camden" {
		t.Fatalf("an officer of Camden, no place given: %+v", as.Signs)
	}

	for name, body := range map[string]any{
		"latitude off the globe":    map[string]any{"location": map[string]float64{"lat": 91, "lon": 0}},
		"no longitude":              map[string]any{"location": map[string]float64{"lat": 51.5}},
		"another room's borough":    map[string]any{"borough": "Camden"},
		"both location and borough": map[string]any{"location": map[string]float64{"lat": trafalgar.Lat, "lon": trafalgar.Lon}, "borough": "Westminster"},
	} {
		t.Run(name, func(t *testing.T) {
			b := body.(map[string]any)
			b["origin"], b["collar"], b["room"] = "radio", "PC1234", "AW"
			g.call(t, "POST", "/v1/checks", g.supervisor, b, http.StatusBadRequest, nil)
		})
	}
	g.call(t, "POST", "/v1/checks", g.supervisor, map[string]any{"origin": "radio", "collar": "PC1234", "room": "AW",
		"location": map[string]float64{"lat": 0, "lon": 0}}, http.StatusUnprocessableEntity, nil)
}
