package sqlite

import (
	"bytes"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// TestLeafDraft: a leaf drafted before its write and finished in it is
// gateway.EventLeaf's, byte for byte, whatever the event holds (its fields
// spelling the stand-ins, or keys, or characters JSON escapes); an event
// changed since it was drafted gets its leaf made whole, with the draft's
// nonce.
func TestLeafDraft(t *testing.T) {
	at := time.Date(2026, 5, 4, 3, 2, 1, 987654321, time.FixedZone("BST", 3600))
	tricky := `"seq":7340155836912057,"state":"\u0000draft","at":"2001-02-03T04:05:06.12345678Z" <&> é ` + "\x00\u2028"
	base := gateway.Event{VerificationID: "v_1", Type: gateway.EventNote, AttemptID: "a_1", Message: "rang +447700900111",
		Data: map[string]string{"b": "2", "a": "1"}, Instance: "i1"}
	events := []gateway.Event{
		base,
		{VerificationID: "v_2", Type: gateway.EventState},
		{VerificationID: tricky, Type: gateway.EventType(tricky), AttemptID: tricky, Message: tricky, Instance: tricky,
			Data: map[string]string{tricky: tricky}},
		{VerificationID: "v_3", Type: gateway.EventReport, Report: &gateway.Report{AttemptID: "a_3", Status: gateway.ReportAnswered, Detail: tricky}},
	}
	states := []gateway.State{gateway.StateRouting, gateway.StateVerified, "", gateway.State(tricky), standInState}
	times := []time.Time{at, at.Truncate(time.Second), time.Unix(0, 0), standInAt, time.Date(2026, 1, 1, 0, 0, 0, 100, time.UTC)}
	seqs := []int64{0, 1, 42, standInSeq, 1<<63 - 1}
	for i, ev := range events {
		d := draftLeaf(ev)
		if d.parts == nil {
			t.Fatalf("event %d: the draft did not come apart", i)
		}
		for _, st := range states {
			for _, tm := range times {
				for _, seq := range seqs {
					w := ev
					w.State, w.At, w.Seq = st, tm, seq
					got, err := d.leaf(w)
					if err != nil {
						t.Fatal(err)
					}
					want, err := gateway.EventLeaf(w, d.nonce)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got.Data, want.Data) || got.Hash != want.Hash || !bytes.Equal(got.Nonce, want.Nonce) ||
						got.Kind != want.Kind || got.Ref != want.Ref || got.Index != want.Index {
						t.Fatalf("event %d, state %q, at %v, seq %d:\n got %s\nwant %s", i, st, tm, seq, got.Data, want.Data)
					}
					if err := gateway.CheckEventLeaf(w, got); err != nil {
						t.Fatalf("event %d: %v", i, err)
					}
				}
			}
		}
	}
	// Changed since drafted: made whole, with the draft's nonce.
	d := draftLeaf(base)
	for _, change := range []func(*gateway.Event){
		func(ev *gateway.Event) { ev.VerificationID = "v_other" },
		func(ev *gateway.Event) { ev.Type = gateway.EventState },
		func(ev *gateway.Event) { ev.AttemptID = "" },
		func(ev *gateway.Event) { ev.Instance = "i2" },
		func(ev *gateway.Event) { ev.Message = "another" },
		func(ev *gateway.Event) { ev.Data = map[string]string{"a": "1"} },
		func(ev *gateway.Event) { ev.Report = &gateway.Report{Status: gateway.ReportAnswered} },
	} {
		w := base
		w.State, w.At, w.Seq = gateway.StateRouting, at, 7
		change(&w)
		got, err := d.leaf(w)
		if err != nil {
			t.Fatal(err)
		}
		want, err := gateway.EventLeaf(w, d.nonce)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Data, want.Data) || got.Hash != want.Hash {
			t.Fatalf("changed event:\n got %s\nwant %s", got.Data, want.Data)
		}
	}
	// No draft: a leaf with a nonce of its own.
	var none *leafDraft
	w := base
	w.State, w.At, w.Seq = gateway.StateRouting, at, 7
	got, err := none.leaf(w)
	if err != nil || len(got.Nonce) == 0 || gateway.CheckEventLeaf(w, got) != nil {
		t.Fatalf("a leaf without a draft: %+v, %v", got, err)
	}
}
