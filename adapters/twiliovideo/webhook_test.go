package twiliovideo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
	"github.com/safeconnection/gateway/adapters/twiliovideo"
	"github.com/safeconnection/gateway/mocks"
	"github.com/safeconnection/gateway/mocks/twilio"
	"github.com/safeconnection/gateway/store/sqlite"
)

func TestWebhook(t *testing.T) {
	t.Parallel()
	const public = "https://gw.example.police.uk"
	rm := "RM" + strings.Repeat("ab", 16)
	joined := func(who string) url.Values {
		return url.Values{"AccountSid": {accountSID}, "RoomSid": {rm}, "RoomName": {"a_1"}, "StatusCallbackEvent": {"participant-connected"},
			"ParticipantIdentity": {who}, "ParticipantSid": {"PA" + strings.Repeat("cd", 16)}, "ParticipantStatus": {"connected"}}
	}
	event := func(ev string) url.Values {
		return url.Values{"AccountSid": {accountSID}, "RoomSid": {rm}, "RoomName": {"a_1"}, "StatusCallbackEvent": {ev}}
	}
	const path = "/webhooks/twilio/video?attempt=a_1"
	tests := []struct {
		name   string
		method string
		path   string
		form   url.Values
		body   string
		sign   string // URL signed; "" the right one; "-" none
		token  string
		status int
		code   string
		report gateway.ReportStatus
		party  string
	}{
		{"officer joined", "POST", path, joined("officer"), "", "", "", 204, "", gateway.ReportJoined, "officer"},
		{"device joined", "POST", path, joined("device"), "", "", "", 204, "", gateway.ReportJoined, "device"},
		{"room ended", "POST", path, event("room-ended"), "", "", "", 204, "", gateway.ReportEnded, ""},
		{"room created: ignored", "POST", path, event("room-created"), "", "", "", 204, "", "", ""},
		{"track added: ignored", "POST", path, event("track-added"), "", "", "", 204, "", "", ""},
		{"a stranger joined: ignored", "POST", path, joined("mallory"), "", "", "", 204, "", "", ""},
		{"wrong signature", "POST", path, joined("officer"), "", "", "other", 403, gateway.ESIGNATURE, "", ""},
		{"missing signature", "POST", path, joined("officer"), "", "-", "", 403, gateway.ESIGNATURE, "", ""},
		{"signed for the internal URL", "POST", path, joined("officer"), "", "http://10.0.0.7:8080" + path, "", 403, gateway.ESIGNATURE, "", ""},
		{"signed for another attempt", "POST", path, joined("officer"), "", public + "/webhooks/twilio/video?attempt=a_2", "", 403, gateway.ESIGNATURE, "", ""},
		{"too large", "POST", path, nil, "RoomSid=" + strings.Repeat("x", twiliovideo.MaxBody), "", "", 413, gateway.ETOOLARGE, "", ""},
		{"malformed body", "POST", path, nil, "RoomSid=%zz", "", "", 400, gateway.EINVALID, "", ""},
		{"bad room SID", "POST", path, url.Values{"RoomSid": {"RM1"}, "StatusCallbackEvent": {"room-ended"}}, "", "", "", 400, gateway.EINVALID, "", ""},
		{"no identity", "POST", path, url.Values{"RoomSid": {rm}, "StatusCallbackEvent": {"participant-connected"}}, "", "", "", 400, gateway.EINVALID, "", ""},
		{"other path", "POST", "/webhooks/twilio/voice?attempt=a_1", joined("officer"), "", "", "", 404, gateway.ENOTFOUND, "", ""},
		{"GET", "GET", path, nil, "", "", "", 405, gateway.EINVALID, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []gateway.Report
			a := twiliovideo.New(accountSID, authToken, apiKeySID, apiKeySecret, public)
			a.Now = func() time.Time { return time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) }
			a.Reporter = &mocks.Reporter{ReportFn: func(_ context.Context, r gateway.Report) error {
				got = append(got, r)
				return nil
			}}
			body := tt.body
			if tt.form != nil {
				body = tt.form.Encode()
			}
			token := tt.token
			if token == "" {
				token = authToken
			}
			r := adaptertest.TwilioCallback(tt.method, public, tt.path, body, tt.sign, token, twilio.Sign)
			adaptertest.Serve(t, a.Webhook(), r, tt.status, tt.code)
			if tt.report == "" {
				if len(got) != 0 {
					t.Errorf("reported %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d reports", len(got))
			}
			rep := got[0]
			if rep.Status != tt.report || string(rep.Party) != tt.party || rep.ProviderRef != rm || rep.AttemptID != "a_1" || rep.Channel != twiliovideo.Channel || !rep.At.Equal(a.Now()) {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

// FuzzWebhook feeds arbitrary, correctly signed callbacks to the handler:
// it must answer 2xx or 4xx, and report only known statuses and parties.
func FuzzWebhook(f *testing.F) {
	rm := "RM" + strings.Repeat("ab", 16)
	f.Add("attempt=a_1", "RoomSid="+rm+"&StatusCallbackEvent=participant-connected&ParticipantIdentity=officer")
	f.Add("attempt=a_1", "RoomSid="+rm+"&StatusCallbackEvent=room-ended")
	f.Add("", "RoomSid="+rm+"&StatusCallbackEvent=participant-connected&ParticipantIdentity=device&ParticipantIdentity=officer")
	f.Add("attempt=%", "RoomSid=%")
	const public = "https://gw.example.police.uk"
	f.Fuzz(func(t *testing.T, query, body string) {
		if strings.ContainsAny(query, " #\x00\r\n") {
			return
		}
		a := twiliovideo.New(accountSID, authToken, apiKeySID, apiKeySecret, public)
		a.Reporter = &mocks.Reporter{ReportFn: func(_ context.Context, r gateway.Report) error {
			if _, err := gateway.ParseReportStatus(string(r.Status)); err != nil {
				t.Errorf("reported %q", r.Status)
			}
			if r.Status == gateway.ReportJoined && r.Party != gateway.PartyOfficer && r.Party != gateway.PartyDevice {
				t.Errorf("joined party %q", r.Party)
			}
			return nil
		}}
		r, err := http.NewRequest("POST", "http://internal/webhooks/twilio/video?"+query, strings.NewReader(body))
		if err != nil {
			return
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		form, _ := url.ParseQuery(body)
		r.Header.Set("X-Twilio-Signature", twilio.Sign(authToken, public+r.URL.RequestURI(), form))
		w := httptest.NewRecorder()
		a.Webhook().ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Errorf("status %d for %q %q", w.Code, query, body)
		}
	})
}

// TestWebhookReplay: a room callback delivered again is answered 204 and
// not reported again.
func TestWebhookReplay(t *testing.T) {
	t.Parallel()
	const public = "https://gw.example.police.uk"
	const path = "/webhooks/twilio/video?attempt=a_1"
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reports := 0
	a := twiliovideo.New(accountSID, authToken, "SK"+strings.Repeat("0", 32), "secret", public)
	a.Replays = store
	a.Reporter = &mocks.Reporter{ReportFn: func(context.Context, gateway.Report) error { reports++; return nil }}
	body := url.Values{"AccountSid": {accountSID}, "RoomSid": {"RM" + strings.Repeat("ab", 16)}, "RoomName": {"a_1"},
		"StatusCallbackEvent": {"participant-connected"}, "ParticipantIdentity": {"device"}}.Encode()
	for i, token := range []string{"RE1", "RE1", "RE2"} {
		r := adaptertest.TwilioCallback("POST", public, path, body, "", authToken, twilio.Sign)
		r.Header.Set("I-Twilio-Idempotency-Token", token)
		w := httptest.NewRecorder()
		a.Webhook().ServeHTTP(w, r)
		if w.Code != http.StatusNoContent {
			t.Fatalf("delivery %d: status %d, want 204: %s", i+1, w.Code, w.Body)
		}
	}
	if reports != 1 {
		t.Errorf("%d reports of one callback delivered three times, want 1", reports)
	}
}
