package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
)

// TestPublicRingsHandset runs the whole gateway: a member of the public
// video-calls a Central West handset's WhatsApp directly and its simulated
// agent rings the call in. Her verification (origin public) is visible to
// the supervisor, the handset is claimed (and kept claimed by the agent's
// heartbeats) while the call lasts and freed when it ends, and the
// supervisor records the outcome. Her number is in no answer, event or log
// line.
func TestPublicRingsHandset(t *testing.T) {
	t.Parallel()
	const caller = "+447700900888"
	ctx := context.Background()
	g := startGateway(t, testEnv(t, "GATEWAY_LEASE_TTL=1s", "GATEWAY_SWEEP_INTERVAL=200ms"), nil)
	d := g.addDevice(t, "AW", "+447700900531", facetimeWhatsApp("+447700900531"))
	a := g.startAgent(t, d, nil)

	ans, err := a.RingIn(ctx, "whatsapp", caller, "wa-call-1")
	if err != nil {
		t.Fatalf("ring in: %v", err)
	}
	if ans.Verification == "" || ans.Reference == "" || ans.Attempt == "" || ans.State != gateway.StateDialling {
		t.Fatalf("ring-in answer %+v", ans)
	}
	v := g.verification(t, g.supervisor, ans.Verification)
	if v.Origin != gateway.OriginPublic || v.Caller != "•••••••888" || v.Room != "AW" || v.Reference != ans.Reference ||
		len(v.Attempts) != 1 || v.Attempts[0].Device != d.ID || v.Attempts[0].Channel != "whatsapp" {
		t.Fatalf("the supervisor sees %+v", v)
	}
	var dev httpapi.DeviceReply
	g.call(t, "GET", "/v1/devices/"+d.ID, g.ops, nil, http.StatusOK, &dev)
	if dev.Device.Lease == nil || dev.Device.Lease.Holder != ans.Verification {
		t.Fatalf("the handset's lease %+v, want held by %s", dev.Device.Lease, ans.Verification)
	}
	// Reported again (a retry): the same verification.
	if again, err := a.RingIn(ctx, "whatsapp", caller, "wa-call-1"); err != nil || again != ans {
		t.Fatalf("retry: %+v %v, want %+v", again, err, ans)
	}
	// Another call while this one lasts is refused.
	if _, err := a.RingIn(ctx, "whatsapp", "", "wa-call-2"); gateway.ErrorCode(err) != gateway.ECONFLICT {
		t.Fatalf("a second call on the busy handset: %v, want ECONFLICT", err)
	}

	if err := a.ReportCall(ctx, ans.Verification, gateway.ReportAnswered, ""); err != nil {
		t.Fatal(err)
	}
	if v := g.waitState(t, ans.Verification, gateway.StateConnected); v.Channel != "whatsapp" || v.Device != d.ID {
		t.Fatalf("connected on %s/%s", v.Channel, v.Device)
	}
	// Past three lease lives the handset is still the call's: the agent's
	// heartbeats keep it.
	first := dev.Device.Lease.ExpiresAt
	time.Sleep(3 * time.Second)
	g.call(t, "GET", "/v1/devices/"+d.ID, g.ops, nil, http.StatusOK, &dev)
	if dev.Device.Lease == nil || dev.Device.Lease.Holder != ans.Verification || !dev.Device.Lease.ExpiresAt.After(first) {
		t.Fatalf("the handset's lease after 3 s: %+v, want the call's, renewed", dev.Device.Lease)
	}

	if err := a.ReportCall(ctx, ans.Verification, gateway.ReportEnded, ""); err != nil {
		t.Fatal(err)
	}
	g.waitFree(t, d.ID)
	out := g.outcome(t, ans.Verification, gateway.OutcomeVerified)
	if out.State != gateway.StateVerified || out.Origin != gateway.OriginPublic {
		t.Fatalf("after the outcome: %+v", out)
	}

	digits := regexp.MustCompile(`7700\D?900\D?888`)
	_, evs := g.send(t, "GET", "/v1/verifications/"+ans.Verification+"/events", g.supervisor, nil, http.Header{"Accept": {"application/json"}})
	_, body := g.send(t, "GET", "/v1/verifications/"+ans.Verification, g.supervisor, nil, nil)
	for what, b := range map[string][]byte{"verification": body, "events": evs, "log": []byte(g.log.tail(1 << 30))} {
		if digits.Match(b) {
			t.Fatalf("the %s shows her number", what)
		}
	}
}

// An agent that goes silent mid-call: the handset's claim lapses and it
// goes back to the pool; the call, answered, waits for the outcome.
func TestPublicRingsHandsetAgentSilent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := startGateway(t, testEnv(t, "GATEWAY_LEASE_TTL=1s", "GATEWAY_SWEEP_INTERVAL=200ms"), nil)
	d := g.addDevice(t, "AW", "+447700900532", facetimeWhatsApp("+447700900532"))
	a := g.startAgent(t, d, nil)
	ans, err := a.RingIn(ctx, "whatsapp", "", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ReportCall(ctx, ans.Verification, gateway.ReportAnswered, ""); err != nil {
		t.Fatal(err)
	}
	a.SetSilent(true)
	g.waitFree(t, d.ID)
	if v := g.verification(t, g.supervisor, ans.Verification); v.State != gateway.StateConnected {
		t.Fatalf("after the claim lapsed: %s, want connected", v.State)
	}
	g.outcome(t, ans.Verification, gateway.OutcomeRefused)
}

// The demo's POST /demo/ring-device/{device}: the handset's simulated
// agent rings in a WhatsApp call, which is answered.
func TestDemoRingDevice(t *testing.T) {
	t.Parallel()
	m := startDemo(t, "")
	client := newClient(t)
	post := func(path string) (int, []byte) {
		resp, err := client.Post(m.URL()+path, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	status, body := post("/demo/ring-device/AW-1?channel=whatsapp")
	var ans struct {
		Verification, Reference string
	}
	if err := json.Unmarshal(body, &ans); err != nil || status != http.StatusCreated || ans.Verification == "" {
		t.Fatalf("ring-device: %d %s", status, body)
	}
	v, err := m.Store.Verification(context.Background(), ans.Verification)
	if err != nil || v.Origin != gateway.OriginPublic || v.RoomID != "AW" || v.Reference != ans.Reference {
		t.Fatalf("verification %+v, %v", v, err)
	}
	if status, body := post("/demo/ring-device/AW-1?channel=whatsapp"); status != http.StatusConflict || errorCode(t, body) != gateway.ECONFLICT {
		t.Fatalf("ringing the busy handset again: %d %s", status, body)
	}
	if status, body := post("/demo/ring-device/ZZ-9"); status != http.StatusNotFound || errorCode(t, body) != gateway.ENOTFOUND {
		t.Fatalf("an unknown handset: %d %s", status, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ = m.Store.Verification(context.Background(), ans.Verification)
		if v.State == gateway.StateConnected || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v.State != gateway.StateConnected {
		t.Fatalf("the demo's call: %s, want connected", v.State)
	}
}
