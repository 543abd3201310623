package router

import (
	"context"
	"fmt"
	"time"

	"github.com/safeconnection/gateway"
)

// Report records a provider's or device agent's report on a leg and wakes
// the run waiting on it, on whichever instance it runs. The attempt is found
// by AttemptID, else by the channel and provider reference. A provider's
// webhook can outrun its own API's answer (Zoom posts meeting.started as the
// meeting is made), so a reference not yet recorded is looked for again for
// up to ReportGrace. ENOTFOUND when no attempt matches; EINVALID for an
// unknown status.
func (r *Router) Report(ctx context.Context, rep gateway.Report) error {
	const op = "router.Report"
	if _, err := gateway.ParseReportStatus(string(rep.Status)); err != nil {
		return err
	}
	var a gateway.Attempt
	var err error
	switch {
	case rep.AttemptID != "":
		a, err = r.Store.Attempt(ctx, rep.AttemptID)
	case rep.ProviderRef != "":
		a, err = r.attemptByRef(ctx, rep.Channel, rep.ProviderRef)
	default:
		return gateway.Errorf(gateway.EINVALID, "a report must name its attempt or provider reference")
	}
	if err != nil {
		return gateway.E(op, gateway.ErrorCode(err), err)
	}
	data := map[string]string{"status": string(rep.Status)}
	if rep.Fate != 0 {
		data["fate"] = rep.Fate.String()
	}
	if rep.Party != "" {
		data["party"] = rep.Party
	}
	if rep.ProviderRef != "" {
		data["ref"] = rep.ProviderRef
	}
	if rep.Detail != "" {
		data["detail"] = rep.Detail
	}
	msg := fmt.Sprintf("%s reported %s", a.Channel, rep.Status)
	if rep.Party != "" {
		msg += " (" + rep.Party + ")"
	}
	if _, err := r.Store.AppendEvent(ctx, gateway.Event{
		VerificationID: a.VerificationID, Type: gateway.EventReport, AttemptID: a.ID,
		Message: msg, Data: data, Instance: r.Instance,
	}); err != nil {
		return gateway.E(op, gateway.ErrorCode(err), err)
	}
	// A leg answered after the router gave up on it: end it, so that no one
	// is left on a call nobody watches. The record keeps both.
	if !a.Open() && a.Result != gateway.ResultConnected && (rep.Status == gateway.ReportAnswered || rep.Status == gateway.ReportJoined) {
		r.hangUpLate(ctx, a)
	}
	return nil
}

// attemptByRef finds the attempt with the provider reference, waiting up to
// ReportGrace for it to be recorded: the run writes the reference once the
// provider's API has answered, and on another instance, maybe after the
// provider's first webhook has arrived here.
func (r *Router) attemptByRef(ctx context.Context, ch gateway.Channel, ref string) (gateway.Attempt, error) {
	giveUp := time.Now().Add(r.ReportGrace)
	wait := 20 * time.Millisecond
	for {
		a, err := r.Store.AttemptByProviderRef(ctx, ch, ref)
		if gateway.ErrorCode(err) != gateway.ENOTFOUND || !time.Now().Add(wait).Before(giveUp) {
			return a, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return a, err
		case <-t.C:
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

func (r *Router) hangUpLate(ctx context.Context, a gateway.Attempt) {
	ad := r.adapter(a.Channel)
	h, ok := ad.(gateway.Hanger)
	if !ok || a.ProviderRef == "" {
		return
	}
	dev, _ := r.Store.Device(ctx, a.DeviceID)
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	leg := gateway.Leg{VerificationID: a.VerificationID, AttemptID: a.ID, Channel: a.Channel, Device: dev}
	if err := h.HangUp(hctx, leg, gateway.Placement{ProviderRef: a.ProviderRef, JoinURL: a.JoinURL}); err != nil {
		r.Logger.WithError(err).WithField("attempt", a.ID).Warn("could not hang up a leg answered too late")
	}
}

// Joined records that the officer app has joined the meeting of the
// verification's current attempt: a report of party "officer". ENOTFOUND;
// ECONFLICT when no attempt is in progress.
func (r *Router) Joined(ctx context.Context, id string) error {
	v, err := r.Store.Verification(ctx, id)
	if err != nil {
		return err
	}
	for i := len(v.Attempts) - 1; i >= 0; i-- {
		if a := v.Attempts[i]; a.Open() {
			return r.Report(ctx, gateway.Report{AttemptID: a.ID, Channel: a.Channel, Status: gateway.ReportJoined, Party: "officer", Detail: "the officer app opened the meeting link"})
		}
	}
	return gateway.Errorf(gateway.ECONFLICT, "no call is being placed for this verification")
}
