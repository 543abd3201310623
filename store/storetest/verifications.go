package storetest

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// verification is a verification by the officer app requester, in room r1.
func verification(id, requester string) gateway.Verification {
	return gateway.Verification{
		ID:          id,
		Reference:   gateway.NewReference(),
		Officer:     gateway.Officer{Collar: "AB123", Warrant: "W-456"},
		Location:    gateway.Location{Lat: 51.5072, Lon: -0.1276},
		Contacts:    []gateway.Contact{{Channel: facetime, Handle: "+447700900111"}, {Channel: pstn, Handle: "+447700900111"}},
		RoomID:      "r1",
		RequestedBy: requester,
	}
}

// mustVerification stores v with a first event and returns it as stored.
func mustVerification(t testing.TB, s gateway.Store, v gateway.Verification) gateway.Verification {
	t.Helper()
	out, created, err := s.CreateVerification(ctx(t), v, "", gateway.Event{Type: gateway.EventState, Message: "requested"})
	if err != nil || !created {
		t.Fatalf("CreateVerification %s: %v, created %v", v.ID, err, created)
	}
	return out
}

// vids returns the verifications' IDs.
func vids(vs []gateway.Verification) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

// seqs returns the events' Seqs.
func seqs(evs []gateway.Event) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

func testNowAndPing(t *testing.T, s gateway.Store) {
	must(t, s.Ping(ctx(t)))
	a := now(t, s)
	b := now(t, s)
	if b.Before(a) {
		t.Fatalf("Now went back: %v then %v", a, b)
	}
	if d := time.Since(a); d < -time.Minute || d > time.Minute {
		t.Fatalf("Now = %v, a minute or more from this machine's %v", a, time.Now())
	}
}

func testVerificationCreate(t *testing.T, s gateway.Store) {
	c := ctx(t)
	in := verification("v1", "t_app1")
	in.Deadline = now(t, s).Add(90 * time.Second)
	lo := now(t, s)
	v, created, err := s.CreateVerification(c, in, "", gateway.Event{Type: gateway.EventState, Message: "requested", Instance: "gw1"})
	must(t, err)
	hi := now(t, s)
	if !created {
		t.Fatal("created = false for a new verification")
	}
	if v.ID != in.ID || v.Reference != in.Reference || v.State != gateway.StateRouting || v.Officer != in.Officer ||
		v.Location != in.Location || !slices.Equal(v.Contacts, in.Contacts) || v.RoomID != in.RoomID ||
		v.RequestedBy != in.RequestedBy || !sameTime(v.Deadline, in.Deadline) {
		t.Fatalf("created %+v, want the fields of %+v in state routing", v, in)
	}
	wantBetween(t, "CreatedAt", v.CreatedAt, lo, hi)
	if !sameTime(v.UpdatedAt, v.CreatedAt) {
		t.Fatalf("UpdatedAt %v, CreatedAt %v: want equal", v.UpdatedAt, v.CreatedAt)
	}
	if len(v.Attempts) != 0 || v.Lease != nil || v.Owner != "" || v.Outcome != nil || v.QueuedAt != nil {
		t.Fatalf("created %+v, want no attempts, lease, owner, outcome or queue time", v)
	}

	evs, err := s.Events(c, "v1", 0, 0)
	must(t, err)
	if len(evs) != 1 {
		t.Fatalf("events = %+v, want the first one", evs)
	}
	ev := evs[0]
	if ev.Seq <= 0 || ev.VerificationID != "v1" || ev.State != gateway.StateRouting || ev.Type != gateway.EventState ||
		ev.Message != "requested" || ev.Instance != "gw1" {
		t.Fatalf("first event = %+v", ev)
	}
	wantBetween(t, "event At", ev.At, lo, hi)

	got, err := s.Verification(c, "v1")
	must(t, err)
	if got.ID != v.ID || got.Reference != v.Reference || got.State != v.State || !slices.Equal(got.Contacts, v.Contacts) ||
		!sameTime(got.CreatedAt, v.CreatedAt) {
		t.Fatalf("Verification = %+v, want %+v", got, v)
	}
	got, err = s.VerificationByReference(c, in.Reference)
	must(t, err)
	if got.ID != "v1" {
		t.Fatalf("VerificationByReference = %s, want v1", got.ID)
	}

	// A creation time given is kept.
	at := now(t, s).Add(-time.Hour)
	in2 := verification("v2", "t_app1")
	in2.CreatedAt = at
	in2.State = gateway.StateQueued
	v2 := mustVerification(t, s, in2)
	if !sameTime(v2.CreatedAt, at) || v2.State != gateway.StateQueued {
		t.Fatalf("created %+v, want CreatedAt %v and state queued", v2, at)
	}

	for _, tt := range []struct {
		name string
		v    gateway.Verification
		code string
	}{
		{"duplicate ID", verification("v1", "t_app1"), gateway.ECONFLICT},
		{"duplicate reference", func() gateway.Verification { v := verification("v3", "t_app1"); v.Reference = in.Reference; return v }(), gateway.ECONFLICT},
		{"no ID", verification("", "t_app1"), gateway.EINVALID},
	} {
		_, _, err := s.CreateVerification(c, tt.v, "", gateway.Event{Type: gateway.EventState})
		if gateway.ErrorCode(err) != tt.code {
			t.Errorf("CreateVerification with %s: %v, want %s", tt.name, err, tt.code)
		}
	}
	if _, err := s.Verification(c, "v3"); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Fatalf("a refused verification was stored: %v", err)
	}
	_, err = s.Verification(c, "nope")
	wantCode(t, err, gateway.ENOTFOUND)
	_, err = s.VerificationByReference(c, "XXXX-XXXX")
	wantCode(t, err, gateway.ENOTFOUND)
	_, err = s.VerificationByReference(c, "")
	wantCode(t, err, gateway.ENOTFOUND)
}

