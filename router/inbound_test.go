package router_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/store/sqlite"
)

// pstnDevice adds a device in the room with its own number.
func (e *env) pstnDevice(id, room string, n int) gateway.Device {
	e.t.Helper()
	d, err := e.store.CreateDevice(context.Background(), gateway.Device{ID: id, RoomID: room, Name: id,
		Number: fmt.Sprintf("+4477009005%02d", n)})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// callIn is a call from the public to the room's published number.
func (e *env) callIn(room, sid string) gateway.InboundStep {
	e.t.Helper()
	rm, _ := e.rooms.Room(room)
	s, err := e.r.Inbound(context.Background(), gateway.InboundCall{CallSID: sid, To: rm.Number,
		Caller: gateway.MaskCaller("+447700900123"), CallerHash: gateway.HashCaller([]byte("k"), "+447700900123")})
	if err != nil {
		e.t.Fatalf("Inbound: %v", err)
	}
	return s
}

func wantStep(t testing.TB, s gateway.InboundStep, err error, kind gateway.StepKind) gateway.InboundStep {
	t.Helper()
	if err != nil {
		t.Fatalf("step: %v", err)
	}
	if s.Kind != kind {
		t.Fatalf("step %s (%+v), want %s", s.Kind, s, kind)
	}
	return s
}

func (e *env) lease(dev string) *gateway.Lease {
	e.t.Helper()
	d, err := e.store.Device(context.Background(), dev)
	if err != nil {
		e.t.Fatal(err)
	}
	return d.Lease
}

func TestInboundAnswered(t *testing.T) {
	e := newEnv(t)
	e.pstnDevice("AS-1", "AS", 1) // another room: not rung while the room has a device free
	d := e.pstnDevice("AW-1", "AW", 2)
	s := e.callIn("AW", "CA01")
	wantStep(t, s, nil, gateway.StepDial)
	if !s.Greet || s.Room.ID != "AW" || s.Number != d.Number || s.Timeout <= 0 || s.AttemptID == "" {
		t.Fatalf("first step %+v: want the greeting, then AW-1's number rung", s)
	}
	v := s.Verification
	if v.Origin != gateway.OriginPublic || v.Caller != "•••••••123" || v.CallerHash == "" || v.Officer != (gateway.Officer{}) ||
		v.RequestedBy != "public:AW" || v.State != gateway.StateDialling {
		t.Fatalf("verification %+v", v)
	}
	if l := e.lease("AW-1"); l == nil || l.Holder != v.ID {
		t.Fatalf("AW-1 lease %+v, want held by %s", l, v.ID)
	}
	// The same webhook again (a retry) rings the same device, nothing new.
	again := stepOf(t, gateway.StepDial)(e.r.Inbound(context.Background(), gateway.InboundCall{CallSID: "CA01", To: s.Room.Number}))
	if again.Verification.ID != v.ID || again.AttemptID != s.AttemptID {
		t.Fatalf("retry: %+v, want the same verification and attempt", again)
	}

	ctx := context.Background()
	if err := e.r.InboundLeg(ctx, v.ID, s.AttemptID, "in-progress"); err != nil {
		t.Fatal(err)
	}
	got, _ := e.store.Verification(ctx, v.ID)
	if got.State != gateway.StateConnected || got.Channel != gateway.ChannelPSTN || got.DeviceID != "AW-1" ||
		len(got.Attempts) != 1 || got.Attempts[0].Result != gateway.ResultConnected {
		t.Fatalf("after the answer: %+v", got)
	}
	if l := e.lease("AW-1"); l == nil || time.Until(l.ExpiresAt) < time.Minute {
		t.Fatalf("AW-1 lease %+v, want held for the call", l)
	}
	if err := e.r.InboundLeg(ctx, v.ID, s.AttemptID, "completed"); err != nil {
		t.Fatal(err)
	}
	if l := e.lease("AW-1"); l != nil {
		t.Fatalf("AW-1 still leased after the call ended: %+v", l)
	}
	end := stepOf(t, gateway.StepEnd)(e.r.InboundDialed(ctx, v.ID, s.AttemptID, "completed", true))
	if end.Verification.State != gateway.StateConnected {
		t.Fatalf("after the dial: %s, want connected awaiting the outcome", end.Verification.State)
	}
	out, err := e.r.RecordOutcome(ctx, v.ID, gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 42"})
	if err != nil || out.State != gateway.StateVerified || out.Origin != gateway.OriginPublic {
		t.Fatalf("outcome: %+v, %v", out, err)
	}
}

// stepOf checks a step is of the kind and returns it.
func stepOf(t testing.TB, kind gateway.StepKind) func(gateway.InboundStep, error) gateway.InboundStep {
	return func(s gateway.InboundStep, err error) gateway.InboundStep {
		t.Helper()
		return wantStep(t, s, err, kind)
	}
}

func TestInboundNoAnswerNextDevice(t *testing.T) {
	e := newEnv(t)
	e.pstnDevice("AW-1", "AW", 1)
	e.pstnDevice("AW-2", "AW", 2)
	ctx := context.Background()
	first := stepOf(t, gateway.StepDial)(e.callIn("AW", "CA02"), nil)
	id := first.Verification.ID
	second := stepOf(t, gateway.StepDial)(e.r.InboundDialed(ctx, id, first.AttemptID, "no-answer", false))
	if second.Number == first.Number || second.AttemptID == first.AttemptID || second.Greet {
		t.Fatalf("after no answer: %+v, want the other device rung", second)
	}
	// Busy too: the neighbours have none; both tried, so she waits.
	wait := stepOf(t, gateway.StepWait)(e.r.InboundDialed(ctx, id, second.AttemptID, "busy", false))
	if wait.Position != 1 {
		t.Fatalf("position %d, want 1", wait.Position)
	}
	v, _ := e.store.Verification(ctx, id)
	if len(v.Attempts) != 2 || v.Attempts[0].Result != gateway.ResultNoAnswer || v.Attempts[1].Result != gateway.ResultRejected ||
		v.Attempts[0].DeviceID == v.Attempts[1].DeviceID || v.State != gateway.StateQueued {
		t.Fatalf("record: %s %+v", v.State, v.Attempts)
	}
	for _, dev := range []string{"AW-1", "AW-2"} {
		if l := e.lease(dev); l != nil {
			t.Fatalf("%s still leased: %+v", dev, l)
		}
	}
	// Waiting, she is rung again on a device that did not answer before
	// rather than kept waiting while it is free.
	stepOf(t, gateway.StepDial)(e.r.InboundWait(ctx, id))
}

func TestInboundQueuedInArrivalOrder(t *testing.T) {
	e := newEnv(t)
	e.pstnDevice("AW-1", "AW", 1)
	ctx := context.Background()
	busy, _, err := e.store.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"AW"}, Channel: gateway.ChannelPSTN, Holder: "v_other", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	a := stepOf(t, gateway.StepWait)(e.callIn("AW", "CA0A"), nil)
	b := stepOf(t, gateway.StepWait)(e.callIn("AW", "CA0B"), nil)
	if !a.Greet || a.Position != 1 || b.Position != 2 {
		t.Fatalf("positions %d and %d, want 1 and 2", a.Position, b.Position)
	}
	if err := e.store.Release(ctx, busy, "done"); err != nil {
		t.Fatal(err)
	}
	// The second caller asks first: the first is still waiting, so she keeps waiting.
	if s := stepOf(t, gateway.StepWait)(e.r.InboundWait(ctx, b.Verification.ID)); s.Position != 2 {
		t.Fatalf("second caller's position %d, want 2", s.Position)
	}
	if l := e.lease("AW-1"); l != nil {
		t.Fatalf("AW-1 claimed out of turn: %+v", l)
	}
	first := stepOf(t, gateway.StepDial)(e.r.InboundWait(ctx, a.Verification.ID))
	if l := e.lease("AW-1"); l == nil || l.Holder != a.Verification.ID || first.Greet {
		t.Fatalf("AW-1 lease %+v, want the first caller's", l)
	}
	// The first is now ringing: the second is next.
	if s := stepOf(t, gateway.StepWait)(e.r.InboundWait(ctx, b.Verification.ID)); s.Position != 1 {
		t.Fatalf("second caller's position %d, want 1", s.Position)
	}
}

func TestInboundBudgetSpent(t *testing.T) {
	e := newEnv(t)
	e.r.Budget = 200 * time.Millisecond
	s := stepOf(t, gateway.StepWait)(e.callIn("AW", "CA03"), nil) // no device at all
	time.Sleep(250 * time.Millisecond)
	give := stepOf(t, gateway.StepGiveUp)(e.r.InboundWait(context.Background(), s.Verification.ID))
	if give.Verification.State != gateway.StateFailed || give.Verification.Reason == "" {
		t.Fatalf("after the budget: %+v", give.Verification)
	}
	// Asking again says the same.
	stepOf(t, gateway.StepGiveUp)(e.r.InboundWait(context.Background(), s.Verification.ID))
}

func TestInboundUnknownNumber(t *testing.T) {
	e := newEnv(t)
	_, err := e.r.Inbound(context.Background(), gateway.InboundCall{CallSID: "CA04", To: "+442079469999"})
	if gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Fatalf("a number no room publishes: %v, want ENOTFOUND", err)
	}
	v, _, err := e.store.CreateVerification(context.Background(), gateway.Verification{ID: "v_officer", RoomID: "AW",
		RequestedBy: "t_officer", Deadline: time.Now().Add(time.Minute)}, "", gateway.Event{Type: gateway.EventState})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.InboundWait(context.Background(), v.ID); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Fatalf("an officer's verification as a public call: %v, want ENOTFOUND", err)
	}
}

