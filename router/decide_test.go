package router

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// The decision table: every fail-over rule the README states, as
// (state, input) -> (state, actions), with no store and no adapter.

var t0 = time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)

// fixedPolicy is DefaultPolicy with a backoff without jitter: 100 ms, then
// 200 ms, ..., never under the Retry-After.
func fixedPolicy() Policy {
	p := DefaultPolicy(100*time.Millisecond, time.Second)
	p.Backoff = func(lo, hi time.Duration, n int, retryAfter time.Duration) time.Duration {
		return max(min(lo<<(n-1), hi), retryAfter)
	}
	return p
}

// waiting is an attempt whose first try was placed (provider reference
// ref-1) 2 s ago, 18 s before its deadline.
func waiting() attemptState {
	return attemptState{Channel: "zoom", Phase: phaseWaiting, Tries: 1, Ref: "ref-1",
		Deadline: t0.Add(18 * time.Second), Budget: t0.Add(58 * time.Second), Ring: 20 * time.Second}
}

func placing() attemptState {
	s := waiting()
	s.Phase, s.Ref = phasePlacing, ""
	return s
}

func report(st gateway.ReportStatus, mod ...func(*gateway.Report)) input {
	r := gateway.Report{Status: st, ProviderRef: "ref-1"}
	for _, m := range mod {
		m(&r)
	}
	return input{Kind: inReport, Now: t0, Report: r}
}

func notPlaced(retryAfter time.Duration) input {
	return placeFailed(t0, &gateway.CallError{Fate: gateway.NotPlaced, RetryAfter: retryAfter, Provider: "zoom", Err: errors.New("503")})
}

// kinds names the actions, with an end's result and move.
func kinds(acts []action) string {
	var out []string
	for _, a := range acts {
		switch a.Kind {
		case actPlace:
			out = append(out, "place")
		case actRecord:
			out = append(out, "record")
		case actJoinURL:
			out = append(out, "join-url")
		case actBackoff:
			out = append(out, "backoff "+a.Wait.String())
		case actWait:
			out = append(out, "wait")
		case actHangUp:
			out = append(out, "hang-up")
		case actConnect:
			out = append(out, "connect")
		case actEnd:
			out = append(out, "end "+string(a.Result)+" -> "+a.Next.String())
		case actLeave:
			out = append(out, "leave")
		}
	}
	return strings.Join(out, ", ")
}

