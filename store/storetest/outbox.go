package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// RunOutbox runs the outbox's conformance suite. Each call to open returns
// a fresh, empty store that writes the outbox (its Outbox option set).
func RunOutbox(t *testing.T, open func(t testing.TB) gateway.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s gateway.Store)
	}{
		{"Written", testOutboxWritten},
		{"Body", testOutboxBody},
		{"Order", testOutboxOrder},
		{"Leases", testOutboxLeases},
		{"DeadAndReplay", testOutboxDeadAndReplay},
		{"Concurrent", testOutboxConcurrent},
		{"Erased", testOutboxErased},
		{"Feedback", testFeedback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// failVerification ends a verification failed without a call ever
// connecting: a flag.
func failVerification(t testing.TB, s gateway.Store, id string) {
	_, _, err := s.Transition(ctx(t), id, gateway.Transition{To: gateway.StateFailed,
		Set:   func(v *gateway.Verification) { v.Reason = "every channel failed" },
		Event: gateway.Event{Type: gateway.EventState, Message: "failed"}})
	must(t, err)
}

// outboxTypes returns the entries' verification and type.
func outboxTypes(es []gateway.OutboxEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.VerificationID + " " + e.Type
	}
	return out
}

// testOutboxWritten: closing a verification writes one closed entry, with
// a body that names nothing personal; a later terminal event writes no
// second; an open verification has none.
func testOutboxWritten(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustVerification(t, s, verification("v1", "t_a"))
	mustVerification(t, s, verification("v2", "t_a"))
	closeVerification(t, s, "v1")
	if _, err := s.AppendEvent(c, gateway.Event{VerificationID: "v1", Type: gateway.EventNote, Message: "again"}); err != nil {
		t.Fatal(err)
	}
	es, err := s.OutboxEntries(c, gateway.OutboxFilter{})
	must(t, err)
	if got := outboxTypes(es); !slices.Equal(got, []string{"v1 " + gateway.OutboxClosed}) {
		t.Fatalf("entries %v, want v1's closed entry alone", got)
	}
	e := es[0]
	if e.State != gateway.OutboxPending || e.Attempts != 0 || !strings.HasPrefix(e.ID, "msg_") || e.Body != nil {
		t.Fatalf("listed entry %+v", e)
	}
	n := now(t, s)
	wantBetween(t, "next_at", e.NextAt, n.Add(-time.Minute), n)
	full, err := s.OutboxEntry(c, e.ID)
	must(t, err)
	var body gateway.OutboxBody
	must(t, json.Unmarshal(full.Body, &body))
	if body.Verification != "v1" || body.State != gateway.StateVerified || body.Outcome != gateway.OutcomeVerified || body.Type != gateway.OutboxClosed {
		t.Fatalf("body %s", full.Body)
	}
	for _, p := range []string{"+447700900111", "she was content", "join.example.org"} {
		if strings.Contains(string(full.Body), p) {
			t.Fatalf("the body carries %q: %s", p, full.Body)
		}
	}
	_, err = s.OutboxEntry(c, "msg_none")
	wantCode(t, err, gateway.ENOTFOUND)
	if es, _ := s.OutboxEntries(c, gateway.OutboxFilter{VerificationID: "v2"}); len(es) != 0 {
		t.Fatalf("an open verification has entries %v", outboxTypes(es))
	}
}

// testOutboxBody: each entry's body is OutboxMessages' of the verification
// as it is read after its close, with the event that closed it, field for
// field: closed by a transition, with and without a connected attempt, and
// by an event in a terminal state alone (the verification's own state
// not terminal: no flag).
func testOutboxBody(t *testing.T, s gateway.Store) {
	c := ctx(t)
	v := verification("v1", "t_a")
	v.Officer.Force = "Kent"
	mustVerification(t, s, v)
	closeVerification(t, s, "v1")
	mustVerification(t, s, verification("v2", "t_a"))
	_, err := s.PutAttempt(c, gateway.Attempt{ID: "v2-a1", VerificationID: "v2", Seq: 1, Channel: facetime, RoomID: "r1",
		DeviceID: "d1", Result: "failed"}, gateway.Event{Type: gateway.EventNote, Message: "no answer"})
	must(t, err)
	failVerification(t, s, "v2")
	mustVerification(t, s, verification("v3", "t_a"))
	_, err = s.AppendEvent(c, gateway.Event{VerificationID: "v3", Type: gateway.EventState, State: gateway.StateCancelled, Message: "cancelled"})
	must(t, err)
	for id, want := range map[string]int{"v1": 1, "v2": 2, "v3": 1} {
		read, err := s.Verification(c, id)
		must(t, err)
		evs, err := s.Events(c, id, 0, 0)
		must(t, err)
		i := slices.IndexFunc(evs, func(ev gateway.Event) bool { return ev.State.Terminal() })
		if i < 0 {
			t.Fatalf("%s has no terminal event", id)
		}
		msgs, err := gateway.OutboxMessages(read, evs[i], false, time.Now())
		must(t, err)
		es, err := s.OutboxEntries(c, gateway.OutboxFilter{VerificationID: id})
		must(t, err)
		if len(es) != want || len(msgs) != want {
			t.Fatalf("%s: entries %v, messages %d, want %d", id, outboxTypes(es), len(msgs), want)
		}
		for j, e := range es {
			full, err := s.OutboxEntry(c, e.ID)
			must(t, err)
			var got, want any
			must(t, json.Unmarshal(full.Body, &got))
			must(t, json.Unmarshal(msgs[j].Body, &want))
			if full.Type != msgs[j].Type || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s entry %d: %s %s, want %s %s", id, j, full.Type, full.Body, msgs[j].Type, msgs[j].Body)
			}
		}
	}
}

