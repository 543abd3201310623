package router

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/sirupsen/logrus"
)

// A run drives one verification on this instance, from its recorded state.
type run struct {
	r     *Router
	v     gateway.Verification
	room  gateway.Room
	rooms []string // the local room, then its neighbours
	log   logrus.FieldLogger

	seq      int                          // attempts so far
	finished map[gateway.Channel]bool     // channels done with: placed but failed, or skipped
	bad      map[gateway.Channel][]string // devices that could not place a channel
	cancel   <-chan string                // wake-ups: cancelled, outcome recorded
	desk     *gateway.DeskLease           // the desk line the PSTN call rings, while it does
}

// run owns and drives one verification until it ends or this instance stops.
func (r *Router) run(ctx context.Context, id string, takeover bool) {
	log := r.Logger.WithFields(logrus.Fields{"verification": id, "instance": r.Instance})
	var v gateway.Verification
	var err error
	if !takeover {
		// Request created it held by this instance: a read will do.
		v, err = r.Record.Verification(ctx, id)
	}
	if takeover || err != nil || v.Owner != r.Instance {
		v, err = r.Owners.Own(ctx, id, r.Instance, r.OwnerTTL)
	}
	if err != nil {
		if gateway.ErrorCode(err) != gateway.ECONFLICT && ctx.Err() == nil {
			log.WithError(err).Error("could not take ownership of verification")
		}
		return
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go r.holdOwnership(ctx, id, stop, log)

	cancel, unsub := r.Bus.Subscribe(gateway.TopicCancel + id)
	defer unsub()

	room, ok := r.Rooms.Room(v.RoomID)
	if !ok {
		log.WithField("room", v.RoomID).Error("verification names an unknown room")
		room = gateway.Room{ID: v.RoomID}
	}
	u := &run{
		r: r, v: v, room: room, log: log, cancel: cancel,
		rooms:    append([]string{room.ID}, room.Neighbours...),
		finished: map[gateway.Channel]bool{},
		bad:      map[gateway.Channel][]string{},
	}
	u.drive(ctx, takeover)
}

// holdOwnership renews this instance's hold on a verification; when another
// instance has taken it over, it stops the run.
func (r *Router) holdOwnership(ctx context.Context, id string, stop func(), log logrus.FieldLogger) {
	t := time.NewTicker(r.OwnerTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := r.Owners.Own(ctx, id, r.Instance, r.OwnerTTL); err != nil {
			if ctx.Err() != nil {
				return
			}
			if gateway.ErrorCode(err) == gateway.ECONFLICT {
				log.Warn("another instance took this verification over; stopping here")
				stop()
				return
			}
			log.WithError(err).Warn("could not renew hold on verification")
		}
	}
}

func (u *run) drive(ctx context.Context, takeover bool) {
	r := u.r
	if takeover {
		u.note(ctx, "", fmt.Sprintf("taken over by %s in state %s", r.Instance, u.v.State))
	}
	if !u.resume(ctx) {
		return
	}
	for ctx.Err() == nil {
		if u.ended(ctx) {
			return
		}
		if !r.Now().Before(u.v.Deadline) {
			u.fail(ctx, "the time budget was spent before any supervisor answered")
			return
		}
		claimed, waiting, done := u.tryChannels(ctx)
		if done {
			return
		}
		if claimed {
			continue
		}
		if waiting {
			if !u.queue(ctx) {
				return
			}
			continue
		}
		// Every video channel has been tried: PSTN is the last resort.
		if u.pstn(ctx) {
			return
		}
		u.fail(ctx, "every channel was tried and none connected")
		return
	}
}

// tryChannels tries the officer's channels in the plan's order: the first
// with a free device gets an attempt. claimed: something was tried (or the
// store failed: go round again rather than queue); waiting: a channel has
// devices, none free now; done: the run is over (connected, stopped).
func (u *run) tryChannels(ctx context.Context) (claimed, waiting, done bool) {
	for _, ch := range u.plan() {
		if ch == gateway.ChannelPSTN {
			continue
		}
		lease, dev, err := u.claim(ctx, ch)
		if err != nil {
			if gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
				if ctx.Err() != nil {
					return false, false, true
				}
				u.log.WithError(err).Error("device claim failed")
				u.sleep(ctx, u.r.PollInterval)
				return true, false, false
			}
			if len(u.bad[ch]) > 0 {
				// Every device that could serve it has failed to place it.
				u.finish(ctx, ch, "no other device can place it")
				continue
			}
			waiting = true
			continue
		}
		switch u.attempt(ctx, ch, &lease, dev, "", nil) {
		case connected, stopped:
			return true, false, true
		case nextDevice:
			u.bad[ch] = append(u.bad[ch], dev.ID)
		case nextChannel:
			u.finished[ch] = true
		}
		return true, false, false
	}
	return false, waiting, false
}

