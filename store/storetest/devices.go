package storetest

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

const (
	facetime = gateway.Channel("facetime")
	whatsapp = gateway.Channel("whatsapp")
	zoom     = gateway.Channel("zoom")
	pstn     = gateway.ChannelPSTN
)

// ids returns the devices' IDs.
func ids(ds []gateway.Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// wantLease fails the test unless got is the lease l (times to the store's
// precision).
func wantLease(t testing.TB, what string, got *gateway.Lease, l gateway.Lease) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no lease, want %+v", what, l)
	}
	if got.DeviceID != l.DeviceID || got.RoomID != l.RoomID || got.Holder != l.Holder || got.Fence != l.Fence ||
		!sameTime(got.ClaimedAt, l.ClaimedAt) || !sameTime(got.ExpiresAt, l.ExpiresAt) {
		t.Fatalf("%s: lease %+v, want %+v", what, *got, l)
	}
}

// waitPast sleeps until the store's clock has passed at.
func waitPast(t testing.TB, s gateway.Store, at time.Time) {
	t.Helper()
	for {
		n := now(t, s)
		if n.After(at) {
			return
		}
		time.Sleep(at.Sub(n) + 10*time.Millisecond)
	}
}

func testDevices(t *testing.T, s gateway.Store) {
	c := ctx(t)
	in := device("d1", "r1", facetime, whatsapp)
	d, err := s.CreateDevice(c, in)
	must(t, err)
	if d.ID != in.ID || d.RoomID != in.RoomID || d.Name != in.Name || d.Number != in.Number || !maps.Equal(d.Handles, in.Handles) {
		t.Fatalf("created %+v, want the fields of %+v", d, in)
	}
	if d.Status != gateway.DeviceInService || !d.LastSeen.IsZero() || !d.LastUsed.IsZero() || d.Battery != -1 || len(d.Apps) != 0 || d.Lease != nil {
		t.Fatalf("created %+v, want in service, never seen or used, battery -1, no apps, no lease", d)
	}
	got, err := s.Device(c, "d1")
	must(t, err)
	if got.ID != d.ID || got.RoomID != d.RoomID || got.Name != d.Name || got.Number != d.Number ||
		!maps.Equal(got.Handles, d.Handles) || got.Status != d.Status || got.Version != d.Version || got.Lease != nil {
		t.Fatalf("Device = %+v, want %+v", got, d)
	}

	for _, tt := range []struct {
		name string
		d    gateway.Device
		code string
	}{
		{"duplicate ID", device("d1", "r2"), gateway.ECONFLICT},
		{"no ID", gateway.Device{RoomID: "r1"}, gateway.EINVALID},
		{"no room", gateway.Device{ID: "dx"}, gateway.EINVALID},
	} {
		_, err := s.CreateDevice(c, tt.d)
		if gateway.ErrorCode(err) != tt.code {
			t.Errorf("CreateDevice with %s: %v, want %s", tt.name, err, tt.code)
		}
	}
	_, err = s.Device(c, "nope")
	wantCode(t, err, gateway.ENOTFOUND)

	for _, in := range []gateway.Device{device("d2", "r2"), device("d0", "r2"), device("d3", "r1")} {
		_, err := s.CreateDevice(c, in)
		must(t, err)
	}
	_, err = s.UpdateDevice(c, "d3", func(d *gateway.Device) error { d.Status = gateway.DeviceRetired; return nil })
	must(t, err)
	for _, tt := range []struct {
		room    string
		retired bool
		want    []string
	}{
		{"", false, []string{"d1", "d0", "d2"}},
		{"", true, []string{"d1", "d3", "d0", "d2"}},
		{"r2", false, []string{"d0", "d2"}},
		{"r1", true, []string{"d1", "d3"}},
		{"r1", false, []string{"d1"}},
		{"nowhere", true, nil},
	} {
		ds, err := s.Devices(c, tt.room, tt.retired)
		must(t, err)
		if got := ids(ds); !slices.Equal(got, tt.want) {
			t.Errorf("Devices(%q, %v) = %v, want %v", tt.room, tt.retired, got, tt.want)
		}
	}
}

