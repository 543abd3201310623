package console_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/console"
)

// TestSignOutEndsACopiedCookie: after sign-out, a copy of the session
// cookie taken before it no longer opens the console, while the
// credential itself still signs in.
//
// Skipped: a session is a signed cookie alone (the credential's ID, the
// expiry, a random ID) and sign-out only clears the browser's copy. Ending
// the session for every copy, on every instance and across restarts,
// needs state the store keeps and readSession reads with the credential:
// a column on tokens (say sessions_after, set by sign-out, against an
// issued-at carried in the cookie) or a table of ended sessions, each a
// migration in store/sqlite and store/postgres. An in-memory list of
// signed-out sessions spread by the bus would not do: the bus may drop a
// message, and a restarted or new instance would take the cookie again.
func TestSignOutEndsACopiedCookie(t *testing.T) {
	t.Skip("sign-out clears the browser's cookie only: ending a copied session needs store state (see the comment)")
	e := newEnv(t, nil)
	_, secret := e.Token(t, gateway.RoleSupervisor, "")
	b := e.browser(t)
	ck := sessionCookie(b.signIn(secret))
	if ck == nil {
		t.Fatal("no session cookie")
	}
	_, page := b.do("GET", "/console/rooms", nil)
	if resp, _ := b.do("POST", "/console/sign-out", url.Values{"csrf": {csrf(t, page)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d, want 303", resp.StatusCode)
	}
	thief := e.browser(t)
	u, _ := url.Parse(e.URL + "/console/")
	thief.http.Jar.SetCookies(u, []*http.Cookie{{Name: console.SessionCookie, Value: ck.Value, Path: "/console"}})
	if resp, _ := thief.do("GET", "/console/rooms", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rooms with a copy of the signed-out session's cookie: %d, want 303 to sign in", resp.StatusCode)
	}
	if resp := e.browser(t).signIn(secret); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in after sign-out: %d, want 303: the credential is not revoked", resp.StatusCode)
	}
}