// plan is the officer's channels in his order (reordered by their recent
// record when a Ranker is set), keeping those an adapter serves and that are
// not done with.
func (u *run) plan() []gateway.Channel {
	var chans []gateway.Channel
	for _, c := range u.v.Contacts {
		if c.Channel == gateway.ChannelPSTN || u.finished[c.Channel] || u.r.adapter(c.Channel) == nil {
			continue
		}
		chans = append(chans, c.Channel)
	}
	if u.r.Ranker != nil {
		chans = u.r.Ranker.Order(chans)
	}
	return chans
}

func (u *run) handle(ch gateway.Channel) string {
	for _, c := range u.v.Contacts {
		if c.Channel == ch {
			return c.Handle
		}
	}
	return ""
}

// officerNumber is the number to ring the officer on for PSTN: his pstn
// contact, else the number of a channel whose handles are phone numbers
// (see gateway.ChannelInfo.PhoneHandle).
func (u *run) officerNumber() string {
	if h := u.handle(gateway.ChannelPSTN); h != "" {
		return h
	}
	for _, c := range u.v.Contacts {
		if u.r.Channels.PhoneHandle(c.Channel) && isE164(c.Handle) {
			return c.Handle
		}
	}
	return ""
}

func isE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// claim claims a free device of the run's rooms for ch, not one that
// failed ch before, nor one of skip.
func (u *run) claim(ctx context.Context, ch gateway.Channel, skip ...string) (gateway.Lease, gateway.Device, error) {
	exclude := u.bad[ch]
	if len(skip) > 0 {
		exclude = slices.Concat(exclude, skip)
	}
	return u.r.Claims.Claim(ctx, gateway.ClaimRequest{
		RoomIDs:      u.rooms,
		Channel:      ch,
		Holder:       u.v.ID,
		TTL:          u.r.LeaseTTL,
		Stale:        u.r.HeartbeatStale,
		Exclude:      exclude,
		BatteryFloor: u.r.BatteryFloor,
	})
}

// finish marks a channel done and records why.
func (u *run) finish(ctx context.Context, ch gateway.Channel, why string) {
	u.finished[ch] = true
	u.note(ctx, "", fmt.Sprintf("%s: %s", ch, why))
}

// pstn places the last-resort voice call: to a free device's number, or to
// a supervisor desk when no device is free (see ringDesk). It reports
// whether the verification is settled (connected, stopped or failed).
func (u *run) pstn(ctx context.Context) bool {
	if u.finished[gateway.ChannelPSTN] || u.r.adapter(gateway.ChannelPSTN) == nil {
		return false
	}
	u.finished[gateway.ChannelPSTN] = true
	number := u.officerNumber()
	if number == "" {
		u.note(ctx, "", "pstn: the officer gave no phone number")
		return false
	}
	lease, dev, err := u.claim(ctx, gateway.ChannelPSTN)
	if err != nil {
		if ctx.Err() != nil {
			return true
		}
		return u.ringDesk(ctx, number)
	}
	return u.pstnDevice(ctx, number, lease, dev)
}

// pstnDevice rings the officer bridged to a claimed device's number, and
// the next free device's while devices cannot place the call; with no
// device left, a supervisor desk.
func (u *run) pstnDevice(ctx context.Context, number string, lease gateway.Lease, dev gateway.Device) bool {
	for {
		switch u.attempt(ctx, gateway.ChannelPSTN, &lease, dev, number, nil) {
		case connected, stopped:
			return true
		case nextDevice:
			u.bad[gateway.ChannelPSTN] = append(u.bad[gateway.ChannelPSTN], dev.ID)
		default:
			return false
		}
		var err error
		if lease, dev, err = u.claim(ctx, gateway.ChannelPSTN); err != nil {
			if ctx.Err() != nil {
				return true
			}
			return u.ringDesk(ctx, number)
		}
	}
}

