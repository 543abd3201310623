package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
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
)

// The fake providers' credentials.
const (
	zoomAccount, zoomClient, zoomSecret, zoomWebhookSecret = "zoom-account-1", "zoom-client-1", "zoom-client-secret", "zoom-webhook-secret"

	twilioSID       = "AC0123456789abcdef0123456789abcdef"
	twilioToken     = "f1e2d3c4b5a69788776655443322110a" // twilio-go takes alphanumeric credentials only
	twilioCallerID  = "+442079460000"
	zoomDeviceEmail = "aw-handset@ops.met.example"
)

// startZoom serves a fake Zoom on loopback until the test ends and returns
// it with the configuration section that points the gateway at it.
func startZoom(tb testing.TB) (*fakezoom.Fake, zoom.Config) {
	tb.Helper()
	f := fakezoom.New(zoomAccount, zoomClient, zoomSecret, zoomWebhookSecret)
	srv := httptest.NewServer(f)
	tb.Cleanup(func() {
		f.Close() // releases hanging requests first
		srv.Close()
	})
	return f, zoom.Config{AccountID: zoomAccount, ClientID: zoomClient, ClientSecret: zoomSecret,
		WebhookSecret: zoomWebhookSecret, UserID: "me", APIURL: srv.URL, OAuthURL: srv.URL}
}

// startTwilio serves a fake Twilio on loopback until the test ends and
// returns it with the configuration section that points the gateway at it
// (voice only: no API key, so no Twilio Video).
func startTwilio(tb testing.TB) (*faketwilio.Fake, twiliohook.Config) {
	tb.Helper()
	f := faketwilio.New(twilioSID, twilioToken)
	srv := httptest.NewServer(f)
	tb.Cleanup(func() {
		f.Close() // ends calls still up
		srv.Close()
	})
	return f, twiliohook.Config{AccountSID: twilioSID, AuthToken: twilioToken, FromNumber: twilioCallerID,
		APIURL: srv.URL, VideoURL: srv.URL}
}

// storedAttempts returns a verification's attempts as stored, with their
// provider references (which the API does not show).
func (g *rig) storedAttempts(tb testing.TB, id string) []gateway.Attempt {
	tb.Helper()
	v, err := g.m.Store.Verification(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return v.Attempts
}

// scrape returns the gateway's /metrics page.
func (g *rig) scrape(tb testing.TB) string {
	tb.Helper()
	status, b := g.send(tb, "GET", "/metrics", "", nil, nil)
	if status != http.StatusOK {
		tb.Fatalf("GET /metrics: status %d: %.200s", status, b)
	}
	return string(b)
}

// errorCode returns the code of a JSON error answer.
func errorCode(tb testing.TB, body []byte) string {
	tb.Helper()
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		tb.Fatalf("error answer %q: %v", body, err)
	}
	return e.Error.Code
}

// meetingCreates counts the create-meeting requests a Zoom fake received.
func meetingCreates(f *fakezoom.Fake) int {
	n := 0
	for _, r := range f.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/meetings") {
			n++
		}
	}
	return n
}

