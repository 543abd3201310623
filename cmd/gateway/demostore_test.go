package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/console"
)

func readDemoTokens(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "demo-tokens.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var tokens map[string]string
	if err := json.Unmarshal(b, &tokens); err != nil {
		tb.Fatal(err)
	}
	return tokens
}

// TestDemoStoreAcrossRuns runs the demo twice on one store: the second run
// keeps the officer's credential (his earlier verification stays readable)
// and puts back in service a device taken out of service in the first. A
// gateway started without -demo on that store then refuses it.
func TestDemoStoreAcrossRuns(t *testing.T) {
	dir := t.TempDir()
	m1 := startDemo(t, dir)
	first := readDemoTokens(t, dir)
	g := &rig{m: m1, log: &logBuffer{}, client: newClient(t), officer: first["officer"], ops: first["ops"]}
	v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerEmail})
	g.call(t, "PATCH", "/v1/devices/AW-1", g.ops, map[string]any{"status": "out_of_service"}, http.StatusOK, nil)
	g.client.CloseIdleConnections()
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}

	m2 := startDemo(t, dir)
	second := readDemoTokens(t, dir)
	for _, role := range []string{"officer", "supervisor", "ops"} {
		if second[role] != first[role] {
			t.Errorf("the second run issued a new %s credential, want the first run's kept", role)
		}
	}
	g2 := &rig{m: m2, log: &logBuffer{}, client: newClient(t), officer: second["officer"]}
	if got := g2.verification(t, g2.officer, v.ID); got.ID != v.ID {
		t.Errorf("the officer's earlier verification reads as %+v", got)
	}
	if d, err := m2.Store.Device(context.Background(), "AW-1"); err != nil || d.Status != gateway.DeviceInService {
		t.Errorf("AW-1 after the second start: %+v, %v; want back in service", d.Status, err)
	}
	if out := m2.Out.(*logBuffer).tail(4 << 10); !strings.Contains(out, "back in service") || !strings.Contains(out, "GW=") ||
		!strings.Contains(out, filepath.Join(dir, "demo-tokens.json")) {
		t.Errorf("the demo's start-up message does not say what was restored and what to do next:\n%s", out)
	}
	g2.client.CloseIdleConnections()
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}

	cfg, err := config.LoadDemo([]string{"GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DATA_DIR=" + dir, "GATEWAY_LOG_LEVEL=error"}, providers.Sections()...)
	if err != nil {
		t.Fatal(err)
	}
	real := NewMain(cfg, false)
	err = real.Open(context.Background())
	real.Close()
	if !errors.Is(err, errDemoStore) || !strings.Contains(err.Error(), "-demo") {
		t.Errorf("a gateway without -demo on the demo's store: %v, want it refused as the demo's", err)
	}
}

// TestDemoRefusesRealStore checks that the demo will not seed its handsets
// into a store with real credentials.
func TestDemoRefusesRealStore(t *testing.T) {
	g := startGateway(t, testEnv(t), nil)
	dir := g.m.Config.DataDir
	g.client.CloseIdleConnections()
	if err := g.m.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDemo([]string{"GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DATA_DIR=" + dir, "GATEWAY_LOG_LEVEL=error"}, providers.Sections()...)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, true)
	err = m.Open(context.Background())
	m.Close()
	if !errors.Is(err, errRealStore) {
		t.Errorf("the demo on a real store: %v, want it refused", err)
	}
}

// consoleLine is the demo's line on the console and who signs in to it.
var consoleLine = regexp.MustCompile(`(?m)^The supervisor console is at (\S+): sign in as a supervisor with (\S+), as a 999 call handler with (\S+), or as ops staff with (\S+)$`)

// TestDemoPrintsTheConsole checks that the demo's start-up message names
// the console's URL and the supervisor's, call handler's and ops credentials of
// demo-tokens.json, and that the printed secrets sign in there over the
// demo's plain HTTP: a session cookie, and the rooms' page behind it.
func TestDemoPrintsTheConsole(t *testing.T) {
	dir := t.TempDir()
	m := startDemo(t, dir)
	tokens := readDemoTokens(t, dir)
	out := m.Out.(*logBuffer).tail(4 << 10)
	line := consoleLine.FindStringSubmatch(out)
	if line == nil {
		t.Fatalf("the demo's start-up message has no console line:\n%s", out)
	}
	at, supervisor, handler, ops := line[1], line[2], line[3], line[4]
	if at != m.URL()+"/console" || !strings.HasPrefix(at, "http://") {
		t.Errorf("the console is printed at %s, want %s/console", at, m.URL())
	}
	if supervisor != tokens["supervisor"] || handler != tokens["handler"] || ops != tokens["ops"] || supervisor == ops || handler == supervisor {
		t.Errorf("the console line prints supervisor %q, handler %q and ops %q; want demo-tokens.json's %q, %q and %q",
			supervisor, handler, ops, tokens["supervisor"], tokens["handler"], tokens["ops"])
	}

	for _, who := range []struct{ role, secret string }{{"supervisor", supervisor}, {"handler", handler}, {"ops", ops}} {
		t.Run(who.role, func(t *testing.T) {
			jar, _ := cookiejar.New(nil)
			tr := http.DefaultTransport.(*http.Transport).Clone()
			t.Cleanup(tr.CloseIdleConnections)
			client := &http.Client{Transport: tr, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			}}
			do := func(method, path string, form url.Values) (*http.Response, string) {
				t.Helper()
				var body io.Reader
				if form != nil {
					body = strings.NewReader(form.Encode())
				}
				req, _ := http.NewRequest(method, at+path, body)
				req.Header.Set("Accept", "text/html")
				if form != nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp, string(b)
			}
			_, page := do("GET", "/sign-in", nil)
			csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(page)
			if csrf == nil {
				t.Fatalf("the sign-in page has no CSRF field:\n%s", page)
			}
			resp, _ := do("POST", "/sign-in", url.Values{"csrf": {csrf[1]}, "credential": {who.secret}})
			var session *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == console.SessionCookie && c.Value != "" {
					session = c
				}
			}
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/rooms" || session == nil || session.Secure {
				t.Fatalf("sign-in with the printed %s secret: %d to %q, session cookie %v; want 303 to /console/rooms with a cookie plain HTTP keeps",
					who.role, resp.StatusCode, resp.Header.Get("Location"), session)
			}
			if resp, page := do("GET", "/rooms", nil); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Central West") {
				t.Fatalf("the rooms after signing in as %s: %d, want 200 with the rooms:\n%s", who.role, resp.StatusCode, page)
			}
		})
	}
}
