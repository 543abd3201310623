package pstn_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
	"github.com/safeconnection/gateway/adapters/pstn"
	"github.com/safeconnection/gateway/mocks/twilio"
)

const member = "+447700900456" // the number she gave for her receipt

// newMessages returns an env whose gateway serves the messages' status
// callbacks too, Messages sending with its account, and the adapter's log.
func newMessages(t *testing.T) (*env, *pstn.Messages, *logtest.Hook) {
	t.Helper()
	e := newEnv(t)
	mux := http.NewServeMux()
	mux.Handle("/", e.adapter.Webhook())
	m := pstn.NewMessages(e.adapter, "Metropolitan Police")
	mux.Handle(pstn.PathMessages, m.Webhook())
	e.gw.Config.Handler = mux
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	e.adapter.Logger = log
	return e, m, hook
}

// noNumberLogged fails t if a log line holds the member's number.
func noNumberLogged(t *testing.T, hook *logtest.Hook) {
	t.Helper()
	for _, en := range hook.AllEntries() {
		line, _ := en.String()
		if strings.Contains(line, member[4:]) {
			t.Errorf("log line holds her number: %s", line)
		}
	}
}

func TestSendReceipt(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, outcome string
		code          int
		wantDetail    string
	}{
		{name: "delivered", outcome: "delivered"},
		{name: "undelivered", outcome: "undelivered", code: 30003, wantDetail: "undelivered, twilio error 30003"},
		{name: "failed", outcome: "failed", code: 30005, wantDetail: "failed, twilio error 30005"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, m, hook := newMessages(t)
			if tt.code != 0 {
				e.fake.SetMessageOutcome(tt.outcome, tt.code)
			}
			link := "https://gw.example.police.uk/receipt/K7QX-M4TR"
			sid, err := m.SendReceipt(context.Background(), member, "K7QX-M4TR", link)
			if err != nil {
				t.Fatal(err)
			}
			msgs := e.fake.Messages()
			if len(msgs) != 1 || msgs[0].SID != sid || msgs[0].To != member || msgs[0].From != callerID ||
				msgs[0].StatusCallback != e.gw.URL+pstn.PathMessages {
				t.Fatalf("the fake was sent %+v", msgs)
			}
			body := msgs[0].Body
			for _, want := range []string{"Metropolitan Police", "K7QX-M4TR", link} {
				if !strings.Contains(body, want) {
					t.Errorf("body %q lacks %q", body, want)
				}
			}
			final := gateway.ReportDelivered
			if tt.code != 0 {
				final = gateway.ReportFailed
			}
			e.reports.waitFor(t, final)
			var got []string
			for _, rep := range e.reports.Reports() {
				if rep.MessageID != sid || rep.AttemptID != "" || rep.ProviderRef != "" {
					t.Errorf("report %+v is not on message %s", rep, sid)
				}
				got = append(got, string(rep.Status)+"|"+rep.Detail)
			}
			want := []string{"sent|", string(final) + "|" + tt.wantDetail}
			if !slices.Equal(got, want) {
				t.Errorf("reports %q, want %q", got, want)
			}
			if n, errs := e.check.Checked(); n == 0 || len(errs) != 0 {
				t.Errorf("%d exchanges checked against Twilio's spec, errors %v", n, errs)
			}
			noNumberLogged(t, hook)
		})
	}
}

func TestSendReceiptFromMessagingService(t *testing.T) {
	t.Parallel()
	e, m, _ := newMessages(t)
	m.MessagingServiceSID = "MG0123456789abcdef0123456789abcdef"
	if _, err := m.SendReceipt(context.Background(), member, "K7QX-M4TR", "https://gw.example.police.uk/receipt/K7QX-M4TR"); err != nil {
		t.Fatal(err)
	}
	if msgs := e.fake.Messages(); len(msgs) != 1 || msgs[0].MessagingServiceSID != m.MessagingServiceSID || msgs[0].From != "" {
		t.Fatalf("the fake was sent %+v", msgs)
	}
}

func TestSendReceiptRefused(t *testing.T) {
	t.Parallel()
	e, m, hook := newMessages(t)
	if _, err := m.SendReceipt(context.Background(), "07700900456", "K7QX-M4TR", "https://x.example/receipt/K7QX-M4TR"); gateway.ErrorCode(err) != gateway.EINVALID {
		t.Errorf("a national number: %v, want EINVALID before sending", err)
	}
	e.fake.FailNext(1, 400, 0)
	_, err := m.SendReceipt(context.Background(), member, "K7QX-M4TR", "https://x.example/receipt/K7QX-M4TR")
	if ce := adaptertest.CallError(t, err); ce.Fate != gateway.PlacedFailed {
		t.Errorf("a 400: %v, want placed_failed", err)
	}
	if n := len(e.fake.Messages()); n != 0 {
		t.Errorf("%d messages sent", n)
	}
	noNumberLogged(t, hook)
}

// TestMessagesWebhookRefuses: a status callback that is not Twilio's
// signed one for the messages' URL is refused, and nothing is reported.
func TestMessagesWebhookRefuses(t *testing.T) {
	t.Parallel()
	const public = "https://gw.example.police.uk"
	e, m, _ := newMessages(t)
	e.adapter.PublicURL = public
	body := url.Values{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "MessageStatus": {"delivered"},
		"AccountSid": {accountSID}, "To": {member}}.Encode()
	for _, tt := range []struct {
		name, signURL, token string
		status               int
		code                 string
	}{
		{"unsigned", "-", authToken, 403, gateway.ESIGNATURE},
		{"another token", "", "0000", 403, gateway.ESIGNATURE},
		{"signed for the voice callbacks", public + pstn.PathVoice, authToken, 403, gateway.ESIGNATURE},
		{"signed", "", authToken, 204, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := adaptertest.TwilioCallback(http.MethodPost, public, pstn.PathMessages, body, tt.signURL, tt.token, twilio.Sign)
			adaptertest.Serve(t, m.Webhook(), r, tt.status, tt.code)
		})
	}
	if got := e.reports.Reports(); len(got) != 1 || got[0].Status != gateway.ReportDelivered {
		t.Errorf("reports %+v, want the signed one's alone", got)
	}
	bad := url.Values{"MessageSid": {"CA0123456789abcdef0123456789abcdef"}, "MessageStatus": {"delivered"}}.Encode()
	adaptertest.Serve(t, m.Webhook(), adaptertest.TwilioCallback(http.MethodPost, public, pstn.PathMessages, bad, "", authToken, twilio.Sign), 400, gateway.EINVALID)
	unknown := url.Values{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "MessageStatus": {"exploded"}}.Encode()
	adaptertest.Serve(t, m.Webhook(), adaptertest.TwilioCallback(http.MethodPost, public, pstn.PathMessages, unknown, "", authToken, twilio.Sign), 400, gateway.EINVALID)
	queued := url.Values{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "MessageStatus": {"queued"}}.Encode()
	adaptertest.Serve(t, m.Webhook(), adaptertest.TwilioCallback(http.MethodPost, public, pstn.PathMessages, queued, "", authToken, twilio.Sign), 204, "")
	if n := len(e.reports.Reports()); n != 1 {
		t.Errorf("%d reports, want still 1", n)
	}
}
