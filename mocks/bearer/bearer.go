// Package bearer is the access-token store the fakes of OAuth providers
// share: the tokens their token endpoints issued, each with its expiry,
// checked on the Bearer-authenticated API requests and revoked all at once
// on demand.
package bearer

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultTTL is the lifetime of a token issued with no positive lifetime.
const DefaultTTL = time.Hour

// Tokens is a set of access tokens with their expiries. The zero value is
// empty and ready; Tokens are safe for concurrent use.
type Tokens struct {
	mu  sync.Mutex
	exp map[string]time.Time
}

// Issue records tok as valid for ttl from now (DefaultTTL when ttl is not
// positive) and returns the lifetime given.
func (t *Tokens) Issue(tok string, ttl time.Duration, now time.Time) time.Duration {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.exp == nil {
		t.exp = map[string]time.Time{}
	}
	t.exp[tok] = now.Add(ttl)
	return ttl
}

// Valid reports whether r carries, as "Authorization: Bearer", a token
// issued and not expired at now.
func (t *Tokens) Valid(r *http.Request, now time.Time) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	exp, ok := t.exp[tok]
	return ok && now.Before(exp)
}

// Expire revokes every token issued so far.
func (t *Tokens) Expire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.exp)
}