func testIdempotency(t *testing.T, s gateway.Store) {
	c := ctx(t)
	ev := gateway.Event{Type: gateway.EventState, Message: "requested"}
	v1, created, err := s.CreateVerification(c, verification("v1", "t_a"), "key-1", ev)
	must(t, err)
	if !created {
		t.Fatal("first use of a key: created = false")
	}
	// The retry of the same request by the same requester.
	again, created, err := s.CreateVerification(c, verification("v2", "t_a"), "key-1", ev)
	must(t, err)
	if created || again.ID != "v1" || again.Reference != v1.Reference {
		t.Fatalf("same key, same requester: %s created %v, want v1 and false", again.ID, created)
	}
	if _, err := s.Verification(c, "v2"); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Fatalf("the retry stored v2: %v", err)
	}
	evs, err := s.Events(c, "", 0, 0)
	must(t, err)
	if len(evs) != 1 {
		t.Fatalf("events = %+v, want only v1's first", evs)
	}
	// Keys are the requester's own.
	other, created, err := s.CreateVerification(c, verification("v3", "t_b"), "key-1", ev)
	must(t, err)
	if !created || other.ID != "v3" {
		t.Fatalf("same key, other requester: %s created %v, want v3 and true", other.ID, created)
	}
	// No key: never deduplicated.
	for _, id := range []string{"v4", "v5"} {
		v, created, err := s.CreateVerification(c, verification(id, "t_a"), "", ev)
		must(t, err)
		if !created || v.ID != id {
			t.Fatalf("without a key: %s created %v, want %s and true", v.ID, created, id)
		}
	}
}

func testTransition(t *testing.T, s gateway.Store) {
	c := ctx(t)
	v := mustVerification(t, s, verification("v1", "t_a"))
	first, err := s.Events(c, "v1", 0, 0)
	must(t, err)

	_, _, err = s.Transition(c, "v1", gateway.Transition{
		From: []gateway.State{gateway.StateQueued}, To: gateway.StateDialling,
		Event: gateway.Event{Type: gateway.EventState, Message: "wrong"},
	})
	wantCode(t, err, gateway.ECONFLICT)
	evs, err := s.Events(c, "v1", 0, 0)
	must(t, err)
	if len(evs) != len(first) {
		t.Fatalf("a refused transition wrote an event: %+v", evs)
	}
	got, err := s.Verification(c, "v1")
	must(t, err)
	if got.State != gateway.StateRouting {
		t.Fatalf("a refused transition changed the state to %s", got.State)
	}

	lo := now(t, s)
	out, ev, err := s.Transition(c, "v1", gateway.Transition{
		From: []gateway.State{gateway.StateRouting, gateway.StateQueued},
		To:   gateway.StateDialling,
		Set: func(v *gateway.Verification) {
			v.DeviceID = "d1"
			v.Channel = facetime
			v.JoinURL = "https://meet.example/abc"
		},
		Event: gateway.Event{Type: gateway.EventState, Message: "dialling", Data: map[string]string{"device": "d1"}, Instance: "gw1"},
	})
	must(t, err)
	hi := now(t, s)
	if out.State != gateway.StateDialling || out.DeviceID != "d1" || out.Channel != facetime || out.JoinURL != "https://meet.example/abc" {
		t.Fatalf("after transition: %+v", out)
	}
	if out.Reference != v.Reference || !sameTime(out.CreatedAt, v.CreatedAt) || out.RequestedBy != v.RequestedBy {
		t.Fatalf("transition changed what it must not: %+v, was %+v", out, v)
	}
	wantBetween(t, "UpdatedAt", out.UpdatedAt, lo, hi)
	if ev.Seq <= first[0].Seq || ev.VerificationID != "v1" || ev.State != gateway.StateDialling || ev.Type != gateway.EventState ||
		ev.Message != "dialling" || ev.Data["device"] != "d1" || ev.Instance != "gw1" {
		t.Fatalf("transition event = %+v", ev)
	}
	wantBetween(t, "event At", ev.At, lo, hi)
	evs, err = s.Events(c, "v1", first[0].Seq, 0)
	must(t, err)
	if len(evs) != 1 || evs[0].Seq != ev.Seq || evs[0].State != gateway.StateDialling || !maps.Equal(evs[0].Data, ev.Data) {
		t.Fatalf("stored events = %+v, want %+v", evs, ev)
	}
	got, err = s.Verification(c, "v1")
	must(t, err)
	if got.State != gateway.StateDialling || got.DeviceID != "d1" || got.JoinURL != out.JoinURL {
		t.Fatalf("Verification after transition = %+v", got)
	}

	// Any state, state unchanged: the event carries the current state.
	out, ev, err = s.Transition(c, "v1", gateway.Transition{Event: gateway.Event{Type: gateway.EventNote, Message: "note"}})
	must(t, err)
	if out.State != gateway.StateDialling || ev.State != gateway.StateDialling {
		t.Fatalf("transition without To: state %s, event state %s; want dialling", out.State, ev.State)
	}

	// Set can record the outcome and the times.
	at := now(t, s).Truncate(time.Millisecond)
	queued := at.Add(-time.Minute)
	out, _, err = s.Transition(c, "v1", gateway.Transition{
		From: []gateway.State{gateway.StateDialling}, To: gateway.StateVerified,
		Set: func(v *gateway.Verification) {
			v.Outcome = &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 42", Note: "warrant card seen", At: at}
			v.Reason = "checked"
			v.QueuedAt = &queued
			v.Deadline = at.Add(time.Minute)
		},
		Event: gateway.Event{Type: gateway.EventOutcome, Message: "verified"},
	})
	must(t, err)
	got, err = s.Verification(c, "v1")
	must(t, err)
	for _, v := range []gateway.Verification{out, got} {
		if v.State != gateway.StateVerified || v.Outcome == nil || v.Outcome.Result != gateway.OutcomeVerified ||
			v.Outcome.Supervisor != "PS 42" || v.Outcome.Note != "warrant card seen" || !sameTime(v.Outcome.At, at) ||
			v.Reason != "checked" || v.QueuedAt == nil || !sameTime(*v.QueuedAt, queued) || !sameTime(v.Deadline, at.Add(time.Minute)) {
			t.Fatalf("after the outcome: %+v", v)
		}
	}

	_, _, err = s.Transition(c, "nope", gateway.Transition{To: gateway.StateFailed})
	wantCode(t, err, gateway.ENOTFOUND)
}

