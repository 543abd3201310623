package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/safeconnection/gateway"
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
		leg.DeviceHandle = u.room.DeskNumber
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
// with none: PSTN to the supervisor desk), retrying what was not placed
// within the attempt's deadline, and waits for it to connect. officer is the
// officer's handle ("" for his contact on the channel); resumed is an attempt
// taken over from a stopped instance, to be waited on, not placed again.
func (u *run) attempt(ctx context.Context, ch gateway.Channel, lease *gateway.Lease, dev gateway.Device, officer string, resumed *gateway.Attempt) next {
	r := u.r
	ad := r.adapter(ch)
	if officer == "" {
		officer = u.handle(ch)
	}
	var a gateway.Attempt
	var after int64 // reports are read from the events after this one
	if resumed != nil {
		a = *resumed
	} else {
		u.seq++
		a = gateway.Attempt{
			ID: gateway.NewID("a_"), VerificationID: u.v.ID, Seq: u.seq, Channel: ch,
			RoomID: u.room.ID, DeviceID: dev.ID, StartedAt: r.Now(),
		}
		if lease != nil {
			a.RoomID = lease.RoomID
		}
		where := "the supervisor desk of " + u.room.Name
		if dev.ID != "" {
			where = fmt.Sprintf("device %s in room %s", dev.ID, a.RoomID)
		}
		// The attempt is recorded with the move to dialling, always
		// through the store even when already dialling: the transition is
		// the check, under the store's lock, that the verification was not
		// cancelled since the last attempt, so a cancel another instance
		// recorded can never let a new leg ring.
		v, ev, err := r.Store.Transition(ctx, u.v.ID, gateway.Transition{
			From:         []gateway.State{gateway.StateRouting, gateway.StateQueued, gateway.StateDialling},
			To:           gateway.StateDialling,
			Attempt:      &a,
			AttemptEvent: u.attemptEvent(a, fmt.Sprintf("attempt %d: %s via %s", a.Seq, ch, where)),
			Event:        gateway.Event{Type: gateway.EventState, AttemptID: a.ID, Instance: r.Instance, Message: "dialling " + string(ch)},
		})
		if err != nil {
			u.seq-- // not recorded
			u.transitionFailed(ctx, err)
			u.releaseIf(ctx, lease, "not used")
			return stopped
		}
		u.v = v
		after = ev.Seq
	}
	log := u.log.WithFields(map[string]any{"attempt": a.ID, "channel": ch, "device": dev.ID})
	deadline := u.attemptDeadline(a)
	actx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var stopKeep func()
	if lease != nil {
		stopKeep = u.keepLease(actx, *lease)
	}
	finish := func(result gateway.AttemptResult, msg string, then next) next {
		if stopKeep != nil {
			stopKeep()
		}
		u.end(ctx, &a, result, msg)
		if then != connected {
			u.releaseIf(ctx, lease, string(result))
		}
		return then
	}

	reports, unsub := r.Store.Subscribe(gateway.TopicAttempt + a.ID)
	defer unsub()
	leg := u.leg(a, dev, officer)
	var placement gateway.Placement
	if resumed != nil {
		placement = gateway.Placement{ProviderRef: a.ProviderRef, JoinURL: a.JoinURL}
	}
	place := resumed == nil
	stale := map[string]bool{}   // provider references of earlier tries of this attempt
	progressed := resumed != nil // the current try got further than being placed (dialling, ringing)
	for {
		if place {
			if placement.ProviderRef != "" {
				stale[placement.ProviderRef] = true
			}
			progressed = false
			a.Tries++
			p, err := ad.Place(actx, leg)
			if err != nil {
				if ctx.Err() != nil {
					return u.stopping(ctx, &a, lease, placement)
				}
				var ce *gateway.CallError
				errors.As(err, &ce)
				a.Error = err.Error()
				switch {
				case ce != nil && ce.Skipped:
					log.WithError(err).Info("channel skipped")
					return finish(gateway.ResultSkipped, "skipped: "+err.Error(), nextChannel)
				case gateway.FateOf(err) == gateway.NotPlaced:
					wait := r.Backoff(r, a.Tries, gateway.RetryAfterOf(err))
					if r.Now().Add(wait).Before(deadline) && u.putAttempt(ctx, a, fmt.Sprintf("try %d on %s not placed (%v); retrying in %s", a.Tries, ch, err, wait.Round(time.Millisecond))) {
						if !u.sleep(actx, wait) {
							if ctx.Err() != nil {
								return u.stopping(ctx, &a, lease, placement)
							}
						}
						continue
					}
					// The provider (or the store, for a device agent's
					// order) could not take the leg: that is not this
					// device's fault, and another device would only wait
					// on the same provider again.
					log.WithError(err).Warn("leg not placed within the attempt's deadline")
					return finish(gateway.ResultNotPlaced, err.Error(), nextChannel)
				case gateway.FateOf(err) == gateway.PlacedFailed:
					return finish(gateway.ResultFailed, err.Error(), nextChannel)
				default:
					log.WithError(err).Warn("leg outcome unknown")
					return finish(gateway.ResultUnknown, err.Error(), nextChannel)
				}
			}
			placement = p
			a.ProviderRef, a.JoinURL, a.Error = p.ProviderRef, p.JoinURL, ""
			u.putAttempt(ctx, a, fmt.Sprintf("try %d on %s placed", a.Tries, ch))
			if p.JoinURL != "" {
				u.setJoinURL(ctx, a, p.JoinURL)
				u.sendLinks(ctx, a, p.JoinURL)
			}
			if p.Connected {
				return u.connect(ctx, &a, lease, dev, placement, stopKeep)
			}
		}
		place = false
		st, rep := u.waitReport(actx, reports, a, stale, &after, &progressed)
		switch st {
		case gateway.ReportAnswered:
			return u.connect(ctx, &a, lease, dev, placement, stopKeep)
		case gateway.ReportRejected:
			return finish(gateway.ResultRejected, "rejected"+detail(rep), nextChannel)
		case gateway.ReportNoAnswer:
			return finish(gateway.ResultNoAnswer, "not answered"+detail(rep), nextChannel)
		case gateway.ReportFailed:
			if rep.Fate == gateway.NotPlaced {
				a.Error = "not placed" + detail(rep)
				wait := r.Backoff(r, a.Tries, 0)
				if r.Now().Add(wait).Before(deadline) && u.putAttempt(ctx, a, fmt.Sprintf("try %d on %s not placed%s; retrying in %s", a.Tries, ch, detail(rep), wait.Round(time.Millisecond))) {
					if u.sleep(actx, wait) {
						place = true
						continue
					}
				}
				if ctx.Err() != nil {
					return u.stopping(ctx, &a, lease, placement)
				}
				return finish(gateway.ResultNotPlaced, a.Error, nextDevice)
			}
			return finish(gateway.ResultFailed, "failed"+detail(rep), nextChannel)
		case gateway.ReportEnded, gateway.ReportCancelled:
			return finish(gateway.ResultFailed, "the call ended before it connected"+detail(rep), nextChannel)
		case gateway.ReportJoined: // counted inside waitReport
			continue
		}
		// No report: the run is stopping, the verification ended, or the
		// attempt's deadline passed.
		if ctx.Err() != nil {
			return u.stopping(ctx, &a, lease, placement)
		}
		u.hangUp(ctx, leg, placement)
		if u.v.State == gateway.StateCancelled {
			return finish(gateway.ResultCancelled, "cancelled by the officer", stopped)
		}
		if !r.Now().Before(u.v.Deadline) {
			return finish(gateway.ResultNoAnswer, "not answered before the time budget was spent", nextChannel)
		}
		if a.Tries > 1 && !progressed {
			// Every try so far failed to place and the last one did not
			// even start ringing: the device cannot place it.
			return finish(gateway.ResultNotPlaced, "not placed within "+r.RingTimeout.String()+": "+a.Error, nextDevice)
		}
		return finish(gateway.ResultNoAnswer, fmt.Sprintf("not answered within %s", r.RingTimeout), nextChannel)
	}
}

