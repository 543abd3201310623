package twiliovideo_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/safeconnection/gateway/adapters/twiliovideo"
)

const attempt = "a_0123456789abcdef0123"

// joinClock is the join tests' fixed time.
var joinClock = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

// joinAdapter returns an adapter whose join page runs on joinClock, with
// its log kept in the hook.
func joinAdapter(tb testing.TB) (*twiliovideo.Adapter, *logtest.Hook) {
	tb.Helper()
	a := twiliovideo.New(accountSID, authToken, apiKeySID, apiKeySecret, "https://gw.example.police.uk")
	a.Now = func() time.Time { return joinClock }
	logger, hook := logtest.NewNullLogger()
	a.Logger = logger
	return a, hook
}

// accessClaims are the claims of a token as the adapter mints them, for
// the cases to change.
func accessClaims(identity, room string) gojwt.MapClaims {
	return gojwt.MapClaims{
		"jti": apiKeySID + "-1", "iss": apiKeySID, "sub": accountSID,
		"nbf": joinClock.Unix(), "exp": joinClock.Add(20 * time.Minute).Unix(),
		"grants": map[string]any{"identity": identity, "video": map[string]any{"room": room}},
	}
}

// mint signs claims as Twilio's access tokens are signed (HS256 with the
// API key's secret, unless told otherwise).
func mint(tb testing.TB, claims gojwt.MapClaims, method gojwt.SigningMethod, secret string) string {
	tb.Helper()
	t := gojwt.NewWithClaims(method, claims)
	t.Header["cty"] = "twilio-fpa;v=1"
	var key any = []byte(secret)
	if method == gojwt.SigningMethodNone {
		key = gojwt.UnsafeAllowNoneSignatureType
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func serveJoin(a *twiliovideo.Adapter, method, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	a.JoinPage().ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w
}

func joinTarget(token string) string {
	if token == "" {
		return twiliovideo.PathJoin + attempt
	}
	return twiliovideo.PathJoin + attempt + "?" + url.Values{"token": {token}}.Encode()
}

// checkHeaders checks the security headers every answer of the page has.
func checkHeaders(tb testing.TB, h http.Header, sdkOrigin string) {
	tb.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self' " + sdkOrigin + ";", "connect-src 'self' " + sdkOrigin + " https://*.twilio.com wss://*.twilio.com;", "frame-ancestors 'none'", "style-src 'self'"} {
		if !strings.Contains(csp+";", want) {
			tb.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		tb.Errorf("Content-Security-Policy %q allows something unsafe", csp)
	}
	for _, src := range strings.Fields(strings.ReplaceAll(csp, ";", " ")) {
		if src == "https:" || src == "wss:" || src == "http:" || src == "ws:" || src == "*" {
			tb.Errorf("Content-Security-Policy %q allows any origin (%s)", csp, src)
		}
	}
	for k, v := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if h.Get(k) != v {
			tb.Errorf("%s: %q, want %q", k, h.Get(k), v)
		}
	}
}

func TestJoinPage(t *testing.T) {
	t.Parallel()
	a, hook := joinAdapter(t)
	for _, tt := range []struct {
		identity, peer string
	}{{twiliovideo.PartyOfficer, "operations room"}, {twiliovideo.PartyDevice, "officer"}} {
		t.Run(tt.identity, func(t *testing.T) {
			tok := mint(t, accessClaims(tt.identity, attempt), gojwt.SigningMethodHS256, apiKeySecret)
			w := serveJoin(a, http.MethodGet, joinTarget(tok))
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("status %d, Content-Type %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			checkHeaders(t, w.Header(), "https://sdk.twilio.com")
			body := w.Body.String()
			for _, want := range []string{
				`data-token="` + tok + `"`, `data-room="` + attempt + `"`, `data-peer="` + tt.peer + `"`,
				`<script src="` + twiliovideo.DefaultSDKURL + `" defer></script>`,
				`<script src="/join/webrtc/assets/join.js" defer></script>`,
				`<link rel="stylesheet" href="/join/webrtc/assets/join.css">`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %s:\n%s", want, body)
				}
			}
			if inline := regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).FindString(body); inline != "" || strings.Contains(body, " style=") || strings.Contains(body, "<style") {
				t.Errorf("page has inline script or style: %q", inline)
			}
		})
	}
	for _, e := range hook.AllEntries() {
		for _, v := range e.Data {
			if s, ok := v.(string); ok && strings.Contains(s, ".ey") {
				t.Errorf("a token was logged: %v", e.Data)
			}
		}
	}
}

