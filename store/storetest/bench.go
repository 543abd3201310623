package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// The claim benchmarks, shared by the stores so that their figures compare
// step for step. open returns a fresh, empty store closed when b ends.

// benchStore opens a store with n fresh devices in room r1.
func benchStore(b *testing.B, open func(testing.TB) gateway.Store, n int) gateway.Store {
	b.Helper()
	ctx := context.Background()
	s := open(b)
	for i := range n {
		id := fmt.Sprintf("d%03d", i)
		if _, err := s.CreateDevice(ctx, gateway.Device{ID: id, RoomID: "r1", Number: "+447700900123",
			Handles: map[gateway.Channel]string{gateway.Channel("facetime"): id + "@example.org"}}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Heartbeat(ctx, id, 90, []gateway.Channel{gateway.Channel("facetime")}); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func benchClaim(holder string) gateway.ClaimRequest {
	return gateway.ClaimRequest{RoomIDs: []string{"r1"}, Channel: gateway.Channel("facetime"), Holder: holder,
		TTL: time.Minute, Stale: time.Minute}
}

// BenchClaimRelease claims a device and releases it, one caller, and
// reports claims per second.
func BenchClaimRelease(b *testing.B, open func(testing.TB) gateway.Store) {
	ctx := context.Background()
	s := benchStore(b, open, 10)
	req := benchClaim("v_bench")
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		l, _, err := s.Claim(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Release(ctx, l, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "claims/s")
}

// BenchClaimContention has 1,000 goroutines claim 10 devices, each
// releasing at once, and waiting for a release on the bus when none is free,
// until b.N claims have been made. It reports claims per second and the
// claims that found no free device, and checks from the history that no
// device was ever held twice. It returns the store, for a store's own
// checks.
func BenchClaimContention(b *testing.B, open func(testing.TB) gateway.Store) gateway.Store {
	const claimers = 1000
	ctx := context.Background()
	s := benchStore(b, open, 10)

	var (
		tickets atomic.Int64 // claims still to make
		busy    atomic.Int64 // claims that found no free device
		mu      sync.Mutex
		held    = map[string]bool{}
		wg      sync.WaitGroup
	)
	tickets.Store(int64(b.N))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for w := range claimers {
		wg.Go(func() {
			req := benchClaim(fmt.Sprintf("v%04d", w))
			// As the router does with a queued verification: wait for
			// a device to come free, or a while, and try again.
			freed, cancel := s.Subscribe(gateway.TopicDevices)
			defer cancel()
			for tickets.Add(-1) >= 0 {
				for {
					l, _, err := s.Claim(ctx, req)
					if gateway.ErrorCode(err) == gateway.EUNAVAILABLE {
						busy.Add(1)
						select {
						case <-freed:
							drain(freed) // one try for a burst of releases
						case <-time.After(time.Duration(50+rand.IntN(50)) * time.Millisecond):
						}
						continue
					}
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					if held[l.DeviceID] {
						b.Errorf("double claim of %s (fence %d)", l.DeviceID, l.Fence)
					}
					held[l.DeviceID] = true
					mu.Unlock()
					mu.Lock()
					delete(held, l.DeviceID)
					mu.Unlock()
					if err := s.Release(ctx, l, ""); err != nil {
						b.Error(err)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "claims/s")
	b.ReportMetric(float64(busy.Load())/float64(b.N), "busy/claim")

	h, err := s.ClaimHistory(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	if len(h) != b.N {
		b.Fatalf("history holds %d claims, want %d", len(h), b.N)
	}
	CheckHistory(b, h)
	return s
}

// drain empties ch without waiting.
func drain(ch <-chan string) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// BenchClose creates a verification and closes it (verified, with an
// outcome), one caller: with a store that writes the outbox, the close
// writes its entry in the same transaction.
func BenchClose(b *testing.B, open func(testing.TB) gateway.Store) {
	ctx := context.Background()
	s := open(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("v_close_%d", i)
		if _, _, err := s.CreateVerification(ctx, gateway.Verification{ID: id, Reference: gateway.NewReference(), RoomID: "r1",
			RequestedBy: "t_bench", Officer: gateway.Officer{Collar: "PC 1", Force: "met"}}, "",
			gateway.Event{Type: gateway.EventState, Message: "requested"}); err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.Transition(ctx, id, gateway.Transition{To: gateway.StateVerified, Set: func(v *gateway.Verification) {
			v.Channel = "facetime"
			v.Outcome = &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 1", At: time.Now().UTC()}
		}, Event: gateway.Event{Type: gateway.EventOutcome, Message: "verified"}}); err != nil {
			b.Fatal(err)
		}
	}
}