func testRotation(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustCreate(t, s, device("d1", "r1", facetime))
	l := mustClaim(t, s, claimReq("v1", "r1"))
	before, err := s.Device(c, "d1")
	must(t, err)

	rotated, err := s.UpdateDevice(c, "d1", func(d *gateway.Device) error {
		d.Name = "new handset"
		d.Number = "+447700900999"
		d.Handles = map[gateway.Channel]string{whatsapp: "+447700900999"}
		return nil
	})
	must(t, err)
	if rotated.Version != before.Version+1 {
		t.Fatalf("version %d after rotation, want %d", rotated.Version, before.Version+1)
	}
	if rotated.Name != "new handset" || rotated.Number != "+447700900999" || rotated.Handles[whatsapp] != "+447700900999" || rotated.Supports(facetime) {
		t.Fatalf("rotated = %+v", rotated)
	}
	if !sameTime(rotated.LastSeen, before.LastSeen) || !sameTime(rotated.LastUsed, before.LastUsed) {
		t.Fatalf("rotation changed LastSeen/LastUsed: %+v, was %+v", rotated, before)
	}
	// The call in progress goes on: same lease, still renewable.
	wantLease(t, "after rotation", rotated.Lease, l)
	got, err := s.Device(c, "d1")
	must(t, err)
	if got.Version != rotated.Version || got.Number != rotated.Number {
		t.Fatalf("Device = %+v, want %+v", got, rotated)
	}
	wantLease(t, "Device after rotation", got.Lease, l)
	l, err = s.Renew(c, l, time.Minute)
	must(t, err)

	oos, err := s.UpdateDevice(c, "d1", func(d *gateway.Device) error { d.Status = gateway.DeviceOutOfService; return nil })
	must(t, err)
	if oos.Status != gateway.DeviceOutOfService || oos.Version != rotated.Version+1 {
		t.Fatalf("out of service: %+v", oos)
	}
	wantLease(t, "out of service", oos.Lease, l)

	// fn's error comes back as is, and nothing is written.
	sentinel := errors.New("operator changed her mind")
	_, err = s.UpdateDevice(c, "d1", func(d *gateway.Device) error { d.Name = "lost"; return sentinel })
	if !errors.Is(err, sentinel) {
		t.Fatalf("UpdateDevice with fn failing = %v, want fn's error", err)
	}
	_, err = s.UpdateDevice(c, "d1", func(d *gateway.Device) error { d.RoomID = ""; return nil })
	wantCode(t, err, gateway.EINVALID)
	got, err = s.Device(c, "d1")
	must(t, err)
	if got.Version != oos.Version || got.Name != oos.Name || got.RoomID != "r1" {
		t.Fatalf("failed updates wrote: %+v, want %+v", got, oos)
	}

	retired, err := s.UpdateDevice(c, "d1", func(d *gateway.Device) error { d.Status = gateway.DeviceRetired; return nil })
	must(t, err)
	if retired.Status != gateway.DeviceRetired {
		t.Fatalf("retired = %+v", retired)
	}
	wantLease(t, "retired", retired.Lease, l)
	called := false
	_, err = s.UpdateDevice(c, "d1", func(d *gateway.Device) error { called = true; d.Status = gateway.DeviceInService; return nil })
	wantCode(t, err, gateway.ECONFLICT)
	if called {
		t.Error("UpdateDevice called fn on a retired device")
	}
	// The call on the retired device still ends normally.
	must(t, s.Release(c, l, ""))

	_, err = s.UpdateDevice(c, "nope", func(*gateway.Device) error { return nil })
	wantCode(t, err, gateway.ENOTFOUND)
}

