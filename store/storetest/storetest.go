// Package storetest is the conformance suite every gateway.Store passes.
//
// A store's tests call Run with a function that opens a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t testing.TB) gateway.Store {
//			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gateway.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite never moves a clock: a store may judge time by its database's
// clock, so expiry is tested with real short TTLs and waits, and every time
// the store sets is compared with the store's own Now. Stores may keep times
// to the microsecond. The subtests run in parallel, each on its own store.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// Run runs the conformance suite. Each call to open returns a fresh, empty
// store; the caller closes it with t.Cleanup.
func Run(t *testing.T, open func(t testing.TB) gateway.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s gateway.Store)
	}{
		{"Devices", testDevices},
		{"Rotation", testRotation},
		{"Heartbeat", testHeartbeat},
		{"ClaimLRU", testClaimLRU},
		{"ClaimRooms", testClaimRooms},
		{"ClaimSkips", testClaimSkips},
		{"ClaimStale", testClaimStale},
		{"ClaimInvalid", testClaimInvalid},
		{"Fencing", testFencing},
		{"LeaseExpiry", testLeaseExpiry},
		{"ExpireLeases", testExpireLeases},
		{"ClaimHistory", testClaimHistory},
		{"FreeDevices", testFreeDevices},
		{"BusDevices", testBusDevices},
		{"ClaimConcurrency", testClaimConcurrency},
		{"DeskLeases", testDeskLeases},
		{"DeskConcurrency", testDeskConcurrency},
		{"NowAndPing", testNowAndPing},
		{"VerificationCreate", testVerificationCreate},
		{"Idempotency", testIdempotency},
		{"IdempotencyFingerprint", testIdempotencyFingerprint},
		{"Transition", testTransition},
		{"TransitionWithAttempt", testTransitionWithAttempt},
		{"Attempts", testAttempts},
		{"Events", testEvents},
		{"EventOrder", testEventOrder},
		{"MessageEvent", testMessageEvent},
		{"EventReport", testEventReport},
		{"VerificationsFilter", testVerificationsFilter},
		{"VerificationLease", testVerificationLease},
		{"Ownership", testOwnership},
		{"Origin", testOrigin},
		{"Tokens", testTokens},
		{"CredentialIdentity", testCredentialIdentity},
		{"CredentialExpiry", testCredentialExpiry},
		{"CredentialSessions", testCredentialSessions},
		{"Refusals", testRefusals},
		{"Orders", testOrders},
		{"Bus", testBus},
		{"Replays", testReplays},
		{"ClaimHealth", testClaimHealth},
		{"DeviceLifecycle", testDeviceLifecycle},
		{"DeviceStatusInCall", testDeviceStatusInCall},
		{"RoomOverrides", testRoomOverrides},
		{"OpsEvents", testOpsEvents},
		{"Log", testLog},
		{"LogConcurrent", testLogConcurrent},
		{"Retention", testRetention},
		{"RetentionConcurrent", testRetentionConcurrent},
		{"VerificationsListing", testVerificationsListing},
		{"ClaimDevice", testClaimDevice},
		{"ClaimDeviceRace", testClaimDeviceRace},
		{"VerificationByKey", testVerificationByKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// ctx bounds every call of a subtest.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantCode fails the test unless err carries the code ("" for no error).
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := gateway.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

// must fails the test on an error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// now returns the store's clock.
func now(t testing.TB, s gateway.Store) time.Time {
	t.Helper()
	n, err := s.Now(ctx(t))
	must(t, err)
	return n
}

// precision is how far a stored time may be from the one given: stores may
// keep microseconds.
const precision = time.Microsecond

// sameTime reports whether two times are equal to the store's precision.
func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return -precision <= d && d <= precision
}

// wantBetween fails the test unless lo <= got <= hi, to the store's
// precision.
func wantBetween(t testing.TB, what string, got, lo, hi time.Time) {
	t.Helper()
	if got.Before(lo.Add(-precision)) || got.After(hi.Add(precision)) {
		t.Fatalf("%s = %v, want between %v and %v", what, got, lo, hi)
	}
}

// device is a device in room with a number (so PSTN) and a handle on each
// channel given.
func device(id, room string, chans ...gateway.Channel) gateway.Device {
	h := map[gateway.Channel]string{}
	for _, c := range chans {
		h[c] = id + "@" + string(c)
	}
	return gateway.Device{ID: id, RoomID: room, Name: "handset " + id, Number: "+447700900123", Handles: h}
}

// mustCreate stores devices and gives each a heartbeat.
func mustCreate(t testing.TB, s gateway.Store, ds ...gateway.Device) {
	t.Helper()
	for _, d := range ds {
		if _, err := s.CreateDevice(ctx(t), d); err != nil {
			t.Fatalf("CreateDevice %s: %v", d.ID, err)
		}
		if _, err := s.Heartbeat(ctx(t), d.ID, 90, d.Channels()); err != nil {
			t.Fatalf("Heartbeat %s: %v", d.ID, err)
		}
	}
}

// claimReq is a claim of a video device for holder in rooms, for a minute.
func claimReq(holder string, rooms ...string) gateway.ClaimRequest {
	return gateway.ClaimRequest{RoomIDs: rooms, Channel: gateway.Channel("facetime"), Holder: holder, TTL: time.Minute}
}

// mustClaim claims and fails the test on an error.
func mustClaim(t testing.TB, s gateway.Store, req gateway.ClaimRequest) gateway.Lease {
	t.Helper()
	l, _, err := s.Claim(ctx(t), req)
	if err != nil {
		t.Fatalf("Claim %+v: %v", req, err)
	}
	return l
}

// receive waits for a message on ch.
func receive(t testing.TB, ch <-chan string, what string) string {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatalf("%s: subscription closed", what)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no message within 5s", what)
	}
	return ""
}

// receiveWant waits for payload on ch, skipping others.
func receiveWant(t testing.TB, ch <-chan string, what, payload string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("%s: subscription closed", what)
			}
			if m == payload {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no %q within 5s", what, payload)
		}
	}
}
