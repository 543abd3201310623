package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
)

// TestHealthRoutesAroundAMissingApp: a handset whose FaceTime is signed out
// is not offered for FaceTime (the officer is connected on WhatsApp, and
// the agent never gets a FaceTime order), ops staff see why, the room's
// routable-device metric warns, and it all comes back when the app is
// signed in again. A low battery then takes it out of every video channel.
func TestHealthRoutesAroundAMissingApp(t *testing.T) {
	t.Parallel()
	g := startGateway(t, testEnv(t), nil)
	ft, wa := gateway.Channel("facetime"), gateway.Channel("whatsapp")
	d := g.addDevice(t, "AW", "+447700900901", map[gateway.Channel]string{ft: "aw-health@example.org", wa: "+447700900901"})
	a := g.startAgent(t, d, nil)
	ops := g.token(t, gateway.RoleOps, "ops staff")
	seen := func(what string, ok func(gateway.Device) bool) {
		t.Helper()
		eventually(t, what, func() bool {
			dev, err := g.m.Store.Device(context.Background(), d.ID)
			return err == nil && ok(dev)
		})
	}
	metric := func(channel, value string) {
		t.Helper()
		line := `gateway_room_routable_devices{channel="` + channel + `",room="AW"} ` + value + "\n"
		eventually(t, "metric "+strings.TrimSpace(line), func() bool { return strings.Contains(g.scrape(t), line) })
	}
	connect := func(want gateway.Channel, contacts ...contact) {
		t.Helper()
		v := g.request(t, trafalgar, contacts...)
		v = g.waitState(t, v.ID, gateway.StateConnected)
		if v.Channel != want || v.Device != d.ID {
			t.Errorf("connected on %s with %q, want %s with %s (attempts %v)", v.Channel, v.Device, want, d.ID, attempts(v))
		}
		g.outcome(t, v.ID, gateway.OutcomeVerified)
		g.waitFree(t, d.ID)
	}

	a.SetHandset(90, false, []gateway.Channel{wa})
	seen("FaceTime signed out", func(dev gateway.Device) bool { return slices.Equal(dev.Apps, []gateway.Channel{wa}) })
	connect(wa, contact{ft, officerEmail}, contact{wa, officerNumber})
	for _, o := range a.Orders() {
		if o.Channel == ft {
			t.Errorf("the agent got a FaceTime order (%s) with FaceTime signed out", o.ID)
		}
	}
	var got httpapi.DeviceReply
	g.call(t, "GET", "/v1/devices/"+d.ID, ops, nil, 200, &got)
	if h := got.Device.Health; len(h.Problems) != 1 || h.Problems[0].Code != gateway.HealthAppMissing || h.Problems[0].Channel != ft ||
		slices.Contains(h.Routable, ft) || !slices.Contains(h.Routable, wa) {
		t.Errorf("health shown %+v, want facetime's app missing and whatsapp routable", h)
	}
	metric("facetime", "0")
	metric("whatsapp", "1")

	a.SetHandset(90, false, []gateway.Channel{ft, wa})
	seen("FaceTime back", func(dev gateway.Device) bool { return slices.Contains(dev.Apps, ft) })
	metric("facetime", "1")
	connect(ft, contact{ft, officerEmail}, contact{wa, officerNumber})

	// Under the floor and not charging: no video channel; on a charger, back.
	a.SetHandset(5, false, []gateway.Channel{ft, wa})
	seen("battery low", func(dev gateway.Device) bool { return dev.Battery == 5 })
	metric("facetime", "0")
	metric("whatsapp", "0")
	a.SetHandset(5, true, []gateway.Channel{ft, wa})
	seen("on a charger", func(dev gateway.Device) bool { return dev.Charging })
	metric("whatsapp", "1")
	connect(wa, contact{wa, officerNumber})
}
