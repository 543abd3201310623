package zoom_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
	"github.com/safeconnection/gateway/adapters/zoom"
	fake "github.com/safeconnection/gateway/mocks/zoom"
	"github.com/safeconnection/gateway/store/sqlite"
)

// The vectors of the provider notes (section 2): a reproducible third-party
// URL-validation vector and a self-computed event vector.
const (
	vecSecret    = "secretValueTest"
	vecPlain     = "qgg8vlvZRS6UYooatFL8Aw"
	vecEncrypted = "70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff"
	vecTS        = "1654503849"
	vecBody      = `{"event":"meeting.participant_joined","payload":{"object":{"id":"85746065432"}}}`
	vecSignature = "v0=3135b45d447321a3cbdaa679e6b51af41de91e7ad772d647b546dcfe30b44522"
)

func joined(id, hostID, userID, participantID, name string) string {
	b, _ := json.Marshal(map[string]any{
		"event": "meeting.participant_joined", "event_ts": 1654503849680,
		"payload": map[string]any{"account_id": "acct", "object": map[string]any{
			"id": json.RawMessage(id), "uuid": "4444AAAiAAAAAiAiAiiAii==", "host_id": hostID, "topic": "Safe Connection K7QX-M4TR",
			"participant": map[string]any{"user_id": userID, "id": participantID, "user_name": name, "join_time": "2022-06-06T08:24:10Z"},
		}},
	})
	return string(b)
}

func TestWebhook(t *testing.T) {
	ts, _ := strconv.ParseInt(vecTS, 10, 64)
	now := time.Unix(ts, 0).Add(10 * time.Second)
	stale := strconv.FormatInt(ts-6*60, 10)
	future := strconv.FormatInt(ts+16*60, 10)
	validation := `{"payload":{"plainToken":"` + vecPlain + `"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`
	officer := joined(`85746065432`, "KDcuGIm1QgePTO8WbOqwIQ", "16778240", "", "Officer")

	tests := []struct {
		name       string
		method     string
		body       string
		ts         string
		sig        string // "" computes the right one; "-" sends none
		wantStatus int
		wantCode   string
		want       *gateway.Report
		check      func(t *testing.T, body string)
	}{
		{name: "url validation answered (vector)", body: validation, wantStatus: 200,
			check: func(t *testing.T, body string) {
				var got map[string]string
				_ = json.Unmarshal([]byte(body), &got)
				if got["plainToken"] != vecPlain || got["encryptedToken"] != vecEncrypted {
					t.Errorf("answer %s, want encryptedToken %s", body, vecEncrypted)
				}
			}},
		{name: "event vector verifies (its body lacks a participant: 400, not 403)", body: vecBody, ts: vecTS, sig: vecSignature,
			wantStatus: 400, wantCode: gateway.EINVALID},
		{name: "officer joined, numeric id", body: officer, wantStatus: 204,
			want: &gateway.Report{Status: gateway.ReportJoined, ProviderRef: "85746065432", Party: zoom.PartyOfficer}},
		{name: "host joined is the device", body: joined(`"85746065432"`, "KDcuGIm1QgePTO8WbOqwIQ", "16778241", "KDcuGIm1QgePTO8WbOqwIQ", "Ops"),
			wantStatus: 204, want: &gateway.Report{Status: gateway.ReportJoined, ProviderRef: "85746065432", Party: zoom.PartyDevice}},
		{name: "id beyond a float's exactness", body: joined(`9007199254740993`, "h", "", "", "Guest"), wantStatus: 204,
			want: &gateway.Report{Status: gateway.ReportJoined, ProviderRef: "9007199254740993", Party: zoom.PartyOfficer}},
		{name: "meeting ended", body: `{"event":"meeting.ended","event_ts":1654503849680,"payload":{"object":{"id":85746065432,"host_id":"h"}}}`,
			wantStatus: 204, want: &gateway.Report{Status: gateway.ReportEnded, ProviderRef: "85746065432"}},
		{name: "other event ignored", body: `{"event":"meeting.participant_left","payload":{"object":{"id":1}}}`, wantStatus: 204},
		{name: "wrong signature", body: officer, sig: "v0=" + strings.Repeat("0", 64), wantStatus: 403, wantCode: gateway.ESIGNATURE},
		{name: "signed with another secret", body: officer, sig: fake.Sign("other", vecTS, []byte(officer)), wantStatus: 403, wantCode: gateway.ESIGNATURE},
		{name: "missing signature", body: officer, sig: "-", wantStatus: 403, wantCode: gateway.ESIGNATURE},
		{name: "stale timestamp", body: officer, ts: stale, wantStatus: 403, wantCode: gateway.ESIGNATURE},
		{name: "future timestamp", body: officer, ts: future, wantStatus: 403, wantCode: gateway.ESIGNATURE},
		{name: "body too large", body: `{"event":"x","payload":{"p":"` + strings.Repeat("a", zoom.MaxWebhookBytes) + `"}}`, wantStatus: 413, wantCode: gateway.ETOOLARGE},
		{name: "malformed JSON", body: `{"event":`, wantStatus: 400, wantCode: gateway.EINVALID},
		{name: "two objects", body: officer + officer, wantStatus: 400, wantCode: gateway.EINVALID},
		{name: "fractional meeting id", body: joined(`85746065432.5`, "h", "1", "", "x"), wantStatus: 400, wantCode: gateway.EINVALID},
		{name: "GET refused", method: http.MethodGet, body: "", wantStatus: 405, wantCode: gateway.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &adaptertest.Reporter{}
			a := zoom.New("acct", "cid", "csecret", vecSecret)
			a.Reporter = rep
			a.Now = func() time.Time { return now }
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "/webhooks/zoom/", strings.NewReader(tt.body))
			stamp := tt.ts
			if stamp == "" {
				stamp = vecTS
			}
			req.Header.Set("x-zm-request-timestamp", stamp)
			switch tt.sig {
			case "":
				req.Header.Set("x-zm-signature", fake.Sign(vecSecret, stamp, []byte(tt.body)))
			case "-":
			default:
				req.Header.Set("x-zm-signature", tt.sig)
			}
			w := adaptertest.Serve(t, a.Webhook(), req, tt.wantStatus, tt.wantCode)
			got := rep.Reports()
			switch {
			case tt.want == nil && len(got) != 0:
				t.Errorf("reported %+v, want nothing", got)
			case tt.want != nil && len(got) != 1:
				t.Errorf("reported %+v, want one report", got)
			case tt.want != nil:
				g := got[0]
				if g.Status != tt.want.Status || g.ProviderRef != tt.want.ProviderRef || g.Party != tt.want.Party || g.Channel != zoom.Channel || g.At.IsZero() {
					t.Errorf("reported %+v, want %+v", g, *tt.want)
				}
			}
			if tt.check != nil {
				tt.check(t, w.Body.String())
			}
		})
	}
}

