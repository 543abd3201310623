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
	return awaitRecorded(ctx, r.ReportGrace, func() (gateway.Attempt, error) { return r.Store.AttemptByProviderRef(ctx, ch, ref) })
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

// The statuses of a message sent, as MessageStatus takes them (WhatsApp's).
const (
	MessageSent      = "sent"
	MessageDelivered = "delivered"
	MessageRead      = "read"
	MessageFailed    = "failed"
)

// MessageStatus is a messaging service's report on a message the router
// sent (a join link).
type MessageStatus struct {
	Channel   gateway.Channel // the service: whatsapp
	MessageID string          // the service's ID of the message
	Status    string          // MessageSent, MessageDelivered, MessageRead or MessageFailed
	Detail    string          // why it failed, in the service's words
}

// MessageStatus records in the verification's record that a join link was
// delivered, read or not delivered. The message is found by the note that
// recorded sending it, waiting up to ReportGrace for that note (the
// service's first status can outrun it). "sent" adds nothing to that note
// and is not recorded; a status already recorded for the message (a
// webhook sent again) is not recorded twice. ENOTFOUND when no note
// records the message; EINVALID for an unknown status.
func (r *Router) MessageStatus(ctx context.Context, st MessageStatus) error {
	const op = "router.MessageStatus"
	var msg string
	switch st.Status {
	case MessageSent:
		return nil
	case MessageDelivered:
		msg = "join link delivered by " + string(st.Channel) + " message"
	case MessageRead:
		msg = "join link read on " + string(st.Channel)
	case MessageFailed:
		msg = "join link not delivered by " + string(st.Channel) + " message"
		if st.Detail != "" {
			msg += ": " + st.Detail
		}
	default:
		return gateway.Errorf(gateway.EINVALID, "unknown message status %.20q", st.Status)
	}
	sent, err := awaitRecorded(ctx, r.ReportGrace, func() (gateway.Event, error) { return r.Store.MessageEvent(ctx, st.MessageID) })
	if err != nil {
		return gateway.E(op, gateway.ErrorCode(err), err)
	}
	later, err := r.Store.Events(ctx, sent.VerificationID, sent.Seq, 0)
	if err != nil {
		return gateway.E(op, gateway.ErrorCode(err), err)
	}
	for _, ev := range later {
		if ev.Type == gateway.EventNote && ev.Data[gateway.DataMessage] == st.MessageID && ev.Data[dataDelivery] == st.Status {
			return nil
		}
	}
	_, err = r.Store.AppendEvent(ctx, gateway.Event{
		VerificationID: sent.VerificationID, Type: gateway.EventNote, AttemptID: sent.AttemptID, Message: msg,
		Data: map[string]string{gateway.DataMessage: st.MessageID, dataDelivery: st.Status}, Instance: r.Instance,
	})
	if err != nil {
		return gateway.E(op, gateway.ErrorCode(err), err)
	}
	return nil
}

// dataDelivery is the Data key of a message's status in the record.
const dataDelivery = "delivery"

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
