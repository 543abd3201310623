package router

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/sirupsen/logrus"
)

// leg builds the leg of an attempt.
func (u *run) leg(a gateway.Attempt, dev gateway.Device, officerHandle string) gateway.Leg {
	leg := gateway.Leg{
		VerificationID: u.v.ID,
		AttemptID:      a.ID,
		Reference:      u.v.Reference,
		Channel:        a.Channel,
		OfficerHandle:  officerHandle,
		Device:         dev,
		Deadline:       u.attemptDeadline(a),
	}
	switch {
	case a.Channel == gateway.ChannelPSTN && dev.ID == "":
		leg.DeviceHandle = u.deskRoom(a.RoomID).DeskNumber
	case a.Channel == gateway.ChannelPSTN:
		leg.DeviceHandle = dev.Number
	default:
		leg.DeviceHandle = dev.Handles[a.Channel]
	}
	return leg
}

func (u *run) attemptDeadline(a gateway.Attempt) time.Time {
	d := a.StartedAt.Add(u.r.RingTimeout)
	if u.v.Deadline.Before(d) {
		d = u.v.Deadline
	}
	return d
}

// attempt places the verification's call on one channel with one device (or
// with none: PSTN to the supervisor desk) and waits for it to connect, by
// the rules of Policy.decide. officer is the officer's handle ("" for his
// contact on the channel); resumed is an attempt taken over from a stopped
// instance, to be waited on, not placed again.
func (u *run) attempt(ctx context.Context, ch gateway.Channel, lease *gateway.Lease, dev gateway.Device, officer string, resumed *gateway.Attempt) next {
	d, ok := u.begin(ctx, ch, lease, dev, officer, resumed)
	if !ok {
		u.releaseIf(ctx, lease, "not used")
		return stopped
	}
	defer d.close()
	in := input{Kind: inStart, Now: u.r.Now()}
	if resumed != nil {
		in = input{Kind: inResume, Now: u.r.Now(), Ref: resumed.ProviderRef}
	}
	for {
		var acts []action
		d.s, acts = u.r.Policy.decide(d.s, in)
		if len(acts) == 0 {
			in = d.await() // an input that changed nothing: keep waiting
			continue
		}
		for _, act := range acts {
			var then next
			in, then = d.perform(act)
			if then != 0 {
				return then
			}
		}
	}
}

// attemptRun is the driver of one attempt: what the rules decided, done.
type attemptRun struct {
	u         *run
	ctx       context.Context // the run's: ends when this instance stops
	actx      context.Context // the attempt's: ends at its deadline too
	cancel    context.CancelFunc
	a         gateway.Attempt
	lease     *gateway.Lease
	dev       gateway.Device
	leg       gateway.Leg
	placement gateway.Placement
	s         attemptState
	stopKeep  func() // stops the lease's renewal; nil once stopped or handed over
	reports   <-chan string
	unsub     func()
	after     int64           // reports are read from the events after this one
	pending   []gateway.Event // read, not yet looked at
	log       logrus.FieldLogger
}

// begin records a new attempt with the move to dialling (or takes up a
// resumed one) and sets up its driver. False when the verification can no
// longer be dialled (cancelled meanwhile) or the store failed.
func (u *run) begin(ctx context.Context, ch gateway.Channel, lease *gateway.Lease, dev gateway.Device, officer string, resumed *gateway.Attempt) (*attemptRun, bool) {
	r := u.r
	if officer == "" {
		officer = u.handle(ch)
	}
	d := &attemptRun{u: u, ctx: ctx, lease: lease, dev: dev}
	if resumed != nil {
		d.a = *resumed
		d.placement = gateway.Placement{ProviderRef: d.a.ProviderRef, JoinURL: d.a.JoinURL}
	} else {
		u.seq++
		d.a = gateway.Attempt{ID: gateway.NewID("a_"), VerificationID: u.v.ID, Seq: u.seq, Channel: ch,
			RoomID: u.room.ID, DeviceID: dev.ID, StartedAt: r.Now()}
		switch {
		case lease != nil:
			d.a.RoomID = lease.RoomID
		case u.desk != nil:
			d.a.RoomID = u.desk.RoomID
		}
		seq, ok := u.dialling(ctx, d.a)
		if !ok {
			u.seq-- // not recorded
			return nil, false
		}
		d.after = seq
	}
	d.log = u.log.WithFields(logrus.Fields{"attempt": d.a.ID, "channel": ch, "device": dev.ID})
	deadline := u.attemptDeadline(d.a)
	d.s = attemptState{Channel: ch, Deadline: deadline, Budget: u.v.Deadline, Ring: r.RingTimeout, Tries: d.a.Tries}
	d.actx, d.cancel = context.WithDeadline(ctx, deadline)
	if lease != nil {
		d.stopKeep = u.keepLease(d.actx, *lease)
	}
	d.reports, d.unsub = r.Bus.Subscribe(gateway.TopicAttempt + d.a.ID)
	d.leg = u.leg(d.a, dev, officer)
	return d, true
}