func TestDecide(t *testing.T) {
	withOfficer := waiting()
	withOfficer.Officer, withOfficer.Progressed = true, true
	retried := waiting()
	retried.Tries, retried.Stale, retried.Ref = 2, []string{"ref-1"}, "ref-2"
	retriedNoProgress := retried
	nearDeadline := waiting()
	nearDeadline.Deadline = t0.Add(50 * time.Millisecond)
	backingOff := waiting()
	backingOff.Phase = phaseBackingOff
	// Two tries the provider refused, backing off before a third: as the
	// rules leave it, not as a test sets it.
	providerRefusing, _ := fixedPolicy().decide(placing(), notPlaced(0))
	providerRefusing, _ = fixedPolicy().decide(providerRefusing, input{Kind: inWoke, Now: t0})
	providerRefusing, _ = fixedPolicy().decide(providerRefusing, notPlaced(0))
	if providerRefusing.Phase != phaseBackingOff || providerRefusing.Tries != 2 {
		t.Fatalf("two refused tries: %+v, want backing off after try 2", providerRefusing)
	}

	tests := []struct {
		name  string
		s     attemptState
		in    input
		want  string // the actions
		phase phase
		check func(t *testing.T, s attemptState)
	}{
		// Starting, resuming, placing.
		{name: "a new attempt places its first try", s: attemptState{Channel: "zoom"}, in: input{Kind: inStart, Now: t0},
			want: "place", phase: phasePlacing, check: func(t *testing.T, s attemptState) {
				if s.Tries != 1 {
					t.Errorf("tries %d, want 1", s.Tries)
				}
			}},
		{name: "an attempt taken over is waited on, not placed again", s: attemptState{Channel: "zoom", Tries: 1},
			in: input{Kind: inResume, Now: t0, Ref: "ref-1"}, want: "wait", phase: phaseWaiting},
		{name: "placed: recorded, then wait for reports", s: placing(),
			in:   input{Kind: inPlaced, Now: t0, Placement: gateway.Placement{ProviderRef: "ref-1"}},
			want: "record, wait", phase: phaseWaiting},
		{name: "placed with a join link: the link is recorded and sent", s: placing(),
			in:   input{Kind: inPlaced, Now: t0, Placement: gateway.Placement{ProviderRef: "ref-1", JoinURL: "https://zoom.example/j/1"}},
			want: "record, join-url, wait", phase: phaseWaiting},
		{name: "placed and already connected", s: placing(),
			in:   input{Kind: inPlaced, Now: t0, Placement: gateway.Placement{ProviderRef: "ref-1", Connected: true}},
			want: "record, connect", phase: phaseDone},

		// Not placed: retried within the deadline, honouring Retry-After, then the next channel.
		{name: "not placed (503) is retried after the backoff", s: placing(), in: notPlaced(0),
			want: "record, backoff 100ms", phase: phaseBackingOff},
		{name: "not placed (429) waits its Retry-After", s: placing(), in: notPlaced(2 * time.Second),
			want: "record, backoff 2s", phase: phaseBackingOff},
		{name: "not placed, no time left to retry: the provider could not take it, next channel", s: func() attemptState {
			s := placing()
			s.Deadline = t0.Add(50 * time.Millisecond)
			return s
		}(), in: notPlaced(0), want: "end not_placed -> next channel", phase: phaseDone},
		{name: "a Retry-After past the deadline is not waited for", s: placing(), in: notPlaced(time.Minute),
			want: "end not_placed -> next channel", phase: phaseDone},
		{name: "the backoff ends: the next try is placed, the old reference goes stale", s: backingOff, in: input{Kind: inWoke, Now: t0},
			want: "place", phase: phasePlacing, check: func(t *testing.T, s attemptState) {
				if s.Tries != 2 || s.Ref != "" || !slices.Equal(s.Stale, []string{"ref-1"}) || s.Progressed {
					t.Errorf("after waking: %+v", s)
				}
			}},

		// Breaker open, placed but failed, unknown.
		{name: "breaker open: skipped, next channel at once", s: placing(),
			in:   placeFailed(t0, &gateway.CallError{Fate: gateway.NotPlaced, Skipped: true, Provider: "zoom", Err: errors.New("zoom breaker open")}),
			want: "end skipped -> next channel", phase: phaseDone},
		{name: "placed but failed (a bad handle): next channel at once", s: placing(),
			in:   placeFailed(t0, &gateway.CallError{Fate: gateway.PlacedFailed, Provider: "zoom", Err: errors.New("400")}),
			want: "end failed -> next channel", phase: phaseDone},
		{name: "unknown (a timeout after sending): next channel", s: placing(),
			in:   placeFailed(t0, errors.New("context deadline exceeded")),
			want: "end unknown -> next channel", phase: phaseDone},

		// Reports.
		{name: "dialling is progress, keep waiting", s: waiting(), in: report(gateway.ReportDialling), want: "wait", phase: phaseWaiting,
			check: func(t *testing.T, s attemptState) {
				if !s.Progressed {
					t.Error("not progressed")
				}
			}},
		{name: "ringing is progress, keep waiting", s: waiting(), in: report(gateway.ReportRinging), want: "wait", phase: phaseWaiting},
		{name: "answered connects", s: waiting(), in: report(gateway.ReportAnswered), want: "connect", phase: phaseDone},
		{name: "rejected: next channel at once", s: waiting(), in: report(gateway.ReportRejected), want: "end rejected -> next channel", phase: phaseDone},
		{name: "not answered: next channel at once", s: waiting(), in: report(gateway.ReportNoAnswer), want: "end no_answer -> next channel", phase: phaseDone},
		{name: "failed after placing: next channel", s: waiting(), in: report(gateway.ReportFailed, func(r *gateway.Report) { r.Fate = gateway.PlacedFailed }),
			want: "end failed -> next channel", phase: phaseDone},
		{name: "the device could not place it: retried", s: waiting(), in: report(gateway.ReportFailed, func(r *gateway.Report) { r.Fate = gateway.NotPlaced }),
			want: "record, backoff 100ms", phase: phaseBackingOff},
		{name: "the device could not place it, no time left: next device", s: nearDeadline,
			in:   report(gateway.ReportFailed, func(r *gateway.Report) { r.Fate = gateway.NotPlaced }),
			want: "end not_placed -> next device", phase: phaseDone},
		{name: "the call ended before it connected: next channel", s: waiting(), in: report(gateway.ReportEnded),
			want: "end failed -> next channel", phase: phaseDone},
		{name: "a late report on an earlier try is passed over", s: retried, in: report(gateway.ReportRejected),
			want: "wait", phase: phaseWaiting},
		{name: "a message's status is no report on the call", s: waiting(),
			in:   report(gateway.ReportFailed, func(r *gateway.Report) { r.ProviderRef, r.MessageID = "", "wamid.1" }),
			want: "wait", phase: phaseWaiting},
		{name: "a report during the backoff changes nothing", s: backingOff, in: report(gateway.ReportAnswered), want: "", phase: phaseBackingOff},

		// Meetings: connected means the officer's side and the ops room's.
		{name: "the officer joined: wait for the ops room", s: waiting(),
			in:   report(gateway.ReportJoined, func(r *gateway.Report) { r.Party = gateway.PartyOfficer }),
			want: "wait", phase: phaseWaiting},
		{name: "the officer joined twice (app and meeting): still not connected", s: withOfficer,
			in:   report(gateway.ReportJoined, func(r *gateway.Report) { r.Party = gateway.PartyOfficer }),
			want: "wait", phase: phaseWaiting},
		{name: "a join that names no side does not count", s: withOfficer,
			in:   report(gateway.ReportJoined, func(r *gateway.Report) { r.Party = "" }),
			want: "wait", phase: phaseWaiting},
		{name: "the officer, then the ops room: connected", s: withOfficer,
			in:   report(gateway.ReportJoined, func(r *gateway.Report) { r.Party = gateway.PartyDevice }),
			want: "connect", phase: phaseDone},

		// The deadline, the budget, cancellation, stopping.
		{name: "rang out: hung up, next channel", s: withOfficer, in: input{Kind: inTimeout, Now: t0.Add(18 * time.Second)},
			want: "hang-up, end no_answer -> next channel", phase: phaseDone},
		{name: "every try failed to place and the last never rang: next device", s: retriedNoProgress,
			in: input{Kind: inTimeout, Now: t0.Add(18 * time.Second)}, want: "hang-up, end not_placed -> next device", phase: phaseDone},
		{name: "the deadline passes backing off from the provider's refusal: next channel, not another device", s: providerRefusing,
			in: input{Kind: inTimeout, Now: t0.Add(18 * time.Second)}, want: "hang-up, end not_placed -> next channel", phase: phaseDone},
		{name: "the budget is spent: hung up, not answered", s: waiting(), in: input{Kind: inTimeout, Now: t0.Add(58 * time.Second)},
			want: "hang-up, end no_answer -> next channel", phase: phaseDone},
		{name: "the officer cancelled: hung up, stop", s: waiting(), in: input{Kind: inEnded, Now: t0},
			want: "hang-up, end cancelled -> stopped", phase: phaseDone},
		{name: "this instance stops: left for take-over", s: waiting(), in: input{Kind: inStopping, Now: t0},
			want: "leave", phase: phaseDone},
		{name: "nothing happens to an attempt that is over", s: attemptState{Phase: phaseDone}, in: report(gateway.ReportAnswered),
			want: "", phase: phaseDone},
	}
	p := fixedPolicy()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, acts := p.decide(tt.s, tt.in)
			if got := kinds(acts); got != tt.want {
				t.Errorf("actions %q, want %q", got, tt.want)
			}
			if s.Phase != tt.phase {
				t.Errorf("phase %d, want %d", s.Phase, tt.phase)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

// The policy's function fields decide: a FailOver that always moves to the
// next device, and a CheckRetry that never retries, change the moves.
func TestPolicyFields(t *testing.T) {
	p := fixedPolicy()
	p.CheckRetry = func(Retry) bool { return false }
	p.FailOver = func(m Move) next { return nextDevice }
	_, acts := p.decide(placing(), notPlaced(0))
	if got := kinds(acts); got != "end not_placed -> next device" {
		t.Errorf("actions %q", got)
	}
	var asked Retry
	p.CheckRetry = func(r Retry) bool { asked = r; return true }
	p.decide(placing(), notPlaced(3*time.Second))
	if asked.Try != 1 || asked.Wait != 3*time.Second || asked.RetryAfter != 3*time.Second || !asked.Deadline.Equal(t0.Add(18*time.Second)) {
		t.Errorf("CheckRetry asked %+v", asked)
	}
}

func TestDefaultBackoff(t *testing.T) {
	for n := 1; n <= 8; n++ {
		d := DefaultBackoff(100*time.Millisecond, time.Second, n, 0)
		step := min(100*time.Millisecond<<(n-1), time.Second)
		if d < step/2 || d > step {
			t.Errorf("try %d: %v, want within [%v, %v]", n, d, step/2, step)
		}
	}
	if d := DefaultBackoff(100*time.Millisecond, time.Second, 1, 5*time.Second); d != 5*time.Second {
		t.Errorf("with Retry-After 5s: %v", d)
	}
}