func testHeartbeat(t *testing.T, s gateway.Store) {
	c := ctx(t)
	_, err := s.CreateDevice(c, device("d1", "r1", facetime))
	must(t, err)
	lo := now(t, s)
	d, err := s.Heartbeat(c, "d1", 42, []gateway.Channel{whatsapp, zoom})
	must(t, err)
	hi := now(t, s)
	if d.Battery != 42 || !slices.Equal(d.Apps, []gateway.Channel{whatsapp, zoom}) {
		t.Fatalf("after heartbeat: %+v", d)
	}
	wantBetween(t, "LastSeen", d.LastSeen, lo, hi)
	got, err := s.Device(c, "d1")
	must(t, err)
	if got.Battery != 42 || !slices.Equal(got.Apps, d.Apps) || !sameTime(got.LastSeen, d.LastSeen) {
		t.Fatalf("Device = %+v, want the heartbeat %+v", got, d)
	}
	d, err = s.Heartbeat(c, "d1", 41, nil)
	must(t, err)
	if d.Battery != 41 || len(d.Apps) != 0 || d.LastSeen.Before(got.LastSeen) {
		t.Fatalf("second heartbeat: %+v", d)
	}
	_, err = s.Heartbeat(c, "nope", 1, nil)
	wantCode(t, err, gateway.ENOTFOUND)
}

func testClaimLRU(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustCreate(t, s, device("d1", "r1", facetime), device("d2", "r1", facetime), device("d3", "r1", facetime))

	lo := now(t, s)
	l, d, err := s.Claim(c, claimReq("v1", "r1"))
	must(t, err)
	hi := now(t, s)
	if l.DeviceID != "d1" || l.RoomID != "r1" || l.Holder != "v1" || l.Fence <= 0 {
		t.Fatalf("first claim = %+v, want d1 (never used, lowest ID) for v1 with a fence", l)
	}
	wantBetween(t, "ClaimedAt", l.ClaimedAt, lo, hi)
	if !sameTime(l.ExpiresAt, l.ClaimedAt.Add(time.Minute)) {
		t.Fatalf("lease %v..%v, want a minute", l.ClaimedAt, l.ExpiresAt)
	}
	if d.ID != "d1" || !sameTime(d.LastUsed, l.ClaimedAt) {
		t.Fatalf("claimed device = %+v, want d1 used at the claim", d)
	}
	wantLease(t, "claimed device", d.Lease, l)
	got, err := s.Device(c, "d1")
	must(t, err)
	wantLease(t, "Device", got.Lease, l)
	if !sameTime(got.LastUsed, l.ClaimedAt) {
		t.Fatalf("LastUsed = %v, want %v", got.LastUsed, l.ClaimedAt)
	}
	must(t, s.Release(c, l, ""))

	// Never used first, then least recently used.
	for i, want := range []string{"d2", "d3", "d1"} {
		l := mustClaim(t, s, claimReq("v2", "r1"))
		if l.DeviceID != want {
			t.Fatalf("claim %d took %s, want %s", i, l.DeviceID, want)
		}
		must(t, s.Release(c, l, ""))
	}
	// d2 is now the least recently used, and held claims are skipped.
	for _, want := range []string{"d2", "d3", "d1"} {
		if l := mustClaim(t, s, claimReq("v3", "r1")); l.DeviceID != want {
			t.Fatalf("claim took %s, want %s", l.DeviceID, want)
		}
	}
	_, _, err = s.Claim(c, claimReq("v4", "r1"))
	wantCode(t, err, gateway.EUNAVAILABLE)
}

func testClaimRooms(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustCreate(t, s, device("a1", "r1", facetime), device("b1", "r2", facetime), device("c1", "r3", facetime))
	for _, want := range []gateway.Lease{{DeviceID: "b1", RoomID: "r2"}, {DeviceID: "a1", RoomID: "r1"}} {
		l := mustClaim(t, s, claimReq("v1", "r2", "r1"))
		if l.DeviceID != want.DeviceID || l.RoomID != want.RoomID {
			t.Fatalf("claim in [r2 r1] = %s in %s, want %s in %s", l.DeviceID, l.RoomID, want.DeviceID, want.RoomID)
		}
	}
	_, _, err := s.Claim(c, claimReq("v1", "r2", "r1"))
	wantCode(t, err, gateway.EUNAVAILABLE)
	_, _, err = s.Claim(c, claimReq("v1", "nowhere"))
	wantCode(t, err, gateway.EUNAVAILABLE)
	if l := mustClaim(t, s, claimReq("v1", "nowhere", "r3")); l.DeviceID != "c1" {
		t.Fatalf("claim in [nowhere r3] = %s, want c1", l.DeviceID)
	}
}

