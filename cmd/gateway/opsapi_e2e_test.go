package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	simagent "github.com/safeconnection/gateway/mocks/agent"
	"github.com/safeconnection/gateway/store/postgres/pgtest"
)

// runAgent runs the simulated agent of d under a context of its own and
// returns the agent, a function that stops it, and the channel its Run's
// error arrives on.
func (g *rig) runAgent(tb testing.TB, d device) (*simagent.Agent, func(), <-chan error) {
	tb.Helper()
	a := simagent.New(g.m.URL(), d.secret)
	a.HTTPClient = newClient(tb)
	a.Logger = g.logger(logrus.Fields{"device": d.ID})
	a.Apps = d.apps()
	a.HeartbeatEvery = 200 * time.Millisecond
	a.PollWait = time.Second
	a.RetryEvery = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tb.Cleanup(cancel)
	return a, cancel, done
}

// TestRotationDuringACall: a handset rotated (new SIM number, new handles,
// new agent credential) while it is in a call. The call goes on and
// completes on the old handset; the answer says the change waits; when the
// call ends the change is made, the old handset's credential stops
// working, the next verification is placed with the new handles through
// the new handset's agent, and the history shows both versions.
func TestRotationDuringACall(t *testing.T) {
	g := startGateway(t, testEnv(t), nil)
	old := g.addDevice(t, "AW", "+447700900601", map[gateway.Channel]string{"facetime": "+447700900601"})
	oldAgent, stopOld, oldDone := g.runAgent(t, old)
	defer stopOld()
	eventually(t, "the old handset's heartbeat", func() bool {
		d, err := g.m.Store.Device(context.Background(), old.ID)
		return err == nil && !d.LastSeen.IsZero()
	})

	v := g.request(t, trafalgar, contact{"facetime", officerEmail})
	v = g.waitState(t, v.ID, gateway.StateConnected)
	if v.Device != old.ID || v.Channel != "facetime" {
		t.Fatalf("first call on %s/%s", v.Device, v.Channel)
	}

	var reply httpapi.DeviceReply
	g.call(t, "POST", "/v1/devices/"+old.ID+"/rotate", g.ops, map[string]any{
		"name": "AW handset 2", "number": "+447700900602",
		"handles":           map[string]string{"facetime": "+447700900602", "whatsapp": "+447700900602"},
		"rotate_credential": true, "reason": "handset swapped",
	}, http.StatusOK, &reply)
	if !reply.Pending || reply.Changes["number"] != "+447700900602" || reply.Credential == nil {
		t.Fatalf("rotation during the call: %+v", reply)
	}
	var dv httpapi.DeviceReply
	g.call(t, "GET", "/v1/devices/"+old.ID, g.ops, nil, http.StatusOK, &dv)
	if dv.Device.Number != old.Number || dv.Device.Handles["whatsapp"] != "" || dv.Device.Lease == nil {
		t.Fatalf("the device in its call changed: %+v", dv.Device)
	}

	// The call completes on the old handset.
	v = g.outcome(t, v.ID, gateway.OutcomeVerified)
	if v.State != gateway.StateVerified || v.Device != old.ID {
		t.Fatalf("first call ended %s on %s", v.State, v.Device)
	}
	g.waitFree(t, old.ID)
	select {
	case err := <-oldDone:
		if gateway.ErrorCode(err) != gateway.EUNAUTHORIZED {
			t.Fatalf("the old handset's agent ended with %v, want its credential refused", err)
		}
	case <-time.After(waitFor):
		t.Fatal("the old handset's credential still works after the call")
	}
	for _, o := range oldAgent.Orders() {
		if o.VerificationID != v.ID {
			t.Errorf("the old handset took an order of %s, want the first call's only", o.VerificationID)
		}
	}

	// The next verification: on the new handles, through the new handset.
	rotated := device{ID: old.ID, Room: "AW", Number: "+447700900602",
		Handles: map[gateway.Channel]string{"facetime": "+447700900602", "whatsapp": "+447700900602"}, secret: reply.Credential.Secret}
	newAgent, stopNew, _ := g.runAgent(t, rotated)
	defer stopNew()
	eventually(t, "the new handset's heartbeat", func() bool {
		d, err := g.m.Store.Device(context.Background(), old.ID)
		return err == nil && slices.Contains(d.Apps, "whatsapp")
	})
	w := g.request(t, trafalgar, contact{"whatsapp", officerNumber})
	w = g.waitState(t, w.ID, gateway.StateConnected)
	if w.Device != old.ID || w.Channel != "whatsapp" {
		t.Fatalf("next call on %s/%s, want whatsapp on the rotated device", w.Device, w.Channel)
	}
	if os := newAgent.Orders(); len(os) != 1 || os[0].VerificationID != w.ID {
		t.Fatalf("the new handset's orders: %+v", os)
	}

	var hist httpapi.HistoryReply
	g.call(t, "GET", "/v1/devices/"+old.ID+"/history", g.ops, nil, http.StatusOK, &hist)
	if len(hist.Versions) != 2 || hist.Versions[0].Number != "+447700900601" || hist.Versions[1].Number != "+447700900602" ||
		hist.Versions[1].Handles["whatsapp"] != "+447700900602" || hist.Versions[1].Reason != "handset swapped" {
		t.Fatalf("history: %+v", hist.Versions)
	}
	var evs httpapi.OpsEventsReply
	g.call(t, "GET", "/v1/ops-events?device="+old.ID, g.ops, nil, http.StatusOK, &evs)
	var acts []string
	for _, ev := range evs.Events {
		acts = append(acts, ev.Action)
		if ev.Actor.Name != "ops desk" {
			t.Errorf("event %s by %+v, want the ops desk", ev.Action, ev.Actor)
		}
	}
	if want := []string{gateway.OpsDeviceAdd, gateway.OpsDeviceRotate, gateway.OpsDeviceApplied}; !slices.Equal(acts, want) {
		t.Fatalf("ops record %v, want %v", acts, want)
	}
}

