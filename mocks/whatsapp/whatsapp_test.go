package whatsapp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway/mocks/whatsapp"
)

const specFile = "../../testdata/specs/meta_whatsapp_business_messaging_api_v23.0.yaml"

func loadSpec(t testing.TB) *whatsapp.Spec {
	t.Helper()
	s, err := whatsapp.LoadSpec(specFile)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignVector(t *testing.T) {
	// The check value of the provider notes (section 1c).
	got := whatsapp.Sign("appsecret", []byte(`{"object":"whatsapp_business_account","entry":[]}`))
	if got != "sha256=09eceea024af6e6343b760cc9bd3ae7c056938dd636e24e92109eb8219500384" {
		t.Errorf("Sign = %s", got)
	}
}

const (
	textMsg     = `{"messaging_product":"whatsapp","recipient_type":"individual","to":"447700900123","type":"text","text":{"body":"Join: https://zoom.us/j/1","preview_url":true}}`
	templateMsg = `{"messaging_product":"whatsapp","recipient_type":"individual","to":"447700900123","type":"template","template":{"name":"safe_connection_join","language":{"policy":"deterministic","code":"en_GB"},"components":[{"type":"body","parameters":[{"type":"text","text":"K7QX-M4TR"}]}]}}`
	goodAnswer  = `{"messaging_product":"whatsapp","contacts":[{"input":"447700900123","wa_id":"447700900123"}],"messages":[{"id":"wamid.X"}]}`
)

func TestSpecChecker(t *testing.T) {
	s := loadSpec(t)
	tests := []struct {
		name   string
		path   string
		body   string
		answer string
		ok     bool
	}{
		{"text", "/v23.0/1234/messages", textMsg, goodAnswer, true},
		{"template", "/v23.0/1234/messages", templateMsg, goodAnswer, true},
		{"misspelt text field", "/v23.0/1234/messages", strings.Replace(textMsg, `"body"`, `"bdy"`, 1), goodAnswer, false},
		{"no recipient", "/v23.0/1234/messages", strings.Replace(textMsg, `"to":"447700900123",`, "", 1), goodAnswer, false},
		{"template without language policy", "/v23.0/1234/messages", strings.Replace(templateMsg, `"policy":"deterministic",`, "", 1), goodAnswer, false},
		{"answer of the wrong shape", "/v23.0/1234/messages", textMsg, `{"messages":{"id":"wamid.X"}}`, false},
		{"unknown path", "/v23.0/1234/mesages", textMsg, goodAnswer, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9"+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer EAAtoken")
			err := s.Check(context.Background(), req, []byte(tt.body), 200, http.Header{"Content-Type": {"application/json"}}, []byte(tt.answer))
			if (err == nil) != tt.ok {
				t.Errorf("Check = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func newFake(t testing.TB) (*whatsapp.Fake, *httptest.Server) {
	t.Helper()
	f := whatsapp.New("EAAtoken", "1234", "appsecret")
	srv := httptest.NewServer(f)
	t.Cleanup(func() { f.Close(); srv.Close() })
	return f, srv
}

func TestMessages(t *testing.T) {
	f, srv := newFake(t)
	s := loadSpec(t)
	tests := []struct {
		name, path, token, body string
		before                  func()
		status, code, subcode   int
	}{
		{"text", "/v23.0/1234/messages", "EAAtoken", textMsg, nil, 200, 0, 0},
		{"template", "/v23.0/1234/messages", "EAAtoken", templateMsg, nil, 200, 0, 0},
		{"wrong token", "/v23.0/1234/messages", "nope", textMsg, nil, 401, 190, 0},
		{"wrong phone number ID", "/v23.0/999/messages", "EAAtoken", textMsg, nil, 400, 100, 33},
		{"unknown field", "/v23.0/1234/messages", "EAAtoken", strings.Replace(textMsg, `"body"`, `"bdy"`, 1), nil, 400, 100, 0},
		{"bad recipient", "/v23.0/1234/messages", "EAAtoken", strings.Replace(textMsg, "447700900123", "12", 1), nil, 400, 100, 0},
		{"rate limited", "/v23.0/1234/messages", "EAAtoken", textMsg, func() { f.FailNext(1, 429, time.Second) }, 429, 130429, 0},
		{"throughput code on a 400", "/v23.0/1234/messages", "EAAtoken", textMsg, func() { f.ErrorNext(1, 400, 130429) }, 400, 130429, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tt.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.code != 0 {
				var e struct {
					Error struct {
						Message   string `json:"message"`
						Type      string `json:"type"`
						Code      int    `json:"code"`
						Subcode   int    `json:"error_subcode"`
						FBTraceID string `json:"fbtrace_id"`
					} `json:"error"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tt.code || e.Error.Subcode != tt.subcode ||
					e.Error.Message == "" || e.Error.Type == "" || e.Error.FBTraceID == "" {
					t.Errorf("error body %s, want code %d subcode %d", body, tt.code, tt.subcode)
				}
				return
			}
			req.Body = io.NopCloser(strings.NewReader(tt.body))
			if err := s.Check(context.Background(), req, []byte(tt.body), resp.StatusCode, resp.Header, body); err != nil {
				t.Errorf("exchange does not match the spec: %v", err)
			}
		})
	}
}

// sink is the gateway's side of the webhooks: it checks signatures and
// answers the subscribe handshake.
type sink struct {
	mu       sync.Mutex
	statuses []string
	bad      int
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		if r.URL.Query().Get("hub.verify_token") != "vt" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, r.URL.Query().Get("hub.challenge"))
		return
	}
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if whatsapp.Sign("appsecret", body) != r.Header.Get("X-Hub-Signature-256") {
		s.bad++
		w.WriteHeader(http.StatusForbidden)
		return
	}
	var ev struct {
		Entry []struct {
			Changes []struct {
				Value struct {
					Statuses []struct {
						Status string `json:"status"`
						Errors []struct {
							Code int `json:"code"`
						} `json:"errors"`
					} `json:"statuses"`
				} `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	_ = json.Unmarshal(body, &ev)
	for _, e := range ev.Entry {
		for _, c := range e.Changes {
			for _, st := range c.Value.Statuses {
				s.statuses = append(s.statuses, st.Status)
				if st.Status == "failed" && (len(st.Errors) != 1 || st.Errors[0].Code != 131026) {
					s.bad++
				}
			}
		}
	}
}

func (s *sink) got() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.statuses...), s.bad
}

func TestWebhooks(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *whatsapp.Fake)
		want  string
	}{
		{"sent, delivered, read", nil, "sent,delivered,read"},
		{"undeliverable", func(f *whatsapp.Fake) { f.FailDeliveryNext(1) }, "failed"},
		{"never read", func(f *whatsapp.Fake) { f.SetStatusDelays(0, 10*time.Millisecond, whatsapp.Never) }, "sent,delivered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			sk := &sink{}
			gw := httptest.NewServer(sk)
			defer gw.Close()
			f.SetWebhookURL(gw.URL + "/webhooks/whatsapp/")
			if err := f.Subscribe(context.Background(), "vt"); err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			if err := f.Subscribe(context.Background(), "wrong"); err == nil {
				t.Fatal("Subscribe with a wrong token succeeded")
			}
			if tt.setup != nil {
				tt.setup(f)
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v23.0/1234/messages", strings.NewReader(textMsg))
			req.Header.Set("Authorization", "Bearer EAAtoken")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := strings.Split(tt.want, ",")
			deadline := time.Now().Add(5 * time.Second)
			for {
				got, _ := sk.got()
				if len(got) >= len(want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond) // room for a status that should not come
			f.Close()
			got, bad := sk.got()
			if strings.Join(got, ",") != tt.want || bad != 0 {
				t.Errorf("statuses %v (bad %d), want %s", got, bad, tt.want)
			}
		})
	}
}
