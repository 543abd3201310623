package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/pstn"
	"github.com/safeconnection/gateway/adapters/twiliohook"
	"github.com/safeconnection/gateway/adapters/whatsapp"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/httpapi"
	faketwilio "github.com/safeconnection/gateway/mocks/twilio"
)

// TestReceiptByMessage: after a verified check, the supervisor sends her
// receipt by SMS and by WhatsApp to the numbers she gives; the fakes are
// sent the reference and the receipt's link, their signed statuses
// (delivered, read, and an SMS not delivered with Twilio's error code)
// join the verification's record, a forged status callback is refused
// and records nothing, and her numbers appear in no event, no answer and
// no log line.
func TestReceiptByMessage(t *testing.T) {
	const (
		smsTyped  = "07700 900456" // typed nationally, as she says it
		sms       = "+447700900456"
		smsFailed = "+447700900457"
		whatsApp  = "+447700900458"
	)
	tf, tcfg := startTwilio(t)
	tf.Step = 5 * time.Millisecond
	wf, wcfg := startWhatsApp(t)
	wcfg.ReceiptTemplate, wcfg.ReceiptLanguage = "safe_connection_receipt", "en_GB"
	g := startGateway(t, testEnv(t), func(c *config.Config) { twiliohook.Section.Set(c, tcfg); whatsapp.Section.Set(c, wcfg) })
	if err := tf.SetWebhookURL(g.m.PublicURL()); err != nil {
		t.Fatal(err)
	}
	wf.SetWebhookURL(g.m.PublicURL() + "/webhooks/whatsapp/")

	d := g.addDevice(t, "AW", "+447700900601", facetimeWhatsApp("+447700900601"))
	g.startAgent(t, d, nil)
	v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerEmail})
	g.waitState(t, v.ID, gateway.StateConnected)
	path := "/v1/verifications/" + v.ID + "/receipt-message"

	// Not the officer's to send, and not before the outcome.
	g.call(t, "POST", path, g.officer, map[string]string{"to": sms, "via": "sms"}, http.StatusForbidden, nil)
	g.call(t, "POST", path, g.supervisor, map[string]string{"to": sms, "via": "sms"}, http.StatusConflict, nil)
	g.outcome(t, v.ID, gateway.OutcomeVerified)
	link := g.m.PublicURL() + "/receipt/" + v.Reference

	var answers []string
	send := func(to, via string) httpapi.ReceiptMessageView {
		t.Helper()
		status, body := g.send(t, "POST", path, g.supervisor, []byte(`{"to":"`+to+`","via":"`+via+`"}`), nil)
		answers = append(answers, string(body))
		if status != http.StatusAccepted {
			t.Fatalf("receipt by %s: %d %s", via, status, body)
		}
		var got httpapi.ReceiptMessageView
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	notes := func() []string {
		var out []string
		for _, ev := range g.events(t, v.ID) {
			if strings.HasPrefix(ev.Message, "receipt") {
				out = append(out, ev.Message)
			}
		}
		return out
	}
	waitNotes := func(want ...string) {
		t.Helper()
		eventually(t, "the notes "+strings.Join(want, "; "), func() bool {
			got := notes()
			for _, w := range want {
				if !slices.Contains(got, w) {
					return false
				}
			}
			return true
		})
	}

	// By SMS, delivered.
	got := send(smsTyped, "sms")
	if got.To != "•••••••456" || got.Via != "sms" || got.Status != "accepted" || got.Verification != v.ID {
		t.Errorf("answer %+v", got)
	}
	msgs := tf.Messages()
	if len(msgs) != 1 || msgs[0].To != sms || msgs[0].From != twilioCallerID ||
		!strings.Contains(msgs[0].Body, v.Reference) || !strings.Contains(msgs[0].Body, link) || !strings.Contains(msgs[0].Body, "Metropolitan Police") {
		t.Fatalf("Twilio was sent %+v, want her number, the reference and %s", msgs, link)
	}
	waitNotes("receipt sent by sms to •••••••456", "receipt passed on by the sms service", "receipt delivered by sms")

	// By SMS, not delivered: Twilio's error code is recorded.
	tf.SetMessageOutcome("undelivered", 30003)
	send(smsFailed, "sms")
	waitNotes("receipt sent by sms to •••••••457", "receipt not delivered by sms: undelivered, twilio error 30003")

	// By WhatsApp, as the receipt template.
	send(whatsApp, "whatsapp")
	var sent struct {
		To       string
		Template struct {
			Name       string
			Components []struct{ Parameters []struct{ Text string } }
		}
	}
	for _, q := range wf.Requests() {
		if q.Method == http.MethodPost && strings.HasSuffix(q.Path, "/messages") {
			if err := json.Unmarshal(q.Body, &sent); err != nil {
				t.Fatal(err)
			}
		}
	}
	if sent.To != strings.TrimPrefix(whatsApp, "+") || sent.Template.Name != "safe_connection_receipt" || len(sent.Template.Components) != 1 ||
		len(sent.Template.Components[0].Parameters) != 2 || sent.Template.Components[0].Parameters[0].Text != v.Reference ||
		sent.Template.Components[0].Parameters[1].Text != link {
		t.Fatalf("WhatsApp was sent %+v", sent)
	}
	waitNotes("receipt sent by whatsapp to •••••••458", "receipt delivered by whatsapp", "receipt read on whatsapp")

	// A forged status callback: unsigned, or signed with another token.
	before := len(g.events(t, v.ID))
	form := url.Values{"MessageSid": {msgs[0].SID}, "MessageStatus": {"failed"}, "ErrorCode": {"30007"},
		"AccountSid": {twilioSID}, "To": {sms}}
	for _, sig := range []string{"", faketwilio.Sign("0000", g.m.PublicURL()+pstn.PathMessages, form)} {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		if sig != "" {
			h.Set("X-Twilio-Signature", sig)
		}
		status, body := g.send(t, "POST", pstn.PathMessages, "", []byte(form.Encode()), h)
		if status != http.StatusForbidden {
			t.Errorf("a forged status callback: %d %s, want 403", status, body)
		}
	}
	if after := len(g.events(t, v.ID)); after != before {
		t.Errorf("the forged callbacks recorded %d events", after-before)
	}
	// Twilio's own delivered callback, delivered again: recorded once.
	for _, d := range tf.Deliveries() {
		if d.Kind != "message" || d.Event != "delivered" {
			continue
		}
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Twilio-Signature": {faketwilio.Sign(twilioToken, d.URL, d.Form)}}
		if status, body := g.send(t, "POST", pstn.PathMessages, "", []byte(d.Form.Encode()), h); status >= 300 {
			t.Errorf("a replayed status callback: %d %s", status, body)
		}
	}
	if after := len(g.events(t, v.ID)); after != before {
		t.Errorf("the replayed callback recorded %d events", after-before)
	}

	// Her numbers are nowhere but in the messages themselves.
	var view httpapi.VerificationView
	g.call(t, "GET", "/v1/verifications/"+v.ID, g.supervisor, nil, http.StatusOK, &view)
	shown, _ := json.Marshal(view)
	answers = append(answers, string(shown))
	var record []string
	for _, ev := range g.events(t, v.ID) {
		b, _ := json.Marshal(ev)
		record = append(record, string(b))
	}
	if log := g.log.tail(1 << 20); !strings.Contains(log, "twilio message created") || !strings.Contains(log, "whatsapp message accepted") {
		t.Errorf("the log lacks the messages sent: the check below would prove nothing")
	}
	for _, n := range []string{sms, smsFailed, whatsApp} {
		digits := n[len(n)-7:] // "0900456": more than the masked form shows
		for _, a := range answers {
			if strings.Contains(a, digits) {
				t.Errorf("an answer holds %s: %s", n, a)
			}
		}
		for _, e := range record {
			if strings.Contains(e, digits) {
				t.Errorf("an event holds %s: %s", n, e)
			}
		}
		if log := g.log.tail(1 << 20); strings.Contains(log, digits) {
			t.Errorf("the log holds %s", n)
		}
	}
}
