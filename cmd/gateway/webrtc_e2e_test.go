package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/twiliohook"
	"github.com/safeconnection/gateway/adapters/twiliovideo"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/internal/chromium"
	"github.com/safeconnection/gateway/mocks/agent"
	faketwilio "github.com/safeconnection/gateway/mocks/twilio"
)

// The fake Twilio's API key, which Twilio Video needs.
const (
	twilioKeySID    = "SK0123456789abcdef0123456789abcdef"
	twilioKeySecret = "k3ys3cr3tf0rv1d30"
)

// startTwilioVideo serves a fake Twilio with an API key on loopback until
// the test ends, in whose rooms no one joins but through a browser, and
// returns it with the configuration that turns Twilio Video on and points
// the join page at the fake's SDK.
func startTwilioVideo(tb testing.TB) (*faketwilio.Fake, twiliohook.Config) {
	tb.Helper()
	f := faketwilio.New(twilioSID, twilioToken)
	f.APIKeySID, f.APIKeySecret = twilioKeySID, twilioKeySecret
	f.SetJoins(faketwilio.Never, faketwilio.Never)
	srv := httptest.NewServer(f)
	tb.Cleanup(func() {
		f.Close()
		srv.Close()
	})
	return f, twiliohook.Config{AccountSID: twilioSID, AuthToken: twilioToken, FromNumber: twilioCallerID,
		APIKeySID: twilioKeySID, APIKeySecret: twilioKeySecret, APIURL: srv.URL, VideoURL: srv.URL,
		VideoSDKURL: srv.URL + faketwilio.SDKPath}
}

// openPage loads url in the tab and waits until the page's status says
// want.
func openPage(tb testing.TB, tab context.Context, url, want string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tab, waitFor)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		tb.Fatalf("open %s: %v", url, err)
	}
	if text, err := chromium.WaitText(ctx, "#status", want); err != nil {
		tb.Fatalf("%v (%q)", err, text)
	}
}

// waitJoinURL polls the verification as the officer app does until it
// shows a join link.
func (g *rig) waitJoinURL(tb testing.TB, id string) httpapi.VerificationView {
	tb.Helper()
	var v httpapi.VerificationView
	eventually(tb, "a join link for "+id, func() bool {
		v = g.verification(tb, g.officer, id)
		return v.JoinURL != ""
	})
	return v
}