func TestWebhookReporterErrors(t *testing.T) {
	ts, _ := strconv.ParseInt(vecTS, 10, 64)
	body := joined(`85746065432`, "h", "1", "", "x")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"unknown meeting: acknowledged", gateway.Errorf(gateway.ENOTFOUND, "no attempt"), 204},
		{"nonsense: acknowledged", gateway.Errorf(gateway.EINVALID, "finished"), 204},
		{"a fault of ours: Zoom should retry", errors.New("bug"), 500},
		{"store down: Zoom should retry", gateway.Errorf(gateway.EUNAVAILABLE, "disk full"), 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := zoom.New("acct", "cid", "csecret", vecSecret)
			a.Reporter = &adaptertest.Reporter{Err: tt.err}
			a.Now = func() time.Time { return time.Unix(ts, 0) }
			req := httptest.NewRequest(http.MethodPost, "/webhooks/zoom/", strings.NewReader(body))
			req.Header.Set("x-zm-request-timestamp", vecTS)
			req.Header.Set("x-zm-signature", fake.Sign(vecSecret, vecTS, []byte(body)))
			w := httptest.NewRecorder()
			a.Webhook().ServeHTTP(w, req)
			if w.Code != tt.want {
				t.Errorf("status %d, want %d", w.Code, tt.want)
			}
		})
	}
}

