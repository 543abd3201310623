// Package breaker puts a circuit breaker (github.com/sony/gobreaker/v2) in
// front of provider adapters, one breaker per provider: once a provider has
// failed a number of legs in a row, its adapters refuse at once, without
// calling it, until a cooldown has passed; then one probe leg goes through,
// and its outcome closes the breaker or opens it again.
//
// Only failures that speak of the provider's health count: NotPlaced and
// Unknown. PlacedFailed (the provider placed the leg and the far end
// rejected it, or the handle was bad) counts as a success, and a leg the
// caller itself cancelled counts as nothing.
//
//	zoom := breaker.New(breaker.Settings{Provider: "zoom"})
//	router.Register(breaker.Wrap(zoomAdapter, zoom))
package breaker

import (
	"context"
	"errors"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/safeconnection/gateway"
)

// Defaults of Settings.
const (
	DefaultConsecutiveFailures = 5
	DefaultCooldown            = 30 * time.Second
)

// The states State returns.
const (
	StateClosed   = "closed"
	StateHalfOpen = "half-open"
	StateOpen     = "open"
)

// Settings configure a Breaker.
type Settings struct {
	// Provider names the provider ("zoom", "twilio"), for errors and hooks.
	Provider string
	// ConsecutiveFailures is how many counted failures in a row open the
	// breaker. Default 5.
	ConsecutiveFailures uint32
	// Cooldown is how long the breaker stays open before it lets a probe
	// through. Default 30 s.
	Cooldown time.Duration
	// OnStateChange, if set, is called (synchronously, under the breaker's
	// lock: keep it short and do not call the breaker from it) on every
	// change of state, with the states named as State names them. Use it
	// for metrics and logs.
	OnStateChange func(provider, from, to string)
}

// Breaker is one provider's circuit breaker, shared by all the adapters that
// use that provider. It is safe for concurrent use.
type Breaker struct {
	provider string
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
}

// New returns a closed Breaker with settings s (zero fields take defaults).
func New(s Settings) *Breaker {
	if s.ConsecutiveFailures == 0 {
		s.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if s.Cooldown <= 0 {
		s.Cooldown = DefaultCooldown
	}
	n := s.ConsecutiveFailures
	st := gobreaker.Settings{
		Name:        s.Provider,
		MaxRequests: 1, // one probe when half-open
		Timeout:     s.Cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= n },
		IsSuccessful: func(err error) bool {
			return err == nil || gateway.FateOf(err) == gateway.PlacedFailed
		},
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
	}
	if hook := s.OnStateChange; hook != nil {
		st.OnStateChange = func(name string, from, to gobreaker.State) {
			hook(name, stateName(from), stateName(to))
		}
	}
	return &Breaker{provider: s.Provider, cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](st)}
}

// Provider returns the provider the breaker guards.
func (b *Breaker) Provider() string { return b.provider }

// State returns "closed", "half-open" or "open".
func (b *Breaker) State() string { return stateName(b.cb.State()) }

func stateName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateClosed:
		return StateClosed
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	case gobreaker.StateOpen:
		return StateOpen
	}
	return s.String()
}

// Do runs call through the breaker: at once a skipped NotPlaced
// *gateway.CallError when the breaker is open (or half-open with its probe
// in flight), otherwise call's error, which is counted.
func (b *Breaker) Do(ctx context.Context, call func(ctx context.Context) error) error {
	done, err := b.cb.Allow()
	if err != nil {
		msg := b.provider + " breaker open"
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			msg = b.provider + " breaker half-open, its probe is in flight"
		}
		return &gateway.CallError{Fate: gateway.NotPlaced, Skipped: true, Provider: b.provider,
			Err: gateway.Errorf(gateway.EUNAVAILABLE, "%s", msg)}
	}
	err = call(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) && gateway.FateOf(err) != gateway.PlacedFailed {
		done(context.Canceled) // our caller withdrew the leg: not the provider's fault
		return err
	}
	done(err)
	return err
}

// Adapter is a gateway.Adapter behind a Breaker.
type Adapter struct {
	inner   gateway.Adapter
	breaker *Breaker
}

// Wrap puts inner behind b. The result is an *Adapter, or, when inner can
// hang up (gateway.Hanger), a value that embeds *Adapter and hangs up
// through inner, so that the router's type assertion finds what inner can
// do, and nothing else. A hang-up goes straight to inner: it must be tried
// even when the breaker is open.
func Wrap(inner gateway.Adapter, b *Breaker) gateway.Adapter {
	a := &Adapter{inner: inner, breaker: b}
	if h, ok := inner.(gateway.Hanger); ok {
		return struct {
			*Adapter
			hanger
		}{a, hanger{h}}
	}
	return a
}

// Channel returns the inner adapter's channel.
func (a *Adapter) Channel() gateway.Channel { return a.inner.Channel() }

// Place places the leg through the inner adapter unless the breaker is
// open: then it returns at once a *gateway.CallError with Fate NotPlaced and
// Skipped set ("zoom breaker open", code EUNAVAILABLE). Otherwise it returns
// the inner adapter's result, and counts its failure if its fate is
// NotPlaced or Unknown.
func (a *Adapter) Place(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
	var p gateway.Placement
	err := a.breaker.Do(ctx, func(ctx context.Context) error {
		var err error
		p, err = a.inner.Place(ctx, leg)
		return err
	})
	return p, err
}

// Unwrap returns the inner adapter.
func (a *Adapter) Unwrap() gateway.Adapter { return a.inner }

// Breaker returns the breaker in front of the adapter.
func (a *Adapter) Breaker() *Breaker { return a.breaker }

type hanger struct{ h gateway.Hanger }

// HangUp hangs up through the inner adapter, whatever the breaker's state.
func (x hanger) HangUp(ctx context.Context, leg gateway.Leg, p gateway.Placement) error {
	return x.h.HangUp(ctx, leg, p)
}

// Interface guards
var (
	_ gateway.Adapter = (*Adapter)(nil)
	_ gateway.Hanger  = hanger{}
)
