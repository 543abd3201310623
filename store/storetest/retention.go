package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/ledger"
)

// closeVerification moves a verification to verified with an outcome that
// carries personal detail, and an attempt with a join link.
func closeVerification(t testing.TB, s gateway.Store, id string) {
	c := ctx(t)
	_, err := s.PutAttempt(c, gateway.Attempt{ID: id + "-a1", VerificationID: id, Seq: 1, Channel: facetime, RoomID: "r1",
		ProviderRef: "prov-" + id, JoinURL: "https://join.example.org/" + id, Result: "answered"},
		gateway.Event{VerificationID: id, Type: gateway.EventNote, AttemptID: id + "-a1", Message: "rang +447700900111"})
	must(t, err)
	_, _, err = s.Transition(c, id, gateway.Transition{To: gateway.StateVerified, Set: func(v *gateway.Verification) {
		v.Channel = facetime
		v.JoinURL = "https://join.example.org/" + id
		v.Outcome = &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 1 Smith", Note: "she was content", At: time.Now().UTC()}
	}, Event: gateway.Event{Type: gateway.EventOutcome, Message: "verified by PS 1 Smith", Data: map[string]string{"note": "she was content"}}})
	must(t, err)
}

// personal lists the personal detail a verification's record still shows
// through the store's API; empty once erased.
func personal(t testing.TB, s gateway.Store, id string) []string {
	c := ctx(t)
	var out []string
	v, err := s.Verification(c, id)
	must(t, err)
	if v.Officer.Collar != "" || v.Officer.Warrant != "" {
		out = append(out, "officer")
	}
	if v.Location.Lat != 0 || v.Location.Lon != 0 {
		out = append(out, "location")
	}
	if len(v.Contacts) > 0 {
		out = append(out, "contacts")
	}
	if v.JoinURL != "" {
		out = append(out, "join link")
	}
	if v.Outcome != nil && (v.Outcome.Supervisor != "" || v.Outcome.Note != "") {
		out = append(out, "outcome")
	}
	if a, err := s.Attempt(c, id+"-a1"); err == nil && (a.JoinURL != "" || a.ProviderRef != "") {
		out = append(out, "attempt")
	}
	evs, err := s.Events(c, id, 0, 0)
	must(t, err)
	for _, e := range evs {
		if e.Message != "" || len(e.Data) > 0 || e.Report != nil {
			out = append(out, "event "+string(e.Type))
		}
	}
	return out
}