func testTransitionWithAttempt(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustVerification(t, s, verification("v1", "t_a"))
	mustVerification(t, s, verification("v2", "t_a"))
	first, err := s.Events(c, "v1", 0, 0)
	must(t, err)
	wake, stop := s.Subscribe(gateway.TopicAttempt + "a1")
	defer stop()

	// Refused: neither the attempt nor an event is written.
	a1 := gateway.Attempt{ID: "a1", VerificationID: "v1", Channel: facetime, RoomID: "r1", DeviceID: "d1", StartedAt: now(t, s), Tries: 1}
	_, _, err = s.Transition(c, "v1", gateway.Transition{
		From: []gateway.State{gateway.StateQueued}, To: gateway.StateDialling,
		Attempt: &a1, AttemptEvent: gateway.Event{Type: gateway.EventAttempt, Message: "attempt 1"},
		Event: gateway.Event{Type: gateway.EventState, Message: "dialling"},
	})
	wantCode(t, err, gateway.ECONFLICT)
	_, err = s.Attempt(c, "a1")
	wantCode(t, err, gateway.ENOTFOUND)
	if evs, err := s.Events(c, "v1", 0, 0); err != nil || len(evs) != len(first) {
		t.Fatalf("a refused transition with an attempt wrote events %+v (%v)", evs, err)
	}

	// Accepted: the attempt (with the next Seq), its event, then the
	// state's event, in one go.
	out, ev, err := s.Transition(c, "v1", gateway.Transition{
		From: []gateway.State{gateway.StateRouting}, To: gateway.StateDialling,
		Attempt: &a1, AttemptEvent: gateway.Event{Type: gateway.EventAttempt, Message: "attempt 1"},
		Event: gateway.Event{Type: gateway.EventState, Message: "dialling"},
	})
	must(t, err)
	if out.State != gateway.StateDialling || len(out.Attempts) != 1 || out.Attempts[0].ID != "a1" || out.Attempts[0].Seq != 1 {
		t.Fatalf("after the transition: state %s, attempts %+v", out.State, out.Attempts)
	}
	evs, err := s.Events(c, "v1", first[len(first)-1].Seq, 0)
	must(t, err)
	if len(evs) != 2 || evs[0].AttemptID != "a1" || evs[0].Type != gateway.EventAttempt || evs[0].State != gateway.StateRouting ||
		evs[1].Seq != ev.Seq || evs[1].State != gateway.StateDialling || evs[1].Message != "dialling" {
		t.Fatalf("events after the transition %+v, want the attempt's (in routing) then dialling", evs)
	}
	select {
	case <-wake:
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up on the attempt's topic")
	}

	// Updated by a later transition: ended and connected together.
	ended := now(t, s)
	a1.Seq, a1.EndedAt, a1.Result = 1, &ended, gateway.ResultConnected
	out, _, err = s.Transition(c, "v1", gateway.Transition{
		From: []gateway.State{gateway.StateDialling}, To: gateway.StateConnected,
		Attempt: &a1, AttemptEvent: gateway.Event{Type: gateway.EventAttempt, Message: "connected"},
		Event: gateway.Event{Type: gateway.EventState, Message: "connected"},
	})
	must(t, err)
	if len(out.Attempts) != 1 || out.Attempts[0].Result != gateway.ResultConnected || out.Attempts[0].EndedAt == nil {
		t.Fatalf("attempts after connecting: %+v", out.Attempts)
	}

	// Another verification's attempt is refused, and changes nothing.
	other := gateway.Attempt{ID: "a1", VerificationID: "v2", Channel: facetime, StartedAt: now(t, s)}
	_, _, err = s.Transition(c, "v2", gateway.Transition{Attempt: &other, Event: gateway.Event{Type: gateway.EventNote, Message: "x"}})
	wantCode(t, err, gateway.ECONFLICT)
	mismatched := gateway.Attempt{ID: "a9", VerificationID: "v1", Channel: facetime, StartedAt: now(t, s)}
	_, _, err = s.Transition(c, "v2", gateway.Transition{Attempt: &mismatched, Event: gateway.Event{Type: gateway.EventNote, Message: "x"}})
	wantCode(t, err, gateway.EINVALID)
	got, err := s.Attempt(c, "a1")
	must(t, err)
	if got.VerificationID != "v1" || got.Result != gateway.ResultConnected {
		t.Fatalf("attempt a1 after refused writes: %+v", got)
	}
}

