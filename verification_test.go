package gateway_test

import (
	"strings"
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
		{gateway.Verification{State: gateway.StateFailed, Origin: gateway.OriginOfficer}, true},
		{gateway.Verification{State: gateway.StateFailed, Origin: gateway.OriginPublic}, false},
	} {
		if got := tc.v.NeverConnected(); got != tc.want {
			t.Errorf("%+v: NeverConnected = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestMaskCaller(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"+447700900123", "•••••••123"},
		{"+15551234", "•••••••234"},
		{"020 7946 0456", "•••••••456"},
		{"anonymous", ""},
		{"+12", ""},
		{"", ""},
	} {
		if got := gateway.MaskCaller(tt.in); got != tt.want {
			t.Errorf("MaskCaller(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHashCaller(t *testing.T) {
	a := gateway.HashCaller([]byte("k1"), "+447700900123")
	if len(a) != 64 || strings.Contains(a, "447700900123") {
		t.Fatalf("hash %q: want 64 hex digits that do not hold the number", a)
	}
	if b := gateway.HashCaller([]byte("k1"), "+447700900123"); b != a {
		t.Errorf("same key and number: %q then %q", a, b)
	}
	if b := gateway.HashCaller([]byte("k2"), "+447700900123"); b == a {
		t.Error("another key gave the same hash")
	}
	if b := gateway.HashCaller([]byte("k1"), "+447700900124"); b == a {
		t.Error("another number gave the same hash")
	}
	if gateway.HashCaller(nil, "+447700900123") != "" || gateway.HashCaller([]byte("k1"), "") != "" {
		t.Error("no key or no number must give no hash")
	}
}