func TestJoinPageRefuses(t *testing.T) {
	t.Parallel()
	valid := accessClaims(twiliovideo.PartyOfficer, attempt)
	with := func(k string, v any) gojwt.MapClaims {
		c := gojwt.MapClaims{}
		for kk, vv := range valid {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	hs256 := func(c gojwt.MapClaims) func(testing.TB) string {
		return func(tb testing.TB) string { return mint(tb, c, gojwt.SigningMethodHS256, apiKeySecret) }
	}
	tests := []struct {
		name   string
		token  func(testing.TB) string
		status int
	}{
		{"missing token", func(testing.TB) string { return "" }, http.StatusBadRequest},
		{"forged signature", func(tb testing.TB) string { return mint(tb, valid, gojwt.SigningMethodHS256, "not-the-secret") }, http.StatusForbidden},
		{"tampered claims", func(tb testing.TB) string {
			good := strings.Split(mint(tb, valid, gojwt.SigningMethodHS256, apiKeySecret), ".")
			other := strings.Split(mint(tb, with("grants", map[string]any{"identity": "officer", "video": map[string]any{"room": "a_other"}}), gojwt.SigningMethodHS256, apiKeySecret), ".")
			return good[0] + "." + other[1] + "." + good[2]
		}, http.StatusForbidden},
		{"alg none", func(tb testing.TB) string { return mint(tb, valid, gojwt.SigningMethodNone, "") }, http.StatusForbidden},
		{"HS512", func(tb testing.TB) string { return mint(tb, valid, gojwt.SigningMethodHS512, apiKeySecret) }, http.StatusForbidden},
		{"wrong issuer", hs256(with("iss", "SK00000000000000000000000000000000")), http.StatusForbidden},
		{"no issuer", hs256(with("iss", nil)), http.StatusForbidden},
		{"another account", hs256(with("sub", "AC00000000000000000000000000000000")), http.StatusForbidden},
		{"expired", hs256(with("exp", joinClock.Add(-time.Minute).Unix())), http.StatusForbidden},
		{"no expiry", hs256(with("exp", nil)), http.StatusForbidden},
		{"not yet valid", hs256(with("nbf", joinClock.Add(time.Minute).Unix())), http.StatusForbidden},
		{"no video grant", hs256(with("grants", map[string]any{"identity": "officer"})), http.StatusForbidden},
		{"video grant without a room", hs256(with("grants", map[string]any{"identity": "officer", "video": map[string]any{}})), http.StatusForbidden},
		{"another room", hs256(with("grants", map[string]any{"identity": "officer", "video": map[string]any{"room": "a_other"}})), http.StatusForbidden},
		{"another identity", hs256(with("grants", map[string]any{"identity": "someone", "video": map[string]any{"room": attempt}})), http.StatusForbidden},
		{"garbage", func(testing.TB) string { return "not.a.token" }, http.StatusForbidden},
		{"huge", func(testing.TB) string { return strings.Repeat("A", 8<<10) }, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, hook := joinAdapter(t)
			tok := tt.token(t)
			w := serveJoin(a, http.MethodGet, joinTarget(tok))
			checkRefusal(t, w, tt.status, tok)
			if tt.status == http.StatusForbidden && len(hook.AllEntries()) == 0 {
				t.Error("the refusal was not logged")
			}
		})
	}
}

// checkRefusal checks an error page: the status, plain HTML that asks for a
// new link, the security headers, nothing of the token or of why.
func checkRefusal(tb testing.TB, w *httptest.ResponseRecorder, status int, token string) {
	tb.Helper()
	body := w.Body.String()
	if w.Code != status {
		tb.Errorf("status %d, want %d: %s", w.Code, status, body)
	}
	if w.Header().Get("Content-Type") != "text/html; charset=utf-8" || strings.HasPrefix(strings.TrimSpace(body), "{") {
		tb.Errorf("Content-Type %q, body %.80q: want an HTML page", w.Header().Get("Content-Type"), body)
	}
	checkHeaders(tb, w.Header(), "https://sdk.twilio.com")
	if w.Code != http.StatusMethodNotAllowed && !strings.Contains(body, "This link is not valid or has expired.") {
		tb.Errorf("page does not say the link is not valid: %s", body)
	}
	lower := strings.ToLower(body)
	for _, leak := range []string{"jwt", "signature", "issuer", "claim", "grant", "secret", "twilio", "<script"} {
		if strings.Contains(lower, leak) {
			tb.Errorf("error page mentions %q: %s", leak, body)
		}
	}
	if len(token) > 8 && strings.Contains(body, token) {
		tb.Error("error page repeats the token")
	}
}

func TestJoinPageWithinLeeway(t *testing.T) {
	t.Parallel()
	a, _ := joinAdapter(t)
	c := accessClaims(twiliovideo.PartyOfficer, attempt)
	c["nbf"] = joinClock.Add(twiliovideo.TokenLeeway / 2).Unix() // the gateway's clock is behind the minter's
	c["exp"] = joinClock.Add(-twiliovideo.TokenLeeway / 2).Unix()
	if w := serveJoin(a, http.MethodGet, joinTarget(mint(t, c, gojwt.SigningMethodHS256, apiKeySecret))); w.Code != http.StatusOK {
		t.Errorf("status %d: %s", w.Code, w.Body)
	}
}

func TestJoinPageAcceptsTheAdaptersTokens(t *testing.T) {
	t.Parallel()
	a, _ := joinAdapter(t)
	l := leg(20 * time.Second)
	l.Deadline = joinClock.Add(20 * time.Second)
	for _, identity := range []string{twiliovideo.PartyOfficer, twiliovideo.PartyDevice} {
		tok, err := a.Token(l, l.AttemptID, identity)
		if err != nil {
			t.Fatal(err)
		}
		if w := serveJoin(a, http.MethodGet, joinTarget(tok)); w.Code != http.StatusOK {
			t.Errorf("%s: status %d: %s", identity, w.Code, w.Body)
		}
		// Past the call's longest life (and the leeway), the link is dead.
		later := *a
		later.Now = func() time.Time { return l.Deadline.Add(twiliovideo.DefaultMaxCall + time.Minute) }
		checkRefusal(t, serveJoin(&later, http.MethodGet, joinTarget(tok)), http.StatusForbidden, tok)
	}
}

func TestJoinPageMethodsAndPaths(t *testing.T) {
	t.Parallel()
	a, _ := joinAdapter(t)
	tok := mint(t, accessClaims(twiliovideo.PartyOfficer, attempt), gojwt.SigningMethodHS256, apiKeySecret)

	head := serveJoin(a, http.MethodHead, joinTarget(tok))
	get := serveJoin(a, http.MethodGet, joinTarget(tok))
	if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("Content-Length") != get.Header().Get("Content-Length") {
		t.Errorf("HEAD: status %d, %d bytes, Content-Length %q (GET's %q)", head.Code, head.Body.Len(), head.Header().Get("Content-Length"), get.Header().Get("Content-Length"))
	}
	post := serveJoin(a, http.MethodPost, joinTarget(tok))
	checkRefusal(t, post, http.StatusMethodNotAllowed, tok)
	if post.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: Allow %q", post.Header().Get("Allow"))
	}
	for _, p := range []string{"/join/webrtc/", "/join/webrtc/nosuch", "/join/webrtc/" + attempt + "/x", "/join/webrtc/assets/nosuch.js", "/join/zoom/" + attempt} {
		checkRefusal(t, serveJoin(a, http.MethodGet, p+"?token="+tok), http.StatusNotFound, tok)
	}
}

