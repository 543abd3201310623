package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
)

// Cookie names. The session cookie is scoped to the console's paths.
const (
	SessionCookie  = "gw_console"
	PreLoginCookie = "gw_console_signin"
)

// preLoginTTL is how long a sign-in form stays good.
const preLoginTTL = 30 * time.Minute

// maxSecret bounds a credential typed into the sign-in form before it is
// hashed.
const maxSecret = 512

// session is a signed-in console: whose credential, until when, the
// credential's SessionsEnded when it was issued (a sign-out counts it up,
// ending the session on every instance), and the session's own random ID
// (which its CSRF token is derived from).
type session struct {
	ID      string
	TokenID string
	Expires time.Time
	Ended   int64         // the credential's SessionsEnded at sign-in
	Token   gateway.Token // read again from the store on every request
}

// sign returns payload with its HMAC-SHA256 under the console's key, as a
// cookie value: base64url(payload) "." base64url(mac).
func (c *Console) sign(payload string) string {
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte(payload))
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(m.Sum(nil))
}

// unsign checks a value made by sign and returns its payload.
func (c *Console) unsign(value string) (string, bool) {
	p, mac, ok := strings.Cut(value, ".")
	if !ok || len(value) > 1024 {
		return "", false
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	got, err2 := enc.DecodeString(mac)
	// Only the one encoding the console writes: base64's last character
	// has bits that decoding ignores, and a value that differs from the
	// signed one is not taken as it.
	if err1 != nil || err2 != nil || enc.EncodeToString(payload) != p || enc.EncodeToString(got) != mac {
		return "", false
	}
	m := hmac.New(sha256.New, c.Key)
	m.Write(payload)
	if !hmac.Equal(got, m.Sum(nil)) {
		return "", false
	}
	return string(payload), true
}

// csrfToken is the CSRF token of a session (or a sign-in form's): the
// HMAC of its ID under the key, with a purpose of its own.
func (c *Console) csrfToken(id string) string {
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte("csrf\x00" + id))
	return hex.EncodeToString(m.Sum(nil))
}

// checkCSRF compares a form's token with the session's in constant time.
func (c *Console) checkCSRF(r *http.Request, id string) bool {
	got := r.PostFormValue("csrf")
	return got != "" && hmac.Equal([]byte(got), []byte(c.csrfToken(id)))
}

// newID returns 16 random bytes in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// cookie returns a console cookie with the flags every one of them has.
func (c *Console) cookie(name, value string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/console",
		Expires:  expires,
		MaxAge:   max(int(time.Until(expires).Seconds()), 1),
		HttpOnly: true,
		Secure:   c.Secure,
		SameSite: http.SameSiteStrictMode,
	}
}

// clearCookie removes a console cookie.
func (c *Console) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/console", MaxAge: -1,
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteStrictMode})
}

// startSession sets the session cookie for the token, with its
// SessionsEnded as read at sign-in: "s2|token|expiry|ended|id".
func (c *Console) startSession(w http.ResponseWriter, tok gateway.Token) {
	exp := c.now().Add(c.session()).Truncate(time.Second)
	payload := "s2|" + tok.ID + "|" + strconv.FormatInt(exp.Unix(), 10) + "|" +
		strconv.FormatInt(tok.SessionsEnded, 10) + "|" + newID()
	http.SetCookie(w, c.cookie(SessionCookie, c.sign(payload), exp))
}

