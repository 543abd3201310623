package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/pstn"
	faketwilio "github.com/safeconnection/gateway/mocks/twilio"
	"github.com/safeconnection/gateway/rooms"
	"github.com/safeconnection/gateway/router"
	"github.com/safeconnection/gateway/store/sqlite"
)

// The public's calls through the Twilio inbound webhook, on loopback over
// a real router and SQLite store, called by the fake Twilio: each case of
// the webhook's steps, apart from the rest of the gateway.

// publicCaller is the member of the public's number: never to be seen in
// clear in the record, the API or the log.
const publicCaller = "+447700900777"

var testCallerKey = []byte("caller-key-for-tests")

// inEnv is the inbound webhook on loopback over a real router and SQLite
// store, called by the fake Twilio.
type inEnv struct {
	t     testing.TB
	fake  *faketwilio.Fake
	st    *sqlite.Store
	rooms *rooms.Set
	r     *router.Router
	in    *pstn.Inbound
	gw    *httptest.Server
	log   *logtest.Hook
}

func newInEnv(t testing.TB) *inEnv {
	t.Helper()
	set, err := rooms.Default()
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	r := router.New(st, set)
	r.Logger, r.Instance = log, "test"
	r.RingTimeout, r.Budget, r.LeaseTTL, r.HeartbeatStale = 5*time.Second, 20*time.Second, 5*time.Second, 0
	r.OwnerTTL, r.SweepInterval, r.PollInterval = 2*time.Second, 100*time.Millisecond, 50*time.Millisecond
	st.Logger = log
	if err := r.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	f := faketwilio.New(twilioSID, twilioToken)
	f.Step, f.RingOut = 5*time.Millisecond, 50*time.Millisecond
	f.SetPauseUnit(20 * time.Millisecond)
	t.Cleanup(f.Close)
	e := &inEnv{t: t, fake: f, st: st, rooms: set, r: r, log: hook}
	mux := http.NewServeMux()
	e.gw = httptest.NewServer(mux)
	t.Cleanup(e.gw.Close)
	a := pstn.New(twilioSID, twilioToken, twilioCallerID, e.gw.URL)
	a.Logger = log
	e.in = a.Inbound(r, "Metropolitan Police", testCallerKey)
	mux.Handle(pstn.PathInbound, e.in)
	mux.Handle(pstn.PathInbound+"/", e.in)
	f.SetVoiceURL(e.gw.URL + pstn.PathInbound)
	return e
}

