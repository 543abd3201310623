package main

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/safeconnection/gateway/console"
)

// TestConsoleCookiesSecureWithHTTPSPublicURL signs in to the console of a
// whole gateway: its cookies are Secure when GATEWAY_PUBLIC_URL is https
// (whatever the case of its scheme), and not when it is http on loopback,
// where a browser would drop a Secure cookie.
func TestConsoleCookiesSecureWithHTTPSPublicURL(t *testing.T) {
	for _, tt := range []struct {
		publicURL string
		secure    bool
	}{
		{"https://gateway.example.org", true},
		{"HTTPS://gateway.example.org/", true},
		{"http://127.0.0.1:8080", false},
	} {
		t.Run(tt.publicURL, func(t *testing.T) {
			g := startGateway(t, testEnv(t, "GATEWAY_PUBLIC_URL="+tt.publicURL), nil)
			client := *g.client
			client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			do := func(method, path string, form url.Values, cookies ...*http.Cookie) (*http.Response, string) {
				t.Helper()
				var body io.Reader
				if form != nil {
					body = strings.NewReader(form.Encode())
				}
				req, _ := http.NewRequest(method, g.m.URL()+path, body)
				req.Header.Set("Accept", "text/html")
				if form != nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				// By hand: a cookie jar keeps a Secure cookie from plain HTTP.
				for _, c := range cookies {
					req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp, string(b)
			}
			cookie := func(resp *http.Response, name string) *http.Cookie {
				for _, c := range resp.Cookies() {
					if c.Name == name && c.Value != "" {
						return c
					}
				}
				t.Fatalf("%s %s: no %s cookie set (Set-Cookie %q)", resp.Request.Method, resp.Request.URL.Path, name, resp.Header.Values("Set-Cookie"))
				return nil
			}

			resp, page := do("GET", "/console/sign-in", nil)
			form := cookie(resp, console.PreLoginCookie)
			csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(page)
			if csrf == nil {
				t.Fatalf("the sign-in page has no CSRF field:\n%s", page)
			}
			resp, _ = do("POST", "/console/sign-in", url.Values{"csrf": {csrf[1]}, "credential": {g.supervisor}}, form)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/rooms" {
				t.Fatalf("sign-in: %d to %q, want 303 to /console/rooms", resp.StatusCode, resp.Header.Get("Location"))
			}
			session := cookie(resp, console.SessionCookie)
			for _, c := range []*http.Cookie{form, session} {
				if c.Secure != tt.secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
					t.Errorf("public URL %s: cookie %s Secure %v HttpOnly %v SameSite %v; want Secure %v, HttpOnly, Strict",
						tt.publicURL, c.Name, c.Secure, c.HttpOnly, c.SameSite, tt.secure)
				}
			}
			if resp, _ := do("GET", "/console/rooms", nil, session); resp.StatusCode != http.StatusOK {
				t.Fatalf("the rooms with the session cookie: %d, want 200", resp.StatusCode)
			}
		})
	}
}
