package oauth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

func TestCacheSharesOneFetchAndKeepsTheToken(t *testing.T) {
	var c Cache
	var fetches atomic.Int32
	release := make(chan struct{})
	now := time.Unix(1000, 0)
	fetch := func(context.Context) (string, time.Time, error) {
		fetches.Add(1)
		<-release
		return "tok1", now.Add(time.Minute), nil
	}
	var wg sync.WaitGroup
	got := make([]string, 5)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = c.Get(context.Background(), now, fetch)
		}()
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	for i, tok := range got {
		if tok != "tok1" {
			t.Errorf("caller %d got %q", i, tok)
		}
	}
	if tok, _ := c.Get(context.Background(), now.Add(59*time.Second), fetch); tok != "tok1" || fetches.Load() != 1 {
		t.Errorf("cached token: got %q after %d fetches", tok, fetches.Load())
	}
	if tok, _ := c.Get(context.Background(), now.Add(time.Minute), fetch); tok != "tok1" || fetches.Load() != 2 {
		t.Errorf("expired token: got %q after %d fetches, want a second fetch", tok, fetches.Load())
	}
}

func TestCacheInvalidateDropsOnlyThatToken(t *testing.T) {
	var c Cache
	now := time.Unix(1000, 0)
	n := 0
	fetch := func(context.Context) (string, time.Time, error) {
		n++
		return []string{"", "a", "b"}[n], now.Add(time.Hour), nil
	}
	if tok, _ := c.Get(context.Background(), now, fetch); tok != "a" {
		t.Fatalf("got %q", tok)
	}
	c.Invalidate("stale")
	if tok, _ := c.Get(context.Background(), now, fetch); tok != "a" {
		t.Errorf("after invalidating another token: got %q, want a", tok)
	}
	c.Invalidate("a")
	if tok, _ := c.Get(context.Background(), now, fetch); tok != "b" {
		t.Errorf("after invalidating it: got %q, want b", tok)
	}
}

func TestCacheCallerStopsWaitingWhenItsContextEnds(t *testing.T) {
	var c Cache
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Get(ctx, time.Now(), func(fctx context.Context) (string, time.Time, error) {
		<-release
		return "x", time.Now().Add(time.Hour), fctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestUsableUntil(t *testing.T) {
	now := time.Unix(0, 0)
	for _, tc := range []struct{ ttl, early, want time.Duration }{
		{time.Hour, 5 * time.Minute, 55 * time.Minute},
		{8 * time.Minute, 5 * time.Minute, 4 * time.Minute},
	} {
		if got := UsableUntil(now, tc.ttl, tc.early).Sub(now); got != tc.want {
			t.Errorf("UsableUntil(%v, %v) = now+%v, want now+%v", tc.ttl, tc.early, got, tc.want)
		}
	}
}

func TestErrorIsNotPlaced(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"timeout", context.DeadlineExceeded, gateway.ETIMEOUT},
		{"other", errors.New("boom"), gateway.EUNAVAILABLE},
		{"call error", &gateway.CallError{Fate: gateway.Unknown, Provider: "p", Err: gateway.Errorf(gateway.EUNAVAILABLE, "x")}, gateway.EUNAVAILABLE},
	} {
		var ce *gateway.CallError
		if err := Error("p", tc.err); !errors.As(err, &ce) || ce.Fate != gateway.NotPlaced || gateway.ErrorCode(err) != tc.code {
			t.Errorf("%s: Error = %v (%#v), want NotPlaced %s", tc.name, err, ce, tc.code)
		}
	}
}