// TestOutOfServiceDuringACall: taken out of service in a call, the device
// finishes the call, then takes no new one until it is returned; retired,
// it takes none again.
func TestOutOfServiceDuringACall(t *testing.T) {
	g := startGateway(t, testEnv(t), nil)
	d := g.addDevice(t, "AW", "+447700900611", facetimeWhatsApp("+447700900611"))
	_, stop, done := g.runAgent(t, d) // its credential is revoked when it is retired
	defer stop()
	eventually(t, "the handset's heartbeat", func() bool {
		dev, err := g.m.Store.Device(context.Background(), d.ID)
		return err == nil && !dev.LastSeen.IsZero()
	})
	v := g.waitState(t, g.request(t, trafalgar, contact{"facetime", officerEmail}).ID, gateway.StateConnected)

	var reply httpapi.DeviceReply
	g.call(t, "POST", "/v1/devices/"+d.ID+"/out-of-service", g.ops, map[string]string{"reason": "battery swelling"}, http.StatusOK, &reply)
	if !reply.Pending || reply.Changes["status"] != "out_of_service" || reply.Device.Status != gateway.DeviceInService {
		t.Fatalf("out of service during the call: %+v", reply)
	}
	if v = g.outcome(t, v.ID, gateway.OutcomeVerified); v.State != gateway.StateVerified {
		t.Fatalf("the call ended %s", v.State)
	}
	g.waitFree(t, d.ID)
	dev, err := g.m.Store.Device(context.Background(), d.ID)
	if err != nil || dev.Status != gateway.DeviceOutOfService {
		t.Fatalf("after the call: %s, %v", dev.Status, err)
	}
	// No free device: the next request queues, and connects once the
	// device is returned.
	w := g.request(t, trafalgar, contact{"facetime", officerEmail})
	g.waitState(t, w.ID, gateway.StateQueued)
	g.call(t, "POST", "/v1/devices/"+d.ID+"/return", g.ops, map[string]string{"reason": "new battery"}, http.StatusOK, &reply)
	if reply.Pending || reply.Device.Status != gateway.DeviceInService {
		t.Fatalf("return: %+v", reply)
	}
	w = g.waitState(t, w.ID, gateway.StateConnected)
	g.call(t, "POST", "/v1/devices/"+d.ID+"/retire", g.ops, map[string]string{"reason": "end of contract"}, http.StatusOK, &reply)
	if !reply.Pending {
		t.Fatalf("retire during a call: %+v", reply)
	}
	g.outcome(t, w.ID, gateway.OutcomeVerified)
	g.waitFree(t, d.ID)
	var hist httpapi.HistoryReply
	g.call(t, "GET", "/v1/devices/"+d.ID+"/history", g.ops, nil, http.StatusOK, &hist)
	var got []string
	for _, h := range hist.Versions {
		got = append(got, string(h.Status)+":"+h.Reason)
	}
	want := []string{"in_service:", "out_of_service:battery swelling", "in_service:new battery", "retired:end of contract"}
	if !slices.Equal(got, want) {
		t.Fatalf("history %v, want %v", got, want)
	}
	select {
	case err := <-done:
		if gateway.ErrorCode(err) != gateway.EUNAUTHORIZED {
			t.Fatalf("the retired handset's agent ended with %v, want its credential refused", err)
		}
	case <-time.After(waitFor):
		t.Fatal("a retired handset's credential still works")
	}
}

