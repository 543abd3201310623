package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/pstn"
	"github.com/safeconnection/gateway/adapters/twiliohook"
	"github.com/safeconnection/gateway/adapters/zoom"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/mocks/agent"
	faketwilio "github.com/safeconnection/gateway/mocks/twilio"
	fakezoom "github.com/safeconnection/gateway/mocks/zoom"
	"github.com/safeconnection/gateway/store/postgres/pgtest"
)

// hangUps counts the requests that ended a call at the fake Twilio.
func hangUps(f *faketwilio.Fake) int {
	n := 0
	for _, r := range f.Requests() {
		if r.Method == http.MethodPost && strings.Contains(r.Path, "/Calls/") && r.Form.Get("Status") == "completed" {
			n++
		}
	}
	return n
}

// postTwilio posts a Twilio callback to the gateway at path with form,
// signed by the test with the account's token for the gateway's URL, with
// an idempotency token when token is not empty.
func (g *rig) postTwilio(tb testing.TB, path string, form url.Values, token string) int {
	tb.Helper()
	h := http.Header{
		"Content-Type":       {"application/x-www-form-urlencoded"},
		"X-Twilio-Signature": {faketwilio.Sign(twilioToken, g.m.PublicURL()+path, form)},
	}
	if token != "" {
		h.Set("I-Twilio-Idempotency-Token", token)
	}
	status, body := g.send(tb, "POST", path, "", []byte(form.Encode()), h)
	if status >= 300 {
		tb.Fatalf("POST %s: %d %s", path, status, body)
	}
	return status
}