// TestProviderAdapters runs the whole gateway with the fake providers on
// loopback: the adapters as cmd/gateway wires them (each behind its
// provider's circuit breaker), the providers' signed webhooks, and metrics.
func TestProviderAdapters(t *testing.T) {
	t.Run("zoom fails, whatsapp through the agent connects", func(t *testing.T) {
		t.Parallel()
		zf, zcfg := startZoom(t)
		g := startGateway(t, testEnv(t), func(c *config.Config) { zoom.Section.Set(c, zcfg) })
		zf.SetWebhookURL(g.m.PublicURL() + "/webhooks/zoom/")
		zf.FailNext(1, http.StatusInternalServerError, 0)
		d := g.addDevice(t, "AW", "+447700900601", map[gateway.Channel]string{
			gateway.Channel("zoom"): zoomDeviceEmail, gateway.Channel("whatsapp"): "+447700900601"})
		a := g.startAgent(t, d, nil)

		v := g.request(t, trafalgar, contact{gateway.Channel("zoom"), officerEmail}, contact{gateway.Channel("whatsapp"), officerNumber})
		v = g.waitState(t, v.ID, gateway.StateConnected)
		if v.Channel != gateway.Channel("whatsapp") || v.Device != d.ID {
			t.Errorf("connected on %s with %q, want whatsapp with %s", v.Channel, v.Device, d.ID)
		}
		// A 500 on creating a meeting leaves unknown whether Zoom made one.
		if got := attempts(v); !slices.Equal(got, []string{"zoom:unknown", "whatsapp:connected"}) {
			t.Errorf("attempts %v, want zoom unknown (its 500), then whatsapp connected", got)
		}
		if n := meetingCreates(zf); n != 1 {
			t.Errorf("Zoom got %d create-meeting requests, want 1 (a 500 is not retried)", n)
		}
		orders := a.Orders()
		if len(orders) != 1 || orders[0].Channel != gateway.Channel("whatsapp") || orders[0].Handle != officerNumber {
			t.Errorf("agent orders %+v, want one WhatsApp dial order to the officer", orders)
		}
	})

	t.Run("every video channel fails, pstn through twilio connects", func(t *testing.T) {
		t.Parallel()
		tf, tcfg := startTwilio(t)
		g := startGateway(t, testEnv(t), func(c *config.Config) { twiliohook.Section.Set(c, tcfg) })
		if err := tf.SetWebhookURL(g.m.PublicURL()); err != nil {
			t.Fatal(err)
		}
		d := g.addDevice(t, "AW", "+447700900602", facetimeWhatsApp("+447700900602"))
		g.startAgent(t, d, always(agent.Behaviour{Reject: true}))

		v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber}, contact{gateway.Channel("whatsapp"), officerNumber})
		v = g.waitState(t, v.ID, gateway.StateConnected)
		if v.Channel != gateway.ChannelPSTN || v.Device != d.ID {
			t.Errorf("connected on %s with %q, want pstn with %s", v.Channel, v.Device, d.ID)
		}
		if got := attempts(v); !slices.Equal(got, []string{"facetime:rejected", "whatsapp:rejected", "pstn:connected"}) {
			t.Errorf("attempts %v, want both video channels rejected, then pstn connected", got)
		}

		// Twilio was asked to ring the officer and bridge him to the handset.
		var creates []faketwilio.Request
		for _, r := range tf.Requests() {
			if r.Method == http.MethodPost && r.Path == "/2010-04-01/Accounts/"+twilioSID+"/Calls.json" {
				creates = append(creates, r)
			}
		}
		if len(creates) != 1 {
			t.Fatalf("Twilio got %d Calls.json creates, want 1", len(creates))
		}
		form := creates[0].Form
		if form.Get("To") != officerNumber || form.Get("From") != twilioCallerID {
			t.Errorf("call To %q From %q, want To the officer %s From %s", form.Get("To"), form.Get("From"), officerNumber, twilioCallerID)
		}
		var doc struct {
			Dial struct {
				Numbers []string `xml:"Number"`
			} `xml:"Dial"`
		}
		if err := xml.Unmarshal([]byte(form.Get("Twiml")), &doc); err != nil {
			t.Fatalf("TwiML %q: %v", form.Get("Twiml"), err)
		}
		if len(doc.Dial.Numbers) != 1 || strings.TrimSpace(doc.Dial.Numbers[0]) != d.Number {
			t.Errorf("TwiML dials %q, want the handset's number %s", doc.Dial.Numbers, d.Number)
		}

		// The supervisor's outcome ends the call at Twilio and frees the
		// handset.
		g.outcome(t, v.ID, gateway.OutcomeVerified)
		as := g.storedAttempts(t, v.ID)
		sid := as[len(as)-1].ProviderRef
		eventually(t, "Twilio to end call "+sid, func() bool { return tf.Call(sid) == "completed" })
		g.waitFree(t, d.ID)
	})

	t.Run("zoom breaker opens and zoom is skipped", func(t *testing.T) {
		t.Parallel()
		zf, zcfg := startZoom(t)
		g := startGateway(t, testEnv(t, "GATEWAY_BREAKER_FAILURES=2", "GATEWAY_BREAKER_COOLDOWN=10m"),
			func(c *config.Config) { zoom.Section.Set(c, zcfg) })
		zf.SetWebhookURL(g.m.PublicURL() + "/webhooks/zoom/")
		zf.FailNext(2, http.StatusInternalServerError, 0)
		d := g.addDevice(t, "AW", "+447700900603", map[gateway.Channel]string{
			gateway.Channel("zoom"): zoomDeviceEmail, gateway.Channel("facetime"): "+447700900603"})
		g.startAgent(t, d, nil)
		contacts := []contact{{gateway.Channel("zoom"), officerEmail}, {gateway.Channel("facetime"), officerNumber}}

		const breakerOpen = `gateway_breaker_open{provider="zoom"}`
		if open, ok := metric(g.scrape(t), breakerOpen); !ok || open != 0 {
			t.Errorf("%s = %v (present %v) before any failure, want 0", breakerOpen, open, ok)
		}
		for i := range 2 {
			v := g.request(t, trafalgar, contacts...)
			v = g.waitState(t, v.ID, gateway.StateConnected)
			if got := attempts(v); !slices.Equal(got, []string{"zoom:unknown", "facetime:connected"}) {
				t.Fatalf("verification %d: attempts %v, want zoom unknown, then facetime connected", i+1, got)
			}
			g.outcome(t, v.ID, gateway.OutcomeVerified)
			g.waitFree(t, d.ID)
		}
		if open, ok := metric(g.scrape(t), breakerOpen); !ok || open != 1 {
			t.Errorf("%s = %v (present %v) after two failures, want 1", breakerOpen, open, ok)
		}

		before := len(zf.Requests())
		v := g.request(t, trafalgar, contacts...)
		v = g.waitState(t, v.ID, gateway.StateConnected)
		if got := attempts(v); !slices.Equal(got, []string{"zoom:skipped", "facetime:connected"}) {
			t.Fatalf("attempts %v, want zoom skipped, then facetime connected", got)
		}
		if msg := v.Attempts[0].Error; !strings.Contains(msg, "zoom breaker open") {
			t.Errorf("skipped attempt's error %q does not name the open zoom breaker", msg)
		}
		if after := len(zf.Requests()); after != before {
			t.Errorf("Zoom got %d requests while its breaker was open, want none", after-before)
		}
	})

	t.Run("twilio callback signed for another URL", func(t *testing.T) {
		t.Parallel()
		tf, tcfg := startTwilio(t)
		g := startGateway(t, testEnv(t), func(c *config.Config) { twiliohook.Section.Set(c, tcfg) })
		if err := tf.SetWebhookURL(g.m.PublicURL()); err != nil {
			t.Fatal(err)
		}
		d := g.addDevice(t, "AW", "+447700900604", map[gateway.Channel]string{gateway.Channel("facetime"): "+447700900604"})
		g.startAgent(t, d, always(agent.Behaviour{Reject: true}))
		v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber})
		g.waitState(t, v.ID, gateway.StateConnected)
		as := g.storedAttempts(t, v.ID)
		call := as[len(as)-1]
		if call.Channel != gateway.ChannelPSTN || call.ProviderRef == "" {
			t.Fatalf("last attempt %+v, want a pstn call with its SID", call)
		}

		// Twilio's "the call ended" for that call: were it believed, the
		// handset would be released.
		path := pstn.PathVoice + "?" + url.Values{"attempt": {call.ID}}.Encode()
		form := url.Values{
			"AccountSid": {twilioSID}, "ApiVersion": {"2010-04-01"}, "CallSid": {call.ProviderRef},
			"CallStatus": {"completed"}, "Direction": {"outbound-api"}, "From": {twilioCallerID}, "To": {officerNumber},
		}
		post := func(signedFor string) (int, []byte) {
			h := http.Header{
				"Content-Type":       {"application/x-www-form-urlencoded"},
				"X-Twilio-Signature": {faketwilio.Sign(twilioToken, signedFor, form)},
			}
			return g.send(t, "POST", path, "", []byte(form.Encode()), h)
		}
		before := len(g.events(t, v.ID))
		status, body := post("https://gateway.elsewhere.example" + path)
		if status != http.StatusForbidden || errorCode(t, body) != gateway.ESIGNATURE {
			t.Fatalf("callback signed for another URL: status %d %s, want 403 %s", status, body, gateway.ESIGNATURE)
		}
		if after := len(g.events(t, v.ID)); after != before {
			t.Errorf("the refused callback added %d events", after-before)
		}
		if got := g.verification(t, g.supervisor, v.ID); got.State != gateway.StateConnected {
			t.Errorf("after the refused callback the verification is %s, want connected", got.State)
		}
		if dev, err := g.m.Store.Device(context.Background(), d.ID); err != nil || dev.Lease == nil {
			t.Errorf("after the refused callback the handset's lease is %v (%v), want held", dev.Lease, err)
		}

		// The same callback signed for the gateway's URL is taken.
		if status, body := post(g.m.PublicURL() + path); status != http.StatusNoContent {
			t.Fatalf("callback signed for the gateway's URL: status %d %s, want 204", status, body)
		}
		g.waitFree(t, d.ID)
	})

	t.Run("zoom webhook with a stale timestamp", func(t *testing.T) {
		t.Parallel()
		zf, zcfg := startZoom(t)
		g := startGateway(t, testEnv(t), func(c *config.Config) { zoom.Section.Set(c, zcfg) })
		zf.SetWebhookURL(g.m.PublicURL() + "/webhooks/zoom/")
		d := g.addDevice(t, "AW", "+447700900605", map[gateway.Channel]string{gateway.Channel("zoom"): zoomDeviceEmail})
		a := g.startAgent(t, d, nil)
		v := g.request(t, trafalgar, contact{gateway.Channel("zoom"), officerEmail})
		v = g.waitState(t, v.ID, gateway.StateConnected)
		if v.Channel != gateway.Channel("zoom") || v.JoinURL == "" {
			t.Fatalf("connected on %s with join link %q, want zoom with a link", v.Channel, v.JoinURL)
		}
		if orders := a.Orders(); len(orders) != 1 || orders[0].Kind != gateway.OrderJoin || orders[0].JoinURL == "" {
			t.Errorf("agent orders %+v, want one join order with the meeting's start link", orders)
		}
		// Let the reports still on their way land: both joins from Zoom and
		// the handset's answer.
		eventually(t, "Zoom's join webhooks and the handset's answer", func() bool {
			joins := 0
			for _, d := range zf.Deliveries() {
				if d.Event == "meeting.participant_joined" && d.Status == http.StatusNoContent {
					joins++
				}
			}
			return joins == 2 && slices.ContainsFunc(a.Reports(), func(r agent.Report) bool { return r.Status == gateway.ReportAnswered })
		})
		as := g.storedAttempts(t, v.ID)
		meeting, err := strconv.ParseInt(as[len(as)-1].ProviderRef, 10, 64)
		if err != nil {
			t.Fatalf("zoom attempt's reference %q is not a meeting number", as[len(as)-1].ProviderRef)
		}

		// Zoom's "meeting ended" for that meeting: were it believed, the
		// handset would be released.
		body, err := json.Marshal(map[string]any{
			"event": "meeting.ended", "event_ts": time.Now().UnixMilli(),
			"payload": map[string]any{"account_id": zoomAccount, "object": map[string]any{
				"id": meeting, "uuid": "4444AAAiAAAAAiAiAiiAii==", "host_id": "KDcuGIm1QgePTO8WbOqwIQ", "topic": "Safe Connection",
				"type": 1, "end_time": time.Now().UTC().Format(time.RFC3339)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		post := func(at time.Time) (int, []byte) {
			ts := strconv.FormatInt(at.Unix(), 10)
			h := http.Header{
				"Content-Type":           {"application/json; charset=utf-8"},
				"X-Zm-Request-Timestamp": {ts},
				"X-Zm-Signature":         {fakezoom.Sign(zoomWebhookSecret, ts, body)},
			}
			return g.send(t, "POST", "/webhooks/zoom/", "", body, h)
		}
		before := len(g.events(t, v.ID))
		status, answer := post(time.Now().Add(-10 * time.Minute))
		if status != http.StatusForbidden || errorCode(t, answer) != gateway.ESIGNATURE {
			t.Fatalf("webhook signed ten minutes ago: status %d %s, want 403 %s", status, answer, gateway.ESIGNATURE)
		}
		if after := len(g.events(t, v.ID)); after != before {
			t.Errorf("the refused webhook added %d events", after-before)
		}
		if dev, err := g.m.Store.Device(context.Background(), d.ID); err != nil || dev.Lease == nil {
			t.Errorf("after the refused webhook the handset's lease is %v (%v), want held", dev.Lease, err)
		}

		// The same webhook signed now is taken.
		if status, answer := post(time.Now()); status != http.StatusNoContent {
			t.Fatalf("webhook signed now: status %d %s, want 204", status, answer)
		}
		g.waitFree(t, d.ID)
	})

	t.Run("metrics after a connected verification", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, testEnv(t), nil)
		d := g.addDevice(t, "AW", "+447700900606", facetimeWhatsApp("+447700900606"))
		g.startAgent(t, d, nil)
		v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber})
		g.waitState(t, v.ID, gateway.StateConnected)

		const (
			connected = `gateway_attempts_total{channel="facetime",result="connected"}`
			freeAW    = `gateway_free_devices{room="AW"}`
		)
		page := g.scrape(t)
		if n, ok := metric(page, connected); !ok || n != 1 {
			t.Errorf("%s = %v (present %v), want 1", connected, n, ok)
		}
		if n, ok := metric(page, freeAW); !ok || n != 0 {
			t.Errorf("%s = %v (present %v) while the handset is on the call, want 0", freeAW, n, ok)
		}
		if !regexp.MustCompile(`(?m)^gateway_time_to_connect_seconds_count\{channel="facetime"\} 1$`).MatchString(page) {
			t.Error("no time-to-connect observation for facetime")
		}

		g.outcome(t, v.ID, gateway.OutcomeVerified)
		g.waitFree(t, d.ID)
		page = g.scrape(t)
		if n, ok := metric(page, freeAW); !ok || n != 1 {
			t.Errorf("%s = %v (present %v) once the call ended, want 1", freeAW, n, ok)
		}
		if n, ok := metric(page, `gateway_verifications_finished_total{state="verified"}`); !ok || n != 1 {
			t.Errorf("verified verifications = %v (present %v), want 1", n, ok)
		}
	})
}