func testClaimSkips(t *testing.T, s gateway.Store) {
	c := ctx(t)
	// Every device that must be skipped sorts before the one to take.
	mustCreate(t, s,
		device("d1wa", "r1", whatsapp),
		device("d2oos", "r1", facetime),
		device("d3ret", "r1", facetime),
		device("d4ex", "r1", facetime),
		device("d5ok", "r1", facetime))
	for id, st := range map[string]gateway.DeviceStatus{"d2oos": gateway.DeviceOutOfService, "d3ret": gateway.DeviceRetired} {
		_, err := s.UpdateDevice(c, id, func(d *gateway.Device) error { d.Status = st; return nil })
		must(t, err)
	}
	req := claimReq("v1", "r1")
	req.Exclude = []string{"d4ex"}
	l := mustClaim(t, s, req)
	if l.DeviceID != "d5ok" {
		t.Fatalf("claim took %s, want d5ok: unsupported, out-of-service, retired and excluded devices skipped", l.DeviceID)
	}
	must(t, s.Release(c, l, ""))
	req.Exclude = []string{"d4ex", "d5ok"}
	_, _, err := s.Claim(c, req)
	wantCode(t, err, gateway.EUNAVAILABLE)

	wa := claimReq("v2", "r1")
	wa.Channel = whatsapp
	if l := mustClaim(t, s, wa); l.DeviceID != "d1wa" {
		t.Fatalf("WhatsApp claim took %s, want d1wa", l.DeviceID)
	}
	z := claimReq("v3", "r1")
	z.Channel = zoom
	_, _, err = s.Claim(c, z)
	wantCode(t, err, gateway.EUNAVAILABLE)

	// PSTN needs a number.
	noNumber := device("e1", "r2", facetime)
	noNumber.Number = ""
	mustCreate(t, s, noNumber, device("e2", "r2"))
	p := claimReq("v4", "r2")
	p.Channel = pstn
	if l := mustClaim(t, s, p); l.DeviceID != "e2" {
		t.Fatalf("PSTN claim took %s, want e2 (e1 has no number)", l.DeviceID)
	}
	_, _, err = s.Claim(c, p)
	wantCode(t, err, gateway.EUNAVAILABLE)
}

func testClaimStale(t *testing.T, s gateway.Store) {
	c := ctx(t)
	// a-never never sends a heartbeat; b-old's is older than the limit.
	_, err := s.CreateDevice(c, device("a-never", "r1", facetime))
	must(t, err)
	mustCreate(t, s, device("b-old", "r1", facetime))
	time.Sleep(600 * time.Millisecond)
	mustCreate(t, s, device("c-fresh", "r1", facetime))

	req := claimReq("v1", "r1")
	req.Stale = 400 * time.Millisecond // c-fresh's heartbeat is within it even on a loaded machine
	l := mustClaim(t, s, req)
	if l.DeviceID != "c-fresh" {
		t.Fatalf("claim with a heartbeat limit took %s, want c-fresh", l.DeviceID)
	}
	_, _, err = s.Claim(c, req)
	wantCode(t, err, gateway.EUNAVAILABLE)
	// Zero Stale does not look at heartbeats.
	req.Stale = 0
	if l := mustClaim(t, s, req); l.DeviceID != "a-never" {
		t.Fatalf("claim without a heartbeat limit took %s, want a-never", l.DeviceID)
	}
}