func testAttempts(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustVerification(t, s, verification("v1", "t_a"))
	mustVerification(t, s, verification("v2", "t_a"))
	start := now(t, s)
	a1 := gateway.Attempt{ID: "a1", VerificationID: "v1", Seq: 1, Channel: facetime, RoomID: "r1", DeviceID: "d1", StartedAt: start, Tries: 1}
	lo := now(t, s)
	ev, err := s.PutAttempt(c, a1, gateway.Event{Type: gateway.EventAttempt, Message: "started"})
	must(t, err)
	hi := now(t, s)
	if ev.Seq <= 0 || ev.VerificationID != "v1" || ev.AttemptID != "a1" || ev.State != gateway.StateRouting ||
		ev.Type != gateway.EventAttempt || ev.Message != "started" {
		t.Fatalf("attempt event = %+v", ev)
	}
	wantBetween(t, "event At", ev.At, lo, hi)
	got, err := s.Attempt(c, "a1")
	must(t, err)
	if got.ID != "a1" || got.VerificationID != "v1" || got.Seq != 1 || got.Channel != facetime || got.RoomID != "r1" ||
		got.DeviceID != "d1" || !sameTime(got.StartedAt, start) || got.EndedAt != nil || got.Tries != 1 || got.Result != gateway.ResultPending {
		t.Fatalf("Attempt = %+v, want %+v", got, a1)
	}

	// Update: the report of its end.
	end := now(t, s)
	a1.ProviderRef, a1.EndedAt, a1.Result, a1.Tries, a1.Error = "ref-1", &end, gateway.ResultNoAnswer, 2, "not answered in 30s"
	_, err = s.PutAttempt(c, a1, gateway.Event{Type: gateway.EventAttempt, Message: "no answer"})
	must(t, err)
	got, err = s.Attempt(c, "a1")
	must(t, err)
	if got.ProviderRef != "ref-1" || got.EndedAt == nil || !sameTime(*got.EndedAt, end) || got.Result != gateway.ResultNoAnswer ||
		got.Tries != 2 || got.Error != a1.Error || got.Seq != 1 {
		t.Fatalf("updated attempt = %+v", got)
	}

	// Attempts come back by Seq, whatever the order they were written in;
	// one without a Seq gets the next.
	_, err = s.PutAttempt(c, gateway.Attempt{ID: "a0", VerificationID: "v1", Seq: 3, Channel: pstn}, gateway.Event{Type: gateway.EventAttempt})
	must(t, err)
	_, err = s.PutAttempt(c, gateway.Attempt{ID: "a9", VerificationID: "v1", Seq: 2, Channel: whatsapp}, gateway.Event{Type: gateway.EventAttempt})
	must(t, err)
	_, err = s.PutAttempt(c, gateway.Attempt{ID: "a5", VerificationID: "v1", Channel: zoom}, gateway.Event{Type: gateway.EventAttempt})
	must(t, err)
	v, err := s.Verification(c, "v1")
	must(t, err)
	var order []string
	for _, a := range v.Attempts {
		order = append(order, a.ID+"#"+strconv.Itoa(a.Seq))
	}
	if want := []string{"a1#1", "a9#2", "a0#3", "a5#4"}; !slices.Equal(order, want) {
		t.Fatalf("attempts = %v, want %v", order, want)
	}
	if v.Attempts[0].ProviderRef != "ref-1" {
		t.Fatalf("attempt in the verification = %+v", v.Attempts[0])
	}

	byRef, err := s.AttemptByProviderRef(c, facetime, "ref-1")
	must(t, err)
	if byRef.ID != "a1" {
		t.Fatalf("AttemptByProviderRef = %+v, want a1", byRef)
	}
	for _, tt := range []struct {
		ch  gateway.Channel
		ref string
	}{{whatsapp, "ref-1"}, {facetime, "ref-2"}, {facetime, ""}} {
		_, err := s.AttemptByProviderRef(c, tt.ch, tt.ref)
		if gateway.ErrorCode(err) != gateway.ENOTFOUND {
			t.Errorf("AttemptByProviderRef(%s, %q) = %v, want ENOTFOUND", tt.ch, tt.ref, err)
		}
	}
	_, err = s.Attempt(c, "nope")
	wantCode(t, err, gateway.ENOTFOUND)

	for _, tt := range []struct {
		name string
		a    gateway.Attempt
		code string
	}{
		{"unknown verification", gateway.Attempt{ID: "a7", VerificationID: "nope", Seq: 1}, gateway.ENOTFOUND},
		{"no ID", gateway.Attempt{VerificationID: "v1", Seq: 1}, gateway.EINVALID},
		{"another verification's attempt", gateway.Attempt{ID: "a1", VerificationID: "v2", Seq: 1}, gateway.ECONFLICT},
	} {
		_, err := s.PutAttempt(c, tt.a, gateway.Event{Type: gateway.EventAttempt})
		if gateway.ErrorCode(err) != tt.code {
			t.Errorf("PutAttempt with %s: %v, want %s", tt.name, err, tt.code)
		}
	}
	if v, err := s.Verification(c, "v2"); err != nil || len(v.Attempts) != 0 {
		t.Fatalf("v2 = %+v, %v; want no attempts", v, err)
	}
}

func testEvents(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustVerification(t, s, verification("v1", "t_a"))
	mustVerification(t, s, verification("v2", "t_a"))
	lo := now(t, s)
	e3, err := s.AppendEvent(c, gateway.Event{VerificationID: "v1", Type: gateway.EventNote, Message: "skipped zoom",
		Data: map[string]string{"channel": "zoom"}, Instance: "gw1"})
	must(t, err)
	hi := now(t, s)
	if e3.Seq <= 0 || e3.State != gateway.StateRouting || e3.Data["channel"] != "zoom" {
		t.Fatalf("appended %+v, want a Seq and the verification's state", e3)
	}
	wantBetween(t, "event At", e3.At, lo, hi)
	_, err = s.AppendEvent(c, gateway.Event{VerificationID: "v2", Type: gateway.EventNote, Message: "n"})
	must(t, err)
	_, err = s.AppendEvent(c, gateway.Event{VerificationID: "v1", Type: gateway.EventReport, AttemptID: "a1", Message: "ringing"})
	must(t, err)

	all, err := s.Events(c, "", 0, 0)
	must(t, err)
	if len(all) != 5 {
		t.Fatalf("all events = %+v, want 5", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Fatalf("events out of order: %v", seqs(all))
		}
	}
	if got := all[2]; got.Seq != e3.Seq || got.VerificationID != "v1" || got.Message != "skipped zoom" || got.Instance != "gw1" ||
		!maps.Equal(got.Data, e3.Data) || !sameTime(got.At, e3.At) || got.Type != gateway.EventNote {
		t.Fatalf("stored event = %+v, want %+v", got, e3)
	}
	if all[4].AttemptID != "a1" {
		t.Fatalf("stored event = %+v, want attempt a1", all[4])
	}
	s1, s2, s3, s4, s5 := all[0].Seq, all[1].Seq, all[2].Seq, all[3].Seq, all[4].Seq
	for _, tt := range []struct {
		vid   string
		after int64
		limit int
		want  []int64
	}{
		{"v1", 0, 0, []int64{s1, s3, s5}},
		{"v2", 0, 0, []int64{s2, s4}},
		{"v1", s1, 0, []int64{s3, s5}},
		{"", s2, 2, []int64{s3, s4}},
		{"", 0, 1, []int64{s1}},
		{"v1", s5, 0, nil},
		{"nope", 0, 0, nil},
	} {
		evs, err := s.Events(c, tt.vid, tt.after, tt.limit)
		must(t, err)
		if got := seqs(evs); !slices.Equal(got, tt.want) {
			t.Errorf("Events(%q, %d, %d) = %v, want %v", tt.vid, tt.after, tt.limit, got, tt.want)
		}
	}

	_, err = s.AppendEvent(c, gateway.Event{Type: gateway.EventNote})
	wantCode(t, err, gateway.EINVALID)
	_, err = s.AppendEvent(c, gateway.Event{VerificationID: "nope", Type: gateway.EventNote})
	wantCode(t, err, gateway.ENOTFOUND)
}

