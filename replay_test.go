package gateway_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// keys is an in-memory ReplayStore; fail, when set, is every call's error.
type keys struct {
	mu   sync.Mutex
	seen map[string]bool
	fail error
}

func (k *keys) Remember(_ context.Context, key string, _ time.Duration) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return false, k.fail
	}
	if k.seen[key] {
		return false, nil
	}
	if k.seen == nil {
		k.seen = map[string]bool{}
	}
	k.seen[key] = true
	return true, nil
}

func (k *keys) Forget(_ context.Context, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.seen, key)
	return nil
}

// reports is a Reporter that counts its reports and returns err.
type reports struct {
	n   int
	err error
}

func (r *reports) Report(context.Context, gateway.Report) error {
	r.n++
	return r.err
}

func TestReportOnce(t *testing.T) {
	ctx := context.Background()
	rep := gateway.Report{Status: gateway.ReportAnswered}
	mem := &keys{}
	to := &reports{}
	once := func(ks ...string) gateway.Reporter { return gateway.ReportOnce(to, mem, time.Hour, ks...) }

	if err := once("token-1", "hash-1").Report(ctx, rep); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	// The same content under another token (the header is not signed) and
	// the same token with other content are both replays.
	for _, ks := range [][]string{{"token-1", "hash-1"}, {"token-2", "hash-1"}, {"token-1", "hash-2"}} {
		if err := once(ks...).Report(ctx, rep); !errors.Is(err, gateway.ErrReplay) {
			t.Errorf("delivery %v: %v, want ErrReplay", ks, err)
		}
	}
	if to.n != 1 {
		t.Fatalf("reported %d times, want once", to.n)
	}

	// A failed report forgets its keys: the provider's next delivery is
	// reported.
	to.err = gateway.Errorf(gateway.EUNAVAILABLE, "down")
	if err := once("token-3", "hash-3").Report(ctx, rep); gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
		t.Fatalf("failed report: %v", err)
	}
	to.err = nil
	if err := once("token-3", "hash-3").Report(ctx, rep); err != nil {
		t.Fatalf("delivery after a failed report: %v", err)
	}
	if to.n != 3 {
		t.Fatalf("reported %d times, want 3", to.n)
	}

	// A store that cannot remember: nothing reported, its code returned.
	mem.fail = gateway.Errorf(gateway.EUNAVAILABLE, "read-only")
	if err := once("token-4").Report(ctx, rep); gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
		t.Fatalf("remember failed: %v, want unavailable", err)
	}
	if to.n != 3 {
		t.Fatal("reported although the key could not be remembered")
	}
	mem.fail = nil

	// No store, or no key: the reporter itself.
	if got := gateway.ReportOnce(to, nil, time.Hour, "k"); got != gateway.Reporter(to) {
		t.Error("nil replays: not the reporter itself")
	}
	if got := gateway.ReportOnce(to, mem, time.Hour, ""); got != gateway.Reporter(to) {
		t.Error("no key: not the reporter itself")
	}
}

// Interface guards
var (
	_ gateway.ReplayStore = (*keys)(nil)
	_ gateway.Reporter    = (*reports)(nil)
)