// dialling records the attempt with the move to dialling, always through
// the store even when already dialling: the transition is the check, under
// the store's lock, that the verification was not cancelled since the last
// attempt, so a cancel another instance recorded can never let a new leg
// ring. It returns the Seq of the state event.
func (u *run) dialling(ctx context.Context, a gateway.Attempt) (int64, bool) {
	where := u.deskWhere(a.RoomID)
	if a.DeviceID != "" {
		where = fmt.Sprintf("device %s in room %s", a.DeviceID, a.RoomID)
	}
	aev := u.attemptEvent(a, fmt.Sprintf("attempt %d: %s via %s", a.Seq, a.Channel, where))
	if a.DeviceID == "" {
		maps.Copy(aev.Data, deskData(u.desk))
	}
	v, ev, err := u.r.Record.Transition(ctx, u.v.ID, gateway.Transition{
		From:         []gateway.State{gateway.StateRouting, gateway.StateQueued, gateway.StateDialling},
		To:           gateway.StateDialling,
		Attempt:      &a,
		AttemptEvent: aev,
		Event:        gateway.Event{Type: gateway.EventState, AttemptID: a.ID, Instance: u.r.Instance, Message: "dialling " + string(a.Channel)},
	})
	if err != nil {
		u.transitionFailed(ctx, err)
		return 0, false
	}
	u.v = v
	return ev.Seq, true
}

func (d *attemptRun) close() {
	d.unsub()
	d.stopLease()
	d.cancel()
}

// stopLease stops the attempt's renewal of the lease, if it still runs.
func (d *attemptRun) stopLease() {
	if d.stopKeep != nil {
		d.stopKeep()
		d.stopKeep = nil
	}
}

// perform does one action. It returns the input the action led to (for
// place, back off and wait), or where the run goes next when the attempt is
// over (connect, end, leave).
func (d *attemptRun) perform(act action) (input, next) {
	u := d.u
	switch act.Kind {
	case actPlace:
		return d.place(), 0
	case actRecord:
		d.a.Tries, d.a.Error = d.s.Tries, d.s.LastError
		u.putAttempt(d.ctx, d.a, act.Message)
	case actJoinURL:
		u.setJoinURL(d.ctx, d.a, d.placement.JoinURL)
		u.sendLinks(d.ctx, d.a, d.placement.JoinURL)
	case actBackoff:
		return d.backoff(act.Wait), 0
	case actWait:
		return d.await(), 0
	case actHangUp:
		u.hangUp(d.ctx, d.leg, d.placement)
	case actConnect:
		d.stopLease() // the call's hold renews the lease from now on
		return input{}, u.connect(d.ctx, &d.a, d.lease, d.dev, d.placement)
	case actEnd:
		d.stopLease()
		d.a.Tries = d.s.Tries
		if act.Result == gateway.ResultSkipped {
			d.log.WithField("reason", act.Message).Info("channel skipped")
		}
		u.end(d.ctx, &d.a, act.Result, act.Message)
		u.releaseIf(d.ctx, d.lease, string(act.Result))
		return input{}, act.Next
	case actLeave:
		d.log.Info("instance stopping with an attempt in progress; leaving it for take-over")
		return input{}, stopped
	}
	return input{}, 0
}