func detail(rep gateway.Report) string {
	if rep.Detail == "" {
		return ""
	}
	return ": " + rep.Detail
}

// waitReport waits for the next report on the attempt that settles it, the
// attempt's deadline, the verification's end, or the run's stop; reports
// naming the provider reference of an earlier try are passed over. It returns
// "" and an empty report for the last three. Two joins by distinct parties
// count as answered.
func (u *run) waitReport(ctx context.Context, wake <-chan string, a gateway.Attempt, stale map[string]bool, after *int64, progressed *bool) (gateway.ReportStatus, gateway.Report) {
	r := u.r
	poll := time.NewTicker(r.PollInterval)
	defer poll.Stop()
	joined := map[string]bool{}
	for {
		evs, err := r.Store.Events(ctx, u.v.ID, *after, 0)
		if err != nil && ctx.Err() == nil {
			u.log.WithError(err).Warn("could not read reports")
		}
		for _, ev := range evs {
			*after = ev.Seq
			if ev.Type == gateway.EventState && !ev.State.Live() && ev.State != gateway.StateConnected {
				// Ended elsewhere (cancelled on another instance): the
				// record says so even when the wake-up was lost.
				u.v.State = ev.State
				return "", gateway.Report{}
			}
			if ev.Type != gateway.EventReport || ev.AttemptID != a.ID {
				continue
			}
			if stale[ev.Data["ref"]] {
				continue // about an earlier try of this attempt
			}
			rep := reportOf(ev)
			switch rep.Status {
			case gateway.ReportDialling, gateway.ReportRinging:
				*progressed = true
				continue
			case gateway.ReportJoined:
				*progressed = true
				party := rep.Party
				if party == "" {
					party = fmt.Sprint(ev.Seq)
				}
				joined[party] = true
				if len(joined) >= 2 {
					return gateway.ReportAnswered, rep
				}
				continue
			}
			return rep.Status, rep
		}
		select {
		case <-ctx.Done():
			return "", gateway.Report{}
		case <-u.cancel:
			if v, err := r.Store.Verification(ctx, u.v.ID); err == nil {
				u.v.State = v.State
				if v.State == gateway.StateCancelled {
					return "", gateway.Report{}
				}
			}
		case <-wake:
		case <-poll.C:
		}
	}
}