// A public call is never taken over as an officer's request: when it stops
// asking (she hung up), the sweeper ends it and frees its device.
func TestInboundHungUpNotTakenOver(t *testing.T) {
	e := newEnv(t)
	e.r.OwnerTTL = 200 * time.Millisecond
	e.pstnDevice("AW-1", "AW", 1)
	e.open()
	ringing := stepOf(t, gateway.StepDial)(e.callIn("AW", "CA06"), nil)
	waiting := stepOf(t, gateway.StepWait)(e.callIn("AW", "CA05"), nil)
	for _, id := range []string{waiting.Verification.ID, ringing.Verification.ID} {
		v := e.waitFor(10*time.Second, id, gateway.StateFailed)
		evs, _ := e.store.Events(context.Background(), id, 0, 0)
		for _, ev := range evs {
			if contains(ev.Message, "taken over") {
				t.Fatalf("%s taken over: %q", id, ev.Message)
			}
		}
		if v.Reason == "" {
			t.Fatalf("%s failed without a reason", id)
		}
	}
	if l := e.lease("AW-1"); l != nil {
		t.Fatalf("AW-1 still leased after her call ended: %+v", l)
	}
}

// The officers' queue serves in arrival order with the public's: an
// officer queued after a public caller waiting for the same room does not
// take the device that frees.
func TestInboundBeforeOfficerInQueue(t *testing.T) {
	e := newEnv(t)
	ft, _ := fake(gateway.Channel("facetime"), func() gateway.Reporter { return e.r }, never)
	if err := e.r.Register(ft); err != nil {
		t.Fatal(err)
	}
	e.r.Budget = 20 * time.Second
	e.r.OwnerTTL = 2 * time.Second
	d := e.device("AW-1", "AW", gateway.Channel("facetime"))
	if _, err := e.store.UpdateDevice(context.Background(), d.ID, func(d *gateway.Device) error { d.Number = "+447700900501"; return nil }); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	busy, _, err := e.store.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"AW"}, Channel: gateway.ChannelPSTN, Holder: "v_other", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e.open()
	her := stepOf(t, gateway.StepWait)(e.callIn("AW", "CA07"), nil)
	v := e.request(trafalgar, contact(gateway.Channel("facetime")))
	e.wait(v.ID, gateway.StateQueued)
	if err := e.store.Release(ctx, busy, "done"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // ten polls of the officers' queue
	hist, err := e.store.ClaimHistory(ctx, "AW-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range hist {
		if c.Holder == v.ID {
			t.Fatalf("AW-1 claimed for the officer while the caller who came first waits: %+v", hist)
		}
	}
	s := stepOf(t, gateway.StepDial)(e.r.InboundWait(ctx, her.Verification.ID))
	if l := e.lease("AW-1"); l == nil || l.Holder != s.Verification.ID {
		t.Fatalf("AW-1 lease %+v, want hers", l)
	}
}

