package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/internal/chromium"
	"github.com/safeconnection/gateway/mocks/agent"
)

// TestConsoleInABrowser signs a supervisor in to the console in headless
// Chromium, opens a room's board, and watches a verification the officer
// app asks for arrive on it without a reload, its first attempt declined
// and its second answered as they happen; then clicks "Verified", which
// records the outcome as the API does and takes the call off the board.
// The board is saved as a screenshot. The officer's credential is refused
// at the sign-in form.
func TestConsoleInABrowser(t *testing.T) {
	b := chromium.Start(t)
	g := startGateway(t, testEnv(t), nil)
	d := g.addDevice(t, "AW", "+447700900501", facetimeWhatsApp("+447700900501"))
	var orders atomic.Int32
	g.startAgent(t, d, func(gateway.Order) agent.Behaviour {
		if orders.Add(1) == 1 {
			return agent.Behaviour{Reject: true}
		}
		return agent.Behaviour{AnswerAfter: 300 * time.Millisecond}
	})

	tab := b.Tab(t, "console")
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	see := func(selector, want string) {
		t.Helper()
		if _, err := chromium.WaitText(ctx, selector, want); err != nil {
			t.Fatal(err)
		}
	}
	must(chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))

	// The officer's credential cannot sign in.
	must(chromedp.Do(ctx, chromedp.Navigate(g.m.URL()+"/console")))
	see("h1", "Sign in")
	must(chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#credential"), g.officer)))
	must(chromedp.Do(ctx, chromedp.Submit(chromedp.CSS("#credential"))))
	see("#signin-error", "only a supervisor's, a 999 call handler's or an ops credential")

	// The supervisor's can, and lands on the room she asked for.
	must(chromedp.Do(ctx, chromedp.Navigate(g.m.URL()+"/console/rooms/AW")))
	see("h1", "Sign in")
	must(chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#credential"), g.supervisor)))
	must(chromedp.Do(ctx, chromedp.Submit(chromedp.CSS("#credential"))))
	see("h1", "Central West")
	see("#live-status", "Live")
	see("#devices", d.ID)

	// A verification asked for through the officer API arrives by itself;
	// a marker set on the page shows it was not reloaded.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`))
	must(err)
	v := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "+447700900777"}, contact{Channel: "whatsapp", Handle: "+447700900777"})
	see("#v-"+v.ID+" .ref", v.Reference)
	see("#v-"+v.ID+" .collar", "PC 1234")
	see("#v-"+v.ID+" .attempts", "facetime on "+d.ID+" · rejected")
	see("#v-"+v.ID+" .attempts", "whatsapp on "+d.ID)
	see("#v-"+v.ID+" .state", "connected")
	see("#d-"+d.ID+" .dstate", "in call")
	must(chromium.Wait(ctx, `window.notReloaded === true`))
	chromium.Screenshot(t, ctx, "board")

	// Every control has a label, every button words, and nothing came from
	// another origin.
	unlabelled, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea, button")).filter(function (el) {
		if (el.tagName === "BUTTON") return el.textContent.trim() === "";
		return !(el.id && document.querySelector('label[for="' + el.id + '"]')) && !el.getAttribute("aria-label");
	}).map(function (el) { return el.outerHTML; }).join("\n")`))
	must(err)
	if unlabelled != "" {
		t.Errorf("controls without a label:\n%s", unlabelled)
	}
	foreign, err := chromedp.Run(ctx, chromedp.Evaluate[string](`performance.getEntriesByType("resource").map(function (r) { return r.name; }).filter(function (u) { return new URL(u).origin !== location.origin; }).join(" ")`))
	must(err)
	if foreign != "" {
		t.Errorf("the board loaded from another origin: %s", foreign)
	}

	// "Verified" records the outcome through the API's path.
	must(chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#note-"+v.ID), "warrant card seen")))
	must(chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#verified-"+v.ID))))
	see("main", "Recorded: verified.")
	see("#live", "Live verifications (0)")
	got := g.verification(t, g.supervisor, v.ID)
	if got.State != gateway.StateVerified || got.Outcome == nil || got.Outcome.Supervisor != "PS 42" || got.Outcome.Note != "warrant card seen" {
		t.Fatalf("after Verified: state %s, outcome %+v; want verified by PS 42 with the note", got.State, got.Outcome)
	}
	see("#d-"+d.ID+" .dstate", "free")
	chromium.Screenshot(t, ctx, "board-after")

	// The history lists it, and opens its record.
	must(chromedp.Do(ctx, chromedp.Navigate(g.m.URL()+"/console/history?room=AW&outcome=verified")))
	see("table.history", v.Reference)
	must(chromedp.Do(ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/console/verifications/%s"]`, v.ID)))))
	see("h1", v.Reference)
	see(".outcome-result", "verified by PS 42")
	see(".events", "outcome")
	chromium.Screenshot(t, ctx, "record")
}