func reportOf(ev gateway.Event) gateway.Report {
	rep := gateway.Report{
		AttemptID: ev.AttemptID, Status: gateway.ReportStatus(ev.Data["status"]),
		Party: ev.Data["party"], Detail: ev.Data["detail"], ProviderRef: ev.Data["ref"], At: ev.At,
	}
	switch ev.Data["fate"] {
	case gateway.NotPlaced.String():
		rep.Fate = gateway.NotPlaced
	case gateway.PlacedFailed.String():
		rep.Fate = gateway.PlacedFailed
	case gateway.Unknown.String():
		rep.Fate = gateway.Unknown
	}
	return rep
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
	_, err := u.r.Store.PutAttempt(ctx, a, u.attemptEvent(a, msg))
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
	_, _, err := u.r.Store.Transition(ctx, u.v.ID, gateway.Transition{
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
			_, _ = u.r.Store.AppendEvent(sctx, gateway.Event{VerificationID: u.v.ID, Type: gateway.EventNote,
				AttemptID: a.ID, Message: msg, Data: data, Instance: u.r.Instance})
		}()
	}
}

// stopping leaves an attempt as it is because this instance stops: the
// lease and the hold lapse, and whoever takes over finds the attempt open.
func (u *run) stopping(ctx context.Context, a *gateway.Attempt, lease *gateway.Lease, p gateway.Placement) next {
	u.log.WithField("attempt", a.ID).Info("instance stopping with an attempt in progress; leaving it for take-over")
	return stopped
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
			if _, err := u.r.Store.Renew(kctx, l, u.r.LeaseTTL); err != nil && kctx.Err() == nil {
				u.log.WithError(err).WithField("device", l.DeviceID).Warn("could not renew device lease")
				if gateway.ErrorCode(err) == gateway.ECONFLICT {
					return
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
