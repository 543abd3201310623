package gateway_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

func TestHealthPolicyCheck(t *testing.T) {
	const (
		ft = gateway.Channel("facetime")
		wa = gateway.Channel("whatsapp")
		zm = gateway.Channel("zoom")
		ps = gateway.ChannelPSTN
	)
	now := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
	policy := gateway.HealthPolicy{Stale: 90 * time.Second, BatteryFloor: 15}
	base := gateway.Device{ID: "d1", RoomID: "r1", Number: "+447700900123", Status: gateway.DeviceInService,
		Handles: map[gateway.Channel]string{ft: "a@example.org", wa: "+447700900123", zm: "z@example.org"},
		Battery: 80, Apps: []gateway.Channel{ft, wa, zm}, LastSeen: now.Add(-10 * time.Second)}
	with := func(f func(*gateway.Device)) gateway.Device { d := base; f(&d); return d }
	tests := []struct {
		name     string
		policy   gateway.HealthPolicy
		device   gateway.Device
		routable []gateway.Channel
		codes    []gateway.HealthCode
		reason   string // in the first problem's reason
	}{
		{"healthy", policy, base, []gateway.Channel{ft, wa, zm, ps}, nil, ""},
		{"stale heartbeat", policy, with(func(d *gateway.Device) { d.LastSeen = now.Add(-91 * time.Second) }),
			nil, []gateway.HealthCode{gateway.HealthStale}, "1m31s ago"},
		{"heartbeat at the limit", policy, with(func(d *gateway.Device) { d.LastSeen = now.Add(-90 * time.Second) }),
			[]gateway.Channel{ft, wa, zm, ps}, nil, ""},
		{"never seen", policy, with(func(d *gateway.Device) { d.LastSeen = time.Time{}; d.Apps = nil; d.Battery = -1 }),
			nil, []gateway.HealthCode{gateway.HealthNeverSeen}, "never"},
		{"never seen, heartbeats not checked", gateway.HealthPolicy{},
			with(func(d *gateway.Device) { d.LastSeen = time.Time{}; d.Apps = nil; d.Battery = -1 }),
			[]gateway.Channel{ft, wa, zm, ps}, nil, ""},
		{"an app missing", policy, with(func(d *gateway.Device) { d.Apps = []gateway.Channel{ft, zm} }),
			[]gateway.Channel{ft, zm, ps}, []gateway.HealthCode{gateway.HealthAppMissing}, "whatsapp"},
		{"every app missing: PSTN needs none", policy, with(func(d *gateway.Device) { d.Apps = nil }),
			[]gateway.Channel{ps}, []gateway.HealthCode{gateway.HealthAppMissing, gateway.HealthAppMissing, gateway.HealthAppMissing}, "facetime"},
		{"an app without a handle is not a channel", policy, with(func(d *gateway.Device) { d.Handles = map[gateway.Channel]string{ft: "a"} }),
			[]gateway.Channel{ft, ps}, nil, ""},
		{"battery low", policy, with(func(d *gateway.Device) { d.Battery = 14 }),
			nil, []gateway.HealthCode{gateway.HealthBatteryLow}, "14%"},
		{"battery low, charging", policy, with(func(d *gateway.Device) { d.Battery = 14; d.Charging = true }),
			[]gateway.Channel{ft, wa, zm, ps}, nil, ""},
		{"battery at the floor", policy, with(func(d *gateway.Device) { d.Battery = 15 }),
			[]gateway.Channel{ft, wa, zm, ps}, nil, ""},
		{"battery unknown", policy, with(func(d *gateway.Device) { d.Battery = -1 }),
			[]gateway.Channel{ft, wa, zm, ps}, nil, ""},
		{"battery empty, no floor", gateway.HealthPolicy{Stale: time.Minute}, with(func(d *gateway.Device) { d.Battery = 0 }),
			[]gateway.Channel{ft, wa, zm, ps}, nil, ""},
		{"battery low and an app missing", policy, with(func(d *gateway.Device) { d.Battery = 5; d.Apps = []gateway.Channel{ft, wa} }),
			nil, []gateway.HealthCode{gateway.HealthBatteryLow, gateway.HealthAppMissing}, "15%"},
		{"out of service", policy, with(func(d *gateway.Device) { d.Status = gateway.DeviceOutOfService }),
			nil, []gateway.HealthCode{gateway.HealthOutOfService}, "out_of_service"},
		{"no number: no PSTN", policy, with(func(d *gateway.Device) { d.Number = "" }),
			[]gateway.Channel{ft, wa, zm}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.policy.Check(tt.device, now)
			if !slices.Equal(h.Routable, tt.routable) && (len(h.Routable) > 0 || len(tt.routable) > 0) {
				t.Errorf("routable %v, want %v", h.Routable, tt.routable)
			}
			var codes []gateway.HealthCode
			for _, p := range h.Problems {
				codes = append(codes, p.Code)
				if p.Reason == "" {
					t.Errorf("problem %s has no reason", p.Code)
				}
				if (p.Code == gateway.HealthAppMissing) != (p.Channel != "") {
					t.Errorf("problem %s names channel %q", p.Code, p.Channel)
				}
			}
			if !slices.Equal(codes, tt.codes) {
				t.Errorf("problems %v, want %v", codes, tt.codes)
			}
			if tt.reason != "" && !strings.Contains(h.Problems[0].Reason, tt.reason) {
				t.Errorf("reason %q does not say %q", h.Problems[0].Reason, tt.reason)
			}
			for _, c := range []gateway.Channel{ft, wa, zm, ps} {
				if got, want := tt.policy.Serves(tt.device, c, now), slices.Contains(tt.routable, c); got != want {
					t.Errorf("Serves(%s) = %v, want %v", c, got, want)
				}
			}
			if h.Routable == nil || h.Problems == nil {
				t.Error("Check returned a nil list")
			}
		})
	}
}