func (e *inEnv) device(id, room, number string) {
	e.t.Helper()
	if _, err := e.st.CreateDevice(context.Background(), gateway.Device{ID: id, RoomID: room, Name: id, Number: number}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *inEnv) number(room string) string {
	rm, _ := e.rooms.Room(room)
	return rm.Number
}

// public returns the only public verification.
func (e *inEnv) public() gateway.Verification {
	e.t.Helper()
	vs, err := e.st.Verifications(context.Background(), gateway.VerificationFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []gateway.Verification
	for _, v := range vs {
		if v.Origin == gateway.OriginPublic {
			out = append(out, v)
		}
	}
	if len(out) != 1 {
		e.t.Fatalf("%d public verifications, want 1", len(out))
	}
	return out[0]
}

// twimlAnswer is the TwiML the inbound webhook answers, parsed.
type twimlAnswer struct {
	Say  []string `xml:"Say"`
	Dial *struct {
		Action   string `xml:"action,attr"`
		Timeout  string `xml:"timeout,attr"`
		CallerID string `xml:"callerId,attr"`
		Number   struct {
			Number   string `xml:",chardata"`
			Callback string `xml:"statusCallback,attr"`
			Events   string `xml:"statusCallbackEvent,attr"`
		} `xml:"Number"`
	} `xml:"Dial"`
	Pause *struct {
		Length string `xml:"length,attr"`
	} `xml:"Pause"`
	Redirect string    `xml:"Redirect"`
	Hangup   *struct{} `xml:"Hangup"`
}

// post posts a form to the webhook path, signed with sign over signURL
// ("" for no signature).
func (e *inEnv) post(path string, form url.Values, token, signURL string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.gw.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if signURL != "" {
		req.Header.Set("X-Twilio-Signature", faketwilio.Sign(token, signURL, form))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}

func voiceForm(to string) url.Values {
	return url.Values{"CallSid": {"CA" + strings.Repeat("ab", 16)}, "AccountSid": {twilioSID}, "From": {publicCaller},
		"To": {to}, "Caller": {publicCaller}, "Called": {to}, "CallStatus": {"ringing"}, "Direction": {"inbound"}, "ApiVersion": {"2010-04-01"}}
}

func TestInboundSignedCallDials(t *testing.T) {
	t.Parallel()
	e := newInEnv(t)
	e.device("AW-1", "AW", "+447700900501")
	e.device("CE-1", "CE", "+447700900601")
	form := voiceForm(e.number("AW"))
	resp, body := e.post(pstn.PathInbound, form, twilioToken, e.gw.URL+pstn.PathInbound)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var doc twimlAnswer
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("not TwiML: %v\n%s", err, body)
	}
	if len(doc.Say) != 1 || !strings.Contains(doc.Say[0], "Metropolitan Police") || !strings.Contains(doc.Say[0], "Central West") {
		t.Fatalf("greeting %q: want the force and the room", doc.Say)
	}
	if doc.Dial == nil || doc.Dial.Number.Number != "+447700900501" || doc.Dial.CallerID != e.number("AW") || doc.Dial.Timeout == "" {
		t.Fatalf("dial %+v: want AW-1's number from the room's", doc.Dial)
	}
	v := e.public()
	for _, u := range []string{doc.Dial.Action, doc.Dial.Number.Callback} {
		pu, err := url.Parse(u)
		if err != nil || !strings.HasPrefix(u, e.gw.URL+pstn.PathInbound+"/") || pu.Query().Get("v") != v.ID || pu.Query().Get("attempt") == "" {
			t.Fatalf("callback URL %q: want the gateway's, naming the verification and attempt", u)
		}
	}
	if !strings.Contains(doc.Dial.Number.Events, "answered") || !strings.Contains(doc.Dial.Number.Events, "completed") {
		t.Fatalf("status callback events %q", doc.Dial.Number.Events)
	}
	d, _ := e.st.Device(context.Background(), "AW-1")
	if d.Lease == nil || d.Lease.Holder != v.ID || v.Caller != "•••••••777" || v.CallerHash != gateway.HashCaller(testCallerKey, publicCaller) {
		t.Fatalf("lease %+v, verification caller %q", d.Lease, v.Caller)
	}
}

func TestInboundRefusesBadSignatures(t *testing.T) {
	t.Parallel()
	e := newInEnv(t)
	e.device("AW-1", "AW", "+447700900501")
	form := voiceForm(e.number("AW"))
	for _, tt := range []struct {
		name, token, signURL string
	}{
		{"unsigned", twilioToken, ""},
		{"wrong token", "another-token", e.gw.URL + pstn.PathInbound},
		{"another URL", twilioToken, e.gw.URL + pstn.PathInboundWait},
		{"another host", twilioToken, "https://elsewhere.example" + pstn.PathInbound},
	} {
		resp, body := e.post(pstn.PathInbound, form, tt.token, tt.signURL)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "bad_signature") {
			t.Errorf("%s: %d %s, want 403 bad_signature", tt.name, resp.StatusCode, body)
		}
	}
	vs, _ := e.st.Verifications(context.Background(), gateway.VerificationFilter{})
	hist, _ := e.st.ClaimHistory(context.Background(), "")
	if len(vs) != 0 || len(hist) != 0 {
		t.Fatalf("refused calls left %d verifications and %d claims", len(vs), len(hist))
	}
}

func TestInboundBadForms(t *testing.T) {
	t.Parallel()
	e := newInEnv(t)
	for name, change := range map[string]func(url.Values){
		// The forms DecodeInbound refuses are its own test's; one is enough here.
		"outbound":         func(f url.Values) { f.Set("Direction", "outbound-api") },
		"bad wait request": nil,
	} {
		form, path := voiceForm(e.number("AW")), pstn.PathInbound
		if change != nil {
			change(form)
		} else {
			path += "/wait?v=../etc"
		}
		resp, body := e.post(path, form, twilioToken, e.gw.URL+path)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"error"`) || strings.Contains(string(body), "900777") {
			t.Errorf("%s: %d %s, want 400 with a JSON message and no caller number", name, resp.StatusCode, body)
		}
	}
	// A number no room publishes is told, in words, to dial 999.
	resp, body := e.post(pstn.PathInbound, voiceForm("+442079469999"), twilioToken, e.gw.URL+pstn.PathInbound)
	var doc twimlAnswer
	if err := xml.Unmarshal(body, &doc); err != nil || resp.StatusCode != http.StatusOK || len(doc.Say) != 1 || !strings.Contains(doc.Say[0], "999") || doc.Hangup == nil {
		t.Fatalf("unknown number: %d %s", resp.StatusCode, body)
	}
}

// A call from the fake Twilio end to end: the first device does not
// answer, the next does; her call is bridged, then ends; the record shows
// both legs, the device that answered and only the masked caller.
func TestInboundNoAnswerThenNextDevice(t *testing.T) {
	t.Parallel()
	e := newInEnv(t)
	e.device("AW-1", "AW", "+447700900501")
	e.device("AW-2", "AW", "+447700900502")
	e.fake.SetNumber("+447700900501", faketwilio.NoAnswer)
	e.fake.SetNumber("+447700900502", faketwilio.NoAnswer)
	// Whichever is rung first does not answer; the second does.
	ctx := context.Background()
	call, err := e.fake.CallIn(ctx, publicCaller, e.number("AW"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a first device rung", func() bool { return len(call.Dialled()) == 1 })
	first := call.Dialled()[0]
	second := map[string]string{"+447700900501": "+447700900502", "+447700900502": "+447700900501"}[first]
	e.fake.SetNumber(second, faketwilio.Answer)
	eventually(t, "bridged to the second device", func() bool { return call.Bridged() == second })
	eventually(t, "connected", func() bool { return e.public().State == gateway.StateConnected })
	call.HangUp()
	<-call.Done()
	if call.Err() != nil {
		t.Fatalf("call: %v", call.Err())
	}
	eventually(t, "the device freed", func() bool {
		for _, id := range []string{"AW-1", "AW-2"} {
			if d, _ := e.st.Device(ctx, id); d.Lease != nil {
				return false
			}
		}
		return true
	})
	v := e.public()
	if v.State != gateway.StateConnected || v.Channel != gateway.ChannelPSTN || len(v.Attempts) != 2 ||
		v.Attempts[0].Result != gateway.ResultNoAnswer || v.Attempts[1].Result != gateway.ResultConnected ||
		v.Attempts[0].DeviceID == v.Attempts[1].DeviceID || v.DeviceID != v.Attempts[1].DeviceID {
		t.Fatalf("record: %s on %s by %s, attempts %+v", v.State, v.Channel, v.DeviceID, v.Attempts)
	}
	if said := call.Said(); len(said) != 1 || !strings.Contains(said[0], "Central West") {
		t.Fatalf("said %q: want the greeting once", said)
	}
	e.noCallerInClear(v.ID)
}

// noCallerInClear checks the caller's number is in no event and no log
// line, in any notation of its digits.
func (e *inEnv) noCallerInClear(id string) {
	e.t.Helper()
	evs, err := e.st.Events(context.Background(), id, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	digits := regexp.MustCompile(`7700\D?900\D?777`)
	for _, ev := range evs {
		if digits.MatchString(ev.Message) || digits.MatchString(strings.Join(valuesOf(ev.Data), " ")) {
			e.t.Fatalf("event %q %v shows the caller's number", ev.Message, ev.Data)
		}
	}
	entries := e.log.AllEntries()
	for _, en := range entries {
		if line, _ := en.String(); digits.MatchString(line) {
			e.t.Fatalf("log line shows the caller's number: %s", line)
		}
	}
	if len(entries) == 0 {
		e.t.Fatal("nothing was logged")
	}
}

func valuesOf(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// Every device busy: she is told her place and waits; when a device frees
// she is served; the budget spent, she is told to hang up and dial 999.
func TestInboundQueuedThenServed(t *testing.T) {
	t.Parallel()
	e := newInEnv(t)
	e.device("AW-1", "AW", "+447700900501")
	ctx := context.Background()
	busy, _, err := e.st.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"AW"}, Channel: gateway.ChannelPSTN, Holder: "v_other", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	call, err := e.fake.CallIn(ctx, publicCaller, e.number("AW"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "told her place", func() bool {
		for _, s := range call.Said() {
			if strings.Contains(s, "next in the queue") {
				return true
			}
		}
		return false
	})
	eventually(t, "queued", func() bool { return e.public().State == gateway.StateQueued })
	time.Sleep(300 * time.Millisecond) // a few waits asking again
	if len(call.Dialled()) != 0 {
		t.Fatalf("dialled %v while every device was busy", call.Dialled())
	}
	if err := e.st.Release(ctx, busy, "done"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "served when the device freed", func() bool { return call.Bridged() == "+447700900501" })
	eventually(t, "connected", func() bool { return e.public().State == gateway.StateConnected })
	call.HangUp()
	<-call.Done()
	e.noCallerInClear(e.public().ID)
}

func TestInboundBudgetSpent(t *testing.T) {
	t.Parallel()
	e := newInEnv(t)
	e.r.Budget = 300 * time.Millisecond // no device at all
	call, err := e.fake.CallIn(context.Background(), publicCaller, e.number("AW"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-call.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the call did not end after the budget")
	}
	said := call.Said()
	if len(said) < 3 || !strings.Contains(said[len(said)-1], "hang up now and dial 999") {
		t.Fatalf("said %q: want the greeting, her place, then the 999 message", said)
	}
	v := e.public()
	if v.State != gateway.StateFailed || v.Reason == "" || call.Err() != nil {
		t.Fatalf("verification %s (%q), call error %v", v.State, v.Reason, call.Err())
	}
}

// The webhooks Twilio calls during her call (her wait, the end of a <Dial>,
// the leg's status callbacks) are refused unsigned, wrongly signed or
// signed for another URL, and change nothing: the verification, its
// attempt and events, and the device's claim stay as they were. The same
// requests signed are then heard, so that what was refused would have
// changed something.
func TestInboundCallbacksRefuseBadSignatures(t *testing.T) {
	t.Parallel()
	e := newInEnv(t)
	e.device("AW-1", "AW", "+447700900501")
	ctx := context.Background()
	resp, body := e.post(pstn.PathInbound, voiceForm(e.number("AW")), twilioToken, e.gw.URL+pstn.PathInbound)
	var doc twimlAnswer
	if err := xml.Unmarshal(body, &doc); err != nil || resp.StatusCode != http.StatusOK || doc.Dial == nil {
		t.Fatalf("the call: %d %s", resp.StatusCode, body)
	}
	v := e.public()
	attempt := v.Attempts[len(v.Attempts)-1].ID
	q := url.Values{"v": {v.ID}, "attempt": {attempt}}.Encode()
	callbacks := []struct {
		name, path string
		form       url.Values
	}{
		{"wait", pstn.PathInboundWait + "?v=" + v.ID, voiceForm(e.number("AW"))},
		{"dial", pstn.PathInboundDial + "?" + q, withForm(voiceForm(e.number("AW")), "DialCallStatus", "no-answer")},
		{"leg", pstn.PathInboundLeg + "?" + q, withForm(voiceForm(e.number("AW")), "CallStatus", "in-progress")},
	}
	before := e.snapshot(v.ID, "AW-1")
	for _, cb := range callbacks {
		for _, bad := range []struct{ name, token, signURL string }{
			{"unsigned", twilioToken, ""},
			{"wrong token", "another-token", e.gw.URL + cb.path},
			{"another URL", twilioToken, e.gw.URL + pstn.PathInbound},
			{"another verification", twilioToken, e.gw.URL + strings.Replace(cb.path, v.ID, "v_other", 1)},
			{"another host", twilioToken, "https://elsewhere.example" + cb.path},
		} {
			resp, body := e.post(cb.path, cb.form, bad.token, bad.signURL)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "bad_signature") {
				t.Errorf("%s %s: %d %s, want 403 bad_signature", cb.name, bad.name, resp.StatusCode, body)
			}
		}
		if after := e.snapshot(v.ID, "AW-1"); after != before {
			t.Fatalf("refused %s callbacks changed the record:\n before %s\n after  %s", cb.name, before, after)
		}
	}
	// Signed, the leg's answer is heard: her call is connected.
	leg := callbacks[2]
	if resp, body := e.post(leg.path, leg.form, twilioToken, e.gw.URL+leg.path); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("signed leg callback: %d %s", resp.StatusCode, body)
	}
	if got, _ := e.st.Verification(ctx, v.ID); got.State != gateway.StateConnected {
		t.Fatalf("after the signed leg callback: %s, want connected", got.State)
	}
}

// withForm is form with key set to value.
func withForm(form url.Values, key, value string) url.Values {
	form.Set(key, value)
	return form
}

// snapshot says what a callback could change: the verification's state,
// last change and attempts, how many events it has, and the device's claim.
func (e *inEnv) snapshot(id, device string) string {
	e.t.Helper()
	ctx := context.Background()
	v, err := e.st.Verification(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	evs, err := e.st.Events(ctx, id, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := e.st.Device(ctx, device)
	if err != nil {
		e.t.Fatal(err)
	}
	var attempts []string
	for _, a := range v.Attempts {
		attempts = append(attempts, fmt.Sprintf("%s %s %s %v", a.ID, a.DeviceID, a.Result, a.EndedAt))
	}
	lease := "free"
	if d.Lease != nil {
		lease = d.Lease.Holder
	}
	return fmt.Sprintf("state %s updated %s attempts %v events %d lease %s", v.State, v.UpdatedAt, attempts, len(evs), lease)
}
