package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// testClaimDevice: a device claimed by name is leased to the holder with a
// fence above its last, shows the lease, and is not claimed again by name
// or by Claim while the lease lives; released, it is free again. A device
// out of service, retired, without the channel or unknown is refused, and
// refusing claims nothing.
func testClaimDevice(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustCreate(t, s, device("d1", "r1", whatsapp), device("d2", "r1", facetime))
	before := now(t, s)
	first := mustClaim(t, s, claimReq("v0", "r1")) // d2, the only FaceTime one
	must(t, s.Release(c, first, ""))

	l, d, err := s.ClaimDevice(c, gateway.DeviceClaim{DeviceID: "d1", Channel: whatsapp, Holder: "v1", TTL: time.Minute})
	must(t, err)
	if l.DeviceID != "d1" || l.Holder != "v1" || l.RoomID != "r1" || l.Fence < 1 {
		t.Fatalf("ClaimDevice lease %+v, want d1 held by v1 in r1", l)
	}
	wantBetween(t, "claimed at", l.ClaimedAt, before, now(t, s))
	wantLease(t, "ClaimDevice's device", d.Lease, l)
	read, err := s.Device(c, "d1")
	must(t, err)
	wantLease(t, "device read after ClaimDevice", read.Lease, l)

	// Busy: neither by name nor by Claim.
	_, _, err = s.ClaimDevice(c, gateway.DeviceClaim{DeviceID: "d1", Channel: whatsapp, Holder: "v2", TTL: time.Minute})
	wantCode(t, err, gateway.ECONFLICT)
	wa := claimReq("v3", "r1")
	wa.Channel = whatsapp
	_, _, err = s.Claim(c, wa)
	wantCode(t, err, gateway.EUNAVAILABLE)

	// Released: free again, with a higher fence.
	must(t, s.Release(c, l, "call ended"))
	l2, _, err := s.ClaimDevice(c, gateway.DeviceClaim{DeviceID: "d1", Channel: whatsapp, Holder: "v4", TTL: time.Minute})
	must(t, err)
	if l2.Fence <= l.Fence {
		t.Fatalf("second claim's fence %d, want above %d", l2.Fence, l.Fence)
	}
	must(t, s.Release(c, l2, ""))

	// An expired lease not yet swept counts as free, and is recorded as
	// expired.
	short, _, err := s.ClaimDevice(c, gateway.DeviceClaim{DeviceID: "d1", Channel: whatsapp, Holder: "v5", TTL: 50 * time.Millisecond})
	must(t, err)
	waitPast(t, s, short.ExpiresAt)
	l3, _, err := s.ClaimDevice(c, gateway.DeviceClaim{DeviceID: "d1", Channel: whatsapp, Holder: "v6", TTL: time.Minute})
	must(t, err)
	h, err := s.ClaimHistory(c, "d1")
	must(t, err)
	CheckHistory(t, h)
	var expired bool
	for _, r := range h {
		if r.Fence == short.Fence && r.Reason == "expired" && r.ReleasedAt != nil {
			expired = true
		}
	}
	if !expired {
		t.Fatalf("history %+v: the lease taken over after its expiry is not recorded as expired", h)
	}
	must(t, s.Release(c, l3, ""))

	// Refusals claim nothing.
	_, err = s.UpdateDevice(c, "d2", func(d *gateway.Device) error { d.Status = gateway.DeviceOutOfService; return nil })
	must(t, err)
	for name, tc := range map[string]struct {
		claim gateway.DeviceClaim
		code  string
	}{
		"out of service": {gateway.DeviceClaim{DeviceID: "d2", Channel: facetime, Holder: "v7", TTL: time.Minute}, gateway.ECONFLICT},
		"no handle":      {gateway.DeviceClaim{DeviceID: "d1", Channel: facetime, Holder: "v7", TTL: time.Minute}, gateway.EINVALID},
		"unknown":        {gateway.DeviceClaim{DeviceID: "nope", Channel: whatsapp, Holder: "v7", TTL: time.Minute}, gateway.ENOTFOUND},
		"no device":      {gateway.DeviceClaim{Channel: whatsapp, Holder: "v7", TTL: time.Minute}, gateway.EINVALID},
		"no holder":      {gateway.DeviceClaim{DeviceID: "d1", Channel: whatsapp, TTL: time.Minute}, gateway.EINVALID},
		"no TTL":         {gateway.DeviceClaim{DeviceID: "d1", Channel: whatsapp, Holder: "v7"}, gateway.EINVALID},
	} {
		_, _, err := s.ClaimDevice(c, tc.claim)
		if gateway.ErrorCode(err) != tc.code {
			t.Errorf("ClaimDevice %s: %v, want %s", name, err, tc.code)
		}
	}
	for _, id := range []string{"d1", "d2"} {
		d, err := s.Device(c, id)
		must(t, err)
		if d.Lease != nil {
			t.Errorf("device %s has lease %+v after refused claims, want none", id, d.Lease)
		}
	}
}