func testClaimInvalid(t *testing.T, s gateway.Store) {
	mustCreate(t, s, device("d1", "r1", facetime))
	for name, req := range map[string]gateway.ClaimRequest{
		"no room":   {Channel: facetime, Holder: "v1", TTL: time.Minute},
		"no holder": {RoomIDs: []string{"r1"}, Channel: facetime, TTL: time.Minute},
		"no TTL":    {RoomIDs: []string{"r1"}, Channel: facetime, Holder: "v1"},
	} {
		_, _, err := s.Claim(ctx(t), req)
		if gateway.ErrorCode(err) != gateway.EINVALID {
			t.Errorf("claim with %s: %v, want EINVALID", name, err)
		}
	}
}

func testFencing(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustCreate(t, s, device("d1", "r1", facetime))
	l1 := mustClaim(t, s, claimReq("v1", "r1"))
	must(t, s.Release(c, l1, ""))
	l2 := mustClaim(t, s, claimReq("v2", "r1"))
	if l2.DeviceID != l1.DeviceID || l2.Fence <= l1.Fence {
		t.Fatalf("second claim %+v after %+v: want the same device with a higher fence", l2, l1)
	}

	otherHolder, otherDevice := l2, l2
	otherHolder.Holder = "v1"
	otherDevice.DeviceID = "d9"
	for _, tt := range []struct {
		name string
		l    gateway.Lease
	}{
		{"the older lease", l1},
		{"the newest fence with another holder", otherHolder},
		{"another device", otherDevice},
	} {
		_, err := s.Renew(c, tt.l, time.Minute)
		if gateway.ErrorCode(err) != gateway.ECONFLICT {
			t.Errorf("Renew with %s: %v, want ECONFLICT", tt.name, err)
		}
		if err := s.Release(c, tt.l, ""); gateway.ErrorCode(err) != gateway.ECONFLICT {
			t.Errorf("Release with %s: %v, want ECONFLICT", tt.name, err)
		}
	}

	// The newer claim is untouched by the stale holder's tries.
	d, err := s.Device(c, "d1")
	must(t, err)
	wantLease(t, "after stale tries", d.Lease, l2)
	renewed, err := s.Renew(c, l2, 2*time.Minute)
	must(t, err)
	if renewed.Fence != l2.Fence || renewed.Holder != l2.Holder || !sameTime(renewed.ClaimedAt, l2.ClaimedAt) ||
		!renewed.ExpiresAt.After(l2.ExpiresAt) {
		t.Fatalf("renewed %+v from %+v: want the same lease expiring later", renewed, l2)
	}
	d, err = s.Device(c, "d1")
	must(t, err)
	wantLease(t, "after renewal", d.Lease, renewed)

	must(t, s.Release(c, renewed, ""))
	wantCode(t, s.Release(c, renewed, ""), gateway.ECONFLICT)
	_, err = s.Renew(c, renewed, time.Minute)
	wantCode(t, err, gateway.ECONFLICT)
	l3 := mustClaim(t, s, claimReq("v3", "r1"))
	if l3.Fence <= l2.Fence {
		t.Fatalf("fence %d after %d", l3.Fence, l2.Fence)
	}
}

func testLeaseExpiry(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustCreate(t, s, device("d1", "r1", facetime))
	req := claimReq("v1", "r1")
	req.TTL = 500 * time.Millisecond // long enough to read it back live on a loaded machine
	l1 := mustClaim(t, s, req)
	d, err := s.Device(c, "d1")
	must(t, err)
	wantLease(t, "before expiry", d.Lease, l1)

	waitPast(t, s, l1.ExpiresAt)
	// Expired, not yet swept: no longer live.
	d, err = s.Device(c, "d1")
	must(t, err)
	if d.Lease != nil {
		t.Fatalf("Device shows the expired lease %+v", *d.Lease)
	}
	free, err := s.FreeDevices(c, 0)
	must(t, err)
	if free["r1"] != 1 {
		t.Fatalf("FreeDevices = %v, want r1: 1 once the lease expired", free)
	}
	_, err = s.Renew(c, l1, time.Minute)
	wantCode(t, err, gateway.ECONFLICT)
	wantCode(t, s.Release(c, l1, ""), gateway.ECONFLICT)

	// A claim takes it over and records the old one as expired.
	l2 := mustClaim(t, s, claimReq("v2", "r1"))
	if l2.DeviceID != "d1" || l2.Fence <= l1.Fence {
		t.Fatalf("claim after expiry = %+v, want d1 with a fence above %d", l2, l1.Fence)
	}
	h, err := s.ClaimHistory(c, "d1")
	must(t, err)
	if len(h) != 2 || h[0].Fence != l1.Fence || h[0].Reason != "expired" || h[0].ReleasedAt == nil ||
		h[0].ReleasedAt.Before(l1.ClaimedAt) || h[0].ReleasedAt.After(l2.ClaimedAt.Add(precision)) {
		t.Fatalf("history = %+v, want the first claim expired before the second", h)
	}
	if _, err := s.Renew(c, l2, time.Minute); err != nil {
		t.Fatalf("Renew of the new claim: %v", err)
	}
}

