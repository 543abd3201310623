package twilio_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/safeconnection/gateway/mocks/twilio"
)

const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "s3cr3tt0k3n"
)

var loadSpec = sync.OnceValues(func() (*twilio.Spec, error) {
	dir := filepath.Join("..", "..", "testdata", "specs")
	return twilio.LoadSpec(filepath.Join(dir, "twilio_api_v2010.json"), filepath.Join(dir, "twilio_video_v1.json"))
})

func spec(tb testing.TB) *twilio.Spec {
	tb.Helper()
	s, err := loadSpec()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// receiver is the gateway's side: it records callbacks and checks their
// signatures as the gateway does.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []url.Values
	bad int
}

func newReceiver(tb testing.TB) *receiver {
	tb.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		params := map[string]string{}
		for k := range form {
			params[k] = form.Get(k)
		}
		params["_path"] = r.URL.Path
		v := twclient.NewRequestValidator(authToken)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if !v.Validate(rc.srv.URL+r.URL.RequestURI(), without(params, "_path"), r.Header.Get("X-Twilio-Signature")) {
			rc.bad++
			w.WriteHeader(http.StatusForbidden)
			return
		}
		form.Set("_path", r.URL.Path)
		rc.got = append(rc.got, form)
		w.WriteHeader(http.StatusNoContent)
	}))
	tb.Cleanup(rc.srv.Close)
	return rc
}

func without(m map[string]string, k string) map[string]string {
	out := map[string]string{}
	for kk, v := range m {
		if kk != k {
			out[kk] = v
		}
	}
	return out
}

// events returns "path status" for each callback received so far.
func (rc *receiver) events() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, f := range rc.got {
		st := f.Get("CallStatus")
		if e := f.Get("StatusCallbackEvent"); e != "" {
			st = e + ":" + f.Get("ParticipantIdentity")
		}
		if d := f.Get("DialCallStatus"); d != "" {
			st = "dial:" + d
		}
		out = append(out, f.Get("_path")+" "+st)
	}
	return out
}

