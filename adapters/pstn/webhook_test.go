package pstn_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
	"github.com/safeconnection/gateway/adapters/pstn"
	"github.com/safeconnection/gateway/mocks"
	"github.com/safeconnection/gateway/mocks/twilio"
	"github.com/safeconnection/gateway/store/sqlite"
)

// The official X-Twilio-Signature vectors that apply to form bodies, from
// twilio-python's and twilio-go's validator tests and Twilio's webhook
// security page (auth token 12345). Those libraries also accept a signature
// made for the URL with its port added or dropped; the gateway accepts only
// the URL it gave Twilio, so those vectors are refused here.
func TestVerifySignatureVectors(t *testing.T) {
	t.Parallel()
	const path = "/myapp.php?foo=1&bar=2"
	python := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"}, "From": {"+14158675309"}, "To": {"+18005551212"}}
	goParams := url.Values{"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"}, "Caller": {"+14158675309"}, "From": {"+14158675309"}, "ReasonConferenceEnded": {"test"}, "Reason": {"Participant"}}
	tests := []struct {
		name      string
		publicURL string
		form      url.Values
		sig       string
		want      bool
	}{
		{"python", "https://mycompany.com", python, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", true},
		{"python, signed with :443, public URL without", "https://mycompany.com", python, "kvajT1Ptam85bY51eRf/AJRuM3w=", false},
		{"python, public URL with :443, signed without", "https://mycompany.com:443", python, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
		{"python, public URL with :443, signed with", "https://mycompany.com:443", python, "kvajT1Ptam85bY51eRf/AJRuM3w=", true},
		{"python http, signed with :80, public URL without", "http://mycompany.com", python, "0ZXoZLH/DfblKGATFgpif+LLRf4=", false},
		{"python http :1234", "http://mycompany.com:1234", python, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", true},
		{"python multi-value", "https://mycompany.com", url.Values{"Sid": {"CA123"}, "SidAccount": {"AC123"}, "Digits": {"5678", "1234", "1234"}}, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", true},
		{"go", "https://mycompany.com", goParams, "vOEb5UThFn24KEfnOFLQY2AE5FY=", true},
		{"go, public URL with :1234, signed without", "https://mycompany.com:1234", goParams, "vOEb5UThFn24KEfnOFLQY2AE5FY=", false},
		{"go http", "http://mycompany.com", goParams, "n2xBNyzSW7rfYStDtOFiFMv7qNo=", true},
		{"go http :1234, signed without", "http://mycompany.com:1234", goParams, "n2xBNyzSW7rfYStDtOFiFMv7qNo=", false},
		{"go, wrong parameter order", "https://mycompany.com", goParams, "95+Bu0JVPi0r/SsESZCVf0dWAjw=", false},
		{"go form body", "https://mycompany.com", url.Values{"property": {"value"}, "boolean": {"true"}}, "NBdBDr/T/lgjI+tlgpXjKZQZs/k=", true},
		{"docs example", "https://mycompany.com", url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"}, "From": {"+12349013030"}, "To": {"+18005551212"}}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", true},
		{"other host", "https://othercompany.com", python, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
		{"other scheme", "http://mycompany.com", python, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
		{"a parameter changed", "https://mycompany.com", url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"9999"}, "From": {"+14158675309"}, "To": {"+18005551212"}}, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
		{"missing", "https://mycompany.com", python, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "http://10.0.0.7:8080"+path, strings.NewReader(tt.form.Encode()))
			if tt.sig != "" {
				r.Header.Set("X-Twilio-Signature", tt.sig)
			}
			if got := pstn.VerifySignature("12345", tt.publicURL, r, tt.form); got != tt.want {
				t.Errorf("VerifySignature = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	const public = "https://gw.example.police.uk"
	callSID := "CA" + strings.Repeat("ab", 16)
	parent := "CA" + strings.Repeat("cd", 16)
	status := url.Values{"AccountSid": {accountSID}, "CallSid": {callSID}, "CallStatus": {"ringing"}, "To": {officer}, "From": {callerID}}
	bridge := url.Values{"AccountSid": {accountSID}, "CallSid": {callSID}, "ParentCallSid": {parent}, "CallStatus": {"in-progress"}}
	tests := []struct {
		name    string
		method  string
		path    string
		form    url.Values
		body    string // instead of form
		sign    string // the URL to sign; "" for the right one; "-" for no signature
		token   string // signing token; "" for the right one
		status  int
		code    string // for error answers
		report  gateway.ReportStatus
		ref     string
		attempt string
	}{
		{"officer ringing", "POST", "/webhooks/twilio/voice?attempt=a_1", status, "", "", "", 204, "", gateway.ReportRinging, callSID, "a_1"},
		{"bridge answered", "POST", "/webhooks/twilio/voice/bridge?attempt=a_1", bridge, "", "", "", 204, "", gateway.ReportAnswered, parent, "a_1"},
		{"no attempt: by call SID", "POST", "/webhooks/twilio/voice", status, "", "", "", 204, "", gateway.ReportRinging, callSID, ""},
		{"dial action", "POST", "/webhooks/twilio/voice/dial?attempt=a_1", url.Values{"CallSid": {callSID}, "DialCallStatus": {"no-answer"}}, "", "", "", 200, "", "", "", ""},
		{"wrong signature", "POST", "/webhooks/twilio/voice?attempt=a_1", status, "", "", "other-token", 403, gateway.ESIGNATURE, "", "", ""},
		{"missing signature", "POST", "/webhooks/twilio/voice?attempt=a_1", status, "", "-", "", 403, gateway.ESIGNATURE, "", "", ""},
		{"signed for another URL", "POST", "/webhooks/twilio/voice?attempt=a_1", status, "", "http://10.0.0.7:8080/webhooks/twilio/voice?attempt=a_1", "", 403, gateway.ESIGNATURE, "", "", ""},
		{"signed for another attempt", "POST", "/webhooks/twilio/voice?attempt=a_1", status, "", public + "/webhooks/twilio/voice?attempt=a_2", "", 403, gateway.ESIGNATURE, "", "", ""},
		{"too large", "POST", "/webhooks/twilio/voice?attempt=a_1", nil, "CallSid=" + strings.Repeat("x", pstn.MaxBody), "", "", 413, gateway.ETOOLARGE, "", "", ""},
		{"malformed body", "POST", "/webhooks/twilio/voice?attempt=a_1", nil, "CallSid=%zz", "", "", 400, gateway.EINVALID, "", "", ""},
		{"bad call SID", "POST", "/webhooks/twilio/voice?attempt=a_1", url.Values{"CallSid": {"CA1"}, "CallStatus": {"ringing"}}, "", "", "", 400, gateway.EINVALID, "", "", ""},
		{"unknown status", "POST", "/webhooks/twilio/voice?attempt=a_1", url.Values{"CallSid": {callSID}, "CallStatus": {"exploded"}}, "", "", "", 400, gateway.EINVALID, "", "", ""},
		{"bad attempt", "POST", "/webhooks/twilio/voice?attempt=x%27", status, "", "", "", 400, gateway.EINVALID, "", "", ""},
		{"other path", "POST", "/webhooks/twilio/video?attempt=a_1", status, "", "", "", 404, gateway.ENOTFOUND, "", "", ""},
		{"GET", "GET", "/webhooks/twilio/voice?attempt=a_1", nil, "", "", "", 405, gateway.EINVALID, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []gateway.Report
			a := pstn.New(accountSID, authToken, callerID, public)
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
			if rep.Status != tt.report || rep.ProviderRef != tt.ref || rep.AttemptID != tt.attempt || rep.Channel != gateway.ChannelPSTN || !rep.At.Equal(a.Now()) {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

func TestWebhookDialAction(t *testing.T) {
	t.Parallel()
	const public = "https://gw.example.police.uk"
	a := pstn.New(accountSID, authToken, callerID, public)
	for _, st := range []string{"no-answer", "completed"} {
		form := url.Values{"CallSid": {"CA" + strings.Repeat("ab", 16)}, "DialCallStatus": {st}}
		r := httptest.NewRequest("POST", "/webhooks/twilio/voice/dial?attempt=a_1", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Twilio-Signature", twilio.Sign(authToken, public+"/webhooks/twilio/voice/dial?attempt=a_1", form))
		w := httptest.NewRecorder()
		a.Webhook().ServeHTTP(w, r)
		body := w.Body.String()
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/xml") || !strings.Contains(body, "<Hangup") {
			t.Errorf("%s: %d %s", st, w.Code, body)
		}
		if say := strings.Contains(body, "<Say"); say != (st == "no-answer") {
			t.Errorf("%s: %s", st, body)
		}
	}
}

func TestWebhookReporterErrors(t *testing.T) {
	t.Parallel()
	const public = "https://gw.example.police.uk"
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"unknown attempt", gateway.Errorf(gateway.ENOTFOUND, "no attempt"), 204},
		{"store down: Twilio should retry", gateway.Errorf(gateway.EUNAVAILABLE, "down"), 503},
		{"a fault of ours", errors.New("bug"), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := pstn.New(accountSID, authToken, callerID, public)
			a.Reporter = &mocks.Reporter{ReportFn: func(context.Context, gateway.Report) error { return tt.err }}
			form := url.Values{"CallSid": {"CA" + strings.Repeat("ab", 16)}, "CallStatus": {"completed"}}
			r := httptest.NewRequest("POST", "/webhooks/twilio/voice?attempt=a_1", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("X-Twilio-Signature", twilio.Sign(authToken, public+"/webhooks/twilio/voice?attempt=a_1", form))
			w := httptest.NewRecorder()
			a.Webhook().ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
		})
	}
}

// FuzzWebhook feeds arbitrary, correctly signed callbacks to the handler:
// it must answer 2xx or 4xx, and report only known statuses.
func FuzzWebhook(f *testing.F) {
	f.Add("/webhooks/twilio/voice", "attempt=a_1", "CallSid=CAabababababababababababababababab&CallStatus=ringing")
	f.Add("/webhooks/twilio/voice/bridge", "attempt=a_1", "CallSid=CAabababababababababababababababab&ParentCallSid=CAcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd&CallStatus=in-progress")
	f.Add("/webhooks/twilio/voice/dial", "", "DialCallStatus=busy")
	f.Add("/webhooks/twilio/voice", "attempt=", "CallStatus=%")
	f.Add("/webhooks/twilio/voice", "attempt=a_1&attempt=a_2", "CallSid=CAabababababababababababababababab&CallStatus=completed&CallStatus=busy")
	const public = "https://gw.example.police.uk"
	f.Fuzz(func(t *testing.T, path, query, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path+query, " #\x00\r\n") {
			return
		}
		a := pstn.New(accountSID, authToken, callerID, public)
		a.Reporter = &mocks.Reporter{ReportFn: func(_ context.Context, r gateway.Report) error {
			if _, err := gateway.ParseReportStatus(string(r.Status)); err != nil {
				t.Errorf("reported %q", r.Status)
			}
			return nil
		}}
		target := path
		if query != "" {
			target += "?" + query
		}
		r, err := http.NewRequest("POST", "http://internal"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		form, _ := url.ParseQuery(body)
		r.Header.Set("X-Twilio-Signature", twilio.Sign(authToken, public+r.URL.RequestURI(), form))
		w := httptest.NewRecorder()
		a.Webhook().ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Errorf("status %d for %s %q", w.Code, target, body)
		}
	})
}

// TestWebhookReplay: a verified callback delivered again is answered 204
// and not reported again, whether it carries Twilio's idempotency token,
// another token (the header is not signed) or none, also by a second
// adapter on the same store; a forged callback uses up no key; a callback
// whose report failed is reported when Twilio sends it again.
func TestWebhookReplay(t *testing.T) {
	t.Parallel()
	const public = "https://gw.example.police.uk"
	const path = "/webhooks/twilio/voice/bridge?attempt=a_1"
	// Two stores on one SQLite file, as two gateways sharing it.
	file := filepath.Join(t.TempDir(), "gateway.db")
	var stores [2]*sqlite.Store
	for i := range stores {
		s, err := sqlite.Open(context.Background(), file)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	var got []gateway.Report
	fail := false
	adapter := func(replays gateway.ReplayStore) *pstn.Adapter {
		a := pstn.New(accountSID, authToken, callerID, public)
		a.Replays = replays
		a.Reporter = &mocks.Reporter{ReportFn: func(_ context.Context, r gateway.Report) error {
			if fail {
				return gateway.Errorf(gateway.EUNAVAILABLE, "down")
			}
			got = append(got, r)
			return nil
		}}
		return a
	}
	a, other := adapter(stores[0]), adapter(stores[1])
	answered := func(sid string) string {
		return url.Values{"AccountSid": {accountSID}, "CallSid": {sid}, "ParentCallSid": {"CA" + strings.Repeat("cd", 16)},
			"CallStatus": {"in-progress"}}.Encode()
	}
	deliver := func(a *pstn.Adapter, body, token, signToken string) int {
		t.Helper()
		r := adaptertest.TwilioCallback("POST", public, path, body, "", signToken, twilio.Sign)
		if token != "" {
			r.Header.Set("I-Twilio-Idempotency-Token", token)
		}
		w := httptest.NewRecorder()
		a.Webhook().ServeHTTP(w, r)
		return w.Code
	}
	first := answered("CA" + strings.Repeat("ab", 16))
	// A forged delivery first: refused, and it uses up no key.
	if code := deliver(a, first, "tok-1", "forged-token"); code != 403 {
		t.Fatalf("forged callback: %d, want 403", code)
	}
	if code := deliver(a, first, "tok-1", authToken); code != 204 || len(got) != 1 {
		t.Fatalf("first delivery after a forged one: %d, %d reports, want 204 and 1", code, len(got))
	}
	for _, again := range []struct {
		name  string
		a     *pstn.Adapter
		token string
	}{
		{"same token", a, "tok-1"},
		{"other token", a, "tok-2"},
		{"no token", a, ""},
		{"second adapter on the same store", other, "tok-1"},
	} {
		if code := deliver(again.a, first, again.token, authToken); code != 204 {
			t.Errorf("replay, %s: %d, want 204", again.name, code)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d reports after the replays, want 1", len(got))
	}
	// Another callback is reported.
	second := answered("CA" + strings.Repeat("ef", 16))
	if code := deliver(a, second, "tok-3", authToken); code != 204 || len(got) != 2 {
		t.Fatalf("another callback: %d, %d reports, want 204 and 2", code, len(got))
	}
	// A report that failed: Twilio's retry is reported.
	third := answered("CA" + strings.Repeat("01", 16))
	fail = true
	if code := deliver(a, third, "tok-4", authToken); code != 503 {
		t.Fatalf("failed report (the store could not write): %d, want 503", code)
	}
	fail = false
	if code := deliver(a, third, "tok-4", authToken); code != 204 || len(got) != 3 {
		t.Fatalf("retry of a failed report: %d, %d reports, want 204 and 3", code, len(got))
	}
}