func testExpireLeases(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustCreate(t, s, device("d1", "r1", facetime), device("d2", "r2", facetime))
	short := claimReq("v1", "r1")
	short.TTL = 200 * time.Millisecond
	ls := mustClaim(t, s, short)
	ll := mustClaim(t, s, claimReq("v2", "r2"))

	got, err := s.ExpireLeases(c)
	must(t, err)
	if now(t, s).Before(ls.ExpiresAt) && len(got) != 0 {
		t.Fatalf("ExpireLeases before expiry = %+v, want none", got)
	}
	waitPast(t, s, ls.ExpiresAt)
	got, err = s.ExpireLeases(c)
	must(t, err)
	if len(got) != 1 {
		t.Fatalf("ExpireLeases = %+v, want the short lease", got)
	}
	if got[0].DeviceID != ls.DeviceID || got[0].Fence != ls.Fence || got[0].Holder != ls.Holder || got[0].RoomID != "r1" {
		t.Fatalf("ExpireLeases = %+v, want %+v", got[0], ls)
	}
	got, err = s.ExpireLeases(c)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("second ExpireLeases = %+v, want none", got)
	}

	d1, err := s.Device(c, "d1")
	must(t, err)
	if d1.Lease != nil {
		t.Fatalf("d1 still leased: %+v", *d1.Lease)
	}
	d2, err := s.Device(c, "d2")
	must(t, err)
	wantLease(t, "the long lease", d2.Lease, ll)
	h, err := s.ClaimHistory(c, "d1")
	must(t, err)
	if len(h) != 1 || h[0].Reason != "expired" || h[0].ReleasedAt == nil {
		t.Fatalf("history = %+v, want the claim expired", h)
	}
	wantCode(t, s.Release(c, ls, ""), gateway.ECONFLICT)
	if l := mustClaim(t, s, claimReq("v3", "r1")); l.Fence <= ls.Fence {
		t.Fatalf("fence %d after %d", l.Fence, ls.Fence)
	}
}

func testClaimHistory(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustCreate(t, s, device("d1", "r1", facetime), device("d2", "r1", facetime))
	a := mustClaim(t, s, claimReq("v1", "r1"))
	b := mustClaim(t, s, claimReq("v2", "r1"))
	must(t, s.Release(c, a, "hung up"))
	cl := mustClaim(t, s, claimReq("v3", "r1")) // d1: free again
	must(t, s.Release(c, cl, ""))
	if a.DeviceID != "d1" || b.DeviceID != "d2" || cl.DeviceID != "d1" {
		t.Fatalf("claims on %s, %s, %s; want d1, d2, d1", a.DeviceID, b.DeviceID, cl.DeviceID)
	}

	h, err := s.ClaimHistory(c, "")
	must(t, err)
	want := []struct {
		l        gateway.Lease
		released bool
		reason   string
	}{{a, true, "hung up"}, {b, false, ""}, {cl, true, "released"}}
	if len(h) != len(want) {
		t.Fatalf("history = %+v, want %d claims", h, len(want))
	}
	for i, w := range want {
		r := h[i]
		if r.DeviceID != w.l.DeviceID || r.Fence != w.l.Fence || r.Holder != w.l.Holder || !sameTime(r.ClaimedAt, w.l.ClaimedAt) ||
			(r.ReleasedAt != nil) != w.released || r.Reason != w.reason {
			t.Errorf("history[%d] = %+v, want %+v released %v reason %q", i, r, w.l, w.released, w.reason)
		}
		if r.ReleasedAt != nil && r.ReleasedAt.Before(r.ClaimedAt) {
			t.Errorf("history[%d] released before claimed: %+v", i, r)
		}
	}
	h, err = s.ClaimHistory(c, "d1")
	must(t, err)
	if len(h) != 2 || h[0].Fence != a.Fence || h[1].Fence != cl.Fence {
		t.Fatalf("history of d1 = %+v, want its two claims", h)
	}
	h, err = s.ClaimHistory(c, "d9")
	must(t, err)
	if len(h) != 0 {
		t.Fatalf("history of an unknown device = %+v", h)
	}
}

