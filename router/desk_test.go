package router_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/router"
	"github.com/safeconnection/gateway/store/sqlite"
)

// Interface guards
var _ router.DeskStore = (*sqlite.Store)(nil)

// TestDeskLines: with every desk line of the room and its neighbours held,
// a PSTN verification with no handset waits, queued, and fails when its
// budget is spent; one freed line, a neighbour's, is rung at once, and the
// attempt's event names that desk.
func TestDeskLines(t *testing.T) {
	var e *env
	var (
		mu   sync.Mutex
		legs []gateway.Leg
	)
	a, _ := fake(gateway.ChannelPSTN, func() gateway.Reporter { return e.r }, func(_ int, leg gateway.Leg) (gateway.ReportStatus, gateway.Fate, error) {
		mu.Lock()
		defer mu.Unlock()
		legs = append(legs, leg)
		return gateway.ReportAnswered, 0, nil
	})
	e = newEnv(t, a)
	e.r.Budget = time.Second
	e.open()
	ctx := context.Background()
	aw, _ := e.rooms.Room("AW")
	held := map[string]gateway.DeskLease{}
	for _, id := range append([]string{"AW"}, aw.Neighbours...) {
		l, err := e.store.ClaimDesk(ctx, id, 1, "someone else", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		held[id] = l
	}

	v := e.request(trafalgar, contact(gateway.ChannelPSTN))
	got := e.wait(v.ID, gateway.StateFailed)
	if !strings.Contains(got.Reason, "desk line was busy") || len(got.Attempts) != 0 {
		t.Errorf("failed with reason %q and attempts %+v, want the busy desks named and no attempt", got.Reason, got.Attempts)
	}
	queued := false
	evs, _ := e.store.Events(ctx, v.ID, 0, 0)
	for _, ev := range evs {
		queued = queued || ev.State == gateway.StateQueued && strings.Contains(ev.Message, "desk line is busy")
	}
	if !queued {
		t.Errorf("no event says the verification queued for a desk line: %+v", evs)
	}

	e.r.Budget = 5 * time.Second
	v = e.request(trafalgar, contact(gateway.ChannelPSTN))
	e.waitFor(5*time.Second, v.ID, gateway.StateQueued)
	free := aw.Neighbours[len(aw.Neighbours)-1]
	if err := e.store.ReleaseDesk(ctx, held[free]); err != nil {
		t.Fatal(err)
	}
	got = e.wait(v.ID, gateway.StateConnected)
	room, _ := e.rooms.Room(free)
	mu.Lock()
	defer mu.Unlock()
	if n := len(legs); n != 1 || legs[n-1].DeviceHandle != room.DeskNumber {
		t.Fatalf("legs %+v, want one to the desk of %s", legs, free)
	}
	if last := got.Attempts[len(got.Attempts)-1]; last.RoomID != free || last.DeviceID != "" {
		t.Errorf("connected attempt %+v, want one on the desk of %s", last, free)
	}
	named := false
	evs, _ = e.store.Events(ctx, v.ID, 0, 0)
	for _, ev := range evs {
		if ev.Type == gateway.EventAttempt && ev.Data["desk"] == free && strings.Contains(ev.Message, room.Name) {
			named = true
		}
		if strings.Contains(ev.Message, room.DeskNumber) || strings.Contains(ev.Data["desk"], "+") {
			t.Errorf("event %+v shows the desk's number", ev)
		}
	}
	if !named {
		t.Errorf("no attempt event names the desk of %s: %+v", free, evs)
	}
	// The line is held while the call lasts, and freed when it is closed.
	if _, err := e.store.ClaimDesk(ctx, free, 1, "another", time.Minute); gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
		t.Fatalf("claim of the desk in a call: %v, want EUNAVAILABLE", err)
	}
	if _, err := e.r.RecordOutcome(ctx, v.ID, gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 1"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := e.store.ClaimDesk(ctx, free, 1, "another", time.Minute)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the desk line was not freed after the outcome: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
