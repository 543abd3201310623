package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/console"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/rooms"
)

var testKey = []byte("console-key-for-tests-0123456789abcdef")

// env is an API with the console mounted, over a real SQLite store.
type env struct {
	*httpapitest.Env
	c *console.Console
}

func newEnv(t testing.TB, set func(*console.Console)) *env {
	t.Helper()
	rs, err := rooms.LoadFiles("", "")
	if err != nil {
		t.Fatal(err)
	}
	var c *console.Console
	e := httpapitest.New(t, func(s *httpapi.Server) {
		c = console.New(nil, rs, s, testKey)
		c.Heartbeat = 50 * time.Millisecond
		if set != nil {
			set(c)
		}
		s.Console = c
	})
	c.Store = e.Store
	c.Logger = e.Server.Logger
	return &env{Env: e, c: c}
}

// browser is a client with its own cookies that follows no redirect.
type browser struct {
	t    testing.TB
	e    *env
	http *http.Client
}

func (e *env) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) do(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.e.URL+path, body)
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	s, _ := io.ReadAll(resp.Body)
	return resp, string(s)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf is the CSRF token of the page.
func csrf(t testing.TB, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in the page:\n%s", page)
	}
	return m[1]
}

// signIn signs in with the secret through the form and returns the answer.
func (b *browser) signIn(secret string) *http.Response {
	b.t.Helper()
	_, page := b.do("GET", "/console/sign-in", nil)
	resp, _ := b.do("POST", "/console/sign-in", url.Values{"csrf": {csrf(b.t, page)}, "credential": {secret}})
	return resp
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == console.SessionCookie && c.Value != "" {
			return c
		}
	}
	return nil
}

func TestSignInCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[secure], func(t *testing.T) {
			now := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
			e := newEnv(t, func(c *console.Console) {
				c.Secure = secure
				c.Session = 2 * time.Hour
				c.Now = func() time.Time { return now }
			})
			_, secret := e.Token(t, gateway.RoleSupervisor, "")
			resp := e.browser(t).signIn(secret)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/rooms" {
				t.Fatalf("sign-in: %d to %q, want 303 to /console/rooms", resp.StatusCode, resp.Header.Get("Location"))
			}
			ck := sessionCookie(resp)
			if ck == nil {
				t.Fatal("no session cookie")
			}
			if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != secure || ck.Path != "/console" {
				t.Errorf("cookie HttpOnly %v SameSite %v Secure %v Path %q; want HttpOnly, Strict, Secure %v, /console", ck.HttpOnly, ck.SameSite, ck.Secure, ck.Path, secure)
			}
			if !ck.Expires.Equal(now.Add(2 * time.Hour)) {
				t.Errorf("cookie expires %v, want %v", ck.Expires, now.Add(2*time.Hour))
			}
		})
	}
}

