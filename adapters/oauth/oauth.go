// Package oauth is the OAuth 2.0 plumbing shared by the adapters that call a
// provider's API with a Bearer access token (meet, teams, zoom): the Client
// settings they embed, a Cache that keeps one token until shortly before it
// expires and shares one fetch among concurrent callers, the exchange of a
// token request for a token, and the error a caller returns when it has no
// token.
package oauth

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
)

// Client is what an adapter that calls its provider's API with a Bearer
// token holds beside its credentials and URLs, embedded; Defaults gives its
// defaults.
type Client struct {
	// Settings are the HTTP client (which also calls the token endpoint),
	// the logger and the clock.
	httpx.Settings
	// TokenEarly is how long before its expiry a token is replaced
	// (default DefaultTokenEarly).
	TokenEarly time.Duration
}

// DefaultTokenEarly is how long before its expiry a token is replaced by
// default.
const DefaultTokenEarly = 5 * time.Minute

// Defaults returns a Client with the defaults above.
func Defaults() Client {
	return Client{Settings: httpx.DefaultSettings(), TokenEarly: DefaultTokenEarly}
}

// MaxFetch bounds a token fetch made for a caller without a deadline.
const MaxFetch = 30 * time.Second

// Cache keeps one OAuth access token until shortly before it expires, and
// shares one fetch among concurrent callers. The zero value is ready; a Cache
// must not be copied after first use.
type Cache struct {
	mu       sync.Mutex
	token    string
	until    time.Time // the token is used before this instant
	inflight *fetch
}

type fetch struct {
	done  chan struct{}
	token string
	err   error
}

// Fetch fetches a token and says until when it may be used.
type Fetch func(ctx context.Context) (token string, until time.Time, err error)

// Get returns the cached token, or waits for a fetch (starting one if none
// is under way). The fetch runs under ctx's deadline but not its
// cancellation, so that one caller giving up does not fail the others who
// wait on the same fetch; each caller stops waiting when its own ctx ends.
func (c *Cache) Get(ctx context.Context, now time.Time, fetchToken Fetch) (string, error) {
	c.mu.Lock()
	if c.token != "" && now.Before(c.until) {
		tok := c.token
		c.mu.Unlock()
		return tok, nil
	}
	f := c.inflight
	if f == nil {
		f = &fetch{done: make(chan struct{})}
		c.inflight = f
		fctx, cancel := fetchContext(ctx)
		go func() {
			defer cancel()
			tok, until, err := fetchToken(fctx)
			c.mu.Lock()
			if err == nil {
				c.token, c.until = tok, until
			}
			c.inflight = nil
			f.token, f.err = tok, err
			c.mu.Unlock()
			close(f.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// fetchContext returns ctx's values and deadline (or MaxFetch) without its
// cancellation.
func fetchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(base, dl)
	}
	return context.WithTimeout(base, MaxFetch)
}

// Invalidate drops tok if it is still the cached token (a newer one fetched
// meanwhile is kept).
func (c *Cache) Invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token, c.until = "", time.Time{}
	}
}

// UsableUntil returns when a token that lives ttl from now should be
// replaced: early before it expires, or halfway through a lifetime shorter
// than that.
func UsableUntil(now time.Time, ttl, early time.Duration) time.Time {
	if ttl > 2*early {
		return now.Add(ttl - early)
	}
	return now.Add(ttl / 2)
}

// Error turns a failure to get a token into a *gateway.CallError with Fate
// NotPlaced: without a token the provider was never asked to act.
func Error(provider string, err error) error {
	var ce *gateway.CallError
	if errors.As(err, &ce) {
		out := *ce
		out.Fate = gateway.NotPlaced
		return &out
	}
	code := gateway.EUNAVAILABLE
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		code = gateway.ETIMEOUT
	}
	return &gateway.CallError{Fate: gateway.NotPlaced, Provider: provider,
		Err: gateway.E("", code, errors.Join(errors.New(provider+": no access token"), err))}
}