// testOutboxOrder: a verification that never connected gets a closed and
// a flagged entry, delivered in that order: the flag is not claimed while
// the closed entry waits.
func testOutboxOrder(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustVerification(t, s, verification("v1", "t_a"))
	failVerification(t, s, "v1")
	es, err := s.OutboxEntries(c, gateway.OutboxFilter{VerificationID: "v1"})
	must(t, err)
	if got := outboxTypes(es); !slices.Equal(got, []string{"v1 " + gateway.OutboxClosed, "v1 " + gateway.OutboxFlagged}) {
		t.Fatalf("entries %v", got)
	}
	got, err := s.ClaimOutbox(c, "i1", time.Minute, 10)
	must(t, err)
	if len(got) != 1 || got[0].ID != es[0].ID || len(got[0].Body) == 0 {
		t.Fatalf("first claim %v, want the closed entry alone, with its body", outboxTypes(got))
	}
	// A try to come later keeps the flag waiting behind it.
	_, err = s.SettleOutbox(c, es[0].ID, "i1", gateway.OutboxTry{State: gateway.OutboxPending, NextAt: now(t, s).Add(time.Hour), Error: "the incident system answered 503"}, gateway.OpsEvent{})
	must(t, err)
	if got, _ := s.ClaimOutbox(c, "i1", time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed %v while the closed entry waits", outboxTypes(got))
	}
	if _, err := s.ReplayOutbox(c, es[0].ID, gateway.OpsEvent{Action: gateway.OpsOutboxReplay}); gateway.ErrorCode(err) != gateway.ECONFLICT {
		t.Fatalf("replay of a pending entry: %v", err)
	}
	back, err := s.OutboxEntry(c, es[0].ID)
	must(t, err)
	if back.Attempts != 1 || back.LastError != "the incident system answered 503" {
		t.Fatalf("after a failed try %+v", back)
	}
}

// testOutboxLeases: an entry claimed by one instance is not claimed by
// another until its lease lapses; the first can no longer settle it then.
func testOutboxLeases(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustVerification(t, s, verification("v1", "t_a"))
	closeVerification(t, s, "v1")
	got, err := s.ClaimOutbox(c, "i1", 300*time.Millisecond, 10)
	must(t, err)
	if len(got) != 1 {
		t.Fatalf("claimed %d", len(got))
	}
	id := got[0].ID
	if other, _ := s.ClaimOutbox(c, "i2", time.Minute, 10); len(other) != 0 {
		t.Fatalf("i2 claimed %v while i1 holds it", outboxTypes(other))
	}
	// i1's own lease is its to take again (restarted under its name).
	if again, _ := s.ClaimOutbox(c, "i1", 300*time.Millisecond, 10); len(again) != 1 || again[0].ID != id {
		t.Fatalf("i1 claimed %v again, want its own entry", outboxTypes(again))
	}
	_, err = s.SettleOutbox(c, id, "i2", gateway.OutboxTry{State: gateway.OutboxDelivered}, gateway.OpsEvent{})
	wantCode(t, err, gateway.ECONFLICT)
	time.Sleep(400 * time.Millisecond)
	other, err := s.ClaimOutbox(c, "i2", time.Minute, 10)
	must(t, err)
	if len(other) != 1 || other[0].ID != id {
		t.Fatalf("after the lease lapsed i2 claimed %v", outboxTypes(other))
	}
	_, err = s.SettleOutbox(c, id, "i1", gateway.OutboxTry{State: gateway.OutboxDelivered}, gateway.OpsEvent{})
	wantCode(t, err, gateway.ECONFLICT)
	e, err := s.SettleOutbox(c, id, "i2", gateway.OutboxTry{State: gateway.OutboxDelivered}, gateway.OpsEvent{})
	must(t, err)
	if e.State != gateway.OutboxDelivered || e.Attempts != 1 || e.Body != nil {
		t.Fatalf("settled %+v", e)
	}
	if again, _ := s.ClaimOutbox(c, "i1", time.Minute, 10); len(again) != 0 {
		t.Fatalf("a delivered entry claimed again: %v", outboxTypes(again))
	}
	_, err = s.SettleOutbox(c, "msg_none", "i2", gateway.OutboxTry{State: gateway.OutboxDelivered}, gateway.OpsEvent{})
	wantCode(t, err, gateway.ENOTFOUND)
}

