package router

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/safeconnection/gateway"
)

// The rules of one attempt, decided purely (as go.etcd.io/raft's Step): a
// function from the attempt's state and one typed input to its next state
// and the actions to take. The driver (attempt.go) performs the actions and
// turns what happens into the next input; this file does no I/O.

// phase is where an attempt is.
type phase int

const (
	phasePlacing    phase = iota + 1 // a try is being placed
	phaseWaiting                     // placed: waiting for reports
	phaseBackingOff                  // not placed: waiting before the next try
	phaseDone                        // ended, connected or left
)

// attemptState is what the rules know of an attempt.
type attemptState struct {
	Channel  gateway.Channel
	Phase    phase
	Tries    int
	Deadline time.Time // the attempt's: its start plus the ring time, within the budget
	Budget   time.Time // the verification's
	Ring     time.Duration
	// Ref is the provider reference of the current try; Stale those of
	// earlier tries, whose late reports are passed over.
	Ref   string
	Stale []string
	// Progressed: the current try got further than being placed (dialling,
	// ringing, joined).
	Progressed bool
	// Officer and Device: which sides have joined a meeting-style call.
	Officer, Device bool
	// LastError says why the last try was not placed.
	LastError string
	// ProviderRefused: the last try was not placed because the provider
	// would not take it (not the device's fault), so an attempt whose
	// deadline passes while it backs off moves to the next channel.
	ProviderRefused bool
}

// inputKind is what happened.
type inputKind int

const (
	inStart       inputKind = iota + 1 // a new attempt: place its first try
	inResume                           // an attempt taken over from a stopped instance: wait on it
	inPlaced                           // the provider accepted the try
	inPlaceFailed                      // the provider did not accept it
	inReport                           // a report on the attempt
	inWoke                             // the backoff ended
	inTimeout                          // the attempt's deadline passed
	inEnded                            // the verification ended elsewhere (the officer cancelled)
	inStopping                         // this instance stops
)

// input is one thing that happened to an attempt.
type input struct {
	Kind inputKind
	Now  time.Time
	// inResume: the provider reference being waited on.
	Ref string
	// inPlaced.
	Placement gateway.Placement
	// inPlaceFailed: what the adapter said of its error.
	Fate       gateway.Fate
	RetryAfter time.Duration
	Skipped    bool
	Err        string
	// inReport.
	Report gateway.Report
}

// placeFailed is the input for an adapter's error.
func placeFailed(now time.Time, err error) input {
	in := input{Kind: inPlaceFailed, Now: now, Fate: gateway.FateOf(err), RetryAfter: gateway.RetryAfterOf(err), Err: err.Error()}
	in.Skipped = gateway.SkippedOf(err)
	return in
}

// actionKind is what to do.
type actionKind int

const (
	actPlace   actionKind = iota + 1 // place a try (Tries already counts it)
	actRecord                        // write the attempt with Message
	actJoinURL                       // the try has a join link: record it and send it to who asked
	actBackoff                       // wait Wait, then inWoke (or inTimeout, inStopping)
	actWait                          // wait for the next report (or inTimeout, inEnded, inStopping)
	actHangUp                        // hang up the current try's leg
	actConnect                       // the call is up
	actEnd                           // end the attempt with Result and Message; the run goes on to Next
	actLeave                         // leave the attempt open for whoever takes over
)

// action is one thing to do. The last action of a decision is always one
// of place, back off, wait, connect, end or leave.
type action struct {
	Kind    actionKind
	Message string
	Wait    time.Duration
	Result  gateway.AttemptResult
	Next    next
}

// next is where the run goes after an attempt.
type next int

const (
	nextChannel next = iota + 1 // this channel is done for this verification
	nextDevice                  // this device could not place it: try another device
	connected                   // the call is up
	stopped                     // the verification ended (cancelled) or this instance stops
)

// String names the move, for the record and test failures.
func (n next) String() string {
	switch n {
	case nextChannel:
		return "next channel"
	case nextDevice:
		return "next device"
	case connected:
		return "connected"
	case stopped:
		return "stopped"
	}
	return fmt.Sprintf("next(%d)", int(n))
}

// Retry is what CheckRetry is asked about: a try that was not placed.
type Retry struct {
	Try        int           // the try that was not placed, from 1
	Fate       gateway.Fate  // NotPlaced: the provider, or the device, could not take it
	RetryAfter time.Duration // the provider's Retry-After, if any
	Wait       time.Duration // the backoff before the next try
	Now        time.Time
	Deadline   time.Time // the attempt's
}

// Move is what FailOver is asked about: an attempt that ended without
// connecting.
type Move struct {
	Result gateway.AttemptResult
	// ByDevice: the device (its agent) could not place the call, rather
	// than the provider refusing it.
	ByDevice bool
	// Progressed: the last try got further than being placed.
	Progressed bool
}