func testFreeDevices(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustCreate(t, s,
		device("a", "r1", facetime), device("b", "r1", facetime), device("c", "r1", facetime), device("d", "r1", facetime),
		device("f", "r2", facetime))
	_, err := s.CreateDevice(c, device("e", "r2", facetime)) // never seen
	must(t, err)
	for id, st := range map[string]gateway.DeviceStatus{"c": gateway.DeviceOutOfService, "d": gateway.DeviceRetired} {
		_, err := s.UpdateDevice(c, id, func(d *gateway.Device) error { d.Status = st; return nil })
		must(t, err)
	}
	req := claimReq("v1", "r1")
	req.Exclude = []string{"a"}
	l := mustClaim(t, s, req) // b

	for _, tt := range []struct {
		stale  time.Duration
		r1, r2 int
	}{{0, 1, 2}, {time.Minute, 1, 1}} {
		free, err := s.FreeDevices(c, tt.stale)
		must(t, err)
		if free["r1"] != tt.r1 || free["r2"] != tt.r2 {
			t.Errorf("FreeDevices(%v) = %v, want r1: %d, r2: %d", tt.stale, free, tt.r1, tt.r2)
		}
	}
	must(t, s.Release(c, l, ""))
	free, err := s.FreeDevices(c, time.Minute)
	must(t, err)
	if free["r1"] != 2 {
		t.Fatalf("FreeDevices after release = %v, want r1: 2", free)
	}
}

func testBusDevices(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustCreate(t, s, device("d1", "r1", facetime), device("d2", "r2", facetime))
	l := mustClaim(t, s, claimReq("v1", "r1"))
	short := claimReq("v2", "r2")
	short.TTL = 200 * time.Millisecond
	ls := mustClaim(t, s, short)

	ch, cancel := s.Subscribe(gateway.TopicDevices)
	defer cancel()
	must(t, s.Release(c, l, ""))
	receiveWant(t, ch, "release", "r1")
	waitPast(t, s, ls.ExpiresAt)
	_, err := s.ExpireLeases(c)
	must(t, err)
	receiveWant(t, ch, "expiry", "r2")
}

