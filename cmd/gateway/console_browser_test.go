package main

import (
	"context"
	"fmt"
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
	see("#signin-error", "only a supervisor's or an ops credential")

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