// Policy is the attempt's rules that a deployment may change, as
// go-retryablehttp exposes CheckRetry and Backoff: function fields with
// exported, wrappable defaults. The zero Policy is not usable; start from
// DefaultPolicy.
type Policy struct {
	// RetryMin and RetryMax bound Backoff's waits.
	RetryMin, RetryMax time.Duration
	// Backoff returns the wait before try n+1 of a leg (n ≥ 1), given the
	// provider's Retry-After (0 if none). Default: DefaultBackoff.
	Backoff func(lo, hi time.Duration, n int, retryAfter time.Duration) time.Duration
	// CheckRetry reports whether a try that was not placed is tried again.
	// Default: DefaultCheckRetry.
	CheckRetry func(r Retry) bool
	// FailOver says where a verification goes after an attempt that did not
	// connect: another device on the same channel, or the next channel.
	// Default: DefaultFailOver.
	FailOver func(m Move) next
}

// DefaultPolicy returns the gateway's rules, with backoff between lo and hi.
func DefaultPolicy(lo, hi time.Duration) Policy {
	return Policy{RetryMin: lo, RetryMax: hi, Backoff: DefaultBackoff, CheckRetry: DefaultCheckRetry, FailOver: DefaultFailOver}
}

// DefaultBackoff doubles from lo up to hi with jitter (a half to the whole
// of the step), and never waits less than the provider's Retry-After.
func DefaultBackoff(lo, hi time.Duration, n int, retryAfter time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	if d > 0 {
		d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	}
	return max(d, retryAfter)
}

// DefaultCheckRetry retries what was not placed while the next try can
// start before the attempt's deadline.
func DefaultCheckRetry(r Retry) bool {
	return r.Fate == gateway.NotPlaced && r.Now.Add(r.Wait).Before(r.Deadline)
}

// DefaultFailOver moves to another device when the device could not place
// the call, and to the next channel otherwise: a provider that could not take
// the leg would only be waited on again from another device, and a leg that
// was placed and failed (rejected, not answered) is done with on this
// channel.
func DefaultFailOver(m Move) next {
	if m.ByDevice && m.Result == gateway.ResultNotPlaced {
		return nextDevice
	}
	return nextChannel
}

// decide is the attempt's rules: from its state and what happened, its next
// state and what to do.
func (p Policy) decide(s attemptState, in input) (attemptState, []action) {
	if s.Phase == phaseDone {
		return s, nil
	}
	switch in.Kind {
	case inStart:
		s.Tries, s.Phase = 1, phasePlacing
		return s, []action{{Kind: actPlace}}
	case inResume:
		s.Phase, s.Ref, s.Progressed = phaseWaiting, in.Ref, true
		return s, []action{{Kind: actWait}}
	case inStopping:
		s.Phase = phaseDone
		return s, []action{{Kind: actLeave}}
	case inEnded:
		return p.end(s, []action{{Kind: actHangUp}}, gateway.ResultCancelled, "cancelled by the officer", stopped)
	case inPlaced:
		return p.placed(s, in)
	case inPlaceFailed:
		return p.notTaken(s, in)
	case inWoke:
		if s.Phase != phaseBackingOff {
			return s, nil
		}
		if s.Ref != "" {
			s.Stale = append(s.Stale, s.Ref)
		}
		s.Ref, s.Progressed, s.Officer, s.Device = "", false, false, false
		s.Tries++
		s.Phase = phasePlacing
		return s, []action{{Kind: actPlace}}
	case inTimeout:
		return p.timedOut(s, in)
	case inReport:
		return p.report(s, in)
	}
	return s, nil
}

func (p Policy) placed(s attemptState, in input) (attemptState, []action) {
	s.Ref, s.LastError, s.ProviderRefused = in.Placement.ProviderRef, "", false
	acts := []action{{Kind: actRecord, Message: fmt.Sprintf("try %d on %s placed", s.Tries, s.Channel)}}
	if in.Placement.JoinURL != "" {
		acts = append(acts, action{Kind: actJoinURL})
	}
	if in.Placement.Connected {
		s.Phase = phaseDone
		return s, append(acts, action{Kind: actConnect})
	}
	s.Phase = phaseWaiting
	return s, append(acts, action{Kind: actWait})
}

// notTaken is the rule for an adapter's error.
func (p Policy) notTaken(s attemptState, in input) (attemptState, []action) {
	switch {
	case in.Skipped:
		return p.end(s, nil, gateway.ResultSkipped, "skipped: "+in.Err, nextChannel)
	case in.Fate == gateway.NotPlaced:
		// The provider (or the store, for a device agent's order) could
		// not take the leg: not this device's fault.
		return p.notPlaced(s, in.Now, in.RetryAfter, in.Err, " ("+in.Err+")", false)
	case in.Fate == gateway.PlacedFailed:
		return p.end(s, nil, gateway.ResultFailed, in.Err, p.FailOver(Move{Result: gateway.ResultFailed}))
	}
	return p.end(s, nil, gateway.ResultUnknown, in.Err, p.FailOver(Move{Result: gateway.ResultUnknown}))
}