// place places one try of the leg.
func (d *attemptRun) place() input {
	d.a.Tries = d.s.Tries
	p, err := d.u.r.adapter(d.a.Channel).Place(d.actx, d.leg)
	now := d.u.r.Now()
	if err != nil {
		if d.ctx.Err() != nil {
			return input{Kind: inStopping, Now: now}
		}
		d.a.Error = err.Error()
		in := placeFailed(now, err)
		if in.Fate != gateway.NotPlaced && !in.Skipped {
			d.log.WithError(err).Warn("leg not placed; its outcome is not known or it failed")
		}
		return in
	}
	d.placement = p
	d.a.ProviderRef, d.a.JoinURL, d.a.Error = p.ProviderRef, p.JoinURL, ""
	return input{Kind: inPlaced, Now: now, Placement: p}
}

// backoff waits before the next try.
func (d *attemptRun) backoff(wait time.Duration) input {
	if d.u.sleep(d.actx, wait) {
		return input{Kind: inWoke, Now: d.u.r.Now()}
	}
	return d.interrupted()
}

// interrupted is the input for the attempt's context ending.
func (d *attemptRun) interrupted() input {
	if d.ctx.Err() != nil {
		return input{Kind: inStopping, Now: d.u.r.Now()}
	}
	return input{Kind: inTimeout, Now: d.u.r.Now()}
}

// await waits for the next event that concerns the attempt: a report on it,
// the verification's end elsewhere (read from the record, so that a lost
// wake-up loses nothing), the attempt's deadline or the run's stop.
func (d *attemptRun) await() input {
	u, r := d.u, d.u.r
	poll := time.NewTicker(r.PollInterval)
	defer poll.Stop()
	for {
		for len(d.pending) > 0 {
			ev := d.pending[0]
			d.pending = d.pending[1:]
			if in, ok := d.inputOf(ev); ok {
				return in
			}
		}
		evs, err := r.Record.Events(d.actx, u.v.ID, d.after, 0)
		if err != nil && d.actx.Err() == nil {
			u.log.WithError(err).Warn("could not read reports")
		}
		if len(evs) > 0 {
			d.after, d.pending = evs[len(evs)-1].Seq, evs
			continue
		}
		select {
		case <-d.actx.Done():
			return d.interrupted()
		case <-u.cancel:
			if v, err := r.Record.Verification(d.actx, u.v.ID); err == nil && v.State == gateway.StateCancelled {
				u.v.State = v.State
				return input{Kind: inEnded, Now: r.Now()}
			}
		case <-d.reports:
		case <-poll.C:
		}
	}
}

// inputOf turns an event of the record into an input for the attempt, if it
// concerns it.
func (d *attemptRun) inputOf(ev gateway.Event) (input, bool) {
	if ev.Type == gateway.EventState && !ev.State.Live() && ev.State != gateway.StateConnected {
		// Ended elsewhere (cancelled on another instance).
		d.u.v.State = ev.State
		return input{Kind: inEnded, Now: d.u.r.Now()}, true
	}
	if ev.Type != gateway.EventReport || ev.AttemptID != d.a.ID || ev.Report == nil {
		return input{}, false
	}
	return input{Kind: inReport, Now: d.u.r.Now(), Report: *ev.Report}, true
}

// attemptEvent is the event written with an attempt.
func (u *run) attemptEvent(a gateway.Attempt, msg string) gateway.Event {
	return gateway.Event{
		VerificationID: u.v.ID, Type: gateway.EventAttempt, State: u.v.State, AttemptID: a.ID,
		Message: msg, Instance: u.r.Instance,
		Data: map[string]string{"channel": string(a.Channel), "device": a.DeviceID, "tries": fmt.Sprint(a.Tries), "result": string(a.Result)},
	}
}

// putAttempt writes the attempt with an event; false if the run must stop.
func (u *run) putAttempt(ctx context.Context, a gateway.Attempt, msg string) bool {
	_, err := u.r.Record.PutAttempt(ctx, a, u.attemptEvent(a, msg))
	if err != nil {
		if ctx.Err() == nil {
			u.log.WithError(err).Error("could not record attempt")
		}
		return false
	}
	return true
}

// end closes an attempt with its result and records it.
func (u *run) end(ctx context.Context, a *gateway.Attempt, result gateway.AttemptResult, msg string) {
	summary := u.close(a, result, msg)
	u.counted(*a)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	u.putAttempt(wctx, *a, summary)
}

