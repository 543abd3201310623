package breaker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/breaker"
	"github.com/safeconnection/gateway/mocks"
)

// fakeAdapter is a function-field fake with no optional capability.
type fakeAdapter struct {
	PlaceFn func(ctx context.Context, leg gateway.Leg) (gateway.Placement, error)
	calls   atomic.Int32
}

func (f *fakeAdapter) Channel() gateway.Channel { return gateway.Channel("zoom") }

func (f *fakeAdapter) Place(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
	f.calls.Add(1)
	return f.PlaceFn(ctx, leg)
}

// fullAdapter can hang up.
type fullAdapter struct {
	fakeAdapter
	hangups atomic.Int32
}

func (f *fullAdapter) HangUp(context.Context, gateway.Leg, gateway.Placement) error {
	f.hangups.Add(1)
	return nil
}

// Interface guards
var (
	_ gateway.Adapter = (*fakeAdapter)(nil)
	_ gateway.Hanger  = (*fullAdapter)(nil)
)

func fail(f gateway.Fate) func(context.Context, gateway.Leg) (gateway.Placement, error) {
	return func(context.Context, gateway.Leg) (gateway.Placement, error) {
		return gateway.Placement{}, &gateway.CallError{Fate: f, Provider: "zoom", Err: errors.New("boom")}
	}
}

func succeed(context.Context, gateway.Leg) (gateway.Placement, error) {
	return gateway.Placement{ProviderRef: "m_1"}, nil
}

func place(tb testing.TB, a gateway.Adapter) error {
	tb.Helper()
	_, err := a.Place(context.Background(), gateway.Leg{AttemptID: "a_1", Channel: gateway.Channel("zoom")})
	return err
}

func TestBreakerCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		outcomes []func(context.Context, gateway.Leg) (gateway.Placement, error)
		want     string
	}{
		{"five not placed open", repeat(fail(gateway.NotPlaced), 5), breaker.StateOpen},
		{"five unknown open", repeat(fail(gateway.Unknown), 5), breaker.StateOpen},
		{"four stay closed", repeat(fail(gateway.NotPlaced), 4), breaker.StateClosed},
		{"placed-failed does not count", repeat(fail(gateway.PlacedFailed), 20), breaker.StateClosed},
		{"a success resets", append(append(repeat(fail(gateway.NotPlaced), 4), succeed), repeat(fail(gateway.Unknown), 4)...), breaker.StateClosed},
		{"a placed-failed resets", append(append(repeat(fail(gateway.NotPlaced), 4), fail(gateway.PlacedFailed)), repeat(fail(gateway.Unknown), 4)...), breaker.StateClosed},
		{"plain errors count as unknown", repeat(func(context.Context, gateway.Leg) (gateway.Placement, error) {
			return gateway.Placement{}, errors.New("plain")
		}, 5), breaker.StateOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := breaker.New(breaker.Settings{Provider: "zoom"})
			inner := &fakeAdapter{}
			a := breaker.Wrap(inner, b)
			for _, o := range tt.outcomes {
				inner.PlaceFn = o
				_ = place(t, a)
			}
			if got := b.State(); got != tt.want {
				t.Errorf("state %q, want %q", got, tt.want)
			}
		})
	}
}

func repeat[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestBreakerOpenSkips(t *testing.T) {
	t.Parallel()
	b := breaker.New(breaker.Settings{Provider: "zoom"})
	inner := &fakeAdapter{PlaceFn: fail(gateway.NotPlaced)}
	a := breaker.Wrap(inner, b)
	for range 5 {
		_ = place(t, a)
	}
	err := place(t, a)
	var ce *gateway.CallError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	if ce.Fate != gateway.NotPlaced || !ce.Skipped || ce.Provider != "zoom" || ce.Err.Error() != "zoom breaker open" {
		t.Errorf("got %+v", ce)
	}
	if gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
		t.Errorf("code %q", gateway.ErrorCode(err))
	}
	if n := inner.calls.Load(); n != 5 {
		t.Errorf("inner called %d times, want 5 (not when open)", n)
	}
}

func TestBreakerSharedByProvider(t *testing.T) {
	t.Parallel()
	b := breaker.New(breaker.Settings{Provider: "twilio"})
	pstn := breaker.Wrap(&fakeAdapter{PlaceFn: fail(gateway.Unknown)}, b)
	video := &fakeAdapter{PlaceFn: succeed}
	webrtc := breaker.Wrap(video, b)
	for range 5 {
		_ = place(t, pstn)
	}
	if err := place(t, webrtc); gateway.FateOf(err) != gateway.NotPlaced {
		t.Errorf("second adapter of the provider: %v", err)
	}
	if video.calls.Load() != 0 {
		t.Error("the open breaker let a call through")
	}
}

