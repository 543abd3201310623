package whatsapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
	"github.com/safeconnection/gateway/adapters/whatsapp"
	fake "github.com/safeconnection/gateway/mocks/whatsapp"
)

// The check value of the provider notes (section 1c).
const (
	vecSecret = "appsecret"
	vecBody   = `{"object":"whatsapp_business_account","entry":[]}`
	vecSig    = "sha256=09eceea024af6e6343b760cc9bd3ae7c056938dd636e24e92109eb8219500384"
)

func statusBody(phoneID, status, ts string) string {
	return webhookBody(phoneID, map[string]any{
		"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3NDc0NDFDRUI3NTA0Q0UA", "status": status, "timestamp": ts,
		"recipient_id": "447700900123",
		"errors":       []any{map[string]any{"code": 131026, "title": "Message undeliverable", "error_data": map[string]string{"details": "x"}}},
	})
}

// webhookBody is a messages webhook for the phone number carrying the
// statuses.
func webhookBody(phoneID string, statuses ...map[string]any) string {
	b, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": "102290129340398", "changes": []any{map[string]any{
			"field": "messages",
			"value": map[string]any{
				"messaging_product": "whatsapp",
				"metadata":          map[string]string{"display_phone_number": "15550783881", "phone_number_id": phoneID},
				"statuses":          statuses,
			},
		}}}},
	})
	return string(b)
}

// postSigned posts body to s's webhook, signed with the app secret.
func postSigned(s *whatsapp.Sender, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/whatsapp/", strings.NewReader(body))
	req.Header.Set("X-Hub-Signature-256", fake.Sign(vecSecret, []byte(body)))
	w := httptest.NewRecorder()
	s.Webhook().ServeHTTP(w, req)
	return w
}

type recorder struct {
	mu  sync.Mutex
	got []whatsapp.MessageStatus
}

func (r *recorder) on(_ context.Context, s whatsapp.MessageStatus) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, s)
	return nil
}

func TestWebhookPost(t *testing.T) {
	delivered := statusBody("1234", "delivered", "1700000000")
	tests := []struct {
		name       string
		body       string
		sig        string // "" computes the right one; "-" sends none
		wantStatus int
		wantCode   string
		want       []string // statuses handed on
	}{
		{name: "check value verifies", body: vecBody, sig: vecSig, wantStatus: 200},
		{name: "delivered", body: delivered, wantStatus: 200, want: []string{"delivered"}},
		{name: "failed, with its reason", body: statusBody("1234", "failed", "1700000000"), wantStatus: 200, want: []string{"failed"}},
		{name: "another phone number's status ignored", body: statusBody("9999", "read", "1700000000"), wantStatus: 200},
		{name: "wrong signature", body: delivered, sig: "sha256=" + strings.Repeat("0", 64), wantStatus: 403, wantCode: gateway.ESIGNATURE},
		{name: "signed with another secret", body: delivered, sig: fake.Sign("other", []byte(delivered)), wantStatus: 403, wantCode: gateway.ESIGNATURE},
		{name: "check value over another body", body: delivered, sig: vecSig, wantStatus: 403, wantCode: gateway.ESIGNATURE},
		{name: "missing signature", body: delivered, sig: "-", wantStatus: 403, wantCode: gateway.ESIGNATURE},
		{name: "SHA-1 signature header form", body: delivered, sig: "sha1=abc", wantStatus: 403, wantCode: gateway.ESIGNATURE},
		{name: "too large", body: `{"object":"whatsapp_business_account","x":"` + strings.Repeat("a", whatsapp.MaxWebhookBytes) + `"}`, wantStatus: 413, wantCode: gateway.ETOOLARGE},
		{name: "malformed", body: `{"object":`, wantStatus: 400, wantCode: gateway.EINVALID},
		{name: "not a business account", body: `{"object":"page","entry":[]}`, wantStatus: 400, wantCode: gateway.EINVALID},
		{name: "unknown status", body: statusBody("1234", "exploded", "1700000000"), wantStatus: 400, wantCode: gateway.EINVALID},
		{name: "bad timestamp", body: statusBody("1234", "read", "yesterday"), wantStatus: 400, wantCode: gateway.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			s := whatsapp.New("EAAtoken", "1234", vecSecret, "verify-me")
			s.OnStatus = rec.on
			req := httptest.NewRequest(http.MethodPost, "/webhooks/whatsapp/", strings.NewReader(tt.body))
			switch tt.sig {
			case "":
				req.Header.Set("X-Hub-Signature-256", fake.Sign(vecSecret, []byte(tt.body)))
			case "-":
			default:
				req.Header.Set("X-Hub-Signature-256", tt.sig)
			}
			adaptertest.Serve(t, s.Webhook(), req, tt.wantStatus, tt.wantCode)
			var got []string
			for _, st := range rec.got {
				got = append(got, st.Status)
				if st.Status == whatsapp.StatusFailed && (len(st.Errors) != 1 || st.Errors[0].Code != 131026) {
					t.Errorf("failed status without its reason: %+v", st)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("handed on %v, want %v", got, tt.want)
			}
		})
	}
}