// TestRoomUpdateSeenByAnotherInstance: two gateways on one PostgreSQL; a
// room's number changed through the first is the official number on the
// second, which finds the room by it for the public's calls and its
// number check.
func TestRoomUpdateSeenByAnotherInstance(t *testing.T) {
	url := pgtest.URL(t)
	var inst []*multiInstance
	for i := range 2 {
		inst = append(inst, multiStart(t, []string{
			"GATEWAY_ADDR=127.0.0.1:0",
			"GATEWAY_DATA_DIR=" + t.TempDir(),
			fmt.Sprintf("GATEWAY_INSTANCE=rooms-%c", 'a'+i),
			"GATEWAY_LOG_LEVEL=warn",
			"GATEWAY_STORE=" + url,
		}, nil))
	}
	ops := multiToken(t, inst[0].m.Store, gateway.RoleOps, "ops desk", "")
	c := &multiCluster{inst: inst, client: multiClient(t)}
	do := func(i int, method, path string, in any, want int, out any) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := c.call(ctx, i, method, path, ops, in, want, out); err != nil {
			t.Fatal(err)
		}
	}
	var room httpapi.RoomReply
	do(0, "PATCH", "/v1/rooms/AW", map[string]any{"number": "+442079460999",
		"handles": map[string]string{"whatsapp": "+447700900999"}, "neighbours": []string{"CN"}}, 200, &room)
	if room.Room.Number != "+442079460999" {
		t.Fatalf("answer: %+v", room.Room)
	}
	deadline := time.Now().Add(waitFor)
	for {
		r, ok := inst[1].m.Rooms.ByNumber("+442079460999")
		if ok && r.ID == "AW" && r.Handles["whatsapp"] == "+447700900999" && slices.Equal(r.Neighbours, []string{"CN"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second instance does not see the new number: %+v, %v", r, ok)
		}
		time.Sleep(25 * time.Millisecond)
	}
	if _, ok := inst[1].m.Rooms.Official("020 7946 0999", ""); !ok {
		t.Error("the new number is not official on the second instance")
	}
	do(1, "GET", "/v1/rooms/AW", nil, 200, &room)
	if room.Room.Number != "+442079460999" || room.Room.UpdatedAt == nil {
		t.Fatalf("second instance's answer: %+v", room.Room)
	}
	// A third instance started later reads it at start.
	late := multiStart(t, []string{"GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DATA_DIR=" + t.TempDir(),
		"GATEWAY_INSTANCE=rooms-c", "GATEWAY_LOG_LEVEL=warn", "GATEWAY_STORE=" + url}, nil)
	if r, ok := late.m.Rooms.Room("AW"); !ok || r.Number != "+442079460999" {
		t.Fatalf("a later instance's room: %+v", r)
	}
}