func TestPoolHealth(t *testing.T) {
	const (
		ft = gateway.Channel("facetime")
		wa = gateway.Channel("whatsapp")
		ps = gateway.ChannelPSTN
	)
	now := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
	dev := func(id, room string, battery int, apps ...gateway.Channel) gateway.Device {
		return gateway.Device{ID: id, RoomID: room, Number: "+447700900123", Status: gateway.DeviceInService,
			Handles: map[gateway.Channel]string{ft: id, wa: id}, Battery: battery, Apps: apps, LastSeen: now}
	}
	devices := []gateway.Device{
		dev("a1", "a", 90, ft, wa),
		dev("a2", "a", 90, ft),
		dev("b1", "b", 5, ft, wa),  // low: serves nothing
		dev("x1", "x", 90, ft, wa), // a room not asked for
	}
	got := gateway.HealthPolicy{Stale: time.Minute, BatteryFloor: 15}.PoolHealth(
		[]string{"a", "b", "c"}, []gateway.Channel{ft, wa, ps}, devices, now)
	want := []struct {
		room    string
		counts  map[gateway.Channel]int
		missing []gateway.Channel
	}{
		{"a", map[gateway.Channel]int{ft: 2, wa: 1, ps: 2}, nil},
		{"b", map[gateway.Channel]int{ft: 0, wa: 0, ps: 0}, []gateway.Channel{ft, wa, ps}},
		{"c", map[gateway.Channel]int{ft: 0, wa: 0, ps: 0}, []gateway.Channel{ft, wa, ps}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rooms, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.RoomID != w.room || len(g.Routable) != len(w.counts) {
			t.Errorf("room %d: %+v, want %s with %v", i, g, w.room, w.counts)
			continue
		}
		for c, n := range w.counts {
			if g.Routable[c] != n {
				t.Errorf("room %s channel %s: %d routable, want %d", w.room, c, g.Routable[c], n)
			}
		}
		if !slices.Equal(g.Missing, w.missing) && (len(g.Missing) > 0 || len(w.missing) > 0) {
			t.Errorf("room %s missing %v, want %v", w.room, g.Missing, w.missing)
		}
	}
}