// TestWebhookRecorderErrors: a status that could not be recorded for a
// reason that may pass makes the webhook answer 503, so that Meta sends it
// again; one of no message of ours is acknowledged.
func TestWebhookRecorderErrors(t *testing.T) {
	for _, tt := range []struct {
		name       string
		err        error
		wantStatus int
	}{
		{"recorded", nil, http.StatusOK},
		{"no message of ours", gateway.Errorf(gateway.ENOTFOUND, "no note"), http.StatusOK},
		{"nonsense status", gateway.Errorf(gateway.EINVALID, "unknown"), http.StatusOK},
		{"store unavailable", gateway.Errorf(gateway.EUNAVAILABLE, "store down"), http.StatusServiceUnavailable},
		{"plain error", errors.New("boom"), http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := whatsapp.New("EAAtoken", "1234", vecSecret, "verify-me")
			calls := 0
			s.OnStatus = func(context.Context, whatsapp.MessageStatus) error { calls++; return tt.err }
			body := statusBody("1234", "delivered", "1700000000")
			w := postSigned(s, body)
			if w.Code != tt.wantStatus || calls != 1 {
				t.Fatalf("status %d after %d calls, want %d after 1: %s", w.Code, calls, tt.wantStatus, w.Body)
			}
			if tt.wantStatus != http.StatusOK {
				adaptertest.CheckErrorBody(t, w.Body.Bytes(), gateway.EUNAVAILABLE)
			}
		})
	}
}

func TestWebhookHandshake(t *testing.T) {
	tests := []struct {
		name        string
		verifyToken string // configured
		query       url.Values
		want        int
	}{
		{"answered", "verify-me", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"verify-me"}, "hub.challenge": {"1158201444"}}, 200},
		{"wrong token", "verify-me", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"guess"}, "hub.challenge": {"1"}}, 403},
		{"wrong mode", "verify-me", url.Values{"hub.mode": {"unsubscribe"}, "hub.verify_token": {"verify-me"}, "hub.challenge": {"1"}}, 403},
		{"no challenge", "verify-me", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"verify-me"}}, 403},
		{"not configured", "", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {""}, "hub.challenge": {"1"}}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := whatsapp.New("EAAtoken", "1234", vecSecret, tt.verifyToken)
			w := httptest.NewRecorder()
			s.Webhook().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/webhooks/whatsapp/?"+tt.query.Encode(), nil))
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			if tt.want == 200 && (w.Body.String() != tt.query.Get("hub.challenge") || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain")) {
				t.Errorf("answer %q (%s)", w.Body, w.Header().Get("Content-Type"))
			}
		})
	}
}

func TestStatusesKeptInMemory(t *testing.T) {
	s := whatsapp.New("EAAtoken", "1234", vecSecret, "v")
	body := statusBody("1234", "read", "1700000000")
	postSigned(s, body)
	if got := s.Statuses(); len(got) != 1 || got[0].Status != whatsapp.StatusRead || got[0].At.Unix() != 1700000000 {
		t.Errorf("statuses %+v", got)
	}
}

func FuzzParseStatuses(f *testing.F) {
	f.Add([]byte(vecBody))
	f.Add([]byte(statusBody("1234", "delivered", "1700000000")))
	f.Add([]byte(statusBody("1234", "failed", "1")))
	f.Add([]byte(statusBody("1234", "read", "-5")))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"calls","value":{}}]}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		sts, err := whatsapp.ParseStatuses(body, "")
		if err != nil {
			if c := gateway.ErrorCode(err); c != gateway.EINVALID && c != gateway.ETOOLARGE {
				t.Fatalf("error code %s", c)
			}
			return
		}
		for _, st := range sts {
			switch st.Status {
			case whatsapp.StatusSent, whatsapp.StatusDelivered, whatsapp.StatusRead, whatsapp.StatusFailed:
			default:
				t.Fatalf("status %q", st.Status)
			}
			if st.MessageID == "" || st.At.Unix() <= 0 {
				t.Fatalf("status %+v", st)
			}
		}
	})
}

func TestStatusReason(t *testing.T) {
	st := whatsapp.MessageStatus{Errors: []whatsapp.StatusError{{Code: 131026, Title: "Message undeliverable"}, {Code: 131047}}}
	if got, want := st.Reason(), "131026: Message undeliverable; 131047"; got != want {
		t.Errorf("Reason() = %q, want %q", got, want)
	}
	if got := (whatsapp.MessageStatus{}).Reason(); got != "" {
		t.Errorf("Reason() of a status without errors = %q, want empty", got)
	}
}

// TestWebhookStatusesSideBySide: one message's wait for its send to be
// recorded does not hold up another message's statuses, and one message's
// statuses reach OnStatus in the webhook's order.
func TestWebhookStatusesSideBySide(t *testing.T) {
	st := func(id, status string) map[string]any {
		return map[string]any{"id": id, "status": status, "timestamp": "1700000000", "recipient_id": "447700900123"}
	}
	body := webhookBody("1234", st("wamid.A", "delivered"), st("wamid.A", "read"), st("wamid.B", "delivered"), st("wamid.A", "failed"))
	bSeen := make(chan struct{})
	var mu sync.Mutex
	var gotA []string
	s := whatsapp.New("EAAtoken", "1234", vecSecret, "verify-me")
	s.OnStatus = func(_ context.Context, m whatsapp.MessageStatus) error {
		if m.MessageID == "wamid.B" {
			close(bSeen)
			return nil
		}
		mu.Lock()
		first := len(gotA) == 0
		gotA = append(gotA, m.Status)
		mu.Unlock()
		if first { // waits, as for a send not yet recorded, until B is handed over
			select {
			case <-bSeen:
			case <-time.After(5 * time.Second):
				return gateway.Errorf(gateway.EUNAVAILABLE, "wamid.B was held up behind wamid.A")
			}
		}
		return nil
	}
	w := postSigned(s, body)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", w.Code, w.Body)
	}
	if want := []string{"delivered", "read", "failed"}; !slices.Equal(gotA, want) {
		t.Errorf("wamid.A's statuses reached OnStatus as %v, want %v", gotA, want)
	}
}
