package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// deskStore is the router's DeskStore (router.DeskStore), which every store
// implements; the suite names it here, as the store may not import the
// router.
type deskStore interface {
	ClaimDesk(ctx context.Context, roomID string, lines int, holder string, ttl time.Duration) (gateway.DeskLease, error)
	RenewDesk(ctx context.Context, l gateway.DeskLease, ttl time.Duration) (gateway.DeskLease, error)
	ReleaseDesk(ctx context.Context, l gateway.DeskLease) error
}

func desks(t testing.TB, s gateway.Store) deskStore {
	t.Helper()
	d, ok := s.(deskStore)
	if !ok {
		t.Fatalf("%T does not lease desk lines (ClaimDesk, RenewDesk, ReleaseDesk)", s)
	}
	return d
}

func mustClaimDesk(t testing.TB, d deskStore, room string, lines int, holder string, ttl time.Duration) gateway.DeskLease {
	t.Helper()
	l, err := d.ClaimDesk(ctx(t), room, lines, holder, ttl)
	if err != nil {
		t.Fatalf("ClaimDesk %s (%d lines) for %s: %v", room, lines, holder, err)
	}
	return l
}

// testDeskLeases: a desk's lines are held one holder each, per room, until
// released or expired; a stale lease can neither renew nor release a newer
// claim.
func testDeskLeases(t *testing.T, s gateway.Store) {
	c := ctx(t)
	d := desks(t, s)
	before := now(t, s)
	l1 := mustClaimDesk(t, d, "r1", 2, "v1", time.Minute)
	after := now(t, s)
	if l1.RoomID != "r1" || l1.Line != 0 || l1.Holder != "v1" {
		t.Fatalf("first claim = %+v, want line 0 of r1 held by v1", l1)
	}
	wantBetween(t, "ClaimedAt", l1.ClaimedAt, before, after)
	wantBetween(t, "ExpiresAt", l1.ExpiresAt, before.Add(time.Minute), after.Add(time.Minute))
	l2 := mustClaimDesk(t, d, "r1", 2, "v2", time.Minute)
	if l2.Line != 1 {
		t.Fatalf("second claim = %+v, want line 1", l2)
	}
	_, err := d.ClaimDesk(c, "r1", 2, "v3", time.Minute)
	wantCode(t, err, gateway.EUNAVAILABLE)
	// Another room's desk is its own.
	if o := mustClaimDesk(t, d, "r2", 1, "v3", time.Minute); o.Line != 0 || o.RoomID != "r2" {
		t.Fatalf("claim in r2 = %+v, want line 0 of r2", o)
	}

	r, err := d.RenewDesk(c, l1, 2*time.Minute)
	must(t, err)
	if !r.ExpiresAt.After(l1.ExpiresAt) || r.Fence != l1.Fence {
		t.Fatalf("renewed %+v, want the same fence expiring after %v", r, l1.ExpiresAt)
	}
	must(t, d.ReleaseDesk(c, l1))
	wantCode(t, d.ReleaseDesk(c, l1), gateway.ECONFLICT)
	_, err = d.RenewDesk(c, l1, time.Minute)
	wantCode(t, err, gateway.ECONFLICT)

	// The freed line goes to the next claim, with a higher fence; the old
	// lease cannot free it.
	l3 := mustClaimDesk(t, d, "r1", 2, "v3", time.Minute)
	if l3.Line != 0 || l3.Fence <= l1.Fence {
		t.Fatalf("claim after release = %+v, want line 0 with a fence above %d", l3, l1.Fence)
	}
	wantCode(t, d.ReleaseDesk(c, l1), gateway.ECONFLICT)
	wrong := l3
	wrong.Holder = "v1"
	wantCode(t, d.ReleaseDesk(c, wrong), gateway.ECONFLICT)

	// A holder that stops frees its line by not renewing it.
	short := mustClaimDesk(t, d, "r3", 1, "v4", 300*time.Millisecond)
	_, err = d.ClaimDesk(c, "r3", 1, "v5", time.Minute)
	wantCode(t, err, gateway.EUNAVAILABLE)
	waitPast(t, s, short.ExpiresAt)
	_, err = d.RenewDesk(c, short, time.Minute)
	wantCode(t, err, gateway.ECONFLICT)
	if l := mustClaimDesk(t, d, "r3", 1, "v5", time.Minute); l.Fence <= short.Fence || l.Holder != "v5" {
		t.Fatalf("claim after expiry = %+v, want v5 with a fence above %d", l, short.Fence)
	}
	wantCode(t, d.ReleaseDesk(c, short), gateway.ECONFLICT)

	for _, bad := range []struct {
		room, holder string
		lines        int
		ttl          time.Duration
	}{{"", "v", 1, time.Minute}, {"r", "", 1, time.Minute}, {"r", "v", 0, time.Minute}, {"r", "v", 1, 0}} {
		_, err := d.ClaimDesk(c, bad.room, bad.lines, bad.holder, bad.ttl)
		wantCode(t, err, gateway.EINVALID)
	}
}

// testDeskConcurrency: 50 goroutines contend for a one-line desk, each
// claiming, holding it a moment and releasing, again and again: exactly one
// holds it at a time, and every goroutine gets it in the end.
func testDeskConcurrency(t *testing.T, s gateway.Store) {
	c, d := ctx(t), desks(t, s)
	const workers = 50
	var (
		holding atomic.Int32
		most    atomic.Int32
		claims  atomic.Int32
		wg      sync.WaitGroup
	)
	errs := make(chan error, workers)
	deadline := time.Now().Add(20 * time.Second)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := fmt.Sprintf("v%d", i)
			for {
				l, err := d.ClaimDesk(c, "r1", 1, holder, time.Minute)
				if gateway.ErrorCode(err) == gateway.EUNAVAILABLE {
					if time.Now().After(deadline) {
						errs <- fmt.Errorf("%s never got the desk", holder)
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				n := holding.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				claims.Add(1)
				time.Sleep(time.Millisecond)
				holding.Add(-1)
				if err := d.ReleaseDesk(c, l); err != nil {
					errs <- fmt.Errorf("%s release: %w", holder, err)
				}
				return
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if m := most.Load(); m != 1 {
		t.Errorf("%d holders at once of a one-line desk, want 1", m)
	}
	if n := claims.Load(); n != workers {
		t.Errorf("%d claims succeeded, want %d (one each)", n, workers)
	}
}
