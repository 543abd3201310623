package mocks_test

import (
	"context"
	"errors"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/mocks"
)

func TestAdapterCallsItsFunctions(t *testing.T) {
	var hungUp gateway.Placement
	a := &mocks.Adapter{
		ChannelFn: func() gateway.Channel { return gateway.Channel("zoom") },
		PlaceFn: func(_ context.Context, leg gateway.Leg) (gateway.Placement, error) {
			return gateway.Placement{ProviderRef: "ref-" + leg.AttemptID}, nil
		},
		HangUpFn: func(_ context.Context, _ gateway.Leg, p gateway.Placement) error {
			hungUp = p
			return &gateway.CallError{Fate: gateway.NotPlaced}
		},
	}
	if got := a.Channel(); got != gateway.Channel("zoom") {
		t.Errorf("Channel() = %q, want zoom", got)
	}
	p, err := a.Place(context.Background(), gateway.Leg{AttemptID: "a_1"})
	if err != nil || p.ProviderRef != "ref-a_1" {
		t.Errorf("Place() = %+v, %v; want ref-a_1, nil", p, err)
	}
	err = a.HangUp(context.Background(), gateway.Leg{}, p)
	if gateway.FateOf(err) != gateway.NotPlaced || hungUp != p {
		t.Errorf("HangUp() = %v (hung up %+v); want not_placed for %+v", err, hungUp, p)
	}
}

func TestUnsetFunctionPanicsNamingIt(t *testing.T) {
	tests := []struct {
		name string
		call func()
		want string
	}{
		{"adapter place", func() { (&mocks.Adapter{}).Place(context.Background(), gateway.Leg{}) }, "mocks.Adapter: PlaceFn not set"},
		{"adapter hang up", func() { (&mocks.Adapter{}).HangUp(context.Background(), gateway.Leg{}, gateway.Placement{}) }, "mocks.Adapter: HangUpFn not set"},
		{"reporter", func() { (&mocks.Reporter{}).Report(context.Background(), gateway.Report{}) }, "mocks.Reporter: ReportFn not set"},
		{"router cancel", func() { (&mocks.Router{}).Cancel(context.Background(), "v", "t") }, "mocks.Router: CancelFn not set"},
		{"claims claim", func() { (&mocks.Claims{}).Claim(context.Background(), gateway.ClaimRequest{}) }, "mocks.Claims: ClaimFn not set"},
		{"record transition", func() { (&mocks.Record{}).Transition(context.Background(), "v", gateway.Transition{}) }, "mocks.Record: TransitionFn not set"},
		{"owners own", func() { (&mocks.Owners{}).Own(context.Background(), "v", "i", 0) }, "mocks.Owners: OwnFn not set"},
		{"bus subscribe", func() { (&mocks.Bus{}).Subscribe("t") }, "mocks.Bus: SubscribeFn not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if got := recover(); got != tt.want {
					t.Errorf("panic = %v, want %q", got, tt.want)
				}
			}()
			tt.call()
		})
	}
}

func TestRouterAndReporterPassErrorsThrough(t *testing.T) {
	want := gateway.Errorf(gateway.ENOTFOUND, "no attempt")
	rep := &mocks.Reporter{ReportFn: func(context.Context, gateway.Report) error { return want }}
	if err := rep.Report(context.Background(), gateway.Report{}); !errors.Is(err, want) {
		t.Errorf("Reporter.Report() = %v, want %v", err, want)
	}
	r := &mocks.Router{
		RequestFn: func(_ context.Context, req gateway.Request) (gateway.Verification, bool, error) {
			return gateway.Verification{RequestedBy: req.RequestedBy}, true, nil
		},
		RecordOutcomeFn: func(context.Context, string, gateway.Outcome) (gateway.Verification, error) {
			return gateway.Verification{}, gateway.Errorf(gateway.ECONFLICT, "not connected")
		},
	}
	v, created, err := r.Request(context.Background(), gateway.Request{RequestedBy: "t_1"})
	if err != nil || !created || v.RequestedBy != "t_1" {
		t.Errorf("Request() = %+v, %v, %v", v, created, err)
	}
	if _, err := r.RecordOutcome(context.Background(), "v", gateway.Outcome{}); gateway.ErrorCode(err) != gateway.ECONFLICT {
		t.Errorf("RecordOutcome() code = %q, want conflict", gateway.ErrorCode(err))
	}
}
