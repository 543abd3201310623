package twilio

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync"
)

// The Messages resource (api.twilio.com/2010-04-01/Accounts/{sid}/
// Messages.json): a text message is created queued (accepted through a
// Messaging Service), then played out, each status posted to the
// message's StatusCallback, signed, with Twilio's parameters (MessageSid,
// SmsSid, MessageStatus, SmsStatus, AccountSid, From, To, ApiVersion, and
// ErrorCode for undelivered and failed): sent, then delivered, undelivered
// or failed as SetMessageOutcome says.

var messagesPath = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages\.json$`)

// Message is a text message the fake was asked to send.
type Message struct {
	SID                 string
	To, From            string
	MessagingServiceSID string
	Body                string
	StatusCallback      string
	Status              string // its current status
	ErrorCode           int    // for undelivered and failed
}

// messageBook is the fake's messages and what becomes of the next ones.
type messageBook struct {
	mu      sync.Mutex
	list    []*Message
	outcome string // "delivered" (""), "undelivered" or "failed"
	code    int
}

// SetMessageOutcome sets what becomes of the messages sent from now on:
// "delivered" (the default), or "undelivered" or "failed" with Twilio's
// error code (30003: unreachable handset, 30005: unknown destination,
// 30006: landline).
func (f *Fake) SetMessageOutcome(status string, errorCode int) {
	f.msgs.mu.Lock()
	defer f.msgs.mu.Unlock()
	f.msgs.outcome, f.msgs.code = status, errorCode
}

// Messages returns the messages sent, oldest first.
func (f *Fake) Messages() []Message {
	f.msgs.mu.Lock()
	defer f.msgs.mu.Unlock()
	out := make([]Message, len(f.msgs.list))
	for i, m := range f.msgs.list {
		out[i] = *m
	}
	return out
}

func (f *Fake) createMessage(account string, form url.Values) (int, any) {
	if account != f.AccountSID {
		return http.StatusNotFound, twilioError(404, 20404, "The requested resource /2010-04-01/Accounts/"+account+"/Messages.json was not found")
	}
	m := &Message{
		SID: newSID("SM"), To: form.Get("To"), From: form.Get("From"), MessagingServiceSID: form.Get("MessagingServiceSid"),
		Body: form.Get("Body"), StatusCallback: form.Get("StatusCallback"), Status: "queued",
	}
	switch {
	case m.To == "":
		return http.StatusBadRequest, twilioError(400, 21604, "A 'To' phone number is required.")
	case m.From == "" && m.MessagingServiceSID == "":
		return http.StatusBadRequest, twilioError(400, 21603, "A 'From' phone number is required.")
	case m.Body == "" && form.Get("MediaUrl") == "" && form.Get("ContentSid") == "":
		return http.StatusBadRequest, twilioError(400, 21602, "Message body is required.")
	case !e164.MatchString(m.To):
		return http.StatusBadRequest, twilioError(400, 21211, "Invalid 'To' Phone Number: "+m.To)
	case m.From != "" && !e164.MatchString(m.From):
		return http.StatusBadRequest, twilioError(400, 21212, "Invalid From Number (caller ID): "+m.From)
	case len([]rune(m.Body)) > 1600:
		return http.StatusBadRequest, twilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
	}
	if m.MessagingServiceSID != "" {
		m.Status = "accepted"
	}
	f.msgs.mu.Lock()
	f.msgs.list = append(f.msgs.list, m)
	outcome, code := f.msgs.outcome, f.msgs.code
	body := f.messageJSON(m)
	f.msgs.mu.Unlock()
	if outcome == "" {
		outcome = "delivered"
	}
	f.life.Go(func() { f.playMessage(m, outcome, code) })
	return http.StatusCreated, body
}

// playMessage posts the message's statuses: sent, then its outcome.
func (f *Fake) playMessage(m *Message, outcome string, code int) {
	f.mu.Lock()
	step := f.Step
	f.mu.Unlock()
	for _, st := range []string{"sent", outcome} {
		if !f.sleep(f.life.Context(), step) {
			return
		}
		f.msgs.mu.Lock()
		m.Status = st
		form := url.Values{
			"AccountSid": {f.AccountSID}, "ApiVersion": {"2010-04-01"},
			"MessageSid": {m.SID}, "SmsSid": {m.SID}, "MessageStatus": {st}, "SmsStatus": {st},
			"To": {m.To},
		}
		if m.From != "" {
			form.Set("From", m.From)
		}
		if m.MessagingServiceSID != "" {
			form.Set("MessagingServiceSid", m.MessagingServiceSID)
		}
		if st == "undelivered" || st == "failed" {
			m.ErrorCode = code
			form.Set("ErrorCode", strconv.Itoa(code))
		}
		if st == "delivered" {
			form.Set("RawDlrDoneDate", f.now().UTC().Format("0601021504"))
		}
		f.msgs.mu.Unlock()
		f.post("message", st, m.StatusCallback, form)
	}
}

// messageJSON is the api.v2010.account.message resource. f.msgs.mu must be
// held.
func (f *Fake) messageJSON(m *Message) map[string]any {
	now := f.now()
	var from, service, code any
	if m.From != "" {
		from = m.From
	}
	if m.MessagingServiceSID != "" {
		service = m.MessagingServiceSID
	}
	if m.ErrorCode != 0 {
		code = m.ErrorCode
	}
	base := "/2010-04-01/Accounts/" + f.AccountSID + "/Messages/" + m.SID
	return map[string]any{
		"account_sid": f.AccountSID, "api_version": "2010-04-01", "body": m.Body,
		"date_created": rfc2822(now), "date_sent": nil, "date_updated": rfc2822(now),
		"direction": "outbound-api", "error_code": code, "error_message": nil,
		"from": from, "messaging_service_sid": service, "num_media": "0", "num_segments": strconv.Itoa(segments(m.Body)),
		"price": nil, "price_unit": nil, "sid": m.SID, "status": m.Status, "to": m.To,
		"uri": base + ".json",
		"subresource_uris": map[string]string{
			"media":    base + "/Media.json",
			"feedback": base + "/Feedback.json",
		},
	}
}

// segments is how many SMS segments a body takes (153 characters each
// once it is over 160; GSM-7 assumed).
func segments(body string) int {
	n := len([]rune(body))
	if n <= 160 {
		return 1
	}
	return (n + 152) / 153
}
