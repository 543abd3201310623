package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/mocks/agent"
)

// TestRoutingCore runs the whole gateway on loopback with simulated device
// agents and checks the routing core's paths through the officer API, as
// the officer app and the supervisor see them.
func TestRoutingCore(t *testing.T) {
	t.Run("connected on the first channel", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, testEnv(t), nil)
		d := g.addDevice(t, "AW", "+447700900501", facetimeWhatsApp("+447700900501"))
		a := g.startAgent(t, d, nil)

		v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerEmail}, contact{gateway.Channel("whatsapp"), officerNumber})
		if v.Room != "AW" {
			t.Errorf("Trafalgar Square routed to room %q, want AW (Westminster)", v.Room)
		}
		v = g.waitState(t, v.ID, gateway.StateConnected)
		if v.Channel != gateway.Channel("facetime") || v.Device != d.ID {
			t.Errorf("connected on %s with %q, want facetime with %s", v.Channel, v.Device, d.ID)
		}
		if got := attempts(v); !slices.Equal(got, []string{"facetime:connected"}) {
			t.Errorf("attempts %v, want one connected facetime attempt", got)
		}
		if at := v.Attempts[0]; at.Tries != 1 || at.Room != "AW" || at.Device != d.ID {
			t.Errorf("attempt %+v, want one try with %s in AW", at, d.ID)
		}
		orders := a.Orders()
		if len(orders) != 1 || orders[0].Kind != gateway.OrderDial || orders[0].Channel != gateway.Channel("facetime") || orders[0].Handle != officerEmail {
			t.Errorf("agent orders %+v, want one FaceTime dial order to the officer's Apple ID", orders)
		}
		if orders[0].Reference != v.Reference {
			t.Errorf("dial order reference %q, want the verification's %q", orders[0].Reference, v.Reference)
		}

		v = g.outcome(t, v.ID, gateway.OutcomeVerified)
		if v.State != gateway.StateVerified || v.Outcome == nil || v.Outcome.Supervisor != "PS 42" {
			t.Errorf("after the outcome: state %s, outcome %+v; want verified by PS 42", v.State, v.Outcome)
		}
		g.waitFree(t, d.ID)
	})

	t.Run("first channel never answers, second connects", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, testEnv(t), nil)
		d := g.addDevice(t, "AW", "+447700900502", facetimeWhatsApp("+447700900502"))
		g.startAgent(t, d, func(o gateway.Order) agent.Behaviour {
			return agent.Behaviour{NeverAnswer: o.Channel == gateway.Channel("facetime")}
		})

		v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber}, contact{gateway.Channel("whatsapp"), officerNumber})
		v = g.waitState(t, v.ID, gateway.StateConnected)
		if v.Channel != gateway.Channel("whatsapp") {
			t.Errorf("connected on %s, want whatsapp", v.Channel)
		}
		if got := attempts(v); !slices.Equal(got, []string{"facetime:no_answer", "whatsapp:connected"}) {
			t.Errorf("attempts %v, want facetime not answered, then whatsapp connected", got)
		}
	})

	t.Run("not placed twice, then answered on the same channel", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, testEnv(t), nil)
		d := g.addDevice(t, "AW", "+447700900503", facetimeWhatsApp("+447700900503"))
		a := g.startAgent(t, d, always(agent.Behaviour{NotPlaced: 2}))

		v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber}, contact{gateway.Channel("whatsapp"), officerNumber})
		v = g.waitState(t, v.ID, gateway.StateConnected)
		if got := attempts(v); !slices.Equal(got, []string{"facetime:connected"}) {
			t.Fatalf("attempts %v, want one facetime attempt, connected", got)
		}
		if tries := v.Attempts[0].Tries; tries != 3 {
			t.Errorf("the attempt took %d tries, want 3 (two not placed, then answered)", tries)
		}
		orders := a.Orders()
		if len(orders) != 3 {
			t.Fatalf("agent got %d orders, want 3 dial orders", len(orders))
		}
		for _, o := range orders {
			if o.Kind != gateway.OrderDial || o.Channel != gateway.Channel("facetime") {
				t.Errorf("order %+v, want a FaceTime dial order", o)
			}
		}
	})

	t.Run("every channel fails", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, testEnv(t), nil)
		d := g.addDevice(t, "AW", "+447700900504", facetimeWhatsApp("+447700900504"))
		g.startAgent(t, d, always(agent.Behaviour{Reject: true}))

		v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber}, contact{gateway.Channel("whatsapp"), officerNumber})
		v = g.waitState(t, v.ID, gateway.StateFailed)
		if v.Advice != gateway.Advice999 {
			t.Errorf("advice %q, want the 999 instruction %q", v.Advice, gateway.Advice999)
		}
		if v.Reason == "" {
			t.Error("a failed verification has no reason")
		}
		if got := attempts(v); !slices.Equal(got, []string{"facetime:rejected", "whatsapp:rejected"}) {
			t.Errorf("attempts %v, want both channels rejected", got)
		}
		g.waitFree(t, d.ID)
	})

	t.Run("local room busy, a neighbour's device connects", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, testEnv(t), nil)
		// The only device is in Central South (AS), which covers Lambeth.
		d := g.addDevice(t, "AS", "+447700900505", facetimeWhatsApp("+447700900505"))
		g.startAgent(t, d, nil)

		local := g.request(t, brixton, contact{gateway.Channel("facetime"), officerNumber})
		if local.Room != "AS" {
			t.Fatalf("Brixton routed to room %q, want AS (Lambeth)", local.Room)
		}
		g.waitState(t, local.ID, gateway.StateConnected)
		g.outcome(t, local.ID, gateway.OutcomeVerified)
		g.waitFree(t, d.ID)

		v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber})
		if v.Room != "AW" {
			t.Errorf("Trafalgar Square routed to room %q, want AW", v.Room)
		}
		v = g.waitState(t, v.ID, gateway.StateConnected)
		if v.Room != "AW" || v.Device != d.ID {
			t.Errorf("connected in room %s with %q, want room AW with the neighbour's %s", v.Room, v.Device, d.ID)
		}
		if len(v.Attempts) != 1 || v.Attempts[0].Room != "AS" {
			t.Errorf("attempts %+v, want one in the neighbouring room AS", v.Attempts)
		}
	})

	t.Run("no free device: queued, then served", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, testEnv(t), nil)
		d := g.addDevice(t, "AW", "+447700900506", facetimeWhatsApp("+447700900506"))
		g.startAgent(t, d, nil)

		first := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber})
		g.waitState(t, first.ID, gateway.StateConnected)

		second := g.request(t, trafalgar, contact{gateway.Channel("whatsapp"), "+447700900124"})
		g.waitState(t, second.ID, gateway.StateQueued)

		// The supervisor finishes the first call: the device frees and the
		// queued verification takes it.
		if v := g.outcome(t, first.ID, gateway.OutcomeVerified); v.State != gateway.StateVerified {
			t.Fatalf("first verification %s after the outcome, want verified", v.State)
		}
		v := g.waitState(t, second.ID, gateway.StateConnected)
		if v.Device != d.ID || v.Channel != gateway.Channel("whatsapp") {
			t.Errorf("queued verification connected on %s with %q, want whatsapp with %s", v.Channel, v.Device, d.ID)
		}
		var queued bool
		for _, ev := range g.events(t, second.ID) {
			queued = queued || (ev.Type == gateway.EventState && ev.State == gateway.StateQueued)
		}
		if !queued {
			t.Error("the record of the served verification does not show it queued")
		}
	})

	t.Run("restart: take-over and lease expiry", func(t *testing.T) {
		t.Parallel()
		// A lease lapses well before the hold on the verification, so the
		// device is back in the pool when the new gateway takes over.
		timings := []string{"GATEWAY_RING_TIMEOUT=5s", "GATEWAY_BUDGET=12s",
			"GATEWAY_LEASE_TTL=1s", "GATEWAY_OWNER_TTL=3s", "GATEWAY_SWEEP_INTERVAL=200ms"}
		g1 := startGateway(t, testEnv(t, append(timings, "GATEWAY_INSTANCE=gw-a")...), nil)
		d := g1.addDevice(t, "AW", "+447700900507", map[gateway.Channel]string{gateway.Channel("facetime"): "+447700900507"})
		var answer atomic.Bool // until set, the handset rings and nobody answers
		a := g1.startAgent(t, d, func(gateway.Order) agent.Behaviour {
			return agent.Behaviour{NeverAnswer: !answer.Load()}
		})

		old := g1.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber})
		g1.waitState(t, old.ID, gateway.StateDialling)
		eventually(t, "the dial order to reach the handset", func() bool { return len(a.Orders()) == 1 })

		// The gateway stops mid-call, releasing nothing; a new one starts on
		// the same data directory and address, so the agent finds it.
		addr := strings.TrimPrefix(g1.m.URL(), "http://")
		g1.client.CloseIdleConnections()
		if err := g1.m.Close(); err != nil {
			t.Fatalf("close the first gateway: %v", err)
		}
		g2 := startGateway(t, testEnv(t, append(timings, "GATEWAY_INSTANCE=gw-b",
			"GATEWAY_DATA_DIR="+g1.m.Config.DataDir, "GATEWAY_ADDR="+addr)...), nil)

		v := g2.waitState(t, old.ID, gateway.StateFailed)
		if v.Reason == "" {
			t.Error("the verification left by the stopped gateway was closed without a reason")
		}
		if len(v.Attempts) != 1 || v.Attempts[0].Result != gateway.ResultUnknown || v.Attempts[0].EndedAt == nil {
			t.Errorf("attempts %+v, want the abandoned attempt ended as unknown", v.Attempts)
		}
		var tookOver bool
		for _, ev := range g2.events(t, old.ID) {
			tookOver = tookOver || (ev.Type == gateway.EventNote && strings.Contains(ev.Message, "taken over by gw-b"))
		}
		if !tookOver {
			t.Error("the record does not show the take-over by gw-b")
		}

		// The device came back to the pool when its lease expired.
		history, err := g2.m.Store.ClaimHistory(context.Background(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(history) != 1 || history[0].Holder != old.ID || history[0].Reason != "expired" || history[0].ReleasedAt == nil {
			t.Errorf("claim history %+v, want the old verification's claim ended as expired", history)
		}
		answer.Store(true)
		next := g2.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber})
		if v := g2.waitState(t, next.ID, gateway.StateConnected); v.Device != d.ID {
			t.Errorf("new verification connected with %q, want the freed %s", v.Device, d.ID)
		}
	})

	t.Run("idempotent request", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, testEnv(t), nil)
		d := g.addDevice(t, "AW", "+447700900508", facetimeWhatsApp("+447700900508"))
		a := g.startAgent(t, d, nil)

		body, err := json.Marshal(verificationRequest(trafalgar, contact{gateway.Channel("facetime"), officerNumber}))
		if err != nil {
			t.Fatal(err)
		}
		key := http.Header{"Idempotency-Key": {"stop-2026-0042"}}
		var views [2]httpapi.VerificationView
		for i, want := range []int{http.StatusCreated, http.StatusOK} {
			status, b := g.send(t, "POST", "/v1/verifications", g.officer, body, key)
			if status != want {
				t.Fatalf("request %d: status %d, want %d: %s", i+1, status, want, b)
			}
			if err := json.Unmarshal(b, &views[i]); err != nil {
				t.Fatal(err)
			}
		}
		if views[0].ID == "" || views[1].ID != views[0].ID || views[1].Reference != views[0].Reference {
			t.Fatalf("the repeated request gave %s (%s), want the first %s (%s)", views[1].ID, views[1].Reference, views[0].ID, views[0].Reference)
		}
		g.waitState(t, views[0].ID, gateway.StateConnected)
		if orders := a.Orders(); len(orders) != 1 || orders[0].VerificationID != views[0].ID {
			t.Errorf("agent got orders %+v, want one dial order for %s", orders, views[0].ID)
		}
		all, err := g.m.Store.Verifications(context.Background(), gateway.VerificationFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 {
			t.Errorf("the store holds %d verifications, want 1", len(all))
		}
	})

	t.Run("event stream", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, testEnv(t), nil)
		d := g.addDevice(t, "AW", "+447700900509", facetimeWhatsApp("+447700900509"))
		g.startAgent(t, d, nil)

		v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber})
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		resp := g.openEvents(t, ctx, v.ID)

		var states []gateway.State
		var last int64
		sc := bufio.NewScanner(resp.Body)
		for !slices.Contains(states, gateway.StateConnected) && sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev httpapi.EventView
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatalf("event %q: %v", data, err)
			}
			if ev.Verification != v.ID || ev.Seq <= last {
				t.Errorf("event %+v after seq %d: wrong verification or out of order", ev, last)
			}
			last = ev.Seq
			if ev.Type == gateway.EventState {
				states = append(states, ev.State)
			}
		}
		want := []gateway.State{gateway.StateRouting, gateway.StateDialling, gateway.StateConnected}
		if !slices.Equal(states, want) {
			t.Errorf("state events %v (stream error %v), want %v", states, sc.Err(), want)
		}
	})
}
