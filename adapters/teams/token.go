package teams

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/safeconnection/gateway"
)

// maxTokenFetch bounds a token fetch made for a caller without a deadline.
const maxTokenFetch = 30 * time.Second

// tokenCache keeps one OAuth access token until shortly before it expires,
// and shares one fetch among concurrent callers. The zero value is ready.
type tokenCache struct {
	mu       sync.Mutex
	token    string
	until    time.Time // the token is used before this instant
	inflight *tokenFetch
}

type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
}

// fetchFunc fetches a token and says until when it may be used.
type fetchFunc func(ctx context.Context) (token string, until time.Time, err error)

// get returns the cached token, or waits for a fetch (starting one if none
// is under way). The fetch runs under ctx's deadline but not its
// cancellation, so that one caller giving up does not fail the others who
// wait on the same fetch; each caller stops waiting when its own ctx ends.
func (c *tokenCache) get(ctx context.Context, now time.Time, fetch fetchFunc) (string, error) {
	c.mu.Lock()
	if c.token != "" && now.Before(c.until) {
		tok := c.token
		c.mu.Unlock()
		return tok, nil
	}
	f := c.inflight
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		c.inflight = f
		fctx, cancel := fetchContext(ctx)
		go func() {
			defer cancel()
			tok, until, err := fetch(fctx)
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

// fetchContext returns ctx's values and deadline (or maxTokenFetch) without
// its cancellation.
func fetchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(base, dl)
	}
	return context.WithTimeout(base, maxTokenFetch)
}

// invalidate drops tok if it is still the cached token (a newer one fetched
// meanwhile is kept).
func (c *tokenCache) invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token, c.until = "", time.Time{}
	}
}

// usableUntil returns when a token that lives ttl from now should be
// replaced: early before it expires, or halfway through a lifetime shorter
// than that.
func usableUntil(now time.Time, ttl, early time.Duration) time.Time {
	if ttl > 2*early {
		return now.Add(ttl - early)
	}
	return now.Add(ttl / 2)
}

// tokenError turns a failure to get a token into a *gateway.CallError with
// Fate NotPlaced: without a token the provider was never asked to act.
func tokenError(provider string, err error) error {
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
