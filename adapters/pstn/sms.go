package pstn

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/sirupsen/logrus"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/twiliohook"
)

// PathMessages is where Twilio posts the status callbacks of the text
// messages Messages sends, under the gateway's public URL.
const PathMessages = "/webhooks/twilio/messages"

// DefaultReceiptText is the text of a receipt: the force's name, the
// verification's reference and the receipt's link fill it, in that order.
const DefaultReceiptText = "%s: the reference of your police officer check is %s. See what the operations room recorded: %s"

var (
	messageSID = regexp.MustCompile(`^(SM|MM)[0-9a-fA-F]{32}$`)
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// Messages sends text messages (a verification's receipt, to the number a
// member of the public gave for it) through Twilio's Messages API, with the
// Twilio account of a voice Adapter, and serves their status callbacks at
// PathMessages. Set its fields before use; it is safe for concurrent use
// afterwards.
//
// Twilio's message statuses become reports on the message
// (gateway.Report.MessageID, the message's SID) for Account.Reporter:
// sent -> sent, delivered -> delivered, read -> read, undelivered and
// failed -> failed with Twilio's error code in Detail; queued, accepted,
// sending and scheduled say nothing new and are not reported. The number a
// message goes to is never logged.
type Messages struct {
	// Account is the Twilio account the messages are sent with: its
	// credentials, API URL, public URL (for the callbacks and their
	// signatures), HTTP client, Reporter, Replays, Logger and clock.
	Account *Adapter
	// From is the E.164 number the messages come from (default:
	// Account.CallerID). MessagingServiceSID ("MG..."), when set, sends
	// through that Messaging Service instead, which picks the sender.
	From                string
	MessagingServiceSID string
	// Force is the police force's name, which a receipt opens with.
	Force string
	// ReceiptText is a receipt's text (default DefaultReceiptText): Force,
	// the reference and the link fill its three %s.
	ReceiptText string
}

// NewMessages returns Messages sending from account's caller ID, with
// receipts in the name of force.
func NewMessages(account *Adapter, force string) *Messages {
	return &Messages{Account: account, Force: force, ReceiptText: DefaultReceiptText}
}

// SendReceipt sends a verification's receipt, its reference and link, by
// text message to toE164, and returns the message's SID. Errors: EINVALID
// for a number that is not E.164 (nothing sent); otherwise
// *gateway.CallError as httpx.Classify says of Twilio's answer.
func (m *Messages) SendReceipt(ctx context.Context, toE164, reference, link string) (string, error) {
	text := m.ReceiptText
	if text == "" {
		text = DefaultReceiptText
	}
	return m.Send(ctx, toE164, fmt.Sprintf(text, m.Force, reference, link))
}

// Send sends body by text message to toE164, asking for its status
// callbacks at PathMessages, and returns the message's SID. Errors as
// SendReceipt, and EINVALID for an empty body.
func (m *Messages) Send(ctx context.Context, toE164, body string) (string, error) {
	a := m.Account
	if !e164.MatchString(toE164) {
		return "", gateway.Errorf(gateway.EINVALID, "not an E.164 number")
	}
	if strings.TrimSpace(body) == "" {
		return "", gateway.Errorf(gateway.EINVALID, "empty message")
	}
	if a.PublicURL == "" {
		return "", &gateway.CallError{Fate: gateway.NotPlaced, Provider: provider,
			Err: gateway.Errorf(gateway.EINTERNAL, "no public URL for Twilio's callbacks")}
	}
	svc, bc, err := a.service(ctx)
	if err != nil {
		return "", err
	}
	p := &api.CreateMessageParams{}
	p.SetTo(toE164)
	switch {
	case m.MessagingServiceSID != "":
		p.SetMessagingServiceSid(m.MessagingServiceSID)
	case m.From != "":
		p.SetFrom(m.From)
	default:
		p.SetFrom(a.CallerID)
	}
	p.SetBody(body)
	p.SetStatusCallback(strings.TrimSuffix(a.PublicURL, "/") + PathMessages)
	msg, err := svc.CreateMessage(p)
	if cerr := classify(bc, err); cerr != nil {
		a.log().WithError(cerr).Warn("twilio message not sent")
		return "", cerr
	}
	if msg == nil || msg.Sid == nil || !messageSID.MatchString(*msg.Sid) {
		return "", &gateway.CallError{Fate: gateway.Unknown, Provider: provider,
			Err: gateway.Errorf(gateway.EUNAVAILABLE, "malformed response from twilio: no message SID")}
	}
	status := ""
	if msg.Status != nil {
		status = *msg.Status
	}
	a.log().WithFields(logrus.Fields{"message": *msg.Sid, "status": status}).Info("twilio message created")
	return *msg.Sid, nil
}

// Webhook returns the handler of the messages' status callbacks
// (PathMessages; any other path is 404), checked as the voice callbacks
// are (twiliohook.Form): a missing or wrong X-Twilio-Signature is 403 and
// nothing is reported; a delivery seen before (Account.Replays) is not
// reported again.
func (m *Messages) Webhook() http.Handler { return http.HandlerFunc(m.serveWebhook) }

func (m *Messages) serveWebhook(w http.ResponseWriter, r *http.Request) {
	a := m.Account
	if !twiliohook.Served(w, r, PathMessages) {
		return
	}
	form, ok := twiliohook.Form(w, r, a.AuthToken, a.PublicURL, a.log(), "twilio message")
	if !ok {
		return
	}
	rep, ok, err := messageReport(form)
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	rep.At = a.now()
	log := a.log().WithFields(logrus.Fields{"message": rep.MessageID, "status": form.Get("MessageStatus")})
	reporter := gateway.ReportOnce(a.Reporter, a.Replays, twiliohook.DeliveryTTL, twiliohook.DeliveryKeys(a.PublicURL, r, form)...)
	twiliohook.Report(w, r, reporter, rep, ok, log, "twilio message")
}

// messageReport turns a verified message status callback into a report on
// the message. ok is false for a status that says nothing new. Errors are
// EINVALID.
func messageReport(form url.Values) (rep gateway.Report, ok bool, err error) {
	sid := form.Get("MessageSid")
	if !messageSID.MatchString(sid) {
		return rep, false, gateway.Errorf(gateway.EINVALID, "bad or missing MessageSid")
	}
	rep = gateway.Report{Channel: gateway.ChannelPSTN, MessageID: sid}
	switch st := form.Get("MessageStatus"); st {
	case "queued", "accepted", "sending", "scheduled":
		return rep, false, nil
	case "sent":
		rep.Status = gateway.ReportSent
	case "delivered":
		rep.Status = gateway.ReportDelivered
	case "read":
		rep.Status = gateway.ReportRead
	case "undelivered", "failed", "canceled":
		rep.Status, rep.Detail = gateway.ReportFailed, st
		if code := form.Get("ErrorCode"); code != "" {
			if !twilioErrorCode.MatchString(code) {
				return rep, false, gateway.Errorf(gateway.EINVALID, "bad ErrorCode")
			}
			rep.Detail += ", twilio error " + code
		}
	case "":
		return rep, false, gateway.Errorf(gateway.EINVALID, "missing MessageStatus")
	default:
		return rep, false, gateway.Errorf(gateway.EINVALID, "unknown MessageStatus %.20q", st)
	}
	return rep, true, nil
}

var twilioErrorCode = regexp.MustCompile(`^[0-9]{1,6}$`)
