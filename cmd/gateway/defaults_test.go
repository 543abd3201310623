package main

import (
	"testing"
	"time"

	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/router"
)

// TestConfigDefaultsAreRouterDefaults fails when a timing's default in
// config differs from router.New's: the router's defaults are the one
// source, and an unset GATEWAY_* variable must leave the router as New
// made it.
func TestConfigDefaultsAreRouterDefaults(t *testing.T) {
	cfg, err := config.Process(nil)
	if err != nil {
		t.Fatalf("config.Process(nil): %v", err)
	}
	r := router.New(nil, nil)
	for _, tt := range []struct {
		name        string
		cfg, router time.Duration
	}{
		{"RING_TIMEOUT", cfg.RingTimeout, r.RingTimeout},
		{"BUDGET", cfg.Budget, r.Budget},
		{"LEASE_TTL", cfg.LeaseTTL, r.LeaseTTL},
		{"HEARTBEAT_STALE", cfg.HeartbeatStale, r.HeartbeatStale},
		{"SWEEP_INTERVAL", cfg.SweepInterval, r.SweepInterval},
		{"RETRY_MIN", cfg.RetryMin, r.Policy.RetryMin},
		{"RETRY_MAX", cfg.RetryMax, r.Policy.RetryMax},
		{"MAX_CALL", cfg.MaxCall, r.MaxCall},
		{"OWNER_TTL", cfg.OwnerTTL, r.OwnerTTL},
		{"REPORT_GRACE", cfg.ReportGrace, r.ReportGrace},
	} {
		if tt.cfg != tt.router {
			t.Errorf("GATEWAY_%s defaults to %s, router.New to %s", tt.name, tt.cfg, tt.router)
		}
	}
	if cfg.DeskCalls != r.DeskCalls {
		t.Errorf("GATEWAY_DESK_CALLS defaults to %d, router.New to %d", cfg.DeskCalls, r.DeskCalls)
	}
}