// testClaimDeviceRace: a claim by name racing Claims of the same device
// (the router's) and other claims by name: exactly one wins each round,
// and the others are refused (ECONFLICT by name, EUNAVAILABLE by Claim).
func testClaimDeviceRace(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustCreate(t, s, device("d1", "r1", whatsapp))
	const rounds, racers = 20, 6
	for round := range rounds {
		var (
			wins   atomic.Int32
			won    gateway.Lease
			mu     sync.Mutex
			wg     sync.WaitGroup
			starts = make(chan struct{})
		)
		for i := range racers {
			wg.Go(func() {
				<-starts
				holder := fmt.Sprintf("v%d-%d", round, i)
				var (
					l   gateway.Lease
					err error
				)
				if i%2 == 0 {
					l, _, err = s.ClaimDevice(c, gateway.DeviceClaim{DeviceID: "d1", Channel: whatsapp, Holder: holder, TTL: time.Minute})
					if gateway.ErrorCode(err) == gateway.ECONFLICT {
						return
					}
				} else {
					req := claimReq(holder, "r1")
					req.Channel = whatsapp
					l, _, err = s.Claim(c, req)
					if gateway.ErrorCode(err) == gateway.EUNAVAILABLE {
						return
					}
				}
				if err != nil {
					t.Errorf("round %d racer %d: %v", round, i, err)
					return
				}
				wins.Add(1)
				mu.Lock()
				won = l
				mu.Unlock()
			})
		}
		close(starts)
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d claims won, want exactly 1", round, n)
		}
		d, err := s.Device(c, "d1")
		must(t, err)
		wantLease(t, fmt.Sprintf("round %d: the device's lease", round), d.Lease, won)
		must(t, s.Release(c, won, ""))
	}
	h, err := s.ClaimHistory(c, "d1")
	must(t, err)
	CheckHistory(t, h)
	if len(h) != rounds {
		t.Fatalf("history has %d claims, want %d", len(h), rounds)
	}
}

// testVerificationByKey: the verification a requester made with a key is
// found by the two; another requester's key, an unused key and no key find
// nothing.
func testVerificationByKey(t *testing.T, s gateway.Store) {
	c := ctx(t)
	v := verification("v_keyed", gateway.HandsetRequester+"d1")
	v.Origin = gateway.OriginPublic
	made, created, err := s.CreateVerification(c, v, "call-1", gateway.Event{Type: gateway.EventState, Message: "rung in"})
	must(t, err)
	if !created {
		t.Fatal("CreateVerification: not created")
	}
	mustVerification(t, s, verification("v_other", gateway.HandsetRequester+"d2"))
	got, err := s.VerificationByKey(c, gateway.HandsetRequester+"d1", "call-1")
	must(t, err)
	if got.ID != made.ID || got.Reference != made.Reference || got.Origin != gateway.OriginPublic {
		t.Fatalf("VerificationByKey: %s %s %s, want %s %s public", got.ID, got.Reference, got.Origin, made.ID, made.Reference)
	}
	for name, k := range map[string][2]string{
		"another requester": {gateway.HandsetRequester + "d2", "call-1"},
		"another key":       {gateway.HandsetRequester + "d1", "call-2"},
		"no key":            {gateway.HandsetRequester + "d2", ""},
	} {
		_, err := s.VerificationByKey(c, k[0], k[1])
		if gateway.ErrorCode(err) != gateway.ENOTFOUND {
			t.Errorf("VerificationByKey with %s: %v, want ENOTFOUND", name, err)
		}
	}
}