// consoleTab opens a tab of its own session (its own cookies) at the
// viewport's size, and signs in there with the secret at the board of room
// AW.
func consoleTab(t *testing.T, b *chromium.Browser, g *rig, name string, width, height int64, secret string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Session(t, name), 60*time.Second)
	t.Cleanup(cancel)
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.EmulateViewport(width, height),
		chromedp.Navigate(g.m.URL() + "/console/rooms/AW"),
	}
	for _, s := range steps {
		if err := chromedp.Do(ctx, s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := chromium.WaitText(ctx, "h1", "Sign in"); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#credential"), secret), chromedp.Submit(chromedp.CSS("#credential"))); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, err := chromium.WaitText(ctx, "h1", "Central West"); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ctx
}

// layout is what a page's width and a reference's box measure.
type layout struct {
	ScrollWidth float64 `json:"scrollWidth"` // the document's
	InnerWidth  float64 `json:"innerWidth"`  // the window's
	Left        float64 `json:"left"`        // the reference's box, in the viewport
	Right       float64 `json:"right"`
	Width       float64 `json:"width"`
	TextWidth   float64 `json:"textWidth"` // the reference's text (its scrollWidth)
	BoxWidth    float64 `json:"boxWidth"`  // and the room it has (its clientWidth)
	Text        string  `json:"text"`
	// The devices' table and the room its wrapper gives it: a wider table
	// hides its last columns (battery, heartbeat) behind a sideways scroll.
	TableWidth float64 `json:"tableWidth"`
	WrapWidth  float64 `json:"wrapWidth"`
}

// TestConsoleOnTabletAndPhone opens the board with a connected
// verification on it at a tablet's and a phone's width, each in a new tab
// of its own (a viewport changed back and forth in one tab gives empty
// screenshots), and checks that nothing is wider than the window and the
// reference is all on the screen, unclipped. Each is saved as a screenshot.
func TestConsoleOnTabletAndPhone(t *testing.T) {
	b := chromium.Start(t)
	g := startGateway(t, testEnv(t), nil)
	d := g.addDevice(t, "AW", "+447700900501", facetimeWhatsApp("+447700900501"))
	g.startAgent(t, d, func(gateway.Order) agent.Behaviour { return agent.Behaviour{AnswerAfter: 200 * time.Millisecond} })
	v := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "+447700900777"})

	for _, size := range []struct {
		name          string
		width, height int64
		scheme        string
	}{
		{"tablet", 768, 1024, "light"},
		{"phone", 390, 844, "dark"}, // a phone at night
	} {
		t.Run(size.name, func(t *testing.T) {
			ctx := consoleTab(t, b, g, size.name, size.width, size.height, g.supervisor)
			if err := chromium.PreferColourScheme(ctx, size.scheme); err != nil {
				t.Fatal(err)
			}
			if _, err := chromium.WaitText(ctx, "#v-"+v.ID+" .state", "connected"); err != nil {
				t.Fatal(err)
			}
			got, err := chromedp.Run(ctx, chromedp.Evaluate[layout](`(function () {
				var r = document.getElementById("ref-`+v.ID+`"), box = r.getBoundingClientRect();
				var wrap = document.querySelector("#devices .table-wrap");
				return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
					left: box.left, right: box.right, width: box.width,
					textWidth: r.scrollWidth, boxWidth: r.clientWidth, text: r.textContent,
					tableWidth: wrap.scrollWidth, wrapWidth: wrap.clientWidth};
			})()`))
			if err != nil {
				t.Fatal(err)
			}
			if got.InnerWidth != float64(size.width) {
				t.Fatalf("the window is %v wide, want the %s's %d", got.InnerWidth, size.name, size.width)
			}
			if got.ScrollWidth > got.InnerWidth {
				t.Errorf("the board is %v wide in a window of %v: it scrolls sideways", got.ScrollWidth, got.InnerWidth)
			}
			if got.Text != v.Reference || got.Width <= 0 || got.Left < 0 || got.Right > got.InnerWidth || got.TextWidth > got.BoxWidth {
				t.Errorf("the reference %q is not all on the screen: box %v to %v of %v, text %v wide in %v",
					got.Text, got.Left, got.Right, got.InnerWidth, got.TextWidth, got.BoxWidth)
			}
			if got.TableWidth > got.WrapWidth {
				t.Errorf("the devices' table is %v wide in %v: its last columns are off the screen", got.TableWidth, got.WrapWidth)
			}
			chromium.Screenshot(t, ctx, "board-"+size.name)

			// The form a radio or 999 check is opened with fits too.
			if _, err := chromedp.Run(ctx, chromedp.Navigate(g.m.URL()+"/console/checks/new?room=AW")); err != nil {
				t.Fatal(err)
			}
			if _, err := chromium.WaitText(ctx, "h1", "Open a check"); err != nil {
				t.Fatal(err)
			}
			form, err := chromedp.Run(ctx, chromedp.Evaluate[layout](`({scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth})`))
			if err != nil {
				t.Fatal(err)
			}
			if form.ScrollWidth > form.InnerWidth {
				t.Errorf("the open-check form is %v wide in a window of %v: it scrolls sideways", form.ScrollWidth, form.InnerWidth)
			}
			chromium.Screenshot(t, ctx, "opencheck-"+size.name)
		})
	}
}