func TestSessionExpires(t *testing.T) {
	now := time.Now()
	e := newEnv(t, func(c *console.Console) {
		c.Session = time.Hour
		c.Now = func() time.Time { return now }
	})
	_, secret := e.Token(t, gateway.RoleOps, "")
	b := e.browser(t)
	b.signIn(secret)
	if resp, _ := b.do("GET", "/console/rooms/AW", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("board within the session: %d, want 200", resp.StatusCode)
	}
	now = now.Add(time.Hour + time.Second)
	resp, _ := b.do("GET", "/console/rooms/AW", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/sign-in") {
		t.Fatalf("board after the session: %d to %q, want 303 to the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestOfficerAndAgentCannotSignIn(t *testing.T) {
	e := newEnv(t, nil)
	for _, role := range []gateway.Role{gateway.RoleOfficer, gateway.RoleAgent} {
		t.Run(string(role), func(t *testing.T) {
			_, secret := e.Token(t, role, "d_1")
			resp := e.browser(t).signIn(secret)
			if resp.StatusCode != http.StatusForbidden || sessionCookie(resp) != nil {
				t.Fatalf("sign-in as %s: %d, session cookie %v; want 403 and none", role, resp.StatusCode, sessionCookie(resp))
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		resp := e.browser(t).signIn("sc_not-a-credential")
		if resp.StatusCode != http.StatusUnauthorized || sessionCookie(resp) != nil {
			t.Fatalf("sign-in with an unknown secret: %d, want 401 and no session", resp.StatusCode)
		}
	})
	t.Run("without the form's token", func(t *testing.T) {
		_, secret := e.Token(t, gateway.RoleSupervisor, "")
		b := e.browser(t)
		b.do("GET", "/console/sign-in", nil)
		resp, _ := b.do("POST", "/console/sign-in", url.Values{"credential": {secret}})
		if resp.StatusCode != http.StatusForbidden || sessionCookie(resp) != nil {
			t.Fatalf("sign-in without its CSRF token: %d, want 403 and no session", resp.StatusCode)
		}
	})
}

// connected stores a verification in state connected in room AW.
func connected(t testing.TB, e *env) gateway.Verification {
	t.Helper()
	ctx := context.Background()
	v, _, err := e.Store.CreateVerification(ctx, gateway.Verification{
		ID: gateway.NewID("v_"), Reference: "K7QX-M4TR", State: gateway.StateRouting, RoomID: "AW",
		Officer: gateway.Officer{Collar: "PC 1234", Warrant: "W-998877"}, RequestedBy: "t_officer",
		Deadline: time.Now().Add(time.Minute), Origin: gateway.OriginOfficer,
	}, "", gateway.Event{Type: gateway.EventState, Message: "requested"})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err = e.Store.Transition(ctx, v.ID, gateway.Transition{To: gateway.StateConnected, Set: func(v *gateway.Verification) {
		v.Channel = "facetime"
	}, Event: gateway.Event{Type: gateway.EventState, Message: "connected"}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOutcomeFormNeedsItsSessionsToken(t *testing.T) {
	e := newEnv(t, nil)
	v := connected(t, e)
	var recorded []gateway.Outcome
	e.Router.RecordOutcomeFn = func(_ context.Context, id string, o gateway.Outcome) (gateway.Verification, error) {
		recorded = append(recorded, o)
		v.Outcome, v.State = &o, gateway.StateVerified
		return v, nil
	}
	s1, hash := gateway.NewSecret()
	if err := e.Store.CreateToken(context.Background(), gateway.Token{ID: gateway.NewID("t_"), Role: gateway.RoleSupervisor, Name: "PS 42", Hash: hash,
		Supervisor: &gateway.SupervisorIdentity{Rank: "PS", Number: "42"}}); err != nil {
		t.Fatal(err)
	}
	_, s2 := e.Token(t, gateway.RoleSupervisor, "")
	a, b := e.browser(t), e.browser(t)
	a.signIn(s1)
	b.signIn(s2)
	_, pageA := a.do("GET", "/console/rooms/AW", nil)
	_, pageB := b.do("GET", "/console/rooms/AW", nil)
	if !strings.Contains(pageA, v.Reference) || !strings.Contains(pageA, `value="verified"`) {
		t.Fatalf("the board does not show the connected verification with its buttons:\n%s", pageA)
	}
	path := "/console/verifications/" + v.ID + "/outcome"
	for _, tt := range []struct {
		name string
		form url.Values
	}{
		{"no token", url.Values{"outcome": {"verified"}, "room": {"AW"}}},
		{"another session's token", url.Values{"outcome": {"verified"}, "room": {"AW"}, "csrf": {csrf(t, pageB)}}},
		{"a made-up token", url.Values{"outcome": {"verified"}, "room": {"AW"}, "csrf": {strings.Repeat("0", 64)}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := a.do("POST", path, tt.form)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("outcome with %s: %d, want 403", tt.name, resp.StatusCode)
			}
		})
	}
	if len(recorded) != 0 {
		t.Fatalf("a refused form recorded %v", recorded)
	}
	resp, _ := a.do("POST", path, url.Values{"outcome": {"verified"}, "room": {"AW"}, "note": {"warrant card seen"}, "csrf": {csrf(t, pageA)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/rooms/AW?done=verified" {
		t.Fatalf("outcome with the session's token: %d to %q, want 303 back to the board", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(recorded) != 1 || recorded[0].Result != gateway.OutcomeVerified || recorded[0].Note != "warrant card seen" || recorded[0].Supervisor != "PS 42" {
		t.Fatalf("recorded %+v, want one verified with the note, by the credential's name", recorded)
	}
}

func TestOpsSeesNoOutcomeButtons(t *testing.T) {
	e := newEnv(t, nil)
	v := connected(t, e)
	_, secret := e.Token(t, gateway.RoleOps, "")
	b := e.browser(t)
	b.signIn(secret)
	_, page := b.do("GET", "/console/rooms/AW", nil)
	if !strings.Contains(page, v.Reference) || strings.Contains(page, `value="verified"`) {
		t.Fatalf("ops board: want the reference and no outcome buttons:\n%s", page)
	}
	resp, _ := b.do("POST", "/console/verifications/"+v.ID+"/outcome", url.Values{"outcome": {"verified"}, "csrf": {csrf(t, page)}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("ops posting an outcome: %d, want 403", resp.StatusCode)
	}
}

func TestRevokedCredentialEndsItsSession(t *testing.T) {
	e := newEnv(t, nil)
	tok, secret := e.Token(t, gateway.RoleSupervisor, "")
	b := e.browser(t)
	b.signIn(secret)
	if resp, _ := b.do("GET", "/console/rooms/AW", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("board: %d, want 200", resp.StatusCode)
	}
	// An open event stream ends too.
	req, _ := http.NewRequest("GET", e.URL+"/console/rooms/AW/events", nil)
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := e.Store.RevokeToken(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(resp.Body) // ends when the stream does
	if !strings.Contains(string(rest), "event: board") || !strings.HasSuffix(string(rest), "event: end\ndata: signed out\n\n") {
		t.Fatalf("stream after revocation:\n%s\nwant a board, then the end", rest)
	}
	got, _ := b.do("GET", "/console/rooms/AW", nil)
	if got.StatusCode != http.StatusSeeOther {
		t.Fatalf("board after revocation: %d, want 303 to sign in", got.StatusCode)
	}
}

func TestSignOut(t *testing.T) {
	e := newEnv(t, nil)
	_, secret := e.Token(t, gateway.RoleSupervisor, "")
	b := e.browser(t)
	b.signIn(secret)
	_, page := b.do("GET", "/console/rooms", nil)
	if resp, _ := b.do("POST", "/console/sign-out", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-out without its token: %d, want 403", resp.StatusCode)
	}
	resp, _ := b.do("POST", "/console/sign-out", url.Values{"csrf": {csrf(t, page)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d, want 303", resp.StatusCode)
	}
	if got, _ := b.do("GET", "/console/rooms", nil); got.StatusCode != http.StatusSeeOther {
		t.Fatalf("rooms after sign-out: %d, want 303 to sign in", got.StatusCode)
	}
}

func TestBadInputIsA4xx(t *testing.T) {
	e := newEnv(t, nil)
	_, secret := e.Token(t, gateway.RoleSupervisor, "")
	b := e.browser(t)
	b.signIn(secret)
	for _, path := range []string{
		"/console/history?from=yesterday",
		"/console/history?from=2026-12-03&to=2026-12-01",
		"/console/history?outcome=maybe",
		"/console/history?origin=aliens",
		"/console/history?room=ZZ",
		"/console/rooms/ZZ",
		"/console/verifications/v_nope",
		"/console/nowhere",
	} {
		req, _ := http.NewRequest("GET", e.URL+path, nil)
		resp, err := b.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body httpapi.ErrorBody
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || err != nil || body.Error.Code == "" {
			t.Errorf("GET %s: %d (%v, %+v), want a 4xx JSON error", path, resp.StatusCode, err, body)
		}
	}
	if resp, _ := b.do("GET", "/console/history?room=AW&outcome=verified&origin=officer&channel=facetime", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("history with every filter: %d, want 200", resp.StatusCode)
	}
}

func TestPagesHeaders(t *testing.T) {
	e := newEnv(t, nil)
	for _, path := range []string{"/console/sign-in", "/console/console.js", "/console/console.css"} {
		resp, _ := e.browser(t).do("GET", path, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") != console.CSP || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d, CSP %q; want 200 with the console's CSP", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
	}
}

func TestFlaggedStandOut(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	v, _, err := e.Store.CreateVerification(ctx, gateway.Verification{
		ID: gateway.NewID("v_"), Reference: "FLAG-GEDX", State: gateway.StateRouting, RoomID: "AW",
		Officer: gateway.Officer{Collar: "PC 4321"}, RequestedBy: "t_officer", Deadline: time.Now().Add(time.Minute),
	}, "", gateway.Event{Type: gateway.EventState, Message: "requested"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Store.Transition(ctx, v.ID, gateway.Transition{To: gateway.StateCancelled, Event: gateway.Event{Type: gateway.EventState, Message: "cancelled"}}); err != nil {
		t.Fatal(err)
	}
	connected(t, e) // connected: live, not flagged
	_, secret := e.Token(t, gateway.RoleOps, "")
	b := e.browser(t)
	b.signIn(secret)
	_, page := b.do("GET", "/console/rooms/AW", nil)
	flags, _, _ := strings.Cut(page, `<section id="live"`)
	if !strings.Contains(flags, `id="flags"`) || !strings.Contains(flags, "FLAG-GEDX") || strings.Contains(flags, "K7QX-M4TR") {
		t.Fatalf("the board's flags should hold the cancelled verification alone:\n%s", page)
	}
	_, hist := b.do("GET", "/console/history?outcome=flagged", nil)
	if !strings.Contains(hist, "FLAG-GEDX") || strings.Contains(hist, "K7QX-M4TR") || !strings.Contains(hist, `class="flagged"`) {
		t.Fatalf("the flagged history should hold the cancelled verification alone:\n%s", hist)
	}
}