// testOutboxDeadAndReplay: an entry given up is dead, in the ops record;
// replayed, it is pending again with its id, attempts 0 and a new window.
func testOutboxDeadAndReplay(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustVerification(t, s, verification("v1", "t_a"))
	closeVerification(t, s, "v1")
	got, err := s.ClaimOutbox(c, "i1", time.Minute, 10)
	must(t, err)
	if len(got) != 1 {
		t.Fatalf("claimed %d", len(got))
	}
	id := got[0].ID
	sys := gateway.Actor{ID: "gateway", Name: "the gateway"}
	dead, err := s.SettleOutbox(c, id, "i1", gateway.OutboxTry{State: gateway.OutboxDead, Error: "the incident system answered 410"},
		gateway.OpsEvent{Actor: sys, Action: gateway.OpsOutboxDead, Reason: "the incident system answered 410"})
	must(t, err)
	if dead.State != gateway.OutboxDead {
		t.Fatalf("settled %+v", dead)
	}
	if again, _ := s.ClaimOutbox(c, "i1", time.Minute, 10); len(again) != 0 {
		t.Fatalf("a dead entry claimed: %v", outboxTypes(again))
	}
	ops := gateway.Actor{ID: "t_ops", Name: "Ops Desk"}
	time.Sleep(2 * time.Millisecond)
	back, err := s.ReplayOutbox(c, id, gateway.OpsEvent{Actor: ops, Action: gateway.OpsOutboxReplay, Reason: "the incident system is back"})
	must(t, err)
	if back.ID != id || back.State != gateway.OutboxPending || back.Attempts != 0 || back.LastError != "" || !back.Since.After(dead.Since) {
		t.Fatalf("replayed %+v (dead %+v)", back, dead)
	}
	if got, _ := s.ClaimOutbox(c, "i2", time.Minute, 10); len(got) != 1 || got[0].ID != id {
		t.Fatalf("after replay claimed %v", outboxTypes(got))
	}
	_, err = s.ReplayOutbox(c, "msg_none", gateway.OpsEvent{Actor: ops, Action: gateway.OpsOutboxReplay})
	wantCode(t, err, gateway.ENOTFOUND)
	evs, err := s.OpsEvents(c, gateway.OpsEventFilter{})
	must(t, err)
	var actions []string
	for _, e := range evs {
		if strings.HasPrefix(e.Action, "outbox.") {
			actions = append(actions, e.Action)
			var before, after gateway.OutboxEntry
			must(t, json.Unmarshal(e.Before, &before))
			must(t, json.Unmarshal(e.After, &after))
			if before.ID != id || after.ID != id || before.State == after.State {
				t.Fatalf("ops entry %s: before %s after %s", e.Action, e.Before, e.After)
			}
		}
	}
	if !slices.Equal(actions, []string{gateway.OpsOutboxDead, gateway.OpsOutboxReplay}) {
		t.Fatalf("ops record %v", actions)
	}
}

// testOutboxConcurrent: instances claiming at once never get one entry
// twice.
func testOutboxConcurrent(t *testing.T, s gateway.Store) {
	const n = 20
	for i := range n {
		id := fmt.Sprintf("v%02d", i)
		mustVerification(t, s, verification(id, "t_a"))
		closeVerification(t, s, id)
	}
	var (
		mu   sync.Mutex
		seen = map[string]string{}
		wg   sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst := fmt.Sprintf("i%d", w)
			// As a deliverer does: claim a batch, settle it, claim again.
			for range 10 {
				got, err := s.ClaimOutbox(ctx(t), inst, time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, e := range got {
					if prev, ok := seen[e.ID]; ok {
						t.Errorf("entry %s claimed by %s and %s", e.ID, prev, inst)
					}
					seen[e.ID] = inst
				}
				mu.Unlock()
				for _, e := range got {
					if _, err := s.SettleOutbox(ctx(t), e.ID, inst, gateway.OutboxTry{State: gateway.OutboxDelivered}, gateway.OpsEvent{}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d of %d entries claimed", len(seen), n)
	}
}

// testOutboxErased: erasing a verification's personal fields takes its
// delivered entries (their bodies name the officer and the supervisor)
// and keeps one still to be delivered.
func testOutboxErased(t *testing.T, s gateway.Store) {
	c := ctx(t)
	for _, id := range []string{"v1", "v2"} {
		mustVerification(t, s, verification(id, "t_a"))
		closeVerification(t, s, id)
	}
	got, err := s.ClaimOutbox(c, "i1", time.Minute, 1)
	must(t, err)
	if len(got) != 1 || got[0].VerificationID != "v1" {
		t.Fatalf("claimed %v", outboxTypes(got))
	}
	_, err = s.SettleOutbox(c, got[0].ID, "i1", gateway.OutboxTry{State: gateway.OutboxDelivered}, gateway.OpsEvent{})
	must(t, err)
	ids, err := s.EraseClosed(c, now(t, s).Add(time.Hour), 10)
	must(t, err)
	if len(ids) != 2 {
		t.Fatalf("erased %v", ids)
	}
	es, err := s.OutboxEntries(c, gateway.OutboxFilter{})
	must(t, err)
	if got := outboxTypes(es); !slices.Equal(got, []string{"v2 " + gateway.OutboxClosed}) {
		t.Fatalf("after erasing, entries %v, want v2's alone", got)
	}
}
