package storetest

import (
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// claimable reports, for each of channels, whether a claim of the room's
// devices on it succeeds under req's health policy; each claim taken is
// released at once.
func claimable(t testing.TB, s gateway.Store, req gateway.ClaimRequest, channels ...gateway.Channel) map[gateway.Channel]bool {
	t.Helper()
	out := map[gateway.Channel]bool{}
	for _, c := range channels {
		req.Channel = c
		l, _, err := s.Claim(ctx(t), req)
		if gateway.ErrorCode(err) == gateway.EUNAVAILABLE {
			out[c] = false
			continue
		}
		must(t, err)
		must(t, s.Release(ctx(t), l, ""))
		out[c] = true
	}
	return out
}

// testClaimHealth: a stale heartbeat, a missing app and a low battery each
// take the device out of the claims for the channels they should, and only
// those, and it comes back when the heartbeat says it is fixed. Low but
// charging, and at the floor, still serve.
func testClaimHealth(t *testing.T, s gateway.Store) {
	c := ctx(t)
	_, err := s.CreateDevice(c, device("d1", "r1", facetime, whatsapp))
	must(t, err)
	beat := func(battery int, charging bool, apps ...gateway.Channel) {
		t.Helper()
		d, err := s.RecordHeartbeat(c, "d1", gateway.HeartbeatReport{Battery: battery, Charging: charging, Apps: apps})
		must(t, err)
		if d.Battery != battery || d.Charging != charging {
			t.Fatalf("heartbeat stored battery %d charging %v, want %d %v", d.Battery, d.Charging, battery, charging)
		}
	}
	req := gateway.ClaimRequest{RoomIDs: []string{"r1"}, Holder: "v1", TTL: time.Minute,
		Stale: time.Minute, BatteryFloor: 15}
	all := []gateway.Channel{facetime, whatsapp, pstn}
	want := func(step string, serves ...gateway.Channel) {
		t.Helper()
		got := claimable(t, s, req, all...)
		for _, ch := range all {
			if w := gateway.HasChannel(serves, ch); got[ch] != w {
				t.Errorf("%s: claim on %s succeeds %v, want %v", step, ch, got[ch], w)
			}
		}
		if d, err := s.Device(c, "d1"); err == nil && d.Lease != nil {
			t.Fatalf("%s: d1 still leased after the claims were released", step)
		}
	}

	want("never seen")
	beat(90, false, facetime, whatsapp)
	want("healthy", facetime, whatsapp, pstn)

	beat(90, false, facetime)
	want("whatsapp signed out", facetime, pstn)
	beat(90, false, whatsapp)
	want("facetime signed out", whatsapp, pstn)
	beat(90, false)
	want("no app signed in", pstn)
	beat(90, false, facetime, whatsapp)
	want("apps back", facetime, whatsapp, pstn)

	beat(14, false, facetime, whatsapp)
	want("battery under the floor")
	beat(14, true, facetime, whatsapp)
	want("low but charging", facetime, whatsapp, pstn)
	beat(15, false, facetime, whatsapp)
	want("at the floor", facetime, whatsapp, pstn)
	beat(3, false, facetime)
	want("low battery and an app missing")
	beat(-1, false, facetime, whatsapp)
	want("battery unknown", facetime, whatsapp, pstn)
	req.BatteryFloor = 0
	beat(3, false, facetime, whatsapp)
	want("no floor", facetime, whatsapp, pstn)
	req.BatteryFloor = 15
	beat(80, false, facetime, whatsapp)
	want("charged", facetime, whatsapp, pstn)

	// The fresh heartbeat's three claims fit in the limit even on a loaded
	// machine.
	req.Stale = 2 * time.Second
	time.Sleep(2500 * time.Millisecond)
	want("stale heartbeat")
	beat(80, false, facetime, whatsapp)
	want("heartbeat again", facetime, whatsapp, pstn)

	// Heartbeat, without charging, records the handset as not charging.
	beat(10, true, facetime, whatsapp)
	d, err := s.Heartbeat(c, "d1", 10, []gateway.Channel{facetime, whatsapp})
	must(t, err)
	if d.Charging {
		t.Fatal("Heartbeat left the device charging")
	}
	want("off the charger")
}