// heartbeat records a heartbeat of the device with its battery, not
// charging.
func (e *env) heartbeat(id string, battery int) {
	e.t.Helper()
	if _, err := e.store.Heartbeat(context.Background(), id, battery, nil); err != nil {
		e.t.Fatal(err)
	}
}

// A public call rings no device the health policy takes out of routing: a
// stale heartbeat, a low battery, out of service, never seen. With the one
// healthy device busy she waits rather than ring any of them, and is rung
// on it when it frees.
func TestInboundSkipsUnroutableDevices(t *testing.T) {
	e := newEnv(t)
	e.r.HeartbeatStale, e.r.BatteryFloor = time.Second, gateway.DefaultBatteryFloor
	ctx := context.Background()
	e.pstnDevice("AW-1", "AW", 1) // stale
	e.heartbeat("AW-1", 100)
	time.Sleep(1100 * time.Millisecond)
	e.pstnDevice("AW-2", "AW", 2) // low battery
	e.heartbeat("AW-2", gateway.DefaultBatteryFloor-1)
	e.pstnDevice("AW-3", "AW", 3) // out of service
	e.heartbeat("AW-3", 100)
	if _, err := e.store.UpdateDevice(ctx, "AW-3", func(d *gateway.Device) error { d.Status = gateway.DeviceOutOfService; return nil }); err != nil {
		t.Fatal(err)
	}
	e.pstnDevice("AW-4", "AW", 4) // never seen
	e.pstnDevice("AW-5", "AW", 5) // healthy, and busy
	e.heartbeat("AW-5", 100)
	busy, _, err := e.store.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"AW"}, Channel: gateway.ChannelPSTN, Holder: "v_other",
		TTL: time.Minute, Stale: e.r.HeartbeatStale, BatteryFloor: e.r.BatteryFloor})
	if err != nil || busy.DeviceID != "AW-5" {
		t.Fatalf("claim of the healthy device: %+v, %v", busy, err)
	}
	s := e.callIn("AW", "CA10")
	if s.Kind != gateway.StepWait || len(s.Verification.Attempts) != 0 {
		t.Fatalf("step %s rang %q (attempts %+v): want her waiting, no unroutable device rung", s.Kind, s.Number, s.Verification.Attempts)
	}
	for _, id := range []string{"AW-1", "AW-2", "AW-3", "AW-4"} {
		if l := e.lease(id); l != nil {
			t.Fatalf("%s, not routable, claimed: %+v", id, l)
		}
	}
	if err := e.store.Release(ctx, busy, "done"); err != nil {
		t.Fatal(err)
	}
	e.heartbeat("AW-5", 100)
	dial := stepOf(t, gateway.StepDial)(e.r.InboundWait(ctx, s.Verification.ID))
	if dial.Number != "+447700900505" {
		t.Fatalf("rang %s, want AW-5, the only routable device", dial.Number)
	}
}

