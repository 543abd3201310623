package whatsapp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/whatsapp"
	fake "github.com/safeconnection/gateway/mocks/whatsapp"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

// Interface guard: the Sender can deliver meeting links to devices for
// every meeting adapter.
var _ gateway.JoinSender = (*whatsapp.Sender)(nil)

const officer = "+447700900123"

// loadSpec loads the Cloud API's OpenAPI document once for the whole test
// binary (it is large).
var loadSpec = sync.OnceValues(func() (*fake.Spec, error) {
	return fake.LoadSpec("../../testdata/specs/meta_whatsapp_business_messaging_api_v23.0.yaml")
})

type rig struct {
	fake  *fake.Fake
	srv   *httptest.Server
	s     *whatsapp.Sender
	check *fake.CheckingTransport
	logs  *test.Hook
	// badExchange: the test breaks the wire format on purpose, and the
	// spec check must notice.
	badExchange bool
}

// newRig runs the fake and a Sender pointed at it whose every exchange is
// checked against the Cloud API's OpenAPI document.
func newRig(t testing.TB) *rig {
	t.Helper()
	spec, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	f := fake.New("EAAtoken", "1234", "appsecret")
	srv := httptest.NewServer(f)
	s := whatsapp.New("EAAtoken", "1234", "appsecret", "verify-me")
	s.APIURL = srv.URL
	check := &fake.CheckingTransport{Base: s.HTTPClient.HTTPClient.Transport, Spec: spec}
	s.HTTPClient.HTTPClient.Transport = check
	logger, hook := test.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	s.Logger = logger
	r := &rig{fake: f, srv: srv, s: s, check: check, logs: hook}
	t.Cleanup(func() {
		f.Close()
		srv.Close()
		_, errs := check.Checked()
		if r.badExchange && len(errs) == 0 {
			t.Error("the spec check missed a bad exchange")
		}
		if !r.badExchange {
			for _, err := range errs {
				t.Errorf("against the OpenAPI document: %v", err)
			}
		}
		for _, e := range hook.AllEntries() {
			if line, _ := e.String(); strings.Contains(line, strings.TrimPrefix(officer, "+")) {
				t.Errorf("a phone number in clear in the logs: %s", line)
			}
		}
	})
	return r
}

func (r *rig) sends() int {
	n := 0
	for _, q := range r.fake.Requests() {
		if q.Method == http.MethodPost && strings.HasSuffix(q.Path, "/messages") {
			n++
		}
	}
	return n
}

