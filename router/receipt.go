package router

import (
	"context"
	"net/url"
	"time"

	"github.com/safeconnection/gateway"
)

// The ways a receipt is sent by message (SendReceipt's via).
const (
	ViaSMS      = "sms"
	ViaWhatsApp = "whatsapp"
)

// The Data keys of the note that records a receipt sent, besides
// gateway.DataMessage: the way it went, and the number it went to, masked.
const (
	DataReceipt = "receipt"
	DataTo      = "to"
)

// ReceiptTimeout bounds sending one receipt.
const ReceiptTimeout = 15 * time.Second

// ReceiptSender sends a verification's receipt by one way of messaging.
type ReceiptSender interface {
	// SendReceipt sends the verification's reference and the link of its
	// receipt to the E.164 number toE164 and returns the messaging
	// service's ID of the message, by which its later statuses are
	// reported (gateway.Report.MessageID). EINVALID for a number the
	// sender cannot send to; otherwise a *gateway.CallError whose Fate
	// says whether the service can have sent it.
	SendReceipt(ctx context.Context, toE164, reference, link string) (string, error)
}

// MaskNumber is what the record and the API show of a member of the
// public's number: its last three digits, "•••••••123".
func MaskNumber(n string) string {
	if len(n) < 3 {
		return "•••••••"
	}
	return "•••••••" + n[len(n)-3:]
}

// SendReceipt sends the receipt of verification id to the number she gave,
// with her consent, for this one message (toE164, checked by the caller),
// by via (ViaSMS, ViaWhatsApp), and records it in the verification's
// record: a note with the number masked and the service's message ID, by
// which the message's statuses join the record (see Report). The number is
// kept nowhere else and logged nowhere. It returns the note. ENOTFOUND;
// ECONFLICT unless the verification has ended (verified, refused, or ended
// without connecting); EUNAVAILABLE when via is not configured or the
// service did not take the message; EINVALID for an unknown via or a
// number the service cannot send to.
func (r *Router) SendReceipt(ctx context.Context, id, toE164, via string) (gateway.Event, error) {
	const op = "router.SendReceipt"
	if via != ViaSMS && via != ViaWhatsApp {
		return gateway.Event{}, gateway.Errorf(gateway.EINVALID, "a receipt goes by sms or whatsapp")
	}
	v, err := r.Record.Verification(ctx, id)
	if err != nil {
		return gateway.Event{}, gateway.E(op, gateway.ErrorCode(err), err)
	}
	if !v.State.Terminal() {
		return gateway.Event{}, gateway.Errorf(gateway.ECONFLICT, "a receipt is sent once the verification has ended: it is %s", v.State)
	}
	sender := r.Receipts[via]
	if sender == nil || r.ReceiptURL == "" {
		return gateway.Event{}, gateway.Errorf(gateway.EUNAVAILABLE, "receipts by %s are not configured on this gateway", via)
	}
	link := r.ReceiptURL + url.PathEscape(v.Reference)
	sctx, cancel := context.WithTimeout(ctx, ReceiptTimeout)
	defer cancel()
	msgID, sendErr := sender.SendReceipt(sctx, toE164, v.Reference, link)
	masked := MaskNumber(toE164)
	data := map[string]string{DataReceipt: via, DataTo: masked}
	msg := "receipt sent by " + via + " to " + masked
	if sendErr != nil {
		if gateway.ErrorCode(sendErr) == gateway.EINVALID {
			return gateway.Event{}, gateway.E(op, gateway.EINVALID, sendErr)
		}
		msg = "receipt could not be sent by " + via + " to " + masked + " (" + gateway.FateOf(sendErr).String() + ")"
		// The code and fate only: an error's text may quote the number.
		r.Logger.WithFields(map[string]any{"verification": v.ID, "via": via, "code": gateway.ErrorCode(sendErr), "fate": gateway.FateOf(sendErr).String()}).
			Warn("receipt not sent")
	} else {
		data[gateway.DataMessage] = msgID
	}
	ev, err := r.Record.AppendEvent(context.WithoutCancel(ctx), gateway.Event{
		VerificationID: v.ID, Type: gateway.EventNote, Message: msg, Data: data, Instance: r.Instance,
	})
	if sendErr != nil {
		return gateway.Event{}, gateway.Errorf(gateway.EUNAVAILABLE, "the %s service did not take the receipt: try again, or read her the reference", via)
	}
	if err != nil {
		return gateway.Event{}, gateway.E(op, gateway.ErrorCode(err), err)
	}
	return ev, nil
}

// messageNote is the note of a status of the message that sent, recorded
// by its note sent: a join link's or a receipt's.
func messageNote(sent gateway.Event, rep gateway.Report) string {
	what, by, on := "join link", string(rep.Channel)+" message", string(rep.Channel)
	if via := sent.Data[DataReceipt]; via != "" {
		what, by, on = "receipt", via, via
	}
	switch rep.Status {
	case gateway.ReportSent:
		return what + " passed on by the " + on + " service"
	case gateway.ReportDelivered:
		return what + " delivered by " + by
	case gateway.ReportRead:
		return what + " read on " + on
	}
	return what + " not delivered by " + by + detail(rep)
}

// isReceipt reports whether the note records a receipt sent.
func isReceipt(sent gateway.Event) bool { return sent.Data[DataReceipt] != "" }