// queued moves the verification to queued, saying why. It returns false
// when the run must stop.
func (u *run) queued(ctx context.Context, why string) bool {
	if u.v.State == gateway.StateQueued {
		return true
	}
	now := u.r.Now()
	v, _, err := u.r.Record.Transition(ctx, u.v.ID, gateway.Transition{
		From:  []gateway.State{gateway.StateRouting, gateway.StateDialling},
		To:    gateway.StateQueued,
		Set:   func(v *gateway.Verification) { v.QueuedAt = &now },
		Event: gateway.Event{Type: gateway.EventState, Instance: u.r.Instance, Message: why},
	})
	if err != nil {
		u.transitionFailed(ctx, err)
		return false
	}
	u.v = v
	return true
}

// queue waits, in arrival order with the other queued verifications, for a
// device to free. It returns false when the run must stop.
func (u *run) queue(ctx context.Context) bool {
	r := u.r
	if !u.queued(ctx, "no free device in the room or its neighbours: queued") {
		return false
	}
	// Keep time for the PSTN fallback when it can be used.
	until := u.v.Deadline
	if r.adapter(gateway.ChannelPSTN) != nil && !u.finished[gateway.ChannelPSTN] && u.officerNumber() != "" {
		until = until.Add(-r.RingTimeout)
	}
	qctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	got, err := r.queue.wait(qctx, u)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		if u.ended(ctx) {
			return false
		}
		// Waited as long as the budget allows: PSTN or fail.
		if u.pstn(ctx) {
			return false
		}
		u.fail(ctx, "no device became free within the time budget")
		return false
	}
	switch u.attempt(ctx, got.ch, &got.lease, got.dev, "", nil) {
	case connected, stopped:
		return false
	case nextDevice:
		u.bad[got.ch] = append(u.bad[got.ch], got.dev.ID)
	case nextChannel:
		u.finished[got.ch] = true
	}
	return true
}

// tryClaim is the queue's claim on behalf of this run: the first of its
// channels with a free device, not one of skip (left to those who came
// first).
func (u *run) tryClaim(ctx context.Context, skip ...string) (claimed, bool) {
	for _, ch := range u.plan() {
		lease, dev, err := u.claim(ctx, ch, skip...)
		if err == nil {
			return claimed{ch: ch, lease: lease, dev: dev}, true
		}
	}
	return claimed{}, false
}

// ended re-reads the verification's state and reports whether it has been
// ended by someone else (cancelled). It reads the record every time, not
// only on a wake-up: a wake-up from another instance can be lost.
func (u *run) ended(ctx context.Context) bool {
	select {
	case <-u.cancel:
	default:
	}
	v, err := u.r.Record.Verification(ctx, u.v.ID)
	if err != nil {
		return false
	}
	u.v.State = v.State
	return !v.State.Live() && v.State != gateway.StateConnected
}

func (u *run) fail(ctx context.Context, why string) {
	r := u.r
	v, _, err := r.Record.Transition(ctx, u.v.ID, u.failure(why, why+". "+gateway.Advice999))
	if err != nil {
		u.transitionFailed(ctx, err)
		return
	}
	u.log.WithField("reason", why).Warn("verification failed")
	r.Observer.Finished(v)
}

// failure is the move of a live verification to failed for why, recorded
// with msg.
func (u *run) failure(why, msg string) gateway.Transition {
	return gateway.Transition{
		From:  []gateway.State{gateway.StateRouting, gateway.StateQueued, gateway.StateDialling},
		To:    gateway.StateFailed,
		Set:   func(v *gateway.Verification) { v.Reason = why },
		Event: gateway.Event{Type: gateway.EventState, Instance: u.r.Instance, Message: msg},
	}
}

func (u *run) transitionFailed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	if gateway.ErrorCode(err) == gateway.ECONFLICT {
		return // cancelled meanwhile: nothing more to do
	}
	u.log.WithError(err).Error("could not record a change of state")
}