// testRetention: EraseClosed erases the personal fields of a closed
// verification and keeps its skeleton; a held one, and an open one, keep
// everything; every leaf still checks and every proof still holds; a second
// run erases nothing more; holds are written to the ops record.
func testRetention(t *testing.T, s gateway.Store) {
	c := ctx(t)
	for _, id := range []string{"v1", "v2", "v3"} {
		mustVerification(t, s, verification(id, "t_a"))
	}
	closeVerification(t, s, "v1")
	closeVerification(t, s, "v2")
	ops := gateway.Actor{ID: "t_ops", Name: "Ops Desk"}
	if _, err := s.PlaceHold(c, gateway.Hold{VerificationID: "v2", By: ops}, gateway.OpsEvent{Actor: ops, Action: gateway.OpsHoldPlace}); gateway.ErrorCode(err) != gateway.EINVALID {
		t.Fatalf("hold without a reason: %v", err)
	}
	if _, err := s.PlaceHold(c, gateway.Hold{VerificationID: "nope", Reason: "x", By: ops}, gateway.OpsEvent{Actor: ops, Action: gateway.OpsHoldPlace}); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Fatalf("hold on no verification: %v", err)
	}
	h, err := s.PlaceHold(c, gateway.Hold{VerificationID: "v2", Reason: "complaint C-1", By: ops},
		gateway.OpsEvent{Actor: ops, Action: gateway.OpsHoldPlace, Reason: "complaint C-1"})
	must(t, err)
	if h.At.IsZero() || h.Reason != "complaint C-1" {
		t.Fatalf("hold %+v", h)
	}
	if _, err := s.PlaceHold(c, gateway.Hold{VerificationID: "v2", Reason: "again", By: ops}, gateway.OpsEvent{Actor: ops, Action: gateway.OpsHoldPlace}); gateway.ErrorCode(err) != gateway.ECONFLICT {
		t.Fatalf("second hold: %v", err)
	}
	if got, err := s.HoldOf(c, "v2"); err != nil || got.Reason != "complaint C-1" || got.By != ops {
		t.Fatalf("HoldOf v2: %+v, %v", got, err)
	}
	if _, err := s.HoldOf(c, "v1"); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Fatalf("HoldOf v1: %v", err)
	}

	// A cutoff before the verifications closed erases nothing.
	ids, err := s.EraseClosed(c, time.Now().Add(-time.Hour), 10)
	must(t, err)
	if len(ids) != 0 {
		t.Fatalf("erased %v before the period", ids)
	}
	for _, id := range []string{"v1", "v2", "v3"} {
		if id != "v3" && len(personal(t, s, id)) == 0 {
			t.Fatalf("%s holds no personal fields before erasure", id)
		}
	}
	ids, err = s.EraseClosed(c, time.Now().Add(time.Hour), 10)
	must(t, err)
	if !slices.Equal(ids, []string{"v1"}) {
		t.Fatalf("erased %v, want [v1] (v2 held, v3 open)", ids)
	}
	if p := personal(t, s, "v1"); len(p) != 0 {
		t.Fatalf("v1 still holds %v", p)
	}
	if at, err := s.Erased(c, "v1"); err != nil || at.IsZero() {
		t.Fatalf("Erased v1: %v, %v", at, err)
	}
	if at, err := s.Erased(c, "v2"); err != nil || !at.IsZero() {
		t.Fatalf("Erased v2: %v, %v", at, err)
	}
	if p := personal(t, s, "v2"); !slices.Contains(p, "officer") || !slices.Contains(p, "outcome") || !slices.Contains(p, "attempt") {
		t.Fatalf("held v2 lost fields: still holds only %v", p)
	}
	// The skeleton stays.
	v, err := s.Verification(c, "v1")
	must(t, err)
	if v.State != gateway.StateVerified || v.RoomID != "r1" || v.Channel != facetime || v.Outcome == nil ||
		v.Outcome.Result != gateway.OutcomeVerified || v.Outcome.At.IsZero() || v.Reference == "" {
		t.Fatalf("v1's skeleton lost: %+v", v)
	}
	if a, err := s.Attempt(c, "v1-a1"); err != nil || a.Result != "answered" {
		t.Fatalf("v1's attempt: %+v, %v", a, err)
	}
	// Every leaf checks against its record, the erased ones without a nonce,
	// and proves its inclusion.
	l := newLog(t, s)
	cp, err := l.Sync(c)
	must(t, err)
	tree, err := ledger.OpenCheckpoint(cp.Note, logPub)
	must(t, err)
	erased := 0
	for _, e := range entries(t, s) {
		switch {
		case e.Event != nil:
			must(t, gateway.CheckEventLeaf(*e.Event, e.Leaf))
			if e.Event.VerificationID == "v1" {
				if e.Leaf.Nonce != nil {
					t.Fatalf("v1's event %d keeps its nonce", e.Event.Seq)
				}
				erased++
			} else if e.Leaf.Nonce == nil {
				t.Fatalf("%s's event %d lost its nonce", e.Event.VerificationID, e.Event.Seq)
			}
		case e.Ops != nil:
			must(t, gateway.CheckOpsLeaf(*e.Ops, e.Leaf))
		}
		p, err := l.ProveLeaf(c, e.Leaf.Index, tree.Size)
		must(t, err)
		must(t, tlog.CheckRecord(p, tree.Size, tree.Root, e.Leaf.Index, tlog.RecordHash(e.Leaf.Data)))
	}
	if erased == 0 {
		t.Fatal("no leaf of v1 was erased")
	}
	r, err := ledger.Verify(c, s, logPub, nil)
	must(t, err)
	if r.Erased != erased {
		t.Fatalf("verify counts %d erased leaves, want %d", r.Erased, erased)
	}
	// A second run erases nothing more.
	ids, err = s.EraseClosed(c, time.Now().Add(time.Hour), 10)
	must(t, err)
	if len(ids) != 0 {
		t.Fatalf("second run erased %v", ids)
	}
	// The hold's place and lift are in the ops record; lifted, v2 goes.
	must(t, s.LiftHold(c, "v2", gateway.OpsEvent{Actor: ops, Action: gateway.OpsHoldLift, Reason: "complaint closed"}))
	if err := s.LiftHold(c, "v2", gateway.OpsEvent{Actor: ops, Action: gateway.OpsHoldLift, Reason: "again"}); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Fatalf("second lift: %v", err)
	}
	oe, err := s.OpsEvents(c, gateway.OpsEventFilter{})
	must(t, err)
	var acts []string
	for _, e := range oe {
		if strings.HasPrefix(e.Action, "verification.") {
			acts = append(acts, e.Action+":"+e.Reason)
		}
	}
	if !slices.Equal(acts, []string{gateway.OpsHoldPlace + ":complaint C-1", gateway.OpsHoldLift + ":complaint closed"}) {
		t.Fatalf("ops record of holds: %v", acts)
	}
	ids, err = s.EraseClosed(c, time.Now().Add(time.Hour), 10)
	must(t, err)
	if !slices.Equal(ids, []string{"v2"}) || len(personal(t, s, "v2")) != 0 {
		t.Fatalf("after the lift erased %v, v2 holds %v", ids, personal(t, s, "v2"))
	}
	_, err = ledger.Verify(c, s, logPub, nil)
	must(t, err)
}

// testRetentionConcurrent: runs of EraseClosed at once, in small batches,
// erase every closed verification exactly once between them.
func testRetentionConcurrent(t *testing.T, s gateway.Store) {
	const n = 24
	for i := range n {
		id := fmt.Sprintf("v%02d", i)
		mustVerification(t, s, verification(id, "t_a"))
		_, _, err := s.Transition(ctx(t), id, gateway.Transition{To: gateway.StateCancelled, Event: gateway.Event{Type: gateway.EventState, Message: "cancelled"}})
		must(t, err)
	}
	var (
		mu   sync.Mutex
		seen = make(map[string]int)
		wg   sync.WaitGroup
	)
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				ids, err := s.EraseClosed(ctx(t), time.Now().Add(time.Hour), 3)
				if err != nil {
					errs <- err
					return
				}
				if len(ids) == 0 {
					return
				}
				mu.Lock()
				for _, id := range ids {
					seen[id]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("%d verifications erased, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("%s erased %d times", id, k)
		}
	}
	_, err := ledger.Verify(ctx(t), s, logPub, nil)
	must(t, err)
}