// A room with no device free: her call rings a free device of the nearest
// neighbouring room that has one (AW's neighbours are CN, AS, SW, NW, WA,
// nearest first), in the name of the room she called.
func TestInboundNeighbourWhenRoomHasNoneFree(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.pstnDevice("AW-1", "AW", 1)
	if _, _, err := e.store.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"AW"}, Channel: gateway.ChannelPSTN, Holder: "v_other", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	e.pstnDevice("WA-1", "WA", 2) // a further neighbour
	e.pstnDevice("AS-1", "AS", 3) // the second nearest
	e.pstnDevice("CE-1", "CE", 4) // not a neighbour of AW
	s := stepOf(t, gateway.StepDial)(e.callIn("AW", "CA11"), nil)
	if s.Number != "+447700900503" || s.Room.ID != "AW" || !s.Greet {
		t.Fatalf("step %+v: want AS-1 rung, greeting her as Central West", s)
	}
	v, _ := e.store.Verification(ctx, s.Verification.ID)
	if len(v.Attempts) != 1 || v.Attempts[0].DeviceID != "AS-1" || v.Attempts[0].RoomID != "AS" || v.RoomID != "AW" {
		t.Fatalf("record: room %s, attempts %+v", v.RoomID, v.Attempts)
	}
	if l := e.lease("AS-1"); l == nil || l.Holder != v.ID {
		t.Fatalf("AS-1 lease %+v, want hers", l)
	}
	// No answer there: the next neighbour with one free.
	next := stepOf(t, gateway.StepDial)(e.r.InboundDialed(ctx, v.ID, s.AttemptID, "no-answer", false))
	if next.Number != "+447700900502" {
		t.Fatalf("after no answer at AS-1 rang %s, want WA-1", next.Number)
	}
}