func (u *run) note(ctx context.Context, attemptID, msg string) {
	_, err := u.r.Record.AppendEvent(ctx, gateway.Event{
		VerificationID: u.v.ID, Type: gateway.EventNote, State: u.v.State,
		AttemptID: attemptID, Message: msg, Instance: u.r.Instance,
	})
	if err != nil && ctx.Err() == nil {
		u.log.WithError(err).Error("could not record a note")
	}
}

// sleep waits d or until ctx ends; false if ctx ended.
func (u *run) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// resume takes up a verification from its record: attempts made before (by
// this instance before a restart, or by another that stopped) count, and an
// attempt still ringing is waited on rather than placed again. It reports
// whether to go on driving.
func (u *run) resume(ctx context.Context) bool {
	r := u.r
	u.seq = len(u.v.Attempts)
	for _, a := range u.v.Attempts {
		if a.Open() {
			continue
		}
		switch a.Result {
		case gateway.ResultNotPlaced:
			u.bad[a.Channel] = append(u.bad[a.Channel], a.DeviceID)
		case gateway.ResultConnected:
		default:
			u.finished[a.Channel] = true
		}
	}
	if u.v.State == gateway.StateConnected {
		u.holdResumed(ctx)
		return false
	}
	if !u.v.State.Live() {
		return false
	}
	for i := range u.v.Attempts {
		a := u.v.Attempts[i]
		if !a.Open() {
			continue
		}
		lease := u.v.Lease
		ringEnd := a.StartedAt.Add(r.RingTimeout)
		if lease != nil && lease.DeviceID == a.DeviceID && r.Now().Before(ringEnd) && r.Now().Before(u.v.Deadline) {
			dev, err := r.Claims.Device(ctx, a.DeviceID)
			if err == nil {
				switch u.attempt(ctx, a.Channel, lease, dev, u.handleFor(a.Channel), &a) {
				case connected, stopped:
					return false
				case nextDevice:
					u.bad[a.Channel] = append(u.bad[a.Channel], a.DeviceID)
				case nextChannel:
					u.finished[a.Channel] = true
				}
				continue
			}
		}
		// Too late to wait on it: end it, hang it up, free the device.
		u.abandon(ctx, a, lease, "the instance placing it stopped")
		u.finished[a.Channel] = true
	}
	return true
}

func (u *run) handleFor(ch gateway.Channel) string {
	if ch == gateway.ChannelPSTN {
		return u.officerNumber()
	}
	return u.handle(ch)
}

// abandon ends an attempt left open by a stopped instance.
func (u *run) abandon(ctx context.Context, a gateway.Attempt, lease *gateway.Lease, why string) {
	r := u.r
	if ad := r.adapter(a.Channel); ad != nil && a.ProviderRef != "" {
		if h, ok := ad.(gateway.Hanger); ok {
			dev, _ := r.Claims.Device(ctx, a.DeviceID)
			hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := h.HangUp(hctx, u.leg(a, dev, u.handleFor(a.Channel)), gateway.Placement{ProviderRef: a.ProviderRef, JoinURL: a.JoinURL}); err != nil {
				u.log.WithError(err).WithField("attempt", a.ID).Warn("could not hang up abandoned leg")
			}
			cancel()
		}
	}
	now := r.Now()
	a.EndedAt = &now
	a.Result = gateway.ResultUnknown
	a.Error = why
	if _, err := r.Record.PutAttempt(ctx, a, gateway.Event{VerificationID: u.v.ID, Type: gateway.EventAttempt,
		State: u.v.State, AttemptID: a.ID, Instance: r.Instance,
		Message: fmt.Sprintf("attempt %d on %s abandoned: %s", a.Seq, a.Channel, why)}); err != nil {
		u.log.WithError(err).Error("could not record abandoned attempt")
	}
	if lease != nil && lease.DeviceID == a.DeviceID {
		u.release(ctx, *lease, "abandoned")
	}
}

func (u *run) release(ctx context.Context, l gateway.Lease, reason string) {
	// Release even when the run is stopping: a freed device serves the next
	// officer at once instead of after the lease's expiry.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := u.r.Claims.Release(rctx, l, reason); err != nil && gateway.ErrorCode(err) != gateway.ECONFLICT {
		u.log.WithError(err).WithField("device", l.DeviceID).Error("could not release device; its lease will expire")
	}
}