// notPlaced is the rule for a try that was not placed, by the provider or
// (byDevice) by the device: tried again after the backoff while CheckRetry
// allows, else the attempt ends and FailOver says where to go. why is what
// the record keeps of it; note is added to the retry's message.
func (p Policy) notPlaced(s attemptState, now time.Time, retryAfter time.Duration, why, note string, byDevice bool) (attemptState, []action) {
	s.LastError, s.ProviderRefused = why, !byDevice
	wait := p.Backoff(p.RetryMin, p.RetryMax, s.Tries, retryAfter)
	if p.CheckRetry(Retry{Try: s.Tries, Fate: gateway.NotPlaced, RetryAfter: retryAfter, Wait: wait, Now: now, Deadline: s.Deadline}) {
		s.Phase = phaseBackingOff
		return s, []action{
			{Kind: actRecord, Message: fmt.Sprintf("try %d on %s not placed%s; retrying in %s", s.Tries, s.Channel, note, wait.Round(time.Millisecond))},
			{Kind: actBackoff, Wait: wait},
		}
	}
	return p.end(s, nil, gateway.ResultNotPlaced, why, p.FailOver(Move{Result: gateway.ResultNotPlaced, ByDevice: byDevice}))
}

// report is the rule for a report on the attempt.
func (p Policy) report(s attemptState, in input) (attemptState, []action) {
	rep := in.Report
	wait := []action{{Kind: actWait}}
	if s.Phase != phaseWaiting || rep.MessageID != "" || (rep.ProviderRef != "" && slices.Contains(s.Stale, rep.ProviderRef)) {
		// Not about the try being waited on: a message's status, or a
		// late report on an earlier try.
		if s.Phase == phaseWaiting {
			return s, wait
		}
		return s, nil
	}
	switch rep.Status {
	case gateway.ReportDialling, gateway.ReportRinging:
		s.Progressed = true
		return s, wait
	case gateway.ReportJoined:
		s.Progressed = true
		switch rep.Party {
		case gateway.PartyOfficer:
			s.Officer = true
		case gateway.PartyDevice:
			s.Device = true
		}
		// Connected means both sides: the officer's and the ops room's.
		if s.Officer && s.Device {
			s.Phase = phaseDone
			return s, []action{{Kind: actConnect}}
		}
		return s, wait
	case gateway.ReportAnswered:
		s.Phase = phaseDone
		return s, []action{{Kind: actConnect}}
	case gateway.ReportRejected:
		return p.end(s, nil, gateway.ResultRejected, "rejected"+detail(rep), p.FailOver(Move{Result: gateway.ResultRejected, Progressed: true}))
	case gateway.ReportNoAnswer:
		return p.end(s, nil, gateway.ResultNoAnswer, "not answered"+detail(rep), p.FailOver(Move{Result: gateway.ResultNoAnswer, Progressed: true}))
	case gateway.ReportFailed:
		if rep.Fate != gateway.NotPlaced {
			return p.end(s, nil, gateway.ResultFailed, "failed"+detail(rep), p.FailOver(Move{Result: gateway.ResultFailed, Progressed: s.Progressed}))
		}
		// The device could not place it (its app is not signed in, say).
		return p.notPlaced(s, in.Now, 0, "not placed"+detail(rep), detail(rep), true)
	case gateway.ReportEnded, gateway.ReportCancelled:
		return p.end(s, nil, gateway.ResultFailed, "the call ended before it connected"+detail(rep), p.FailOver(Move{Result: gateway.ResultFailed, Progressed: s.Progressed}))
	}
	return s, wait
}

// timedOut is the rule for the attempt's deadline.
func (p Policy) timedOut(s attemptState, in input) (attemptState, []action) {
	hangUp := []action{{Kind: actHangUp}}
	switch {
	case !in.Now.Before(s.Budget):
		return p.end(s, hangUp, gateway.ResultNoAnswer, "not answered before the time budget was spent", p.FailOver(Move{Result: gateway.ResultNoAnswer, Progressed: s.Progressed}))
	case s.ProviderRefused:
		// The deadline passed while backing off from the provider's
		// refusal: the provider's fault, not the device's.
		return p.end(s, hangUp, gateway.ResultNotPlaced, "not placed within "+s.Ring.String()+": "+s.LastError, p.FailOver(Move{Result: gateway.ResultNotPlaced}))
	case s.Tries > 1 && !s.Progressed:
		// Every try so far failed to place and the last one did not even
		// start ringing: the device cannot place it.
		return p.end(s, hangUp, gateway.ResultNotPlaced, "not placed within "+s.Ring.String()+": "+s.LastError, p.FailOver(Move{Result: gateway.ResultNotPlaced, ByDevice: true}))
	}
	return p.end(s, hangUp, gateway.ResultNoAnswer, fmt.Sprintf("not answered within %s", s.Ring), p.FailOver(Move{Result: gateway.ResultNoAnswer, Progressed: s.Progressed}))
}

// end finishes the attempt after acts.
func (p Policy) end(s attemptState, acts []action, result gateway.AttemptResult, msg string, then next) (attemptState, []action) {
	s.Phase = phaseDone
	return s, append(acts, action{Kind: actEnd, Result: result, Message: msg, Next: then})
}

func detail(rep gateway.Report) string {
	if rep.Detail == "" {
		return ""
	}
	return ": " + rep.Detail
}