func TestWebhookWithoutSecret(t *testing.T) {
	a := zoom.New("acct", "cid", "csecret", "")
	a.Reporter = &adaptertest.Reporter{}
	req := httptest.NewRequest(http.MethodPost, "/webhooks/zoom/", strings.NewReader(vecBody))
	req.Header.Set("x-zm-request-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	req.Header.Set("x-zm-signature", fake.Sign("", strconv.FormatInt(time.Now().Unix(), 10), []byte(vecBody)))
	w := httptest.NewRecorder()
	a.Webhook().ServeHTTP(w, req)
	if w.Code != http.StatusForbidden {
		t.Errorf("status %d, want 403", w.Code)
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(vecBody))
	f.Add([]byte(joined(`85746065432`, "h", "16778240", "", "Officer")))
	f.Add([]byte(joined(`"85746065432"`, "h", "", "h", "")))
	f.Add([]byte(`{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`))
	f.Add([]byte(`{"event":"meeting.ended","payload":{"object":{"id":1e3}}}`))
	f.Add([]byte(`{"event":"meeting.ended","payload":{"object":{"id":-1}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := zoom.ParseEvent(body)
		if err != nil {
			if c := gateway.ErrorCode(err); c != gateway.EINVALID && c != gateway.ETOOLARGE {
				t.Fatalf("error code %s", c)
			}
			return
		}
		switch ev.Event {
		case zoom.EventParticipantJoined, zoom.EventMeetingEnded:
			n, err := strconv.ParseInt(ev.MeetingID, 10, 64)
			if err != nil || n <= 0 || strconv.FormatInt(n, 10) != ev.MeetingID {
				t.Fatalf("meeting id %q", ev.MeetingID)
			}
			if ev.Event == zoom.EventParticipantJoined && ev.Party() == "" {
				t.Fatal("join without a party")
			}
		case zoom.EventURLValidation:
			if ev.PlainToken == "" {
				t.Fatal("validation without a token")
			}
		}
	})
}

// TestWebhookReplay: a verified webhook delivered again (the same timestamp
// and signature) is answered 204 and not reported again, also by a second
// adapter on the same store, for as long as its timestamp passes; after
// that it is refused as stale. Another delivery is reported.
func TestWebhookReplay(t *testing.T) {
	ts, _ := strconv.ParseInt(vecTS, 10, 64)
	clock := time.Unix(ts, 0)
	body := joined(`85746065432`, "h", "16778240", "", "Officer")
	// Two stores on one SQLite file, as two gateways sharing it.
	file := filepath.Join(t.TempDir(), "gateway.db")
	open := func() gateway.ReplayStore {
		s, err := sqlite.Open(context.Background(), file)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	rep := &adaptertest.Reporter{}
	adapter := func(replays gateway.ReplayStore) *zoom.Adapter {
		a := zoom.New("acct", "cid", "csecret", vecSecret)
		a.Reporter, a.Replays = rep, replays
		a.Now = func() time.Time { return clock }
		return a
	}
	a, other := adapter(open()), adapter(open())
	deliver := func(a *zoom.Adapter, stamp, sig string) int {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/webhooks/zoom/", strings.NewReader(body))
		req.Header.Set("x-zm-request-timestamp", stamp)
		req.Header.Set("x-zm-signature", sig)
		w := httptest.NewRecorder()
		a.Webhook().ServeHTTP(w, req)
		return w.Code
	}
	sig := fake.Sign(vecSecret, vecTS, []byte(body))
	if code := deliver(a, vecTS, "v0="+strings.Repeat("0", 64)); code != 403 {
		t.Fatalf("forged webhook: %d, want 403", code)
	}
	if code := deliver(a, vecTS, sig); code != 204 || len(rep.Reports()) != 1 {
		t.Fatalf("first delivery: %d, %d reports, want 204 and 1", code, len(rep.Reports()))
	}
	for name, a := range map[string]*zoom.Adapter{"same adapter": a, "second adapter on the same store": other} {
		if code := deliver(a, vecTS, sig); code != 204 {
			t.Errorf("replay, %s: %d, want 204", name, code)
		}
	}
	if n := len(rep.Reports()); n != 1 {
		t.Fatalf("%d reports after the replays, want 1", n)
	}
	// Zoom's next delivery is signed anew.
	later := strconv.FormatInt(ts+1, 10)
	if code := deliver(a, later, fake.Sign(vecSecret, later, []byte(body))); code != 204 || len(rep.Reports()) != 2 {
		t.Fatalf("a new delivery: %d, %d reports, want 204 and 2", code, len(rep.Reports()))
	}
	// Past the window the replay is stale.
	clock = clock.Add(6 * time.Minute)
	if code := deliver(a, vecTS, sig); code != 403 || len(rep.Reports()) != 2 {
		t.Fatalf("replay past the window: %d, %d reports, want 403 and 2", code, len(rep.Reports()))
	}
}
