package main

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/twiliohook"
	"github.com/safeconnection/gateway/config"
)

// TestDeskTakesOneCallAtATime: 20 verifications at once that all end on
// PSTN with no handset free ring each supervisor desk (the local room's,
// then the neighbours') at most once at a time, as counted by the fake
// Twilio, and every one connects in turn once the one before is closed.
// The events name the desk rung; the log shows no desk or officer number.
func TestDeskTakesOneCallAtATime(t *testing.T) {
	tf, tcfg := startTwilio(t)
	g := startGateway(t, testEnv(t, "GATEWAY_BUDGET=60s", "GATEWAY_DESK_CALLS=1"), func(c *config.Config) { twiliohook.Section.Set(c, tcfg) })
	if err := tf.SetWebhookURL(g.m.PublicURL()); err != nil {
		t.Fatal(err)
	}
	aw, ok := g.m.Rooms.Room("AW")
	if !ok || aw.DeskNumber == "" {
		t.Fatal("no room AW with a desk number")
	}
	desks := map[string]string{aw.DeskNumber: aw.ID} // number -> room
	for _, n := range g.m.Rooms.Neighbours(aw.ID) {
		desks[n.DeskNumber] = n.ID
	}

	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = g.request(t, trafalgar, contact{gateway.ChannelPSTN, officerNumber}).ID
		}()
	}
	wg.Wait()

	// Close each call as it connects, as a supervisor would: the desk's
	// line frees for the next.
	done := map[string]bool{}
	deadline := time.Now().Add(45 * time.Second)
	for len(done) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d verifications verified within 45s", len(done), n)
		}
		for _, id := range ids {
			if done[id] {
				continue
			}
			v := g.verification(t, g.supervisor, id)
			switch {
			case v.State == gateway.StateConnected:
				g.outcome(t, id, gateway.OutcomeVerified)
				done[id] = true
			case v.State.Terminal():
				t.Fatalf("verification %s ended %s (%s); want it to wait for a desk line", id, v.State, v.Reason)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}

	for number, room := range desks {
		if most := tf.MostBridged(number); most > 1 {
			t.Errorf("the desk of room %s rang %d calls at once, want at most 1", room, most)
		}
	}
	if most := tf.MostBridged(aw.DeskNumber); most != 1 {
		t.Errorf("the local desk (AW) rang %d calls at most at once, want 1", most)
	}

	// Every attempt names the desk it rang, one of the local room's or its
	// neighbours'; at least one verification waited for a line.
	waited := 0
	rung := map[string]int{}
	for _, id := range ids {
		for _, ev := range g.events(t, id) {
			if ev.Type == gateway.EventAttempt && strings.Contains(ev.Message, "via the supervisor desk") {
				rung[ev.Data["desk"]]++
			}
			if ev.Type == gateway.EventState && strings.Contains(ev.Message, "desk line is busy") {
				waited++
			}
		}
	}
	total := 0
	for room, k := range rung {
		if !slices.Contains(slices.Collect(maps.Values(desks)), room) {
			t.Errorf("%d attempts rang the desk of %q, not AW's nor a neighbour's", k, room)
		}
		total += k
	}
	if total != n {
		t.Errorf("%d desk attempts name their desk (%v), want %d", total, rung, n)
	}
	if waited == 0 {
		t.Errorf("no verification waited for a desk line, with %d at once and %d desks", n, len(desks))
	}
	logs := g.log.tail(1 << 20)
	for number := range desks {
		if strings.Contains(logs, number) {
			t.Errorf("the log shows a desk number")
		}
	}
	if strings.Contains(logs, officerNumber) {
		t.Errorf("the log shows the officer's number")
	}
}
