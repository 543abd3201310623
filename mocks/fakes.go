// Package mocks holds test doubles of the gateway: wire-level fake provider
// servers (one package each), a simulated device agent (mocks/agent), and,
// here, in-process fakes of the domain interfaces as structs of function
// fields. A fake's method calls its function field; calling a method whose
// field is nil panics with a message that names the field, since the test
// did not expect that call.
package mocks

import (
	"context"

	"github.com/safeconnection/gateway"
)

// Adapter is a fake gateway.Adapter that can also hang up.
type Adapter struct {
	ChannelFn func() gateway.Channel
	PlaceFn   func(ctx context.Context, leg gateway.Leg) (gateway.Placement, error)
	HangUpFn  func(ctx context.Context, leg gateway.Leg, p gateway.Placement) error
}

// Channel calls ChannelFn.
func (a *Adapter) Channel() gateway.Channel {
	if a.ChannelFn == nil {
		panic("mocks.Adapter: ChannelFn not set")
	}
	return a.ChannelFn()
}

// Place calls PlaceFn.
func (a *Adapter) Place(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
	if a.PlaceFn == nil {
		panic("mocks.Adapter: PlaceFn not set")
	}
	return a.PlaceFn(ctx, leg)
}

// HangUp calls HangUpFn.
func (a *Adapter) HangUp(ctx context.Context, leg gateway.Leg, p gateway.Placement) error {
	if a.HangUpFn == nil {
		panic("mocks.Adapter: HangUpFn not set")
	}
	return a.HangUpFn(ctx, leg, p)
}

// Reporter is a fake gateway.Reporter.
type Reporter struct {
	ReportFn func(ctx context.Context, r gateway.Report) error
}

// Report calls ReportFn.
func (r *Reporter) Report(ctx context.Context, rep gateway.Report) error {
	if r.ReportFn == nil {
		panic("mocks.Reporter: ReportFn not set")
	}
	return r.ReportFn(ctx, rep)
}

// Router is a fake of the routing core as the HTTP layer sees it (it
// satisfies httpapi.Router).
type Router struct {
	RequestFn       func(ctx context.Context, req gateway.Request) (gateway.Verification, bool, error)
	CancelFn        func(ctx context.Context, id, by string) (gateway.Verification, error)
	RecordOutcomeFn func(ctx context.Context, id string, o gateway.Outcome) (gateway.Verification, error)
	JoinedFn        func(ctx context.Context, id string) error
	ReportFn        func(ctx context.Context, r gateway.Report) error
}

// Joined calls JoinedFn.
func (r *Router) Joined(ctx context.Context, id string) error {
	if r.JoinedFn == nil {
		panic("mocks.Router: JoinedFn not set")
	}
	return r.JoinedFn(ctx, id)
}

// Request calls RequestFn.
func (r *Router) Request(ctx context.Context, req gateway.Request) (gateway.Verification, bool, error) {
	if r.RequestFn == nil {
		panic("mocks.Router: RequestFn not set")
	}
	return r.RequestFn(ctx, req)
}

// Cancel calls CancelFn.
func (r *Router) Cancel(ctx context.Context, id, by string) (gateway.Verification, error) {
	if r.CancelFn == nil {
		panic("mocks.Router: CancelFn not set")
	}
	return r.CancelFn(ctx, id, by)
}

// RecordOutcome calls RecordOutcomeFn.
func (r *Router) RecordOutcome(ctx context.Context, id string, o gateway.Outcome) (gateway.Verification, error) {
	if r.RecordOutcomeFn == nil {
		panic("mocks.Router: RecordOutcomeFn not set")
	}
	return r.RecordOutcomeFn(ctx, id, o)
}

// Report calls ReportFn.
func (r *Router) Report(ctx context.Context, rep gateway.Report) error {
	if r.ReportFn == nil {
		panic("mocks.Router: ReportFn not set")
	}
	return r.ReportFn(ctx, rep)
}

// Interface guards
var (
	_ gateway.Adapter  = (*Adapter)(nil)
	_ gateway.Hanger   = (*Adapter)(nil)
	_ gateway.Reporter = (*Reporter)(nil)
	_ gateway.Reporter = (*Router)(nil)
)