// testEventOrder: while writers append events to two verifications at
// once, a reader that follows one verification by asking for its events
// after the last Seq it saw, as the router and the event streams do, sees
// every one of them: no event of a verification commits with a lower Seq
// than one already visible.
func testEventOrder(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustVerification(t, s, verification("v1", "t_a"))
	mustVerification(t, s, verification("v2", "t_a"))
	const writers, each = 8, 40
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			vid := "v1"
			if w%4 == 3 {
				vid = "v2"
			}
			for i := range each {
				_, err := s.AppendEvent(c, gateway.Event{VerificationID: vid, Type: gateway.EventNote, Message: "w" + strconv.Itoa(w) + "-" + strconv.Itoa(i)})
				if err != nil {
					t.Errorf("AppendEvent: %v", err)
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	seen := map[int64]bool{}
	var after int64
	follow := func() {
		evs, err := s.Events(c, "v1", after, 0)
		must(t, err)
		for _, ev := range evs {
			seen[ev.Seq] = true
			after = ev.Seq
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		follow()
	}
	follow()
	all, err := s.Events(c, "v1", 0, 0)
	must(t, err)
	if want := 1 + writers/4*3*each; len(all) != want {
		t.Fatalf("v1 has %d events, want %d", len(all), want)
	}
	var missed []int64
	for _, ev := range all {
		if !seen[ev.Seq] {
			missed = append(missed, ev.Seq)
		}
	}
	if len(missed) > 0 {
		t.Fatalf("a reader following v1 missed %d events committed after a higher Seq: %v", len(missed), missed)
	}
}

// testMessageEvent: the note that recorded sending a message is found by
// the message's ID, the first if several; other events carrying the same
// data are not notes of a message sent.
// testEventReport: a report is stored with its event and read back as the
// same typed value, by Events and after a transition.
func testEventReport(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustVerification(t, s, verification("v1", "t_a"))
	reports := []gateway.Report{
		{AttemptID: "a1", Channel: gateway.Channel("zoom"), ProviderRef: "8123456789", Status: gateway.ReportJoined,
			Party: gateway.PartyDevice, Detail: "the host joined"},
		{AttemptID: "a1", Status: gateway.ReportFailed, Fate: gateway.NotPlaced, Detail: "app not signed in"},
		{Channel: gateway.Channel("whatsapp"), MessageID: "wamid.AAA", Status: gateway.ReportDelivered},
	}
	var seqs []int64
	for _, rep := range reports {
		ev, err := s.AppendEvent(c, gateway.Event{VerificationID: "v1", Type: gateway.EventReport, AttemptID: rep.AttemptID,
			Message: "reported " + string(rep.Status), Report: &rep})
		must(t, err)
		seqs = append(seqs, ev.Seq)
	}
	evs, err := s.Events(c, "v1", seqs[0]-1, 0)
	must(t, err)
	if len(evs) != len(reports) {
		t.Fatalf("Events = %d events, want %d", len(evs), len(reports))
	}
	for i, ev := range evs {
		if ev.Report == nil {
			t.Fatalf("event %d has no report", ev.Seq)
		}
		got, want := *ev.Report, reports[i]
		if !got.At.Equal(ev.At) {
			t.Errorf("report %d At = %v, want the event's %v", i, got.At, ev.At)
		}
		got.At = want.At
		if got != want {
			t.Errorf("report %d = %+v, want %+v", i, got, want)
		}
	}
	// An event without a report reads back without one.
	ev, err := s.AppendEvent(c, gateway.Event{VerificationID: "v1", Type: gateway.EventNote, Message: "a note"})
	must(t, err)
	evs, err = s.Events(c, "v1", ev.Seq-1, 0)
	must(t, err)
	if len(evs) != 1 || evs[0].Report != nil {
		t.Fatalf("a note read back as %+v, want no report", evs)
	}
}

func testMessageEvent(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustVerification(t, s, verification("v1", "t_a"))
	mustVerification(t, s, verification("v2", "t_a"))
	note := func(vid, attempt, id string) gateway.Event {
		t.Helper()
		ev, err := s.AppendEvent(c, gateway.Event{VerificationID: vid, Type: gateway.EventNote, AttemptID: attempt,
			Message: "join link sent by whatsapp message", Data: map[string]string{gateway.DataMessage: id}})
		must(t, err)
		return ev
	}
	first := note("v1", "a1", "wamid.AAA")
	note("v2", "a2", "wamid.BBB")
	note("v1", "a3", "wamid.AAA")
	_, err := s.AppendEvent(c, gateway.Event{VerificationID: "v2", Type: gateway.EventReport, AttemptID: "a2",
		Message: "whatsapp reported answered", Data: map[string]string{gateway.DataMessage: "wamid.CCC"}})
	must(t, err)

	got, err := s.MessageEvent(c, "wamid.AAA")
	must(t, err)
	if got.Seq != first.Seq || got.VerificationID != "v1" || got.AttemptID != "a1" || got.Data[gateway.DataMessage] != "wamid.AAA" {
		t.Fatalf("MessageEvent(wamid.AAA) = %+v, want the first note, %+v", got, first)
	}
	if got, err := s.MessageEvent(c, "wamid.BBB"); err != nil || got.VerificationID != "v2" {
		t.Fatalf("MessageEvent(wamid.BBB) = %+v, %v; want v2's note", got, err)
	}
	for _, id := range []string{"wamid.CCC", "wamid.none", ""} {
		_, err := s.MessageEvent(c, id)
		if gateway.ErrorCode(err) != gateway.ENOTFOUND {
			t.Errorf("MessageEvent(%q): %v, want ENOTFOUND", id, err)
		}
		// The error is logged: a WhatsApp message ID encodes a number.
		if id != "" && strings.Contains(err.Error(), strings.TrimPrefix(id, "wamid.")) {
			t.Errorf("MessageEvent(%q)'s error names the message: %v", id, err)
		}
	}
}

func testVerificationsFilter(t *testing.T, s gateway.Store) {
	c := ctx(t)
	base := now(t, s).Add(-time.Hour).Truncate(time.Millisecond)
	create := func(id string, st gateway.State, room string, created, queued time.Duration) {
		v := verification(id, "t_a")
		v.State, v.RoomID, v.CreatedAt = st, room, base.Add(created)
		if queued > 0 {
			q := base.Add(queued)
			v.QueuedAt = &q
		}
		mustVerification(t, s, v)
	}
	create("v1", gateway.StateRouting, "r1", time.Minute, 0)
	create("v2", gateway.StateQueued, "r1", 2*time.Minute, 20*time.Minute)
	create("v3", gateway.StateQueued, "r2", 3*time.Minute, 10*time.Minute)
	create("v4", gateway.StateQueued, "r1", 4*time.Minute, 15*time.Minute)
	create("v5", gateway.StateVerified, "r1", 5*time.Minute, 0)
	_, err := s.PutAttempt(c, gateway.Attempt{ID: "a1", VerificationID: "v2", Seq: 1, Channel: facetime}, gateway.Event{Type: gateway.EventAttempt})
	must(t, err)

	queued := []gateway.State{gateway.StateQueued}
	for _, tt := range []struct {
		f    gateway.VerificationFilter
		want []string
	}{
		{gateway.VerificationFilter{States: queued}, []string{"v3", "v4", "v2"}},
		{gateway.VerificationFilter{States: queued, RoomID: "r1"}, []string{"v4", "v2"}},
		{gateway.VerificationFilter{States: queued, Limit: 2}, []string{"v3", "v4"}},
		{gateway.VerificationFilter{States: []gateway.State{gateway.StateVerified, gateway.StateRouting}}, []string{"v1", "v5"}},
		{gateway.VerificationFilter{RoomID: "r2"}, []string{"v3"}},
		{gateway.VerificationFilter{RoomID: "r9"}, nil},
		{gateway.VerificationFilter{States: []gateway.State{gateway.StateFailed}}, nil},
		{gateway.VerificationFilter{Since: base.Add(3 * time.Minute)}, []string{"v5", "v3", "v4"}}, // created at or after, in queue order
		{gateway.VerificationFilter{Since: base.Add(3*time.Minute + time.Millisecond), RoomID: "r1"}, []string{"v5", "v4"}},
		{gateway.VerificationFilter{Since: base.Add(time.Hour)}, nil},
	} {
		vs, err := s.Verifications(c, tt.f)
		must(t, err)
		if got := vids(vs); !slices.Equal(got, tt.want) {
			t.Errorf("Verifications(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}
	all, err := s.Verifications(c, gateway.VerificationFilter{})
	must(t, err)
	if got := vids(all); len(got) != 5 || got[0] != "v1" {
		t.Fatalf("every verification = %v, want all 5, v1 first", got)
	}
	for _, v := range all {
		want := 0
		if v.ID == "v2" {
			want = 1
		}
		if len(v.Attempts) != want {
			t.Fatalf("%s listed with %d attempts, want %d", v.ID, len(v.Attempts), want)
		}
	}
}

func testVerificationLease(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustCreate(t, s, device("d1", "r1", facetime))
	mustVerification(t, s, verification("v1", "t_a"))
	mustVerification(t, s, verification("v2", "t_a"))
	l := mustClaim(t, s, claimReq("v1", "r1"))
	v, err := s.Verification(c, "v1")
	must(t, err)
	wantLease(t, "Verification", v.Lease, l)
	vs, err := s.Verifications(c, gateway.VerificationFilter{})
	must(t, err)
	for _, v := range vs {
		switch v.ID {
		case "v1":
			wantLease(t, "Verifications", v.Lease, l)
		default:
			if v.Lease != nil {
				t.Fatalf("%s listed with the lease %+v", v.ID, *v.Lease)
			}
		}
	}
	must(t, s.Release(c, l, ""))
	v, err = s.Verification(c, "v1")
	must(t, err)
	if v.Lease != nil {
		t.Fatalf("lease %+v still shown after release", *v.Lease)
	}
}

func testOwnership(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustVerification(t, s, verification("v1", "t_a"))
	lo := now(t, s)
	// Long enough for the checks below to run within it on a loaded machine.
	const hold = 800 * time.Millisecond
	v, err := s.Own(c, "v1", "gw1", hold)
	must(t, err)
	hi := now(t, s)
	if v.ID != "v1" || v.Owner != "gw1" || v.OwnerUntil == nil {
		t.Fatalf("owned = %+v", v)
	}
	wantBetween(t, "OwnerUntil", *v.OwnerUntil, lo.Add(hold), hi.Add(hold))
	_, err = s.Own(c, "v1", "gw2", time.Minute)
	wantCode(t, err, gateway.ECONFLICT)
	renewed, err := s.Own(c, "v1", "gw1", hold)
	must(t, err)
	if renewed.Owner != "gw1" || renewed.OwnerUntil == nil || renewed.OwnerUntil.Before(*v.OwnerUntil) {
		t.Fatalf("renewed = %+v, want gw1 until no earlier than %v", renewed, *v.OwnerUntil)
	}
	got, err := s.Verification(c, "v1")
	must(t, err)
	if got.Owner != "gw1" || got.OwnerUntil == nil || !sameTime(*got.OwnerUntil, *renewed.OwnerUntil) {
		t.Fatalf("Verification = owner %q until %v, want gw1 until %v", got.Owner, got.OwnerUntil, *renewed.OwnerUntil)
	}

	// Unowned live verifications are orphans; finished ones are not.
	v2 := verification("v2", "t_a")
	v2.State = gateway.StateQueued
	mustVerification(t, s, v2)
	v3 := verification("v3", "t_a")
	v3.State = gateway.StateVerified
	mustVerification(t, s, v3)
	// A connected call is an orphan while it holds its device: whoever takes
	// it over keeps the lease while the call lasts. One whose device was
	// released (the call ended before the outcome) needs no router: were it
	// an orphan, instances would take it over again and again.
	v4 := verification("v4", "t_a")
	v4.State = gateway.StateConnected
	mustVerification(t, s, v4)
	mustCreate(t, s, device("d4", "r1", gateway.Channel("facetime")), device("d5", "r1", gateway.Channel("facetime")))
	mustClaim(t, s, claimReq("v4", "r1"))
	v5 := verification("v5", "t_a")
	v5.State = gateway.StateConnected
	mustVerification(t, s, v5)
	must(t, s.Release(c, mustClaim(t, s, claimReq("v5", "r1")), "call ended"))
	orphans, err := s.Orphans(c)
	must(t, err)
	if got := vids(orphans); !slices.Equal(got, []string{"v2", "v4"}) {
		t.Fatalf("Orphans while v1 is held = %v, want [v2 v4]", got)
	}

	waitPast(t, s, *renewed.OwnerUntil)
	orphans, err = s.Orphans(c)
	must(t, err)
	if got := vids(orphans); !slices.Equal(got, []string{"v1", "v2", "v4"}) {
		t.Fatalf("Orphans once v1's hold lapsed = %v, want [v1 v2 v4]", got)
	}
	taken, err := s.Own(c, "v1", "gw2", time.Minute)
	must(t, err)
	if taken.Owner != "gw2" {
		t.Fatalf("taken over: owner %q, want gw2", taken.Owner)
	}
	_, err = s.Own(c, "v1", "gw1", time.Minute)
	wantCode(t, err, gateway.ECONFLICT)
	orphans, err = s.Orphans(c)
	must(t, err)
	if got := vids(orphans); !slices.Equal(got, []string{"v2", "v4"}) {
		t.Fatalf("Orphans after take-over = %v, want [v2 v4]", got)
	}

	_, err = s.Own(c, "nope", "gw1", time.Minute)
	wantCode(t, err, gateway.ENOTFOUND)
}

func testTokens(t *testing.T, s gateway.Store) {
	c := ctx(t)
	tok := gateway.Token{ID: "t1", Role: gateway.RoleAgent, Name: "handset d1", Subject: "d1", Hash: gateway.HashSecret("s1")}
	must(t, s.CreateToken(c, tok))
	must(t, s.CreateToken(c, gateway.Token{ID: "t0", Role: gateway.RoleOps, Name: "ops desk", Hash: gateway.HashSecret("s0")}))
	got, err := s.TokenByHash(c, tok.Hash)
	must(t, err)
	if got.IssuedAt.IsZero() {
		t.Errorf("TokenByHash: IssuedAt not set by the store")
	}
	got.IssuedAt = time.Time{}
	if got != tok {
		t.Fatalf("TokenByHash = %+v, want %+v", got, tok)
	}
	for name, dup := range map[string]gateway.Token{
		"ID":   {ID: "t1", Role: gateway.RoleOps, Hash: gateway.HashSecret("other")},
		"hash": {ID: "t2", Role: gateway.RoleOps, Hash: tok.Hash},
	} {
		if err := s.CreateToken(c, dup); gateway.ErrorCode(err) != gateway.ECONFLICT {
			t.Errorf("CreateToken with a duplicate %s: %v, want ECONFLICT", name, err)
		}
	}
	_, err = s.TokenByHash(c, gateway.HashSecret("unknown"))
	wantCode(t, err, gateway.ENOTFOUND)

	must(t, s.RevokeToken(c, "t1"))
	_, err = s.TokenByHash(c, tok.Hash)
	wantCode(t, err, gateway.ENOTFOUND)
	wantCode(t, s.RevokeToken(c, "nope"), gateway.ENOTFOUND)
	ts, err := s.Tokens(c)
	must(t, err)
	slices.SortFunc(ts, func(a, b gateway.Token) int { return cmp.Compare(a.ID, b.ID) })
	if len(ts) != 2 || ts[0].ID != "t0" || ts[0].Revoked || ts[1].ID != "t1" || !ts[1].Revoked {
		t.Fatalf("Tokens = %+v, want t0 live and t1 revoked", ts)
	}
}

func testOrders(t *testing.T, s gateway.Store) {
	c := ctx(t)
	base := now(t, s).Add(-time.Minute).Truncate(time.Millisecond)
	later := now(t, s).Add(time.Hour).Truncate(time.Millisecond)
	order := func(id, dev string, created time.Duration, expires time.Time) gateway.Order {
		return gateway.Order{ID: id, DeviceID: dev, VerificationID: "v1", AttemptID: "a1", Kind: gateway.OrderDial,
			Channel: whatsapp, Handle: "+447700900111", Reference: "K7QX-M4TR", CreatedAt: base.Add(created), ExpiresAt: expires}
	}
	o2 := order("o2", "d1", 2*time.Second, later)
	o2.Kind, o2.Channel, o2.Handle, o2.JoinURL = gateway.OrderJoin, zoom, "", "https://zoom.example/j/1"
	for _, o := range []gateway.Order{
		order("o1", "d1", time.Second, later),
		order("o3", "d1", 3*time.Second, base), // expired
		order("o4", "d2", 4*time.Second, later),
		o2,
		order("o5", "d1", 5*time.Second, time.Time{}), // never expires
	} {
		must(t, s.PutOrder(c, o))
	}
	got, err := s.Order(c, "o2")
	must(t, err)
	if got.ID != o2.ID || got.DeviceID != "d1" || got.VerificationID != "v1" || got.AttemptID != "a1" || got.Kind != gateway.OrderJoin ||
		got.Channel != zoom || got.JoinURL != o2.JoinURL || got.Reference != o2.Reference || got.Status != gateway.OrderPending ||
		!sameTime(got.CreatedAt, o2.CreatedAt) || !sameTime(got.ExpiresAt, o2.ExpiresAt) {
		t.Fatalf("Order = %+v, want %+v pending", got, o2)
	}
	wantCode(t, s.PutOrder(c, order("o1", "d1", 0, later)), gateway.ECONFLICT)

	taken, err := s.TakeOrders(c, "d1")
	must(t, err)
	var ids []string
	for _, o := range taken {
		ids = append(ids, o.ID)
		if o.Status != gateway.OrderDelivered {
			t.Errorf("taken order %s is %s, want delivered", o.ID, o.Status)
		}
	}
	if want := []string{"o1", "o2", "o5"}; !slices.Equal(ids, want) {
		t.Fatalf("TakeOrders(d1) = %v, want %v (oldest first, the expired one skipped)", ids, want)
	}
	if again, err := s.TakeOrders(c, "d1"); err != nil || len(again) != 0 {
		t.Fatalf("second TakeOrders(d1) = %+v, %v; want none", again, err)
	}
	for id, want := range map[string]gateway.OrderStatus{"o1": gateway.OrderDelivered, "o3": gateway.OrderPending, "o4": gateway.OrderPending} {
		o, err := s.Order(c, id)
		must(t, err)
		if o.Status != want {
			t.Errorf("order %s is %s, want %s", id, o.Status, want)
		}
	}
	if d2, err := s.TakeOrders(c, "d2"); err != nil || len(d2) != 1 || d2[0].ID != "o4" {
		t.Fatalf("TakeOrders(d2) = %+v, %v; want o4", d2, err)
	}

	must(t, s.SetOrderStatus(c, "o1", gateway.OrderDone))
	if o, err := s.Order(c, "o1"); err != nil || o.Status != gateway.OrderDone {
		t.Fatalf("after SetOrderStatus: %+v, %v", o, err)
	}
	wantCode(t, s.SetOrderStatus(c, "nope", gateway.OrderDone), gateway.ENOTFOUND)
	_, err = s.Order(c, "nope")
	wantCode(t, err, gateway.ENOTFOUND)

	// Agents polling at once take each order once.
	for i := range 20 {
		must(t, s.PutOrder(c, order("p"+strconv.Itoa(i), "d3", time.Duration(i)*time.Millisecond, later)))
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	for range 5 {
		wg.Go(func() {
			for range 4 {
				got, err := s.TakeOrders(c, "d3")
				if err != nil {
					t.Errorf("TakeOrders: %v", err)
					return
				}
				mu.Lock()
				for _, o := range got {
					seen[o.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 20 {
		t.Fatalf("concurrent polls took %d orders, want 20", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("order %s taken %d times", id, n)
		}
	}
}

func testBus(t *testing.T, s gateway.Store) {
	c := ctx(t)
	// Any topic, through the store.
	ch, cancel := s.Subscribe("storetest")
	must(t, s.Publish(c, "storetest", "hello"))
	if m := receive(t, ch, "Publish"); m != "hello" {
		t.Fatalf("got %q, want hello", m)
	}
	cancel()
	cancel() // idempotent

	events, cancelEvents := s.Subscribe(gateway.TopicEvents)
	defer cancelEvents()
	attempt, cancelAttempt := s.Subscribe(gateway.TopicAttempt + "a1")
	defer cancelAttempt()
	orders, cancelOrders := s.Subscribe(gateway.TopicOrders + "d1")
	defer cancelOrders()

	mustVerification(t, s, verification("v1", "t_a"))
	receiveWant(t, events, "CreateVerification", "v1")
	_, _, err := s.Transition(c, "v1", gateway.Transition{To: gateway.StateDialling, Event: gateway.Event{Type: gateway.EventState}})
	must(t, err)
	receiveWant(t, events, "Transition", "v1")
	ev, err := s.PutAttempt(c, gateway.Attempt{ID: "a1", VerificationID: "v1", Seq: 1, Channel: facetime}, gateway.Event{Type: gateway.EventAttempt})
	must(t, err)
	receiveWant(t, events, "PutAttempt", "v1")
	receiveWant(t, attempt, "PutAttempt", strconv.FormatInt(ev.Seq, 10))
	ev, err = s.AppendEvent(c, gateway.Event{VerificationID: "v1", AttemptID: "a1", Type: gateway.EventReport, Message: "answered"})
	must(t, err)
	receiveWant(t, events, "AppendEvent", "v1")
	receiveWant(t, attempt, "AppendEvent", strconv.FormatInt(ev.Seq, 10))
	must(t, s.PutOrder(c, gateway.Order{ID: "o1", DeviceID: "d1", Kind: gateway.OrderDial, Channel: facetime}))
	receiveWant(t, orders, "PutOrder", "o1")
}
