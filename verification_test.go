package gateway_test

import (
	"testing"

	"github.com/safeconnection/gateway"
)

func TestNeverConnected(t *testing.T) {
	for _, tc := range []struct {
		v    gateway.Verification
		want bool
	}{
		{gateway.Verification{State: gateway.StateFailed}, true},
		{gateway.Verification{State: gateway.StateCancelled, Attempts: []gateway.Attempt{{Result: gateway.ResultNoAnswer}}}, true},
		{gateway.Verification{State: gateway.StateCancelled, Attempts: []gateway.Attempt{{Result: gateway.ResultConnected}}}, false},
		{gateway.Verification{State: gateway.StateCancelled, Channel: "zoom"}, false},
		{gateway.Verification{State: gateway.StateVerified, Channel: "zoom"}, false},
		{gateway.Verification{State: gateway.StateRouting}, false},
		{gateway.Verification{State: gateway.StateQueued}, false},
	} {
		if got := tc.v.NeverConnected(); got != tc.want {
			t.Errorf("%+v: NeverConnected = %v, want %v", tc.v, got, tc.want)
		}
	}
}