func TestJoinPageAssets(t *testing.T) {
	t.Parallel()
	a, _ := joinAdapter(t)
	for name, ct := range map[string]string{"join.js": "text/javascript; charset=utf-8", "join.css": "text/css; charset=utf-8"} {
		w := serveJoin(a, http.MethodGet, "/join/webrtc/assets/"+name)
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != ct || w.Body.Len() < 100 || w.Header().Get("ETag") == "" {
			t.Errorf("%s: status %d, Content-Type %q, %d bytes, ETag %q", name, w.Code, w.Header().Get("Content-Type"), w.Body.Len(), w.Header().Get("ETag"))
		}
		// The page's own files hold no secret: they may be kept, and
		// are checked again each time.
		h := w.Header().Clone()
		if h.Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: Cache-Control %q", name, h.Get("Cache-Control"))
		}
		h.Set("Cache-Control", "no-store")
		checkHeaders(t, h, "https://sdk.twilio.com")
		r := httptest.NewRequest(http.MethodGet, "/join/webrtc/assets/"+name, nil)
		r.Header.Set("If-None-Match", w.Header().Get("ETag"))
		again := httptest.NewRecorder()
		a.JoinPage().ServeHTTP(again, r)
		if again.Code != http.StatusNotModified {
			t.Errorf("%s with its ETag: status %d", name, again.Code)
		}
	}
	js := serveJoin(a, http.MethodGet, "/join/webrtc/assets/join.js").Body.String()
	for _, want := range []string{"Twilio.Video", "Connecting to the ", "'Connected'", "The call has ended", "data-token", "data-room", "width: 640"} {
		if !strings.Contains(js, want) {
			t.Errorf("join.js lacks %q", want)
		}
	}
}

