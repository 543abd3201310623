package router

import (
	"context"
	"fmt"
	"time"

	"github.com/safeconnection/gateway"
)

// Report records a provider's or device agent's report on a leg, as it was
// made, and wakes the run waiting on it, on whichever instance it runs. The
// attempt is found by AttemptID, else by the channel and provider
// reference. A provider's webhook can outrun its own API's answer (Zoom
// posts meeting.started as the meeting is made), so a reference not yet
// recorded is looked for again for up to ReportGrace. A report with a
// MessageID is a messaging service's on a message sent (see messageStatus).
// ENOTFOUND when no attempt or message matches; EINVALID for an unknown
// status or fate.
func (r *Router) Report(ctx context.Context, rep gateway.Report) error {
	const op = "router.Report"
	if _, err := gateway.ParseReportStatus(string(rep.Status)); err != nil {
		return err
	}
	if _, err := rep.Fate.MarshalText(); err != nil {
		return err // a fate that is none of the known ones
	}
	if rep.MessageID != "" {
		return r.messageStatus(ctx, rep)
	}
	var a gateway.Attempt
	var err error
	switch {
	case rep.AttemptID != "":
		a, err = r.Record.Attempt(ctx, rep.AttemptID)
	case rep.ProviderRef != "":
		a, err = r.attemptByRef(ctx, rep.Channel, rep.ProviderRef)
	default:
		return gateway.Errorf(gateway.EINVALID, "a report must name its attempt or provider reference")
	}
	if err != nil {
		return gateway.E(op, gateway.ErrorCode(err), err)
	}
	rep.AttemptID, rep.Channel, rep.At = a.ID, a.Channel, time.Time{}
	msg := fmt.Sprintf("%s reported %s", a.Channel, rep.Status)
	if rep.Party != "" {
		msg += " (" + string(rep.Party) + ")"
	}
	if _, err := r.Record.AppendEvent(ctx, gateway.Event{
		VerificationID: a.VerificationID, Type: gateway.EventReport, AttemptID: a.ID,
		Message: msg, Report: &rep, Instance: r.Instance,
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
	return awaitRecorded(ctx, r.ReportGrace, func() (gateway.Attempt, error) { return r.Record.AttemptByProviderRef(ctx, ch, ref) })
}

// awaitRecorded calls find until it returns something other than
// ENOTFOUND, for up to grace, at growing intervals.
func awaitRecorded[T any](ctx context.Context, grace time.Duration, find func() (T, error)) (T, error) {
	giveUp := time.Now().Add(grace)
	wait := 20 * time.Millisecond
	for {
		v, err := find()
		if gateway.ErrorCode(err) != gateway.ENOTFOUND || !time.Now().Add(wait).Before(giveUp) {
			return v, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

// messageStatus records in the verification's record that a message sent
// (a join link, a receipt) was delivered, read or not delivered. The
// message is found by the note that recorded sending it, waiting up to
// ReportGrace for that note (the service's first status can outrun it).
// "sent" adds nothing to a join link's note and is not recorded; it is for
// a receipt, which she may say never came. A status already recorded for
// the message (a webhook sent again) is not recorded twice. ENOTFOUND when
// no note records the message; EINVALID for a status a message cannot
// have.
func (r *Router) messageStatus(ctx context.Context, rep gateway.Report) error {
	const op = "router.Report"
	switch rep.Status {
	case gateway.ReportSent, gateway.ReportDelivered, gateway.ReportRead, gateway.ReportFailed:
	default:
		return gateway.Errorf(gateway.EINVALID, "a message cannot be %s", rep.Status)
	}
	sent, err := awaitRecorded(ctx, r.ReportGrace, func() (gateway.Event, error) { return r.Record.MessageEvent(ctx, rep.MessageID) })
	if err != nil {
		return gateway.E(op, gateway.ErrorCode(err), err)
	}
	if rep.Status == gateway.ReportSent && !isReceipt(sent) {
		return nil
	}
	later, err := r.Record.Events(ctx, sent.VerificationID, sent.Seq, 0)
	if err != nil {
		return gateway.E(op, gateway.ErrorCode(err), err)
	}
	for _, ev := range later {
		if ev.Report != nil && ev.Report.MessageID == rep.MessageID && ev.Report.Status == rep.Status {
			return nil
		}
	}
	rep.AttemptID, rep.At = sent.AttemptID, time.Time{}
	_, err = r.Record.AppendEvent(ctx, gateway.Event{
		VerificationID: sent.VerificationID, Type: gateway.EventNote, AttemptID: sent.AttemptID, Message: messageNote(sent, rep),
		Data: map[string]string{gateway.DataMessage: rep.MessageID}, Report: &rep, Instance: r.Instance,
	})
	if err != nil {
		return gateway.E(op, gateway.ErrorCode(err), err)
	}
	return nil
}

func (r *Router) hangUpLate(ctx context.Context, a gateway.Attempt) {
	ad := r.adapter(a.Channel)
	h, ok := ad.(gateway.Hanger)
	if !ok || a.ProviderRef == "" {
		return
	}
	dev, _ := r.Claims.Device(ctx, a.DeviceID)
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
	v, err := r.Record.Verification(ctx, id)
	if err != nil {
		return err
	}
	for i := len(v.Attempts) - 1; i >= 0; i-- {
		if a := v.Attempts[i]; a.Open() {
			return r.Report(ctx, gateway.Report{AttemptID: a.ID, Channel: a.Channel, Status: gateway.ReportJoined, Party: gateway.PartyOfficer, Detail: "the officer app opened the meeting link"})
		}
	}
	return gateway.Errorf(gateway.ECONFLICT, "no call is being placed for this verification")
}