// TestTwilioReplay: Twilio's callbacks delivered again are acknowledged
// and change nothing: no event, no call to Twilio. A bridged call's
// "answered" that arrives after its attempt was given up is hung up once;
// delivered again, it is not hung up again.
func TestTwilioReplay(t *testing.T) {
	t.Parallel()
	tf, tcfg := startTwilio(t)
	g := startGateway(t, testEnv(t), func(c *config.Config) { twiliohook.Section.Set(c, tcfg) })
	if err := tf.SetWebhookURL(g.m.PublicURL()); err != nil {
		t.Fatal(err)
	}
	tf.SetBridge(faketwilio.NoAnswer)
	d := g.addDevice(t, "AW", "+447700900611", map[gateway.Channel]string{gateway.Channel("facetime"): "+447700900611"})
	g.startAgent(t, d, always(agent.Behaviour{Reject: true}))
	v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber})
	v = g.waitState(t, v.ID, gateway.StateFailed)
	var call gateway.Attempt
	for _, a := range g.storedAttempts(t, v.ID) {
		if a.Channel == gateway.ChannelPSTN && !a.Open() && a.Result != gateway.ResultConnected && a.ProviderRef != "" {
			call = a
		}
	}
	if call.ID == "" {
		t.Fatalf("attempts %v: no pstn call given up", attempts(v))
	}
	// Let the fake's last callbacks land.
	eventually(t, "Twilio's callbacks to be answered", func() bool {
		for _, d := range tf.Deliveries() {
			if d.Status == 0 && d.Err == nil {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond)

	// Every callback Twilio made, delivered again.
	events, calls, deliveries := len(g.events(t, v.ID)), len(tf.Requests()), tf.Deliveries()
	if len(deliveries) == 0 {
		t.Fatal("Twilio made no callbacks")
	}
	for _, d := range deliveries {
		u, err := url.Parse(d.URL)
		if err != nil {
			t.Fatal(err)
		}
		g.postTwilio(t, u.RequestURI(), d.Form, "")
	}
	if n := len(g.events(t, v.ID)) - events; n != 0 {
		t.Errorf("%d callbacks delivered again wrote %d events, want none", len(deliveries), n)
	}
	if n := len(tf.Requests()) - calls; n != 0 {
		t.Errorf("%d callbacks delivered again made %d requests to Twilio, want none", len(deliveries), n)
	}

	// The ops room's phone answering after the attempt was given up.
	path := pstn.PathBridge + "?" + url.Values{"attempt": {call.ID}}.Encode()
	answered := url.Values{
		"AccountSid": {twilioSID}, "ApiVersion": {"2010-04-01"}, "CallSid": {"CA" + strings.Repeat("5e", 16)},
		"ParentCallSid": {call.ProviderRef}, "CallStatus": {"in-progress"}, "Direction": {"outbound-dial"},
	}
	before := hangUps(tf)
	g.postTwilio(t, path, answered, "RE"+strings.Repeat("1", 32))
	if n := hangUps(tf) - before; n != 1 {
		t.Fatalf("a late answer made %d hang-ups, want 1", n)
	}
	events = len(g.events(t, v.ID))
	for _, token := range []string{"RE" + strings.Repeat("1", 32), "RE" + strings.Repeat("2", 32), ""} {
		g.postTwilio(t, path, answered, token)
	}
	if n := hangUps(tf) - before; n != 1 {
		t.Errorf("the late answer delivered again made %d hang-ups in all, want 1", n)
	}
	if n := len(g.events(t, v.ID)) - events; n != 0 {
		t.Errorf("the late answer delivered again wrote %d events, want none", n)
	}
}

// postZoom posts a Zoom webhook with body to the gateway, signed by the
// test with the app's secret for the timestamp ts, and returns the status.
func (g *rig) postZoom(tb testing.TB, ts string, body []byte) int {
	tb.Helper()
	h := http.Header{
		"Content-Type":           {"application/json"},
		"x-zm-request-timestamp": {ts},
		"x-zm-signature":         {fakezoom.Sign(zoomWebhookSecret, ts, body)},
	}
	status, b := g.send(tb, "POST", "/webhooks/zoom/", "", body, h)
	if status >= 300 {
		tb.Fatalf("zoom webhook: %d %s", status, b)
	}
	return status
}

// TestZoomReplayAcrossInstances: two gateways on one PostgreSQL store; a
// Zoom webhook taken by one and delivered again, to it or to the other,
// writes no second event.
func TestZoomReplayAcrossInstances(t *testing.T) {
	t.Parallel()
	store := pgtest.URL(t)
	zf, zcfg := startZoom(t)
	a := startGateway(t, testEnv(t, "GATEWAY_STORE="+store, "GATEWAY_INSTANCE=gw-a"), func(c *config.Config) { zoom.Section.Set(c, zcfg) })
	b := startGateway(t, testEnv(t, "GATEWAY_STORE="+store, "GATEWAY_INSTANCE=gw-b"), func(c *config.Config) { zoom.Section.Set(c, zcfg) })
	zf.SetWebhookURL(a.m.PublicURL() + "/webhooks/zoom/")
	d := a.addDevice(t, "AW", "+447700900612", map[gateway.Channel]string{gateway.Channel("zoom"): zoomDeviceEmail})
	a.startAgent(t, d, nil)
	v := a.request(t, trafalgar, contact{gateway.Channel("zoom"), officerEmail})
	a.waitState(t, v.ID, gateway.StateConnected)
	as := a.storedAttempts(t, v.ID)
	meeting, err := strconv.ParseInt(as[len(as)-1].ProviderRef, 10, 64)
	if err != nil {
		t.Fatalf("zoom attempt's reference %q is not a meeting number", as[len(as)-1].ProviderRef)
	}
	// Let Zoom's own join webhooks land first.
	eventually(t, "Zoom's join webhooks", func() bool {
		joins := 0
		for _, d := range zf.Deliveries() {
			if d.Event == "meeting.participant_joined" && d.Status == http.StatusNoContent {
				joins++
			}
		}
		return joins == 2
	})

	body, err := json.Marshal(map[string]any{
		"event": "meeting.participant_joined", "event_ts": time.Now().UnixMilli(),
		"payload": map[string]any{"account_id": zoomAccount, "object": map[string]any{
			"id": meeting, "uuid": "4444AAAiAAAAAiAiAiiAii==", "host_id": "KDcuGIm1QgePTO8WbOqwIQ", "topic": "Safe Connection",
			"participant": map[string]any{"user_id": "16778240", "user_name": "PC 1234", "join_time": time.Now().UTC().Format(time.RFC3339)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	before := len(a.events(t, v.ID))
	a.postZoom(t, ts, body)
	if n := len(a.events(t, v.ID)) - before; n != 1 {
		t.Fatalf("the webhook wrote %d events, want 1", n)
	}
	for _, g := range []*rig{a, b} {
		if status := g.postZoom(t, ts, body); status != http.StatusNoContent {
			t.Errorf("%s: the webhook delivered again: %d, want 204", g.m.Config.Instance, status)
		}
	}
	if n := len(a.events(t, v.ID)) - before; n != 1 {
		t.Errorf("the webhook and its replays wrote %d events, want 1", n)
	}
}
