package router

import (
	"context"
	"fmt"
	"time"

	"github.com/safeconnection/gateway"
)

// connect records that the call is up, with the attempt's end in the same
// write, and holds the device while it lasts (the attempt's own renewal of
// the lease has stopped; the hold renews it from then on).
func (u *run) connect(ctx context.Context, a *gateway.Attempt, lease *gateway.Lease, dev gateway.Device, p gateway.Placement) next {
	r := u.r
	ended := *a
	summary := u.close(&ended, gateway.ResultConnected, "")
	v, ev, err := r.Record.Transition(ctx, u.v.ID, gateway.Transition{
		From:         []gateway.State{gateway.StateDialling},
		To:           gateway.StateConnected,
		Attempt:      &ended,
		AttemptEvent: u.attemptEvent(ended, summary),
		Set: func(v *gateway.Verification) {
			v.DeviceID, v.Channel = dev.ID, a.Channel
			if a.JoinURL != "" {
				v.JoinURL = a.JoinURL
			}
		},
		Event: gateway.Event{Type: gateway.EventState, AttemptID: a.ID, Instance: r.Instance,
			Message: fmt.Sprintf("connected on %s", a.Channel),
			Data:    map[string]string{"channel": string(a.Channel), "device": dev.ID}},
	})
	if err != nil {
		// Cancelled while it connected: end the call.
		u.transitionFailed(ctx, err)
		u.hangUp(ctx, u.leg(*a, dev, u.handleFor(a.Channel)), p)
		if gateway.ErrorCode(err) == gateway.ECONFLICT {
			u.end(ctx, a, gateway.ResultCancelled, "the verification ended as the call connected")
		} else {
			u.end(ctx, a, gateway.ResultUnknown, "could not record the connection: "+err.Error())
		}
		u.releaseIf(ctx, lease, "cancelled")
		return stopped
	}
	*a = ended
	u.counted(*a)
	u.v = v
	r.Observer.Connected(a.Channel, r.Now().Sub(v.CreatedAt))
	u.log.WithField("channel", a.Channel).Info("connected")
	u.hold(ctx, *a, lease, dev, p, ev.Seq)
	return connected
}

// holdResumed takes up a connected call left by a stopped instance: if the
// device's lease is still this verification's, hold it; otherwise the call's
// hold on the device is gone, and the record says so.
func (u *run) holdResumed(ctx context.Context) {
	var a gateway.Attempt
	for _, at := range u.v.Attempts {
		if at.Result == gateway.ResultConnected {
			a = at
		}
	}
	if u.v.Lease == nil || u.v.Lease.DeviceID != u.v.DeviceID {
		u.note(ctx, a.ID, "the device's lease lapsed while no instance held the call; awaiting the supervisor's outcome")
		return
	}
	if _, err := u.r.Claims.Renew(ctx, *u.v.Lease, u.r.LeaseTTL); err != nil {
		u.note(ctx, a.ID, "the device's lease could not be renewed after take-over; awaiting the supervisor's outcome")
		return
	}
	dev, _ := u.r.Claims.Device(ctx, u.v.DeviceID)
	u.hold(ctx, a, u.v.Lease, dev, gateway.Placement{ProviderRef: a.ProviderRef, JoinURL: a.JoinURL}, 0)
}

// hold keeps the device's lease while the call lasts (see awaitEnd); a
// call to a supervisor desk holds no device, but its desk line is held
// (see deskCall) until hold returns. Events after the one with Seq after
// are read: the call's end may be recorded before hold starts.
func (u *run) hold(ctx context.Context, a gateway.Attempt, lease *gateway.Lease, dev gateway.Device, p gateway.Placement, after int64) {
	if lease == nil {
		if u.desk != nil {
			u.awaitEnd(ctx, a, dev, p, after)
		}
		return
	}
	stopKeep := u.keepLease(ctx, *lease)
	defer stopKeep()
	why := u.awaitEnd(ctx, a, dev, p, after)
	if why == "" {
		return // stopping: the lease lapses, or whoever takes over holds it
	}
	stopKeep()
	u.release(ctx, *lease, why)
}

// awaitEnd waits for the end of a connected call: the provider or agent
// reports it, the supervisor records the outcome (which ends the call), the
// officer cancels, or MaxCall passes; it hangs up what is still up. It
// returns why the call ended, "" when this instance is stopping.
func (u *run) awaitEnd(ctx context.Context, a gateway.Attempt, dev gateway.Device, p gateway.Placement, after int64) string {
	r := u.r
	reports, unsub := r.Bus.Subscribe(gateway.TopicAttempt + a.ID)
	defer unsub()
	limit := time.NewTimer(max(time.Until(a.StartedAt.Add(r.MaxCall)), 0))
	defer limit.Stop()
	poll := time.NewTicker(r.PollInterval)
	defer poll.Stop()
	leg := u.leg(a, dev, u.handleFor(a.Channel))
	for {
		evs, _ := r.Record.Events(ctx, u.v.ID, after, 0)
		for _, ev := range evs {
			after = ev.Seq
			if ev.Type == gateway.EventReport && ev.AttemptID == a.ID && ev.Report != nil && ev.Report.Status == gateway.ReportEnded {
				u.note(ctx, a.ID, "call ended")
				return "call ended"
			}
			if (ev.Type == gateway.EventState || ev.Type == gateway.EventOutcome) && ev.State.Terminal() {
				u.hangUp(ctx, leg, p)
				return "call closed: " + string(ev.State)
			}
		}
		select {
		case <-ctx.Done():
			return ""
		case <-limit.C:
			u.note(ctx, a.ID, fmt.Sprintf("call reached the %s limit: hung up", r.MaxCall))
			u.hangUp(ctx, leg, p)
			return "call limit"
		case <-u.cancel:
		case <-reports:
		case <-poll.C:
		}
	}
}