// testClaimConcurrency has 50 goroutines make 3 claims each on 5 devices at
// once, each releasing its claim after a moment or now and then abandoning it
// to expire, while a sweeper expires leases. No device may ever be held by two: neither as seen
// by the claimers nor in the history.
func testClaimConcurrency(t *testing.T, s gateway.Store) {
	const (
		workers = 50
		rounds  = 3 // claims per worker
		devices = 5
	)
	c := ctx(t)
	for i := range devices {
		mustCreate(t, s, device(fmt.Sprintf("d%d", i), "r1", facetime))
	}

	var (
		mu      sync.Mutex
		held    = map[string]gateway.Lease{} // device -> lease, as the claimers see it
		doubles atomic.Int32
		claims  atomic.Int32
		busy    atomic.Int32
	)
	stop := make(chan struct{})
	var sweeper sync.WaitGroup
	sweeper.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := s.ExpireLeases(c); err != nil {
				t.Errorf("ExpireLeases: %v", err)
				return
			}
		}
	})

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			holder := fmt.Sprintf("v%02d", w)
			for done := 0; done < rounds; {
				abandon := rand.IntN(8) == 0
				req := claimReq(holder, "r1")
				if abandon {
					req.TTL = 50 * time.Millisecond
				}
				l, _, err := s.Claim(c, req)
				if gateway.ErrorCode(err) == gateway.EUNAVAILABLE {
					busy.Add(1)
					time.Sleep(time.Duration(2000+rand.IntN(4000)) * time.Microsecond)
					continue
				}
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				done++
				claims.Add(1)
				mu.Lock()
				// An abandoned lease that had expired by the store's clock
				// is rightly taken, however slowly its claimer (a loaded
				// machine, the race detector) got round to letting go.
				if other, ok := held[l.DeviceID]; ok && l.ClaimedAt.Before(other.ExpiresAt) {
					doubles.Add(1)
					t.Errorf("%s claimed %s (fence %d) at %v while %s held it until %v", holder, l.DeviceID, l.Fence,
						l.ClaimedAt, other.Holder, other.ExpiresAt)
				}
				held[l.DeviceID] = l
				mu.Unlock()
				time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
				mu.Lock()
				delete(held, l.DeviceID) // before the release commits: a later claim is legitimate
				mu.Unlock()
				if abandon {
					continue // left to expire: a later claim or the sweeper frees it
				}
				if err := s.Release(c, l, ""); err != nil {
					t.Errorf("Release %+v: %v", l, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	sweeper.Wait()
	if doubles.Load() > 0 {
		t.Fatalf("%d double claims", doubles.Load())
	}

	t.Logf("%d claims, %d found no free device", claims.Load(), busy.Load())
	h, err := s.ClaimHistory(c, "")
	must(t, err)
	if int32(len(h)) != claims.Load() {
		t.Fatalf("history has %d claims, the claimers made %d", len(h), claims.Load())
	}
	if claims.Load() < devices {
		t.Fatalf("only %d claims succeeded", claims.Load())
	}
	CheckHistory(t, h)
}

// CheckHistory fails the test if a device's claims in h, taken in fence
// order, ever overlap: each must have been released (or expired) no later
// than the next was claimed, and fences must strictly increase with claim
// time. A store's benchmarks use it to show that contention never gave a
// device to two holders.
func CheckHistory(t testing.TB, h []gateway.ClaimRecord) {
	t.Helper()
	byDevice := map[string][]gateway.ClaimRecord{}
	for _, r := range h {
		byDevice[r.DeviceID] = append(byDevice[r.DeviceID], r)
	}
	for dev, rs := range byDevice {
		slices.SortFunc(rs, func(a, b gateway.ClaimRecord) int { return int(a.Fence - b.Fence) })
		for i := 1; i < len(rs); i++ {
			prev, next := rs[i-1], rs[i]
			if next.Fence == prev.Fence {
				t.Fatalf("device %s: fence %d used twice", dev, next.Fence)
			}
			if next.ClaimedAt.Before(prev.ClaimedAt.Add(-precision)) {
				t.Fatalf("device %s: fence %d claimed at %v, before fence %d at %v", dev, next.Fence, next.ClaimedAt, prev.Fence, prev.ClaimedAt)
			}
			if prev.ReleasedAt == nil {
				t.Fatalf("device %s: fence %d (%s) never released, yet fence %d (%s) was claimed", dev, prev.Fence, prev.Holder, next.Fence, next.Holder)
			}
			if prev.ReleasedAt.After(next.ClaimedAt.Add(precision)) {
				t.Fatalf("device %s: fence %d (%s) held [%v, %v), overlapping fence %d (%s) claimed at %v",
					dev, prev.Fence, prev.Holder, prev.ClaimedAt, *prev.ReleasedAt, next.Fence, next.Holder, next.ClaimedAt)
			}
		}
	}
}