// gatedClaims is the store with its video claims held back while shut: a
// queue that has not yet served since a device freed.
type gatedClaims struct {
	*sqlite.Store
	shut atomic.Bool
}

func (g *gatedClaims) Claim(ctx context.Context, req gateway.ClaimRequest) (gateway.Lease, gateway.Device, error) {
	if g.shut.Load() && req.Channel != gateway.ChannelPSTN {
		return gateway.Lease{}, gateway.Device{}, gateway.Errorf(gateway.EUNAVAILABLE, "held back by the test")
	}
	return g.Store.Claim(ctx, req)
}

// busyDevice leases the device to another verification for a minute.
func (e *env) busyDevice(id string, ch gateway.Channel) gateway.Lease {
	e.t.Helper()
	l, _, err := e.store.ClaimDevice(context.Background(), gateway.DeviceClaim{DeviceID: id, Channel: ch, Holder: "v_other", TTL: time.Minute})
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// registerFakes registers adapters for the channels whose calls are placed
// and never heard of again (no report that could outlive the test).
func (e *env) registerFakes(chans ...gateway.Channel) {
	e.t.Helper()
	silent := func(int, gateway.Leg) (gateway.ReportStatus, gateway.Fate, error) { return "", 0, nil }
	for _, ch := range chans {
		a, _ := fake(ch, func() gateway.Reporter { return e.r }, silent)
		if err := e.r.Register(a); err != nil {
			e.t.Fatal(err)
		}
	}
}

// heldBy fails unless the device's live lease is the holder's.
func (e *env) heldBy(dev, holder string) {
	e.t.Helper()
	if l := e.lease(dev); l == nil || l.Holder != holder {
		e.t.Fatalf("%s lease %+v, want held by %s", dev, l, holder)
	}
}

// neverClaimedBy fails if the device was ever claimed for the holder.
func (e *env) neverClaimedBy(dev, holder string) {
	e.t.Helper()
	hist, err := e.store.ClaimHistory(context.Background(), dev)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range hist {
		if c.Holder == holder {
			e.t.Fatalf("%s claimed for %s: %+v", dev, holder, hist)
		}
	}
}

// An officer queued first for WhatsApp does not keep a later public caller
// from the one free handset, which has FaceTime and a number but no
// WhatsApp: his claim cannot take it, her call needs only its number, and
// she is rung on it at once rather than told to dial 999 when her budget
// is spent.
func TestInboundPastOfficerWhoCannotUseTheFreeDevice(t *testing.T) {
	e := newEnv(t)
	e.r.Budget = 20 * time.Second
	e.registerFakes("whatsapp")
	e.device("AW-W", "AW", "whatsapp")
	e.busyDevice("AW-W", "whatsapp")
	e.device("AW-F", "AW", "facetime") // FaceTime and a number: free
	e.open()
	v := e.request(trafalgar, contact("whatsapp"))
	e.wait(v.ID, gateway.StateQueued)

	s := stepOf(t, gateway.StepDial)(e.callIn("AW", "CA20"), nil)
	e.heldBy("AW-F", s.Verification.ID)
	if got, _ := e.store.Verification(context.Background(), v.ID); got.State != gateway.StateQueued {
		t.Fatalf("officer %s, want still queued for WhatsApp", got.State)
	}
	e.neverClaimedBy("AW-F", v.ID)
}

// An officer queued first keeps his turn for a handset he can use: a later
// caller who asks while it is free, before his queue has served, is not
// rung on it (though it is the least recently used) but on another free
// handset he cannot use; and he gets his.
func TestInboundLeavesOfficerTheDeviceHeCanUse(t *testing.T) {
	e := newEnv(t)
	e.r.Budget = 20 * time.Second
	g := &gatedClaims{Store: e.store}
	g.shut.Store(true)
	e.r.Claims = g
	e.registerFakes("whatsapp")
	e.device("AW-W", "AW", "whatsapp")     // his: WhatsApp and a number
	e.device("AW-F", "AW", "facetime")     // FaceTime and a number
	bw := e.busyDevice("AW-W", "whatsapp") // used first: a claim's first choice
	bf := e.busyDevice("AW-F", "facetime")
	e.open()
	v := e.request(trafalgar, contact("whatsapp"))
	e.wait(v.ID, gateway.StateQueued)
	her := stepOf(t, gateway.StepWait)(e.callIn("AW", "CA21"), nil)
	if her.Position != 2 {
		t.Fatalf("her position %d, want 2 (behind the officer)", her.Position)
	}
	ctx := context.Background()
	for _, l := range []gateway.Lease{bw, bf} {
		if err := e.store.Release(ctx, l, "done"); err != nil {
			t.Fatal(err)
		}
	}

	s := stepOf(t, gateway.StepDial)(e.r.InboundWait(ctx, her.Verification.ID))
	e.heldBy("AW-F", s.Verification.ID)
	if l := e.lease("AW-W"); l != nil {
		t.Fatalf("AW-W, the officer's, claimed: %+v", l)
	}
	g.shut.Store(false)
	e.wait(v.ID, gateway.StateDialling)
	e.heldBy("AW-W", v.ID)
	e.neverClaimedBy("AW-W", s.Verification.ID)
}

// A public caller queued first keeps no officer from a free handset her
// call cannot use: the handset she could have is under the battery floor,
// and a later officer takes a free FaceTime handset without a number.
func TestInboundOfficerPastCallerWhoCannotUseTheFreeDevice(t *testing.T) {
	e := newEnv(t)
	e.r.BatteryFloor = gateway.DefaultBatteryFloor
	e.r.Budget = 20 * time.Second
	e.r.OwnerTTL = 2 * time.Second // her call holds its place for 6s
	e.registerFakes("facetime")
	ctx := context.Background()
	e.device("AW-L", "AW", "facetime") // FaceTime and a number, battery low
	e.heartbeat("AW-L", gateway.DefaultBatteryFloor-1)
	if _, err := e.store.CreateDevice(ctx, gateway.Device{ID: "AW-F", RoomID: "AW", Name: "AW-F",
		Handles: map[gateway.Channel]string{"facetime": "aw-f@example.police.uk"}}); err != nil { // no number
		t.Fatal(err)
	}
	busy := e.busyDevice("AW-F", "facetime")
	e.open()
	her := stepOf(t, gateway.StepWait)(e.callIn("AW", "CA22"), nil)
	v := e.request(trafalgar, contact("facetime"))
	e.wait(v.ID, gateway.StateQueued)
	if err := e.store.Release(ctx, busy, "done"); err != nil {
		t.Fatal(err)
	}

	e.waitFor(2*time.Second, v.ID, gateway.StateDialling)
	e.heldBy("AW-F", v.ID)
	e.neverClaimedBy("AW-L", v.ID)
	stepOf(t, gateway.StepWait)(e.r.InboundWait(ctx, her.Verification.ID))
}
