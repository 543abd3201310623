package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

const wa = gateway.Channel("whatsapp")

// ringIn is her WhatsApp call ringing on the device, with the agent's call
// ID.
func (e *env) ringIn(dev, callID string) (gateway.Verification, bool, error) {
	return e.r.RingIn(context.Background(), gateway.HandsetCall{DeviceID: dev, Channel: wa, CallID: callID,
		Caller: gateway.MaskCaller("+447700900123"), CallerHash: gateway.HashCaller([]byte("k"), "+447700900123")})
}

func (e *env) report(dev, id string, st gateway.ReportStatus) gateway.Verification {
	e.t.Helper()
	v, err := e.r.HandsetReport(context.Background(), dev, id, st, "")
	if err != nil {
		e.t.Fatalf("HandsetReport %s: %v", st, err)
	}
	return v
}

func TestRingInAnswered(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.device("AW-1", "AW", wa)
	v, created, err := e.ringIn("AW-1", "wa-call-1")
	if err != nil || !created {
		t.Fatalf("RingIn: created %v, %v", created, err)
	}
	if v.Origin != gateway.OriginPublic || v.State != gateway.StateDialling || v.RoomID != "AW" ||
		v.Caller != "•••••••123" || v.CallerHash == "" || v.Officer != (gateway.Officer{}) || v.Reference == "" {
		t.Fatalf("verification %+v", v)
	}
	if len(v.Attempts) != 1 || v.Attempts[0].DeviceID != "AW-1" || v.Attempts[0].Channel != wa || !v.Attempts[0].Open() {
		t.Fatalf("attempts %+v, want one open on AW-1 by WhatsApp", v.Attempts)
	}
	l := e.lease("AW-1")
	if l == nil || l.Holder != v.ID {
		t.Fatalf("AW-1 lease %+v, want held by %s", l, v.ID)
	}
	// The router sends it nothing else: an officer's claim finds no device.
	if _, _, err := e.store.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"AW"}, Channel: wa, Holder: "v_officer", TTL: time.Minute}); gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
		t.Fatalf("officer's claim while her call rings: %v, want EUNAVAILABLE", err)
	}
	// The same report again: the same verification, nothing claimed anew.
	again, created, err := e.ringIn("AW-1", "wa-call-1")
	if err != nil || created || again.ID != v.ID {
		t.Fatalf("retry: %s created %v %v, want %s", again.ID, created, err, v.ID)
	}
	if l2 := e.lease("AW-1"); l2 == nil || l2.Fence != l.Fence {
		t.Fatalf("lease after the retry %+v, want fence %d still", l2, l.Fence)
	}

	got := e.report("AW-1", v.ID, gateway.ReportAnswered)
	if got.State != gateway.StateConnected || got.Channel != wa || got.DeviceID != "AW-1" || got.Attempts[0].Result != gateway.ResultConnected {
		t.Fatalf("after answered: %s on %s/%s, attempt %+v", got.State, got.Channel, got.DeviceID, got.Attempts[0])
	}
	// A heartbeat renews the claim.
	before := e.lease("AW-1")
	time.Sleep(20 * time.Millisecond)
	d, err := e.store.Device(ctx, "AW-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.r.HandsetAlive(ctx, d); err != nil {
		t.Fatal(err)
	}
	if after := e.lease("AW-1"); after == nil || !after.ExpiresAt.After(before.ExpiresAt) {
		t.Fatalf("lease after a heartbeat %+v, want renewed past %s", after, before.ExpiresAt)
	}

	ended := e.report("AW-1", v.ID, gateway.ReportEnded)
	if ended.State != gateway.StateConnected || ended.Lease != nil {
		t.Fatalf("after ended: %s, lease %+v; want connected, awaiting the outcome, and the handset free", ended.State, ended.Lease)
	}
	if l := e.lease("AW-1"); l != nil {
		t.Fatalf("AW-1 still held after the end: %+v", l)
	}
	out, err := e.r.RecordOutcome(ctx, v.ID, gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 42"})
	if err != nil || out.State != gateway.StateVerified {
		t.Fatalf("outcome: %s %v", out.State, err)
	}
	// Reported again after all that: the same verification, nothing claimed.
	late, created, err := e.ringIn("AW-1", "wa-call-1")
	if err != nil || created || late.ID != v.ID || e.lease("AW-1") != nil {
		t.Fatalf("late retry: %s created %v %v, lease %+v", late.ID, created, err, e.lease("AW-1"))
	}
}

func TestRingInRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.device("AW-1", "AW", wa)
	e.device("AW-2", "AW", wa)
	e.device("AW-3", "AW", gateway.Channel("facetime"))
	busy, _, err := e.store.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"AW"}, Channel: wa, Holder: "v_officer", TTL: time.Minute})
	if err != nil || busy.DeviceID != "AW-1" {
		t.Fatalf("officer's claim: %+v %v", busy, err)
	}
	oos := gateway.DeviceOutOfService
	if _, err := e.store.UpdateDevice(ctx, "AW-2", func(d *gateway.Device) error { d.Status = oos; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dev string
		code      string
	}{
		{"busy", "AW-1", gateway.ECONFLICT},
		{"out of service", "AW-2", gateway.ECONFLICT},
		{"no WhatsApp", "AW-3", gateway.EINVALID},
		{"unknown", "AW-9", gateway.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, created, err := e.ringIn(tc.dev, "call-"+tc.dev)
			if gateway.ErrorCode(err) != tc.code || created {
				t.Fatalf("RingIn: created %v, %v; want %s", created, err, tc.code)
			}
			if _, err := e.store.VerificationByKey(ctx, gateway.HandsetRequester+tc.dev, "call-"+tc.dev); gateway.ErrorCode(err) != gateway.ENOTFOUND {
				t.Fatalf("a refused call was recorded: %v", err)
			}
		})
	}
	if l := e.lease("AW-1"); l == nil || l.Holder != "v_officer" || l.Fence != busy.Fence {
		t.Fatalf("AW-1's lease %+v, want the officer's still", l)
	}
	for _, id := range []string{"AW-2", "AW-3"} {
		if l := e.lease(id); l != nil {
			t.Fatalf("%s claimed by a refused call: %+v", id, l)
		}
	}
	if _, _, err := e.r.RingIn(ctx, gateway.HandsetCall{DeviceID: "AW-3", Channel: wa}); gateway.ErrorCode(err) != gateway.EINVALID {
		t.Fatalf("no call ID: %v, want EINVALID", err)
	}
}

func TestRingInNotAnswered(t *testing.T) {
	for _, tc := range []struct {
		status gateway.ReportStatus
		result gateway.AttemptResult
	}{
		{gateway.ReportNoAnswer, gateway.ResultNoAnswer},
		{gateway.ReportRejected, gateway.ResultRejected},
		{gateway.ReportFailed, gateway.ResultFailed},
		{gateway.ReportEnded, gateway.ResultCancelled},
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			e := newEnv(t)
			e.device("AW-1", "AW", wa)
			v, _, err := e.ringIn("AW-1", "c1")
			if err != nil {
				t.Fatal(err)
			}
			got := e.report("AW-1", v.ID, tc.status)
			if got.State != gateway.StateFailed || got.Attempts[0].Result != tc.result || e.lease("AW-1") != nil {
				t.Fatalf("after %s: %s, attempt %s, lease %+v; want failed, %s, the handset free",
					tc.status, got.State, got.Attempts[0].Result, e.lease("AW-1"), tc.result)
			}
			// Told again: nothing more.
			if again := e.report("AW-1", v.ID, tc.status); again.State != gateway.StateFailed {
				t.Fatalf("again: %s", again.State)
			}
		})
	}
}

func TestHandsetReportNotFound(t *testing.T) {
	e := newEnv(t)
	e.device("AW-1", "AW", wa)
	e.device("AW-2", "AW", wa)
	v, _, err := e.ringIn("AW-1", "c1")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string][2]string{
		"another handset's call": {"AW-2", v.ID},
		"no such verification":   {"AW-1", "v_nope"},
	} {
		if _, err := e.r.HandsetReport(context.Background(), tc[0], tc[1], gateway.ReportAnswered, ""); gateway.ErrorCode(err) != gateway.ENOTFOUND {
			t.Errorf("%s: %v, want ENOTFOUND", name, err)
		}
	}
	if _, err := e.r.HandsetReport(context.Background(), "AW-1", v.ID, gateway.ReportJoined, ""); gateway.ErrorCode(err) != gateway.EINVALID {
		t.Errorf("joined: %v, want EINVALID", err)
	}
	if got, _ := e.store.Verification(context.Background(), v.ID); got.State != gateway.StateDialling {
		t.Fatalf("state %s after refused reports, want dialling", got.State)
	}
}

// An agent gone silent: its claim lapses and the sweeper frees the
// handset; a call never answered ends, one answered stays connected for
// the supervisor's outcome.
func TestRingInLapsed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.r.LeaseTTL = 150 * time.Millisecond
	e.device("AW-1", "AW", wa)
	e.device("AW-2", "AW", wa)
	ringing, _, err := e.ringIn("AW-1", "c1")
	if err != nil {
		t.Fatal(err)
	}
	answered, _, err := e.ringIn("AW-2", "c2")
	if err != nil {
		t.Fatal(err)
	}
	e.report("AW-2", answered.ID, gateway.ReportAnswered)
	time.Sleep(300 * time.Millisecond)
	e.r.Sweep(ctx)
	for _, id := range []string{"AW-1", "AW-2"} {
		if l := e.lease(id); l != nil {
			t.Fatalf("%s still held after its claim lapsed: %+v", id, l)
		}
	}
	if v, _ := e.store.Verification(ctx, ringing.ID); v.State != gateway.StateFailed {
		t.Fatalf("the call never answered: %s, want failed", v.State)
	}
	if v, _ := e.store.Verification(ctx, answered.ID); v.State != gateway.StateConnected {
		t.Fatalf("the call answered: %s, want connected (awaiting the outcome)", v.State)
	}
}