// TestConsoleCSRFInABrowser posts the board's outcome form with fetch()
// from a signed-in page in Chromium, as a forged form would: without its
// CSRF field, and with the token of another supervisor's session (signed in
// in a browser context of its own). Each is refused with 403 and records
// nothing; the page's own token then records the outcome.
func TestConsoleCSRFInABrowser(t *testing.T) {
	b := chromium.Start(t)
	g := startGateway(t, testEnv(t), nil)
	d := g.addDevice(t, "AW", "+447700900501", facetimeWhatsApp("+447700900501"))
	g.startAgent(t, d, func(gateway.Order) agent.Behaviour { return agent.Behaviour{AnswerAfter: 200 * time.Millisecond} })
	v := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "+447700900777"})

	mine := consoleTab(t, b, g, "supervisor", 1280, 900, g.supervisor)
	theirs := consoleTab(t, b, g, "another supervisor", 1280, 900, g.token(t, gateway.RoleSupervisor, "PS 43"))
	if _, err := chromium.WaitText(mine, "#v-"+v.ID+" .state", "connected"); err != nil {
		t.Fatal(err)
	}
	if err := chromium.Wait(mine, `!!document.getElementById("verified-`+v.ID+`")`); err != nil {
		t.Fatal(err)
	}
	// token is the CSRF token of the session signed in in the tab, as its
	// page carries it for the board's script.
	token := func(ctx context.Context) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('meta[name="csrf"]').content`))
		if err != nil || s == "" {
			t.Fatalf("the outcome form's CSRF token: %q, %v", s, err)
		}
		return s
	}
	own, other := token(mine), token(theirs)
	if own == other {
		t.Fatalf("two sessions have one CSRF token %s", own)
	}
	// post sends the outcome form's fields (with csrf unless empty) from the
	// signed-in page, and returns the answer's status; 0 is the redirect
	// back to the board (fetch does not follow it, so it reads as opaque).
	post := func(csrf string) int {
		t.Helper()
		status, err := chromedp.Run(mine, chromedp.Evaluate[int](`(async function (csrf) {
			var form = new URLSearchParams({outcome: "verified", room: "AW", note: "forged"});
			if (csrf) { form.set("csrf", csrf); }
			var r = await fetch("/console/verifications/`+v.ID+`/outcome", {method: "POST", body: form, redirect: "manual"});
			return r.status;
		})(`+strconv.Quote(csrf)+`)`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return status
	}
	for _, tt := range []struct{ name, csrf string }{
		{"without the csrf field", ""},
		{"with another session's token", other},
	} {
		if got := post(tt.csrf); got != http.StatusForbidden {
			t.Errorf("the outcome form posted %s: %d, want 403", tt.name, got)
		}
		if got := g.verification(t, g.supervisor, v.ID); got.State != gateway.StateConnected || got.Outcome != nil {
			t.Fatalf("after the form posted %s: state %s, outcome %+v; want connected, no outcome", tt.name, got.State, got.Outcome)
		}
	}
	if got := post(own); got != 0 {
		t.Fatalf("the outcome form posted with its session's token: %d, want the redirect back to the board", got)
	}
	if got := g.verification(t, g.supervisor, v.ID); got.State != gateway.StateVerified || got.Outcome == nil || got.Outcome.Supervisor != "PS 42" {
		t.Fatalf("after the form posted with its session's token: state %s, outcome %+v; want verified by PS 42", got.State, got.Outcome)
	}
}