// readSession returns the request's session: its cookie signed, unexpired,
// and its credential still in the store, not revoked, of a role that may
// use the console, its sessions not ended (signed out) since the cookie was
// issued. A cookie of before the count ("s1|token|expiry|id") is taken as
// issued at 0: any sign-out ends it. EUNAUTHORIZED otherwise.
func (c *Console) readSession(r *http.Request) (session, error) {
	none := gateway.Errorf(gateway.EUNAUTHORIZED, "sign in to the console")
	ck, err := r.Cookie(SessionCookie)
	if err != nil {
		return session{}, none
	}
	payload, ok := c.unsign(ck.Value)
	if !ok {
		return session{}, none
	}
	parts := strings.Split(payload, "|")
	switch {
	case len(parts) == 4 && parts[0] == "s1":
		parts = []string{"s2", parts[1], parts[2], "0", parts[3]}
	case len(parts) != 5 || parts[0] != "s2":
		return session{}, none
	}
	unix, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return session{}, none
	}
	ended, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || ended < 0 {
		return session{}, none
	}
	s := session{TokenID: parts[1], Expires: time.Unix(unix, 0), Ended: ended, ID: parts[4]}
	if !c.now().Before(s.Expires) {
		return session{}, gateway.Errorf(gateway.EUNAUTHORIZED, "the session has ended: sign in again")
	}
	tok, err := c.tokenByID(r.Context(), s.TokenID)
	if err != nil {
		return session{}, err
	}
	if s.Ended < tok.SessionsEnded {
		return session{}, gateway.Errorf(gateway.EUNAUTHORIZED, "this session was signed out: sign in again")
	}
	s.Token = tok
	return s, nil
}

// tokenByID reads the session's credential again, so that a revoked one's
// session ends at once, on every instance. EUNAUTHORIZED when it is gone,
// revoked or of a role that may not use the console.
func (c *Console) tokenByID(ctx context.Context, id string) (gateway.Token, error) {
	t, err := c.Store.Token(ctx, id)
	if err == nil && t.Usable(c.now()) && mayUse(t.Role) {
		return t, nil
	}
	if err != nil && gateway.ErrorCode(err) != gateway.ENOTFOUND {
		return gateway.Token{}, err
	}
	return gateway.Token{}, gateway.Errorf(gateway.EUNAUTHORIZED, "the credential of this session is no longer valid: sign in again")
}

// mayUse reports whether a credential of the role may sign in to the
// console: supervisors, 999 call handlers and ops staff, not officers'
// apps or device agents.
func mayUse(r gateway.Role) bool { return r.Staff() || r == gateway.RoleOps }

// signIn checks a typed credential. EUNAUTHORIZED when it is unknown or
// revoked, EFORBIDDEN when its role may not use the console.
func (c *Console) signIn(ctx context.Context, secret string) (gateway.Token, error) {
	secret = strings.TrimSpace(secret)
	if secret == "" || len(secret) > maxSecret {
		return gateway.Token{}, gateway.Errorf(gateway.EUNAUTHORIZED, "type your console credential")
	}
	tok, err := c.Store.TokenByHash(ctx, gateway.HashSecret(secret))
	switch {
	case gateway.ErrorCode(err) == gateway.ENOTFOUND || err == nil && tok.Revoked:
		return gateway.Token{}, gateway.Errorf(gateway.EUNAUTHORIZED, "that credential is not known, or has been revoked")
	case err != nil:
		return gateway.Token{}, err
	case !mayUse(tok.Role):
		return gateway.Token{}, gateway.Errorf(gateway.EFORBIDDEN, "only a supervisor's, a 999 call handler's or an ops credential can sign in to the console")
	}
	return tok, nil
}

// preLogin returns the ID of the request's sign-in form cookie, setting a
// new one when it has none that is good.
func (c *Console) preLogin(w http.ResponseWriter, r *http.Request) string {
	if id, ok := c.readPreLogin(r); ok {
		return id
	}
	exp := c.now().Add(preLoginTTL).Truncate(time.Second)
	id := newID()
	http.SetCookie(w, c.cookie(PreLoginCookie, c.sign("p1|"+strconv.FormatInt(exp.Unix(), 10)+"|"+id), exp))
	return "pre:" + id
}

// readPreLogin returns the ID of the request's sign-in form cookie, if it
// is signed and unexpired.
func (c *Console) readPreLogin(r *http.Request) (string, bool) {
	ck, err := r.Cookie(PreLoginCookie)
	if err != nil {
		return "", false
	}
	payload, ok := c.unsign(ck.Value)
	if !ok {
		return "", false
	}
	parts := strings.Split(payload, "|")
	if len(parts) != 3 || parts[0] != "p1" {
		return "", false
	}
	unix, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !c.now().Before(time.Unix(unix, 0)) {
		return "", false
	}
	return "pre:" + parts[2], true
}
