package zoom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway/mocks/zoom"
)

func TestSignVectors(t *testing.T) {
	// From the provider notes: a reproducible third-party URL-validation
	// vector, and a self-computed event vector.
	if got := zoom.EncryptToken("secretValueTest", "qgg8vlvZRS6UYooatFL8Aw"); got != "70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff" {
		t.Errorf("EncryptToken = %s", got)
	}
	body := []byte(`{"event":"meeting.participant_joined","payload":{"object":{"id":"85746065432"}}}`)
	if got := zoom.Sign("secretValueTest", "1654503849", body); got != "v0=3135b45d447321a3cbdaa679e6b51af41de91e7ad772d647b546dcfe30b44522" {
		t.Errorf("Sign = %s", got)
	}
}

func newFake(t testing.TB) (*zoom.Fake, *httptest.Server) {
	t.Helper()
	f := zoom.New("acct", "cid", "csecret", "whsecret")
	srv := httptest.NewServer(f)
	t.Cleanup(func() { f.Close(); srv.Close() })
	return f, srv
}

func token(t testing.TB, srv *httptest.Server, id, secret string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth/token?grant_type=account_credentials&account_id=acct", nil)
	req.SetBasicAuth(id, secret)
	return do(t, req)
}

func do(t testing.TB, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			out = map[string]any{"_malformed": string(b)}
		}
	}
	return resp.StatusCode, out
}

func create(t testing.TB, srv *httptest.Server, tok, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v2/users/me/meetings", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func TestToken(t *testing.T) {
	_, srv := newFake(t)
	tests := []struct {
		name, id, secret string
		want             int
		wantErr          string
	}{
		{"good", "cid", "csecret", 200, ""},
		{"wrong secret", "cid", "nope", 401, "invalid_client"},
		{"wrong id", "x", "csecret", 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := token(t, srv, tt.id, tt.secret)
			if status != tt.want {
				t.Fatalf("status %d, want %d (%v)", status, tt.want, body)
			}
			if tt.wantErr != "" && body["error"] != tt.wantErr {
				t.Errorf("error %v, want %s", body["error"], tt.wantErr)
			}
			if tt.wantErr == "" && (body["access_token"] == "" || body["token_type"] != "bearer" || body["expires_in"] == nil) {
				t.Errorf("token body %v", body)
			}
		})
	}
}

const goodMeeting = `{"topic":"Safe Connection K7QX-M4TR","type":1,"password":"a1b2c3","settings":{"join_before_host":true,"waiting_room":false,"host_video":true,"participant_video":true,"approval_type":2,"audio":"voip"}}`

func TestCreateMeeting(t *testing.T) {
	f, srv := newFake(t)
	_, tb := token(t, srv, "cid", "csecret")
	tok := tb["access_token"].(string)
	tests := []struct {
		name   string
		tok    string
		body   string
		before func()
		want   int
		code   float64
	}{
		{"created", tok, goodMeeting, nil, 201, 0},
		{"bad token", "nope", goodMeeting, nil, 401, 124},
		{"unknown field", tok, `{"topic":"x","type":1,"colour":"blue"}`, nil, 400, 300},
		{"bad type", tok, `{"topic":"x","type":7}`, nil, 400, 300},
		{"long password", tok, `{"topic":"x","type":1,"password":"12345678901"}`, nil, 400, 300},
		{"fail next", tok, goodMeeting, func() { f.FailNext(1, 429, time.Second) }, 429, 429},
		{"expired tokens", tok, goodMeeting, f.ExpireTokens, 401, 124},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			status, body := create(t, srv, tt.tok, tt.body)
			if status != tt.want {
				t.Fatalf("status %d, want %d: %v", status, tt.want, body)
			}
			if tt.code != 0 && body["code"] != tt.code {
				t.Errorf("code %v, want %v", body["code"], tt.code)
			}
			if status == 201 {
				id, ok := body["id"].(float64)
				if !ok || id < 1e10 || body["join_url"] == "" || body["start_url"] == "" || body["password"] != "a1b2c3" {
					t.Errorf("meeting %v", body)
				}
			}
		})
	}
}

