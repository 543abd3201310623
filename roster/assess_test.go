package roster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/roster"
)

type fixedSource roster.Snapshot

func (f fixedSource) Snapshot() roster.Snapshot { return roster.Snapshot(f) }

type records struct {
	vs    []gateway.Verification
	reads int
	err   error
}

func (r *records) Verifications(_ context.Context, f gateway.VerificationFilter) ([]gateway.Verification, error) {
	r.reads++
	var out []gateway.Verification
	for _, v := range r.vs {
		if !v.CreatedAt.Before(f.Since) {
			out = append(out, v)
		}
	}
	return out, r.err
}

func TestAssessor(t *testing.T) {
	r, _ := parseFile(t, "roster.csv")
	now := time.Date(2026, 12, 3, 22, 0, 0, 0, time.UTC)
	rec := &records{}
	add := func(collar string, ago time.Duration, mod func(*gateway.Verification)) {
		v := gateway.Verification{ID: fmt.Sprint(len(rec.vs)), Officer: gateway.Officer{Collar: collar}, Origin: gateway.OriginOfficer,
			State: gateway.StateVerified, Channel: "zoom", CreatedAt: now.Add(-ago)}
		if mod != nil {
			mod(&v)
		}
		rec.vs = append(rec.vs, v)
	}
	// The force: three other officers with one check each this week.
	for _, c := range []string{"1AA", "2AA", "3AA"} {
		add(c, time.Hour, nil)
	}
	// Sam Clarke: six checks this week, two that never connected (one he
	// cancelled), one refused by PS 7 and one by PS 42 (who is looking).
	for i := 0; i < 4; i++ {
		add("1234AW", time.Duration(i+1)*time.Hour, nil)
	}
	add("1234AW", 2*24*time.Hour, func(v *gateway.Verification) { v.State, v.Channel = gateway.StateCancelled, "" })
	add("1234AW", 3*24*time.Hour, func(v *gateway.Verification) { v.State, v.Channel = gateway.StateFailed, "" })
	add("1234AW", 40*24*time.Hour, func(v *gateway.Verification) {
		v.Outcome = &gateway.Outcome{Result: gateway.OutcomeRefused, Supervisor: "PS 7"}
	})
	add("1234AW", 41*24*time.Hour, func(v *gateway.Verification) {
		v.Outcome = &gateway.Outcome{Result: gateway.OutcomeRefused, Supervisor: "PS 42"}
	})
	add("1234AW", 100*24*time.Hour, func(v *gateway.Verification) { // too old to count
		v.Outcome = &gateway.Outcome{Result: gateway.OutcomeRefused, Supervisor: "PS 9"}
	})
	// A public call is no officer's check.
	add("1234AW", time.Hour, func(v *gateway.Verification) { v.Origin = gateway.OriginPublic })

	a := roster.NewAssessor(fixedSource{Roster: r, LoadedAt: now.Add(-time.Hour)}, rec, roster.DefaultThresholds())
	a.Now = func() time.Time { return now }
	subject := roster.Subject{Collar: "1234aw", Warrant: "WC100234", CredentialIssuedAt: now.Add(-30 * 24 * time.Hour),
		Stop: roster.Stop{At: now, Borough: "Westminster", RoomID: "AW"}, Supervisor: "PS 42"}
	got, err := a.Assess(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	want := []roster.SignCode{roster.SignManyChecks, roster.SignNeverConnected, roster.SignRefusals}
	if !slices.Equal(codes(got.Signs), want) {
		t.Fatalf("signs %v, want %v: %+v", codes(got.Signs), want, got.Signs)
	}
	for _, s := range got.Signs {
		switch s.Code {
		case roster.SignManyChecks:
			if s.Figures["checks"] != "6" || s.Figures["force_median"] != "1" {
				t.Errorf("many checks: %v", s.Figures)
			}
		case roster.SignNeverConnected:
			if s.Figures["never_connected_30d"] != "2" || s.Figures["cancelled_30d"] != "1" {
				t.Errorf("never connected: %v", s.Figures)
			}
		case roster.SignRefusals:
			if s.Figures["refusals_90d"] != "1" {
				t.Errorf("refusals: %v (PS 42's own refusal counts, or one too old)", s.Figures)
			}
		}
	}
	if got.Entry == nil || got.Entry.Name != "Sam Clarke" || got.Shift == nil || !got.Shift.PlainClothes {
		t.Fatalf("entry %+v shift %+v", got.Entry, got.Shift)
	}

	// The record keeps who refused him: each supervisor is shown the
	// others' refusals.
	if got.RefusedBy["PS 7"] != 1 || got.RefusedBy["PS 42"] != 1 || len(got.RefusedBy) != 2 || got.RefusalsThreshold != 1 {
		t.Errorf("refused by %v (threshold %d)", got.RefusedBy, got.RefusalsThreshold)
	}
	for viewer, want := range map[string]struct {
		n       string
		changed bool
	}{"PS 42": {"1", false}, "ps  42": {"1", false}, "PS 7": {"1", true}, "PS 9": {"2", true}, "": {"2", true}} {
		shown, changed := got.For(viewer)
		n := ""
		for _, s := range shown.Signs {
			if s.Code == roster.SignRefusals {
				n = s.Figures["refusals_90d"]
			}
		}
		if n != want.n || changed != want.changed {
			t.Errorf("for %q: %s refusals (changed %v), want %s (%v)", viewer, n, changed, want.n, want.changed)
		}
	}

	// The figures are read once per Refresh.
	if _, err := a.Assess(context.Background(), subject); err != nil || rec.reads != 1 {
		t.Fatalf("a second assessment read the record again (%d reads, %v)", rec.reads, err)
	}
	now = now.Add(2 * time.Minute)
	rec.err = gateway.Errorf(gateway.EUNAVAILABLE, "down")
	if _, err := a.Assess(context.Background(), subject); !errors.Is(err, rec.err) && gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
		t.Fatalf("a record that cannot be read: %v", err)
	}
}

// TestRefusalsSignNamesWhoRefused: the refusals sign says who refused him
// and how often, leaving out the supervisor looking, so that a board every
// supervisor sees tells each which refusals were his own.
func TestRefusalsSignNamesWhoRefused(t *testing.T) {
	a := roster.Assessment{RefusedBy: map[string]int{"PS 42": 1, "PS 7": 2}, RefusalsThreshold: 1}
	reason := func(a roster.Assessment) string {
		for _, s := range a.Signs {
			if s.Code == roster.SignRefusals {
				return s.Reason
			}
		}
		return ""
	}
	shared, _ := a.For("")
	if got := reason(shared); got != "Other supervisors refused him 3 time(s) in the last 90 days: PS 42 (1), PS 7 (2)." {
		t.Errorf("for no one: %q", got)
	}
	mine, _ := shared.For("ps  42")
	if got := reason(mine); got != "Other supervisors refused him 2 time(s) in the last 90 days: PS 7 (2)." {
		t.Errorf("for PS 42: %q", got)
	}
	theirs, changed := mine.For("PS 9")
	if got := reason(theirs); !changed || got != "Other supervisors refused him 3 time(s) in the last 90 days: PS 42 (1), PS 7 (2)." {
		t.Errorf("for PS 9 (changed %v): %q", changed, got)
	}
	only := roster.Assessment{RefusedBy: map[string]int{"PS 42": 1}, RefusalsThreshold: 1}
	if got, _ := only.For("PS 42"); reason(got) != "" {
		t.Errorf("PS 42's own refusal alone is a sign for him: %q", reason(got))
	}
}