func TestSend(t *testing.T) {
	text := func(ctx context.Context, r *rig) (string, error) {
		return r.s.SendText(ctx, officer, "Join: https://zoom.us/j/1")
	}
	tests := []struct {
		name       string
		setup      func(r *rig)
		send       func(ctx context.Context, r *rig) (string, error)
		deadline   time.Duration
		wantFate   gateway.Fate // 0: success or a plain error
		wantCode   string
		wantSends  int // -1: any
		minElapsed time.Duration
		wantBody   string // a fragment of the request body
	}{
		{name: "text", send: text, wantSends: 1, wantBody: `"type":"text","text":{"body":"Join: https://zoom.us/j/1","preview_url":true}`},
		{name: "template", send: func(ctx context.Context, r *rig) (string, error) {
			return r.s.SendTemplate(ctx, officer, "safe_connection_receipt", "", "K7QX-M4TR")
		}, wantSends: 1, wantBody: `"template":{"name":"safe_connection_receipt","language":{"policy":"deterministic","code":"en_GB"},"components":[{"type":"body","parameters":[{"type":"text","text":"K7QX-M4TR"}]}]}`},
		{name: "join link as text", send: func(ctx context.Context, r *rig) (string, error) {
			return r.s.SendJoinLink(ctx, officer, "K7QX-M4TR", "https://meet.google.com/abc-mnop-xyz")
		}, wantSends: 1, wantBody: `Safe Connection K7QX-M4TR: join the video call with the operations room: https://meet.google.com/abc-mnop-xyz`},
		{name: "join link as template", setup: func(r *rig) { r.s.JoinTemplate = "safe_connection_join" }, send: func(ctx context.Context, r *rig) (string, error) {
			return r.s.SendJoinLink(ctx, officer, "K7QX-M4TR", "https://meet.google.com/abc-mnop-xyz")
		}, wantSends: 1, wantBody: `"parameters":[{"type":"text","text":"K7QX-M4TR"},{"type":"text","text":"https://meet.google.com/abc-mnop-xyz"}]`},
		{name: "429 with Retry-After, then sent", send: text, setup: func(r *rig) { r.fake.FailNext(1, 429, time.Second) },
			wantSends: 2, minElapsed: time.Second},
		{name: "503 until the deadline", send: text, deadline: 700 * time.Millisecond, setup: func(r *rig) { r.fake.FailNext(1000, 503, 0) },
			wantFate: gateway.NotPlaced, wantCode: gateway.EUNAVAILABLE, wantSends: -1},
		{name: "400: refused, not retried", send: text, setup: func(r *rig) { r.fake.ErrorNext(1, 400, 131030) },
			wantFate: gateway.PlacedFailed, wantCode: gateway.EINVALID, wantSends: 1},
		{name: "throughput limit on a 400: not sent", send: text, setup: func(r *rig) { r.fake.ErrorNext(1, 400, 130429) },
			wantFate: gateway.NotPlaced, wantCode: gateway.ERATELIMITED, wantSends: 1},
		{name: "500: may have sent", send: text, setup: func(r *rig) { r.fake.FailNext(1, 500, 0) },
			wantFate: gateway.Unknown, wantCode: gateway.EUNAVAILABLE, wantSends: 1},
		{name: "malformed answer", send: text, setup: func(r *rig) { r.fake.MalformedNext(1); r.badExchange = true },
			wantFate: gateway.Unknown, wantCode: gateway.EUNAVAILABLE, wantSends: 1},
		{name: "hang until the deadline", send: text, deadline: 400 * time.Millisecond, setup: func(r *rig) { r.fake.HangNext(1) },
			wantFate: gateway.Unknown, wantCode: gateway.ETIMEOUT, wantSends: 1},
		{name: "wrong token", send: text, setup: func(r *rig) { r.s.AccessToken = "wrong" },
			wantFate: gateway.NotPlaced, wantCode: gateway.EUNAUTHORIZED, wantSends: 1},
		{name: "not E.164", send: func(ctx context.Context, r *rig) (string, error) { return r.s.SendText(ctx, "07700900123", "x") },
			wantCode: gateway.EINVALID, wantSends: 0},
		{name: "not an https link", send: func(ctx context.Context, r *rig) (string, error) {
			return r.s.SendJoinLink(ctx, officer, "K7QX-M4TR", "javascript:alert(1)")
		}, wantCode: gateway.EINVALID, wantSends: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			if tt.setup != nil {
				tt.setup(r)
			}
			deadline := tt.deadline
			if deadline == 0 {
				deadline = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			id, err := tt.send(ctx, r)
			elapsed := time.Since(start)
			if elapsed > deadline+250*time.Millisecond {
				t.Errorf("took %v, past the deadline of %v", elapsed, deadline)
			}
			if elapsed < tt.minElapsed {
				t.Errorf("took %v, less than the Retry-After of %v", elapsed, tt.minElapsed)
			}
			if n := r.sends(); tt.wantSends >= 0 && n != tt.wantSends {
				t.Errorf("fake saw %d sends, want %d", n, tt.wantSends)
			}
			if tt.wantCode != "" {
				if gateway.ErrorCode(err) != tt.wantCode {
					t.Fatalf("error %v, want code %s", err, tt.wantCode)
				}
				var ce *gateway.CallError
				if tt.wantFate != 0 && (!errors.As(err, &ce) || ce.Fate != tt.wantFate || ce.Provider != whatsapp.Provider) {
					t.Errorf("error %v, want fate %v", err, tt.wantFate)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(id, "wamid.") {
				t.Errorf("message ID %q", id)
			}
			reqs := r.fake.Requests()
			last := reqs[len(reqs)-1]
			if !bytes.Contains(last.Body, []byte(tt.wantBody)) {
				t.Errorf("body %s lacks %s", last.Body, tt.wantBody)
			}
			if !bytes.Contains(last.Body, []byte(`"messaging_product":"whatsapp","recipient_type":"individual","to":"447700900123"`)) {
				t.Errorf("body %s: wrong common fields", last.Body)
			}
		})
	}
}

func TestSendJoin(t *testing.T) {
	r := newRig(t)
	leg := gateway.Leg{Reference: "K7QX-M4TR", Device: gateway.Device{ID: "d_1", Number: "+447700900999",
		Handles: map[gateway.Channel]string{whatsapp.Channel: "+447700900555"}}}
	if err := r.s.SendJoin(context.Background(), leg, "https://zoom.us/s/1"); err != nil {
		t.Fatal(err)
	}
	reqs := r.fake.Requests()
	if !bytes.Contains(reqs[0].Body, []byte(`"to":"447700900555"`)) {
		t.Errorf("sent to the wrong number: %s", reqs[0].Body)
	}
	leg.Device.Handles, leg.Device.Number = nil, ""
	if err := r.s.SendJoin(context.Background(), leg, "https://zoom.us/s/1"); gateway.ErrorCode(err) != gateway.EINVALID {
		t.Errorf("device without a number: %v", err)
	}
}

func TestSendRefused(t *testing.T) {
	r := newRig(t)
	r.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := r.s.SendText(ctx, officer, "x"); gateway.FateOf(err) != gateway.NotPlaced {
		t.Errorf("refused connection: %v, want NotPlaced", err)
	}
}

// TestLoop sends a message and receives its statuses from the fake through
// the Sender's own webhook, after Meta's subscribe handshake.
func TestLoop(t *testing.T) {
	r := newRig(t)
	mux := http.NewServeMux()
	mux.Handle("/webhooks/whatsapp/", r.s.Webhook())
	gw := httptest.NewServer(mux)
	defer gw.Close()
	r.fake.SetWebhookURL(gw.URL + "/webhooks/whatsapp/")
	if err := r.fake.Subscribe(context.Background(), "verify-me"); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	id, err := r.s.SendText(context.Background(), officer, "Your receipt: K7QX-M4TR")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(r.s.Statuses()) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := r.s.Statuses()
	var seq []string
	for _, st := range got {
		seq = append(seq, st.Status)
		if st.MessageID != id || st.Recipient != "447700900123" || st.At.IsZero() || st.Received.IsZero() {
			t.Errorf("status %+v", st)
		}
	}
	if strings.Join(seq, ",") != "sent,delivered,read" {
		t.Errorf("statuses %v", seq)
	}
}

// TestLogsHoldNoMessageID: a WhatsApp message ID is base64 of a text that
// holds the recipient's number, so neither it nor the number shows in the
// logs of a send and of the statuses Meta reports for it (at debug level,
// when recorded and when not); a keyed hash stands in for it, the same in
// both, so that the lines can still be matched.
func TestLogsHoldNoMessageID(t *testing.T) {
	r := newRig(t)
	id, err := r.s.SendText(context.Background(), officer, "Join: https://zoom.us/j/1")
	if err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(id, "wamid."))
	if err != nil || !strings.Contains(string(payload), strings.TrimPrefix(officer, "+")) {
		t.Fatalf("the fake's message ID %q does not hold the number as Meta's do (%q, %v)", id, payload, err)
	}
	for _, onStatus := range []error{nil, gateway.Errorf(gateway.ENOTFOUND, "no note of sending that message")} {
		r.s.OnStatus = func(context.Context, whatsapp.MessageStatus) error { return onStatus }
		body := webhookBody("1234", map[string]any{"id": id, "status": "delivered", "timestamp": "1700000000",
			"recipient_id": strings.TrimPrefix(officer, "+")})
		if w := postSigned(r.s, body); w.Code != http.StatusOK {
			t.Fatalf("status webhook answered %d: %s", w.Code, w.Body)
		}
	}
	b64 := strings.TrimPrefix(id, "wamid.")
	hashed := r.s.LogID(id)
	lines := 0
	for _, e := range r.logs.AllEntries() {
		line, _ := e.String()
		for _, secret := range []string{"wamid", b64, b64[:16], string(payload), strings.TrimPrefix(officer, "+")} {
			if strings.Contains(line, secret) {
				t.Errorf("the log shows %q: %s", secret, line)
			}
		}
		if e.Data["message"] == hashed {
			lines++
		}
	}
	if lines < 3 { // the send, and a status twice
		t.Errorf("%d log lines name the message by its keyed hash %s, want 3 or more", lines, hashed)
	}
	if other := whatsapp.New("EAAtoken", "1234", "another secret", "v"); other.LogID(id) == hashed {
		t.Error("the hash of a message ID does not depend on the key")
	}
}

// TestSendReceipt: a receipt goes as the receipt template, its reference
// and link the body's parameters, in the template's language.
func TestSendReceipt(t *testing.T) {
	r := newRig(t)
	const link = "https://gw.example.police.uk/receipt/K7QX-M4TR"
	if _, err := r.s.SendReceipt(context.Background(), officer, "K7QX-M4TR", link); gateway.ErrorCode(err) != gateway.EINVALID || r.sends() != 0 {
		t.Fatalf("without a receipt template: %v, %d sent; want EINVALID, none", err, r.sends())
	}
	r.s.ReceiptTemplate, r.s.ReceiptLanguage = "safe_connection_receipt", "en"
	if _, err := r.s.SendReceipt(context.Background(), officer, "K7QX-M4TR", "javascript:alert(1)"); gateway.ErrorCode(err) != gateway.EINVALID || r.sends() != 0 {
		t.Fatalf("a link that is no URL: %v, %d sent", err, r.sends())
	}
	id, err := r.s.SendReceipt(context.Background(), officer, "K7QX-M4TR", link)
	if err != nil || !strings.HasPrefix(id, "wamid.") {
		t.Fatalf("SendReceipt = %q, %v", id, err)
	}
	var sent struct {
		To       string `json:"to"`
		Type     string `json:"type"`
		Template struct {
			Name     string `json:"name"`
			Language struct {
				Code string `json:"code"`
			} `json:"language"`
			Components []struct {
				Type       string `json:"type"`
				Parameters []struct {
					Text string `json:"text"`
				} `json:"parameters"`
			} `json:"components"`
		} `json:"template"`
	}
	reqs := r.fake.Requests()
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &sent); err != nil {
		t.Fatal(err)
	}
	tpl := sent.Template
	if sent.To != strings.TrimPrefix(officer, "+") || sent.Type != "template" || tpl.Name != "safe_connection_receipt" || tpl.Language.Code != "en" ||
		len(tpl.Components) != 1 || len(tpl.Components[0].Parameters) != 2 ||
		tpl.Components[0].Parameters[0].Text != "K7QX-M4TR" || tpl.Components[0].Parameters[1].Text != link {
		t.Errorf("sent %+v", sent)
	}
}