func TestMalformedAndHang(t *testing.T) {
	f, srv := newFake(t)
	_, tb := token(t, srv, "cid", "csecret")
	tok := tb["access_token"].(string)
	f.MalformedNext(1)
	if status, body := create(t, srv, tok, goodMeeting); status != 201 || body["_malformed"] == nil {
		t.Errorf("malformed: %d %v", status, body)
	}
	f.HangNext(1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v2/users/me/meetings", strings.NewReader(goodMeeting))
	req.Header.Set("Authorization", "Bearer "+tok)
	start := time.Now()
	_, err := http.DefaultClient.Do(req)
	if err == nil {
		t.Fatal("hang: got an answer")
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("hang outlived the client's deadline: %v", time.Since(start))
	}
}

// hookSink records webhooks and checks their signatures.
type hookSink struct {
	mu     sync.Mutex
	events []string
	bad    int
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if zoom.Sign("whsecret", r.Header.Get("x-zm-request-timestamp"), body) != r.Header.Get("x-zm-signature") {
		h.bad++
		w.WriteHeader(http.StatusForbidden)
		return
	}
	var ev struct {
		Event   string `json:"event"`
		Payload struct {
			PlainToken string `json:"plainToken"`
		} `json:"payload"`
	}
	_ = json.Unmarshal(body, &ev)
	h.events = append(h.events, ev.Event)
	if ev.Event == "endpoint.url_validation" {
		_ = json.NewEncoder(w).Encode(map[string]string{"plainToken": ev.Payload.PlainToken,
			"encryptedToken": zoom.EncryptToken("whsecret", ev.Payload.PlainToken)})
	}
}

func (h *hookSink) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.events...)
}

func TestWebhooks(t *testing.T) {
	f, srv := newFake(t)
	sink := &hookSink{}
	gw := httptest.NewServer(sink)
	defer gw.Close()
	f.SetWebhookURL(gw.URL + "/webhooks/zoom/")
	f.SetJoins(10*time.Millisecond, 30*time.Millisecond)
	if err := f.ValidateEndpoint(context.Background()); err != nil {
		t.Fatalf("ValidateEndpoint: %v", err)
	}
	_, tb := token(t, srv, "cid", "csecret")
	tok := tb["access_token"].(string)
	_, m := create(t, srv, tok, goodMeeting)
	want := []string{"endpoint.url_validation", "meeting.started", "meeting.participant_joined", "meeting.participant_joined"}
	waitFor(t, func() bool { return len(sink.got()) >= len(want) })
	id := int64(m["id"].(float64))
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/meetings/"+strconv.FormatInt(id, 10)+"/status", bytes.NewReader([]byte(`{"action":"end"}`)))
	req.Header.Set("Authorization", "Bearer "+tok)
	if status, body := do(t, req); status != 204 {
		t.Fatalf("end: %d %v", status, body)
	}
	want = append(want, "meeting.ended")
	waitFor(t, func() bool { return len(sink.got()) >= len(want) })
	if got := sink.got(); strings.Join(got, ",") != strings.Join(want, ",") || sink.bad != 0 {
		t.Errorf("events %v (bad %d), want %v", got, sink.bad, want)
	}
	if exists, ended := f.Meeting(id); !exists || !ended {
		t.Errorf("meeting exists=%v ended=%v", exists, ended)
	}
}

func TestNoWebhooksAndNeverJoin(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *zoom.Fake)
		want  int
	}{
		{"webhooks off", func(f *zoom.Fake) { f.NoWebhooks(true) }, 0},
		{"officer never joins", func(f *zoom.Fake) { f.SetJoins(0, zoom.Never) }, 2},
		{"nobody joins", func(f *zoom.Fake) { f.SetJoins(zoom.Never, zoom.Never) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			sink := &hookSink{}
			gw := httptest.NewServer(sink)
			defer gw.Close()
			f.SetWebhookURL(gw.URL)
			tt.setup(f)
			_, tb := token(t, srv, "cid", "csecret")
			create(t, srv, tb["access_token"].(string), goodMeeting)
			// Let the default delays (tens of milliseconds) pass, then close
			// the fake so nothing more can arrive.
			time.Sleep(300 * time.Millisecond)
			f.Close()
			if got := sink.got(); len(got) != tt.want {
				t.Errorf("events %v, want %d", got, tt.want)
			}
		})
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
