package console_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/console"
)

// TestSignOutEndsACopiedCookie: after sign-out, a copy of the session
// cookie taken before it no longer opens the console, nor does another
// session of the same credential (sign-out ends the credential's console
// sessions, kept in the store: every instance and a restarted one read it
// with the credential), while the credential itself still signs in and its
// new session works.
func TestSignOutEndsACopiedCookie(t *testing.T) {
	e := newEnv(t, nil)
	tok, secret := e.Token(t, gateway.RoleSupervisor, "")
	b := e.browser(t)
	ck := sessionCookie(b.signIn(secret))
	if ck == nil {
		t.Fatal("no session cookie")
	}
	desk := e.browser(t)
	if resp := desk.signIn(secret); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in on another screen: %d, want 303", resp.StatusCode)
	}
	// A cookie of before the count (s1: credential, expiry, ID) is taken
	// as issued at 0.
	old := e.browser(t)
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	old.setSession(t, signed("s1|"+tok.ID+"|"+exp+"|00112233445566778899aabbccddeeff"))
	if resp, _ := old.do("GET", "/console/rooms", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("rooms with a cookie of before sign-out counted: %d, want 200", resp.StatusCode)
	}

	_, page := b.do("GET", "/console/rooms", nil)
	if resp, _ := b.do("POST", "/console/sign-out", url.Values{"csrf": {csrf(t, page)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d, want 303", resp.StatusCode)
	}
	thief := e.browser(t)
	thief.setSession(t, ck.Value)
	for name, br := range map[string]*browser{"a copy of the signed-out session's cookie": thief, "another session of the credential": desk, "a cookie of before the count": old} {
		if resp, _ := br.do("GET", "/console/rooms", nil); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("rooms with %s: %d, want 303 to sign in", name, resp.StatusCode)
		}
	}
	again := e.browser(t)
	if resp := again.signIn(secret); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in after sign-out: %d, want 303: the credential is not revoked", resp.StatusCode)
	}
	if resp, _ := again.do("GET", "/console/rooms", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("rooms in a session signed in after sign-out: %d, want 200", resp.StatusCode)
	}
	if got, err := e.Store.Token(t.Context(), tok.ID); err != nil || got.SessionsEnded != 1 || got.Revoked {
		t.Fatalf("credential after sign-out: %+v, %v; want SessionsEnded 1, not revoked", got, err)
	}
}

// setSession gives the browser a session cookie of the value.
func (b *browser) setSession(t testing.TB, value string) {
	t.Helper()
	u, _ := url.Parse(b.e.URL + "/console/")
	b.http.Jar.SetCookies(u, []*http.Cookie{{Name: console.SessionCookie, Value: value, Path: "/console"}})
}

// signed is a cookie value of the payload signed with the tests' key, as
// the console signs one.
func signed(payload string) string {
	m := hmac.New(sha256.New, testKey)
	m.Write([]byte(payload))
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(m.Sum(nil))
}