func TestJoinPageSDKAndPrefix(t *testing.T) {
	t.Parallel()
	a, _ := joinAdapter(t)
	a.SDKURL = "http://127.0.0.1:4567/js/video/releases/2.36.0/twilio-video.min.js"
	a.PublicURL = "https://police.example.org/safe-connection/"
	tok := mint(t, accessClaims(twiliovideo.PartyOfficer, attempt), gojwt.SigningMethodHS256, apiKeySecret)
	w := serveJoin(a, http.MethodGet, joinTarget(tok))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	checkHeaders(t, w.Header(), "http://127.0.0.1:4567")
	body, _ := io.ReadAll(w.Body)
	for _, want := range []string{`<script src="` + a.SDKURL + `" defer>`, `src="/safe-connection/join/webrtc/assets/join.js"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

// FuzzJoinToken feeds the token check whatever a link may carry: it never
// fails but with a plain 400 or 403 page, never repeats what it refused,
// and lets only a token the adapter minted through.
func FuzzJoinToken(f *testing.F) {
	a, _ := joinAdapter(f)
	good := mint(f, accessClaims(twiliovideo.PartyOfficer, attempt), gojwt.SigningMethodHS256, apiKeySecret)
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add(mint(f, accessClaims(twiliovideo.PartyOfficer, attempt), gojwt.SigningMethodHS256, "forged"))
	f.Add(mint(f, accessClaims(twiliovideo.PartyOfficer, attempt), gojwt.SigningMethodNone, ""))
	f.Add(good[:len(good)-1])
	f.Add(strings.ReplaceAll(good, ".", ".."))
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJncmFudHMiOnsidmlkZW8iOjF9fQ.x")
	f.Add(`"><script>alert(1)</script>`)
	f.Fuzz(func(t *testing.T, token string) {
		w := serveJoin(a, http.MethodGet, joinTarget(token))
		switch {
		case w.Code == http.StatusOK:
			// Only the minted token may pass, give or take the spellings of
			// the same bytes that base64 decoding tolerates.
			if !sameToken(token, good) {
				t.Errorf("token %q let through", token)
			}
		case token == "":
			checkRefusal(t, w, http.StatusBadRequest, token)
		default:
			checkRefusal(t, w, http.StatusForbidden, token)
		}
	})
}

// sameToken reports whether two tokens decode to the same header, claims
// and signature.
func sameToken(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	if len(as) != 3 || len(bs) != 3 {
		return false
	}
	p := gojwt.NewParser()
	for i := range as {
		x, errx := p.DecodeSegment(as[i])
		y, erry := p.DecodeSegment(bs[i])
		if errx != nil || erry != nil || string(x) != string(y) {
			return false
		}
	}
	return true
}
