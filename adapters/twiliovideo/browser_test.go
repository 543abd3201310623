package twiliovideo_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/safeconnection/gateway/adapters/twiliovideo"
	"github.com/safeconnection/gateway/internal/chromium"
	"github.com/safeconnection/gateway/mocks/twilio"
)

// browserEnv is an env whose gateway serves the join page as well as the
// callbacks, whose page loads the fake Twilio's SDK, and whose rooms no one
// joins but through a browser.
func browserEnv(tb testing.TB) *env {
	tb.Helper()
	e := newEnv(tb)
	e.fake.SetJoins(twilio.Never, twilio.Never)
	mux := http.NewServeMux()
	mux.Handle(twiliovideo.PathCallback, e.adapter.Webhook())
	mux.Handle(twiliovideo.PathJoin, e.adapter.JoinPage())
	e.gw.Config.Handler = mux
	e.adapter.SDKURL = e.api.URL + twilio.SDKPath
	return e
}

// open loads url in the tab and waits for the page's status to say want.
func open(tb testing.TB, tab context.Context, url, want string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		tb.Fatalf("open %s: %v", url, err)
	}
	if _, err := chromium.WaitText(ctx, "#status", want); err != nil {
		tb.Fatal(err)
	}
	// What a person sees, at a desk screen's width and a phone's.
	name := strings.ToLower(strings.Trim(strings.Fields(want)[0], ".,"))
	for _, screen := range []struct {
		name          string
		width, height int64
	}{{"desk", 1280, 900}, {"phone", 390, 844}} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(screen.width, screen.height)); err != nil {
			tb.Fatal(err)
		}
		chromium.Screenshot(tb, ctx, name+"-"+screen.name)
	}
}

// TestJoinPageInChromium opens both join links in Chromium: each page
// loads the SDK, joins the room with its token, and the fake's
// participant-connected callbacks reach the Reporter as the officer's and
// the device's joins; completing the room ends the call on both pages.
func TestJoinPageInChromium(t *testing.T) {
	t.Parallel()
	e := browserEnv(t)
	b := chromium.Start(t)
	l := leg(30 * time.Second)
	p, err := e.adapter.Place(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}

	officer := b.Tab(t, "officer")
	open(t, officer, p.JoinURL, "Connected")
	e.rec.waitFor(t, 1)
	rep := e.rec.Reports()[0]
	if rep.Status != "joined" || string(rep.Party) != twiliovideo.PartyOfficer || rep.AttemptID != l.AttemptID || rep.ProviderRef != p.ProviderRef {
		t.Errorf("report %+v, want the officer's join", rep)
	}
	if c := e.fake.Connects(); len(c) != 1 || c[0].Identity != twiliovideo.PartyOfficer || c[0].Room != l.AttemptID || c[0].RoomSID != p.ProviderRef {
		t.Errorf("connects %+v, want the officer's to room %s", c, l.AttemptID)
	}
	ctx, cancel := context.WithTimeout(officer, 10*time.Second)
	defer cancel()
	if text, err := chromium.WaitText(ctx, "#detail", "Waiting for the operations room"); err != nil {
		t.Error(text, err)
	}
	// The camera's preview plays.
	playing, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){var v=document.querySelector("#local video");return !!v && !!v.srcObject && v.srcObject.getVideoTracks().length===1})()`))
	if err != nil || !playing {
		t.Errorf("no camera preview: %v", err)
	}

	device := b.Tab(t, "device")
	open(t, device, e.rec.Links()[0], "Connected")
	if got := e.rec.waitFor(t, 2); strings.Join(got, ",") != "joined:officer,joined:device" {
		t.Errorf("reports %v", got)
	}
	// The officer's page learns that the other side is there.
	if err := chromium.Wait(ctx, `document.querySelector("#detail").textContent === ""`); err != nil {
		t.Errorf("the officer's page still waits for the operations room: %v", err)
	}

	if err := e.adapter.HangUp(context.Background(), l, p); err != nil {
		t.Fatal(err)
	}
	for _, tab := range []context.Context{officer, device} {
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		if text, err := chromium.WaitText(ctx, "#status", "The call has ended"); err != nil {
			t.Error(text, err)
		}
		cancel()
	}
	if got := e.rec.waitFor(t, 3); got[2] != "ended" {
		t.Errorf("reports %v", got)
	}
	for _, line := range b.Log() {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "exception") {
			t.Errorf("the browser said: %s", line)
		}
	}
}

// TestJoinPageInChromiumRefused checks what a person sees when a link is
// not valid, and when the phone refuses the camera.
func TestJoinPageInChromiumRefused(t *testing.T) {
	t.Parallel()
	t.Run("link not valid", func(t *testing.T) {
		t.Parallel()
		e := browserEnv(t)
		b := chromium.Start(t)
		p, err := e.adapter.Place(context.Background(), leg(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		open(t, b.Tab(t, "officer"), p.JoinURL[:len(p.JoinURL)-4]+"AAAA", "This link is not valid or has expired.")
		if c := e.fake.Connects(); len(c) != 0 {
			t.Errorf("the page joined: %+v", c)
		}
	})
	t.Run("camera refused", func(t *testing.T) {
		t.Parallel()
		e := browserEnv(t)
		b := chromium.Start(t, chromedp.Flag("use-fake-ui-for-media-stream", false), chromedp.Flag("deny-permission-prompts", true))
		p, err := e.adapter.Place(context.Background(), leg(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		open(t, b.Tab(t, "officer"), p.JoinURL, "The camera or microphone was refused.")
		if c := e.fake.Connects(); len(c) != 0 {
			t.Errorf("the page joined without a camera: %+v", c)
		}
	})
	t.Run("SDK not loaded", func(t *testing.T) {
		t.Parallel()
		e := browserEnv(t)
		e.adapter.SDKURL = e.api.URL + "/js/video/nosuch.js"
		b := chromium.Start(t)
		p, err := e.adapter.Place(context.Background(), leg(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		open(t, b.Tab(t, "officer"), p.JoinURL, "The video call could not be loaded.")
	})
}
