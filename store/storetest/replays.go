package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// testReplays: a webhook key is first once within its ttl, a replay after,
// first again once forgotten or expired, and exactly one of concurrent
// callers with one key is first.
func testReplays(t *testing.T, s gateway.Store) {
	c := ctx(t)
	remember := func(key string, ttl time.Duration) bool {
		t.Helper()
		first, err := s.Remember(c, key, ttl)
		must(t, err)
		return first
	}
	if !remember("twilio:tok-1", time.Hour) {
		t.Fatal("a new key: first = false")
	}
	if remember("twilio:tok-1", time.Hour) {
		t.Fatal("the same key again: first = true, want a replay")
	}
	if !remember("twilio:tok-2", time.Hour) {
		t.Fatal("another key: first = false")
	}

	// Forgotten: first again (a delivery that could not be acted on).
	must(t, s.Forget(c, "twilio:tok-2"))
	if !remember("twilio:tok-2", time.Hour) {
		t.Fatal("a forgotten key: first = false")
	}
	must(t, s.Forget(c, "never-seen"))

	// Expired: first again, and remembered anew.
	const short = 300 * time.Millisecond
	if !remember("zoom:1", short) {
		t.Fatal("a new short key: first = false")
	}
	if remember("zoom:1", short) {
		t.Fatal("a short key within its ttl: first = true")
	}
	time.Sleep(short + 200*time.Millisecond)
	if !remember("zoom:1", time.Hour) {
		t.Fatal("a key past its ttl: first = false")
	}
	if remember("zoom:1", time.Hour) {
		t.Fatal("a key remembered again after expiry: first = true on its replay")
	}
	// The long key outlived the sweep of the expired one.
	if remember("twilio:tok-1", time.Hour) {
		t.Fatal("a live key was swept with an expired one")
	}

	_, err := s.Remember(c, "", time.Hour)
	wantCode(t, err, gateway.EINVALID)
	_, err = s.Remember(c, "k", 0)
	wantCode(t, err, gateway.EINVALID)

	// Concurrent deliveries of one key: exactly one is first.
	const n = 20
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		firsts int
		errs   []error
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			first, err := s.Remember(c, "twilio:concurrent", time.Hour)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if first {
				firsts++
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent Remember: %v", errs)
	}
	if firsts != 1 {
		t.Fatalf("%d of %d concurrent callers were first, want exactly 1", firsts, n)
	}
}