// close sets an attempt's end and result and returns the message of its
// event; the caller writes it and counts it.
func (u *run) close(a *gateway.Attempt, result gateway.AttemptResult, msg string) string {
	now := u.r.Now()
	a.EndedAt = &now
	a.Result = result
	if result != gateway.ResultConnected {
		a.Error = msg
	} else {
		a.Error = ""
	}
	return fmt.Sprintf("attempt %d on %s ended: %s", a.Seq, a.Channel, describe(result, msg))
}

// counted counts an ended attempt in the metrics and the channel ranking.
func (u *run) counted(a gateway.Attempt) {
	took := a.EndedAt.Sub(a.StartedAt)
	u.r.Observer.AttemptEnded(a.Channel, a.Result, took)
	if u.r.Ranker != nil {
		u.r.Ranker.Record(a.Channel, a.Result, took)
	}
}

func describe(result gateway.AttemptResult, msg string) string {
	if msg == "" || result == gateway.ResultConnected {
		return string(result)
	}
	return string(result) + " (" + msg + ")"
}

func (u *run) setJoinURL(ctx context.Context, a gateway.Attempt, url string) {
	_, _, err := u.r.Record.Transition(ctx, u.v.ID, gateway.Transition{
		Set:   func(v *gateway.Verification) { v.JoinURL = url },
		Event: gateway.Event{Type: gateway.EventNote, AttemptID: a.ID, Instance: u.r.Instance, Message: "join link ready for the officer app", Data: map[string]string{"join_url": url}},
	})
	if err != nil {
		u.transitionFailed(ctx, err)
	}
}

// sendLinks sends the join link by message to every contact that asked for
// it, in the background: a slow message service must not hold the call.
func (u *run) sendLinks(ctx context.Context, a gateway.Attempt, url string) {
	if u.r.Links == nil {
		return
	}
	for _, c := range u.v.Contacts {
		if !c.Links {
			continue
		}
		go func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			msg := "join link sent by " + string(c.Channel) + " message"
			id, err := u.r.Links.SendJoinLink(sctx, c.Handle, u.v.Reference, url)
			var data map[string]string
			if id != "" {
				data = map[string]string{gateway.DataMessage: id}
			}
			if err != nil {
				msg = "join link could not be sent by " + string(c.Channel) + " message (" + gateway.FateOf(err).String() + ")"
				u.log.WithError(err).WithField("attempt", a.ID).Warn("join link not sent")
			}
			// No State: the store records the verification's state as the
			// note is written, which may be past dialling by now.
			_, _ = u.r.Record.AppendEvent(sctx, gateway.Event{VerificationID: u.v.ID, Type: gateway.EventNote,
				AttemptID: a.ID, Message: msg, Data: data, Instance: u.r.Instance})
		}()
	}
}

func (u *run) hangUp(ctx context.Context, leg gateway.Leg, p gateway.Placement) {
	ad := u.r.adapter(leg.Channel)
	h, ok := ad.(gateway.Hanger)
	if !ok || p.ProviderRef == "" {
		return
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := h.HangUp(hctx, leg, p); err != nil {
		u.log.WithError(err).WithField("attempt", leg.AttemptID).Warn("could not hang up leg")
	}
}

func (u *run) releaseIf(ctx context.Context, l *gateway.Lease, reason string) {
	if l != nil {
		u.release(ctx, *l, reason)
	}
}

// keepLease renews a lease every third of its TTL until stopped.
func (u *run) keepLease(ctx context.Context, l gateway.Lease) (stop func()) {
	return u.keep(ctx, func(ctx context.Context) error {
		_, err := u.r.Claims.Renew(ctx, l, u.r.LeaseTTL)
		if err != nil && ctx.Err() == nil {
			u.log.WithError(err).WithField("device", l.DeviceID).Warn("could not renew device lease")
		}
		return err
	})
}

// keep calls renew every third of LeaseTTL until stopped, or until renew
// fails with ECONFLICT (the lease is no longer this run's).
func (u *run) keep(ctx context.Context, renew func(context.Context) error) (stop func()) {
	kctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(u.r.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-kctx.Done():
				return
			case <-t.C:
			}
			if err := renew(kctx); err != nil && kctx.Err() == nil && gateway.ErrorCode(err) == gateway.ECONFLICT {
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}