func TestBreakerHalfOpen(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var changes []string
	const cooldown = 50 * time.Millisecond
	b := breaker.New(breaker.Settings{Provider: "zoom", ConsecutiveFailures: 2, Cooldown: cooldown,
		OnStateChange: func(p, from, to string) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, p+":"+from+">"+to)
		}})
	inner := &fakeAdapter{PlaceFn: fail(gateway.NotPlaced)}
	a := breaker.Wrap(inner, b)
	_, _ = place(t, a), place(t, a)
	if b.State() != breaker.StateOpen {
		t.Fatalf("state %q", b.State())
	}
	waitState(t, b, breaker.StateHalfOpen, 10*cooldown)

	// The probe fails: open again.
	if err := place(t, a); gateway.FateOf(err) != gateway.NotPlaced {
		t.Fatal(err)
	}
	if n := inner.calls.Load(); n != 3 {
		t.Fatalf("probe not sent: %d calls", n)
	}
	if b.State() != breaker.StateOpen {
		t.Fatalf("after a failed probe: %q", b.State())
	}
	waitState(t, b, breaker.StateHalfOpen, 10*cooldown)

	// One probe at a time: a second leg while the probe is in flight is skipped.
	release := make(chan struct{})
	started := make(chan struct{})
	inner.PlaceFn = func(context.Context, gateway.Leg) (gateway.Placement, error) {
		close(started)
		<-release
		return gateway.Placement{ProviderRef: "m"}, nil
	}
	probe := make(chan error, 1)
	go func() { probe <- place(t, a) }()
	<-started
	err := place(t, a)
	var ce *gateway.CallError
	if !errors.As(err, &ce) || !ce.Skipped {
		t.Errorf("second leg during the probe: %v", err)
	}
	close(release)
	if err := <-probe; err != nil {
		t.Fatal(err)
	}
	if b.State() != breaker.StateClosed {
		t.Errorf("after a good probe: %q", b.State())
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"zoom:closed>open", "zoom:open>half-open", "zoom:half-open>open", "zoom:open>half-open", "zoom:half-open>closed"}
	if len(changes) != len(want) {
		t.Fatalf("changes %v, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Errorf("change %d = %q, want %q", i, changes[i], want[i])
		}
	}
}

// waitState polls until b is in state, or fails after limit.
func waitState(tb testing.TB, b *breaker.Breaker, state string, limit time.Duration) {
	tb.Helper()
	end := time.Now().Add(limit)
	for b.State() != state {
		if time.Now().After(end) {
			tb.Fatalf("state %q after %v, want %q", b.State(), limit, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBreakerCancelledNotCounted(t *testing.T) {
	t.Parallel()
	b := breaker.New(breaker.Settings{Provider: "zoom", ConsecutiveFailures: 1})
	a := breaker.Wrap(&fakeAdapter{PlaceFn: func(ctx context.Context, _ gateway.Leg) (gateway.Placement, error) {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.Unknown, Err: ctx.Err()}
	}}, b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = a.Place(ctx, gateway.Leg{})
	if b.State() != breaker.StateClosed {
		t.Errorf("a leg we withdrew opened the breaker")
	}
}

func TestWrapCapabilities(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		inner  gateway.Adapter
		hanger bool
	}{
		{"none", &fakeAdapter{PlaceFn: succeed}, false},
		{"hanger (mocks.Adapter)", &mocks.Adapter{
			ChannelFn: func() gateway.Channel { return gateway.Channel("zoom") },
			PlaceFn:   succeed,
			HangUpFn:  func(context.Context, gateway.Leg, gateway.Placement) error { return nil },
		}, true},
		{"hanger", &fullAdapter{fakeAdapter: fakeAdapter{PlaceFn: succeed}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := breaker.Wrap(tt.inner, breaker.New(breaker.Settings{Provider: "zoom"}))
			h, isH := a.(gateway.Hanger)
			if isH != tt.hanger {
				t.Fatalf("capability hanger=%v, want %v", isH, tt.hanger)
			}
			if a.Channel() != gateway.Channel("zoom") {
				t.Errorf("channel %q", a.Channel())
			}
			if p, err := a.Place(context.Background(), gateway.Leg{}); err != nil || p.ProviderRef != "m_1" {
				t.Errorf("place: %+v %v", p, err)
			}
			if isH {
				if err := h.HangUp(context.Background(), gateway.Leg{}, gateway.Placement{}); err != nil {
					t.Error(err)
				}
			}
			u, ok := a.(interface{ Unwrap() gateway.Adapter })
			if !ok || u.Unwrap() != tt.inner {
				t.Error("Unwrap does not give the inner adapter")
			}
		})
	}
}

func TestHangUpWhileOpen(t *testing.T) {
	t.Parallel()
	inner := &fullAdapter{fakeAdapter: fakeAdapter{PlaceFn: fail(gateway.Unknown)}}
	b := breaker.New(breaker.Settings{Provider: "zoom", ConsecutiveFailures: 1})
	a := breaker.Wrap(inner, b)
	_ = place(t, a)
	if b.State() != breaker.StateOpen {
		t.Fatal("not open")
	}
	if err := a.(gateway.Hanger).HangUp(context.Background(), gateway.Leg{}, gateway.Placement{ProviderRef: "m"}); err != nil {
		t.Fatal(err)
	}
	if inner.hangups.Load() != 1 {
		t.Error("hang-up not passed through an open breaker")
	}
}