func (rc *receiver) waitFor(tb testing.TB, n int) []string {
	tb.Helper()
	end := time.Now().Add(5 * time.Second)
	for {
		ev := rc.events()
		if len(ev) >= n {
			return ev
		}
		if time.Now().After(end) {
			tb.Fatalf("%d callbacks, want %d: %v", len(ev), n, ev)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type env struct {
	fake  *twilio.Fake
	api   *httptest.Server
	check *twilio.CheckingTransport
	hc    *http.Client
	rc    *receiver
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	f := twilio.New(accountSID, authToken)
	f.Step = 5 * time.Millisecond
	f.RingOut = 50 * time.Millisecond
	api := httptest.NewServer(f)
	tb.Cleanup(func() { api.Close(); f.Close() })
	ct := &twilio.CheckingTransport{Spec: spec(tb)}
	return &env{fake: f, api: api, check: ct, hc: &http.Client{Transport: ct}, rc: newReceiver(tb)}
}

func (e *env) post(tb testing.TB, path string, form url.Values, user, pass string) (*http.Response, map[string]any) {
	tb.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, e.api.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
	resp, err := e.hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp, m
}

func (e *env) specOK(tb testing.TB) {
	tb.Helper()
	n, errs := e.check.Checked()
	if n == 0 {
		tb.Error("no exchange checked against the spec")
	}
	for _, err := range errs {
		tb.Error(err)
	}
}

const callsPath = "/2010-04-01/Accounts/" + accountSID + "/Calls.json"

func (e *env) callForm() url.Values {
	twiml := `<?xml version="1.0" encoding="UTF-8"?><Response><Say>Connecting you</Say>` +
		`<Dial answerOnBridge="true" timeout="20" callerId="+441134960000" action="` + e.rc.srv.URL + `/webhooks/twilio/voice/dial?attempt=a_1">` +
		`<Number statusCallback="` + e.rc.srv.URL + `/webhooks/twilio/voice/bridge?attempt=a_1" statusCallbackEvent="initiated ringing answered completed">+441134960999</Number></Dial></Response>`
	return url.Values{
		"To": {"+447700900123"}, "From": {"+441134960000"}, "Twiml": {twiml},
		"StatusCallback":      {e.rc.srv.URL + "/webhooks/twilio/voice?attempt=a_1"},
		"StatusCallbackEvent": {"initiated", "ringing", "answered", "completed"},
		"Timeout":             {"25"},
	}
}

func TestCallPlayedOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp, call := e.post(t, callsPath, e.callForm(), accountSID, authToken)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %v", resp.StatusCode, call)
	}
	sid, _ := call["sid"].(string)
	if len(sid) != 34 || !strings.HasPrefix(sid, "CA") || call["status"] != "queued" {
		t.Fatalf("call %v", call)
	}
	e.rc.waitFor(t, 6)
	upd, body := e.post(t, "/2010-04-01/Accounts/"+accountSID+"/Calls/"+sid+".json", url.Values{"Status": {"completed"}}, accountSID, authToken)
	if upd.StatusCode != http.StatusOK || body["status"] != "completed" {
		t.Fatalf("update %d %v", upd.StatusCode, body)
	}
	got := e.rc.waitFor(t, 8)
	want := []string{
		"/webhooks/twilio/voice initiated", "/webhooks/twilio/voice ringing", "/webhooks/twilio/voice in-progress",
		"/webhooks/twilio/voice/bridge initiated", "/webhooks/twilio/voice/bridge ringing", "/webhooks/twilio/voice/bridge in-progress",
		"/webhooks/twilio/voice/bridge completed", "/webhooks/twilio/voice completed",
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("callbacks\n got %v\nwant %v", got, want)
	}
	if e.rc.bad != 0 {
		t.Errorf("%d callbacks with a bad signature", e.rc.bad)
	}
	if st := e.fake.Call(sid); st != "completed" {
		t.Errorf("call status %q", st)
	}
	e.specOK(t)
}

func TestCallOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		officer, bridge twilio.Pickup
		want            []string
	}{
		{"officer busy", twilio.Busy, twilio.Answer, []string{"/webhooks/twilio/voice initiated", "/webhooks/twilio/voice ringing", "/webhooks/twilio/voice busy"}},
		{"officer never answers", twilio.NoAnswer, twilio.Answer, []string{"/webhooks/twilio/voice initiated", "/webhooks/twilio/voice ringing", "/webhooks/twilio/voice no-answer"}},
		{"officer unreachable", twilio.Fail, twilio.Answer, []string{"/webhooks/twilio/voice initiated", "/webhooks/twilio/voice ringing", "/webhooks/twilio/voice failed"}},
		{"desk never answers", twilio.Answer, twilio.NoAnswer, []string{
			"/webhooks/twilio/voice initiated", "/webhooks/twilio/voice ringing", "/webhooks/twilio/voice in-progress",
			"/webhooks/twilio/voice/bridge initiated", "/webhooks/twilio/voice/bridge ringing", "/webhooks/twilio/voice/bridge no-answer",
			"/webhooks/twilio/voice/dial dial:no-answer", "/webhooks/twilio/voice completed"}},
		{"desk busy", twilio.Answer, twilio.Busy, []string{
			"/webhooks/twilio/voice initiated", "/webhooks/twilio/voice ringing", "/webhooks/twilio/voice in-progress",
			"/webhooks/twilio/voice/bridge initiated", "/webhooks/twilio/voice/bridge ringing", "/webhooks/twilio/voice/bridge busy",
			"/webhooks/twilio/voice/dial dial:busy", "/webhooks/twilio/voice completed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.fake.SetOfficer(tt.officer)
			e.fake.SetBridge(tt.bridge)
			if resp, body := e.post(t, callsPath, e.callForm(), accountSID, authToken); resp.StatusCode != http.StatusCreated {
				t.Fatalf("%d %v", resp.StatusCode, body)
			}
			e.rc.waitFor(t, len(tt.want))
			time.Sleep(50 * time.Millisecond) // nothing more may follow
			got := e.rc.events()
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("callbacks\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestCancelWhileRinging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.SetOfficer(twilio.NoAnswer)
	e.fake.RingOut = time.Minute
	_, call := e.post(t, callsPath, e.callForm(), accountSID, authToken)
	sid, _ := call["sid"].(string)
	e.rc.waitFor(t, 2)
	_, body := e.post(t, "/2010-04-01/Accounts/"+accountSID+"/Calls/"+sid+".json", url.Values{"Status": {"canceled"}}, accountSID, authToken)
	if body["status"] != "canceled" {
		t.Errorf("update answered %v", body["status"])
	}
	got := e.rc.waitFor(t, 3)
	if got[2] != "/webhooks/twilio/voice canceled" {
		t.Errorf("callbacks %v", got)
	}
}

func TestCallErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.callForm()
	drop := func(k string) url.Values {
		v := url.Values{}
		for kk, vv := range base {
			if kk != k {
				v[kk] = vv
			}
		}
		return v
	}
	tests := []struct {
		name       string
		path       string
		form       url.Values
		user, pass string
		status     int
		code       float64
	}{
		{"wrong token", callsPath, base, accountSID, "nope", 401, 20003},
		{"no credentials", callsPath, base, "", "", 401, 20003},
		{"no To", callsPath, drop("To"), accountSID, authToken, 400, 21201},
		{"no From", callsPath, drop("From"), accountSID, authToken, 400, 21603},
		{"no Twiml or Url", callsPath, drop("Twiml"), accountSID, authToken, 400, 21205},
		{"other account", "/2010-04-01/Accounts/AC00000000000000000000000000000000/Calls.json", base, accountSID, authToken, 404, 20404},
		{"unknown call", "/2010-04-01/Accounts/" + accountSID + "/Calls/CA00000000000000000000000000000000.json", url.Values{"Status": {"completed"}}, accountSID, authToken, 404, 20404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.post(t, tt.path, tt.form, tt.user, tt.pass)
			if resp.StatusCode != tt.status || body["code"] != tt.code || body["status"] != float64(tt.status) {
				t.Errorf("got %d %v, want %d code %v", resp.StatusCode, body, tt.status, tt.code)
			}
			if m, _ := body["more_info"].(string); !strings.HasPrefix(m, "https://www.twilio.com/docs/errors/") || body["message"] == "" {
				t.Errorf("error body %v", body)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.NoWebhooks(true)
	e.fake.FailNext(1, 429, 3*time.Second)
	resp, body := e.post(t, callsPath, e.callForm(), accountSID, authToken)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" || body["code"] != float64(20429) {
		t.Errorf("FailNext: %d %q %v", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	e.fake.MalformedNext(1)
	resp, body = e.post(t, callsPath, e.callForm(), accountSID, authToken)
	if resp.StatusCode != 201 || body != nil {
		t.Errorf("MalformedNext: %d %v", resp.StatusCode, body)
	}
	e.fake.HangNext(1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.api.URL+callsPath, strings.NewReader(e.callForm().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(accountSID, authToken)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("HangNext: answered")
	}
	e.fake.SetLatency(30 * time.Millisecond)
	start := time.Now()
	resp, _ = e.post(t, callsPath, e.callForm(), accountSID, authToken)
	if resp.StatusCode != 201 || time.Since(start) < 30*time.Millisecond {
		t.Errorf("latency: %d after %v", resp.StatusCode, time.Since(start))
	}
	if n := len(e.fake.Requests()); n != 4 {
		t.Errorf("%d requests recorded, want 4", n)
	}
	time.Sleep(100 * time.Millisecond)
	if d := e.fake.Deliveries(); len(d) != 0 {
		t.Errorf("callbacks posted with webhooks off: %d", len(d))
	}
}

func TestRoomPlayedOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.SetJoins(10*time.Millisecond, 30*time.Millisecond)
	resp, room := e.post(t, "/v1/Rooms", url.Values{
		"UniqueName": {"a_1"}, "Type": {"group"}, "MaxParticipants": {"2"},
		"StatusCallback": {e.rc.srv.URL + "/webhooks/twilio/video?attempt=a_1"}, "StatusCallbackMethod": {"POST"},
		"EmptyRoomTimeout": {"1"}, "UnusedRoomTimeout": {"2"},
	}, accountSID, authToken)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("%d %v", resp.StatusCode, room)
	}
	sid, _ := room["sid"].(string)
	if !strings.HasPrefix(sid, "RM") || len(sid) != 34 || room["unique_name"] != "a_1" || room["max_participants"] != float64(2) {
		t.Fatalf("room %v", room)
	}
	again, body := e.post(t, "/v1/Rooms", url.Values{"UniqueName": {"a_1"}}, accountSID, authToken)
	if again.StatusCode != 400 || body["code"] != float64(53113) {
		t.Errorf("duplicate room: %d %v", again.StatusCode, body)
	}
	e.rc.waitFor(t, 3)
	upd, body := e.post(t, "/v1/Rooms/"+sid, url.Values{"Status": {"completed"}}, accountSID, authToken)
	if upd.StatusCode != http.StatusAccepted || body["status"] != "completed" {
		t.Fatalf("update %d %v", upd.StatusCode, body)
	}
	got := e.rc.waitFor(t, 4)
	want := []string{
		"/webhooks/twilio/video room-created:", "/webhooks/twilio/video participant-connected:officer",
		"/webhooks/twilio/video participant-connected:device", "/webhooks/twilio/video room-ended:",
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("callbacks\n got %v\nwant %v", got, want)
	}
	if e.fake.Room(sid) != "completed" {
		t.Errorf("room %q", e.fake.Room(sid))
	}
	n, errs := e.check.Checked()
	if n != 3 || len(errs) != 0 {
		t.Errorf("checked %d, errors %v", n, errs)
	}
}

func TestWebhookBase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.SetOfficer(twilio.Busy)
	form := e.callForm()
	public := "https://gw.example.police.uk/webhooks/twilio/voice?attempt=a_1"
	form.Set("StatusCallback", public)
	if err := e.fake.SetWebhookURL(e.rc.srv.URL); err != nil {
		t.Fatal(err)
	}
	e.post(t, callsPath, form, accountSID, authToken)
	end := time.Now().Add(5 * time.Second)
	for len(e.fake.Deliveries()) < 3 && time.Now().Before(end) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, d := range e.fake.Deliveries() {
		// Signed over the public URL: the receiver, which checks against
		// its own URL, refuses it.
		if d.URL != public || d.Status != http.StatusForbidden {
			t.Errorf("delivery %s %d", d.URL, d.Status)
		}
		v := twclient.NewRequestValidator(authToken)
		params := map[string]string{}
		for k := range d.Form {
			params[k] = d.Form.Get(k)
		}
		if !v.Validate(public, params, twilio.Sign(authToken, public, d.Form)) {
			t.Error("signature over the public URL does not verify")
		}
	}
}

// The official vectors of Twilio's webhook signature that apply to form
// bodies (twilio-python and twilio-go's validator tests, and the worked
// example of Twilio's webhook security page).
func TestSignVectors(t *testing.T) {
	t.Parallel()
	const token = "12345"
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	python := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"}, "From": {"+14158675309"}, "To": {"+18005551212"}}
	goParams := url.Values{"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"}, "Caller": {"+14158675309"}, "From": {"+14158675309"}, "ReasonConferenceEnded": {"test"}, "Reason": {"Participant"}}
	tests := []struct {
		name string
		url  string
		form url.Values
		want string
	}{
		{"python", u, python, "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"python :443", "https://mycompany.com:443/myapp.php?foo=1&bar=2", python, "kvajT1Ptam85bY51eRf/AJRuM3w="},
		{"python http :80", "http://mycompany.com:80/myapp.php?foo=1&bar=2", python, "0ZXoZLH/DfblKGATFgpif+LLRf4="},
		{"python http :1234", "http://mycompany.com:1234/myapp.php?foo=1&bar=2", python, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="},
		{"python multi-value", u, url.Values{"Sid": {"CA123"}, "SidAccount": {"AC123"}, "Digits": {"5678", "1234", "1234"}}, "IK+Dwps556ElfBT0I3Rgjkr1wJU="},
		{"go", u, goParams, "vOEb5UThFn24KEfnOFLQY2AE5FY="},
		{"go http", "http://mycompany.com/myapp.php?foo=1&bar=2", goParams, "n2xBNyzSW7rfYStDtOFiFMv7qNo="},
		{"go form body", u, url.Values{"property": {"value"}, "boolean": {"true"}}, "NBdBDr/T/lgjI+tlgpXjKZQZs/k="},
		{"docs example", u, url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"}, "From": {"+12349013030"}, "To": {"+18005551212"}}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="},
	}
	for _, tt := range tests {
		if got := twilio.Sign(token, tt.url, tt.form); got != tt.want {
			t.Errorf("%s: Sign = %s, want %s", tt.name, got, tt.want)
		}
	}
	// The wrong-order vector must not be what Sign computes.
	if twilio.Sign(token, u, goParams) == "95+Bu0JVPi0r/SsESZCVf0dWAjw=" {
		t.Error("Sign sorts parameters wrongly")
	}
}