// TestWebRTCInChromium runs a verification on Twilio Video through the
// whole gateway, with both ends in Chromium: the officer opens the join
// link the API shows him, the ops-room handset the link its agent was
// sent, and the verification connects because both browsers joined the
// room (the fake Twilio's participant-connected callbacks, signed, through
// the gateway's webhook). The supervisor's outcome completes the room, and
// both pages say the call has ended.
func TestWebRTCInChromium(t *testing.T) {
	t.Parallel()
	tf, tcfg := startTwilioVideo(t)
	g := startGateway(t, testEnv(t, "GATEWAY_RING_TIMEOUT=20s", "GATEWAY_BUDGET=40s"), func(c *config.Config) { twiliohook.Section.Set(c, tcfg) })
	d := g.addDevice(t, "AW", "+447700900701", map[gateway.Channel]string{gateway.Channel("webrtc"): "aw-handset-701@ops.met.example"})
	// The handset's agent takes the join order and leaves it to the test,
	// which opens the link in a browser, as the handset would.
	a := g.startAgent(t, d, always(agent.Behaviour{Silent: true}))
	b := chromium.Start(t)

	v := g.request(t, trafalgar, contact{gateway.Channel("webrtc"), officerEmail})
	v = g.waitJoinURL(t, v.ID)
	if !strings.HasPrefix(v.JoinURL, g.m.PublicURL()+twiliovideo.PathJoin) {
		t.Fatalf("join link %q is not the gateway's page", v.JoinURL)
	}

	officer := b.Tab(t, "officer")
	openPage(t, officer, v.JoinURL, "Connected")
	if v := g.verification(t, g.supervisor, v.ID); v.State == gateway.StateConnected {
		t.Errorf("connected with only the officer in the room")
	}

	var deviceURL string
	eventually(t, "the handset's join order", func() bool {
		for _, o := range a.Orders() {
			if o.Kind == gateway.OrderJoin && o.Channel == gateway.Channel("webrtc") {
				deviceURL = o.JoinURL
			}
		}
		return deviceURL != ""
	})
	device := b.Tab(t, "device")
	openPage(t, device, deviceURL, "Connected")

	v = g.waitState(t, v.ID, gateway.StateConnected)
	if v.Channel != gateway.Channel("webrtc") || v.Device != d.ID {
		t.Errorf("connected on %s with %q, want webrtc with %s", v.Channel, v.Device, d.ID)
	}
	var parties []string
	for _, ev := range g.events(t, v.ID) {
		if ev.Type == gateway.EventReport && ev.Report != nil && ev.Report.Status == gateway.ReportJoined {
			parties = append(parties, string(ev.Report.Party))
		}
	}
	if !slices.Equal(parties, []string{"officer", "device"}) {
		t.Errorf("joined reports of %v, want the officer's then the device's", parties)
	}
	var identities []string
	for _, c := range tf.Connects() {
		identities = append(identities, c.Identity)
	}
	if !slices.Equal(identities, []string{"officer", "device"}) {
		t.Errorf("the fake's rooms were joined by %v, want the officer then the device", identities)
	}

	g.outcome(t, v.ID, gateway.OutcomeVerified)
	for _, tab := range []context.Context{officer, device} {
		ctx, cancel := context.WithTimeout(tab, waitFor)
		if text, err := chromium.WaitText(ctx, "#status", "The call has ended"); err != nil {
			t.Errorf("%v (%q)", err, text)
		}
		cancel()
	}
	g.waitFree(t, d.ID)
	for _, line := range b.Log() {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "exception") {
			t.Errorf("the browser said: %s", line)
		}
	}

	// A link whose token does not check out shows the error page.
	bad := v.JoinURL[:strings.Index(v.JoinURL, "?")] + "?token=" + strings.Repeat("x", 40)
	openPage(t, b.Tab(t, "forged"), bad, "This link is not valid or has expired.")
	status, body := g.send(t, http.MethodGet, strings.TrimPrefix(bad, g.m.URL()), "", nil, nil)
	if status != http.StatusForbidden || !strings.Contains(string(body), "<!doctype html>") {
		t.Errorf("forged link: %d %.200s", status, body)
	}
}

// TestDemoServesTheJoinPage runs the gateway as -demo does and joins a
// webrtc call's room from Chromium: the page loads the SDK the demo's fake
// Twilio serves.
func TestDemoServesTheJoinPage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := config.LoadDemo([]string{"GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DATA_DIR=" + dir, "GATEWAY_LOG_LEVEL=error"}, providers.Sections()...)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, true)
	if err := m.Open(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	m.Logger.SetOutput(&logBuffer{})
	if !strings.HasSuffix(twiliohook.Section.Get(m.Config).VideoSDKURL, faketwilio.SDKPath) || !strings.HasPrefix(twiliohook.Section.Get(m.Config).VideoSDKURL, "http://127.0.0.1:") {
		t.Errorf("the demo's SDK URL is %q, not its fake Twilio's", twiliohook.Section.Get(m.Config).VideoSDKURL)
	}
	b, err := os.ReadFile(filepath.Join(dir, "demo-tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tokens map[string]string
	if err := json.Unmarshal(b, &tokens); err != nil {
		t.Fatal(err)
	}
	g := &rig{m: m, log: &logBuffer{}, client: newClient(t), officer: tokens["officer"], supervisor: tokens["supervisor"]}
	browser := chromium.Start(t)

	v := g.request(t, trafalgar, contact{gateway.Channel("webrtc"), officerEmail})
	v = g.waitJoinURL(t, v.ID)
	openPage(t, browser.Tab(t, "officer"), v.JoinURL, "Connected")
	g.waitState(t, v.ID, gateway.StateConnected)
}

// TestSDKURLDefaults checks that the configuration's default SDK is the
// adapter's.
func TestSDKURLDefaults(t *testing.T) {
	cfg, err := config.LoadDemo(nil, providers.Sections()...)
	if err != nil {
		t.Fatal(err)
	}
	if twiliohook.Section.Get(cfg).VideoSDKURL != twiliovideo.DefaultSDKURL {
		t.Errorf("GATEWAY_TWILIO_VIDEO_SDK_URL defaults to %q, the adapter to %q", twiliohook.Section.Get(cfg).VideoSDKURL, twiliovideo.DefaultSDKURL)
	}
}
