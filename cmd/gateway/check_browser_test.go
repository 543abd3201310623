package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/internal/chromium"
	"github.com/safeconnection/gateway/mocks/agent"
	"github.com/safeconnection/gateway/roster"
)

// TestConsoleCheckInABrowser signs a supervisor in to the console in
// headless Chromium and checks that a live verification shows the check as
// recorded: the roster entry, the photo (served by the console, loaded as
// an image) and the warning signs with their reasons. A radio check opened
// from the console's form gets its record, its outcome and a receipt like
// any other. Ops staff, signed in after, see neither the check nor its
// event, and cannot load the photo; no warrant number, roster name or
// photo bytes are on their pages, the receipt or the log.
func TestConsoleCheckInABrowser(t *testing.T) {
	b := chromium.Start(t)
	// He is rostered in Camden: a stop at Trafalgar Square is outside his
	// area, a warning sign.
	g := startGateway(t, testEnv(t, "GATEWAY_ROSTER="+writeRoster(t, "Camden")), nil)
	d := g.addDevice(t, "AW", "+447700900501", facetimeWhatsApp("+447700900501"))
	g.startAgent(t, d, func(gateway.Order) agent.Behaviour { return agent.Behaviour{AnswerAfter: 200 * time.Millisecond} })

	tab := b.Tab(t, "console-check")
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
	html := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
		must(err)
		return s
	}
	signIn := func(secret, path string) {
		t.Helper()
		must(chromedp.Do(ctx, chromedp.Navigate(g.m.URL()+path)))
		see("h1", "Sign in")
		must(chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#credential"), secret)))
		must(chromedp.Do(ctx, chromedp.Submit(chromedp.CSS("#credential"))))
	}
	must(chromedp.Do(ctx, chromedp.EmulateViewport(1280, 1100)))

	signIn(g.supervisor, "/console/rooms/AW")
	see("h1", "Central West")
	see("#live-status", "Live")
	v := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "+447700900777"})
	see("#v-"+v.ID+" .state", "connected")
	see("#check-"+v.ID+" .entry-name", "Sam Clarke")
	see("#check-"+v.ID+" .roster-shift", "yes")
	see("#check-"+v.ID+" .signs", "outside area")
	see("#check-"+v.ID+" .signs", "area")
	must(chromium.Wait(ctx, `(function () { var i = document.querySelector("#check-`+v.ID+` img.photo"); return !!i && i.complete && i.naturalWidth === 60; })()`))
	chromium.Screenshot(t, ctx, "board-check")

	// The grounds are corrected from the check's form on the record (the
	// live board may replace the form under the typing).
	must(chromedp.Do(ctx, chromedp.Navigate(g.m.URL()+"/console/verifications/"+v.ID)))
	see("h1", v.Reference)
	must(chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#grounds-"+v.ID), "Matched a reported description")))
	must(chromedp.Do(ctx, chromedp.Submit(chromedp.CSS("#grounds-"+v.ID))))
	see("main", "Recorded: the corrected grounds.")
	see("#check-"+v.ID+" .corrections", "Matched a reported description")

	// A radio check opened from the console.
	must(chromedp.Do(ctx, chromedp.Navigate(g.m.URL()+"/console/checks/new?room=AW")))
	see("h1", "Open a check")
	must(chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#collar"), "PC 1234")))
	must(chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#grounds"), "Stopped on Whitehall")))
	must(chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#open-check"))))
	see("main", "The check is open")
	see(".check .entry-name", "Sam Clarke")
	see(".check .grounds", "Stopped on Whitehall")
	see(".facts", "radio")
	ref, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("p.ref").textContent`))
	must(err)
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname.split("/").pop()`))
	must(err)
	// Pressed by the page's own DOM, found afresh each try: a node looked
	// up while the page is still settling after the form's navigation can
	// be gone by the time a click reaches it.
	pressed := false
	for try := 0; try < 50 && !pressed; try++ {
		pressed, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(function () {
			const b = document.querySelector("button.verified");
			if (!b || document.readyState !== "complete") { return false; }
			b.click();
			return true;
		})()`))
		must(err)
		if !pressed {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !pressed {
		t.Fatal("the Verified button never appeared on the radio check's record page")
	}
	see("main", "Recorded: verified.")
	see(".outcome-result", "verified by PS 42")
	radio := g.verification(t, g.supervisor, id)
	if radio.Origin != gateway.OriginRadio || radio.State != gateway.StateVerified || radio.Reference != ref {
		t.Fatalf("the radio check %+v", radio)
	}
	var asked bool
	for _, ev := range g.events(t, id) {
		asked = asked || ev.Type == gateway.EventCheck && strings.Contains(ev.Message, string(roster.SignOutsideArea))
	}
	if !asked {
		t.Errorf("the radio check's record has no check with its signs")
	}
	status, receipt := g.send(t, "GET", "/receipt/"+ref, "", nil, http.Header{"Accept": {"text/html"}})
	if status != http.StatusOK || !bytes.Contains(receipt, []byte(ref)) {
		t.Fatalf("the radio check's receipt: %d %s", status, receipt)
	}

	// Ops staff see neither the check nor its event, nor the photo.
	must(chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".signout button"))))
	see("h1", "Sign in")
	signIn(g.token(t, gateway.RoleOps, "ops 7"), "/console/rooms/AW")
	see("h1", "Central West")
	see("#v-"+v.ID+" .state", "connected")
	pages := map[string]string{"board": html()}
	must(chromedp.Do(ctx, chromedp.Navigate(g.m.URL()+"/console/verifications/"+v.ID)))
	see("h1", v.Reference)
	pages["record"] = html()
	must(chromedp.Do(ctx, chromedp.Navigate(g.m.URL()+"/console/verifications/"+id)))
	see("h1", ref)
	pages["radio record"] = html()
	photoStatus, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(async function () { return (await fetch("/console/verifications/`+v.ID+`/photo")).status; })()`, chromedp.EvalAwaitPromise))
	must(err)
	if photoStatus != http.StatusForbidden {
		t.Errorf("ops staff fetching the photo: %d, want 403", photoStatus)
	}
	pages["receipt"] = string(receipt)
	pages["log"] = g.log.tail(1 << 30)
	png := string(photoPNG(t)[8:24])
	for what, page := range pages {
		for _, secret := range []string{"W998877", "W-998877", "Sam Clarke", "/photo", png} {
			if secret == "/photo" && what == "log" {
				continue // the request log names the path, which holds no more than the verification's ID
			}
			if strings.Contains(page, secret) {
				t.Errorf("the %s shows %q", what, secret)
			}
		}
		if what != "log" && what != "receipt" && (strings.Contains(page, `class="check"`) || strings.Contains(page, "supervisor's check")) {
			t.Errorf("the %s for ops staff shows the check", what)
		}
	}
}

// TestConsoleCallHandlerInABrowser signs a 999 call handler in to the
// console in headless Chromium: he opens a check asked for by 999 from
// the board's link (999 chosen for him), sees the roster entry, photo and
// signs, and records the outcome in his own name. On the live board a
// check asked for by 999 shows him its check and buttons, one the officer
// asked for himself neither (nor its photo), while both are on the board
// at once.
func TestConsoleCallHandlerInABrowser(t *testing.T) {
	b := chromium.Start(t)
	g := startGateway(t, testEnv(t, "GATEWAY_ROSTER="+writeRoster(t, "Westminster")), nil)
	d := g.addDevice(t, "AW", "+447700900502", facetimeWhatsApp("+447700900502"))
	g.startAgent(t, d, func(gateway.Order) agent.Behaviour { return agent.Behaviour{AnswerAfter: 200 * time.Millisecond} })
	handler := g.token(t, gateway.RoleHandler, "Call handler 3012")

	tab := b.Tab(t, "console-handler")
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
	count := func(selector string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+"`"+selector+"`"+`).length`))
		must(err)
		return n
	}
	must(chromedp.Do(ctx, chromedp.EmulateViewport(1280, 1100)))
	must(chromedp.Do(ctx, chromedp.Navigate(g.m.URL()+"/console/rooms/AW")))
	see("h1", "Sign in")
	must(chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#credential"), handler)))
	must(chromedp.Do(ctx, chromedp.Submit(chromedp.CSS("#credential"))))
	see("h1", "Central West")
	see("#live-status", "Live")

	// The officer's own request: on the board, but not his to judge.
	own := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "+447700900778"})
	see("#v-"+own.ID+" .state", "connected")

	// A 999 check opened from the board's link.
	must(chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".open-check-link a"))))
	see("h1", "Open a check")
	checked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("input[name=origin][value='999']").checked`))
	must(err)
	if !checked {
		t.Error("the form does not choose 999 for a call handler")
	}
	must(chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#collar"), "PC 1234")))
	must(chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#open-check"))))
	see("main", "The check is open")
	see(".check .entry-name", "Sam Clarke")
	see(".facts", "999")
	must(chromium.Wait(ctx, `(function () { var i = document.querySelector(".check img.photo"); return !!i && i.complete && i.naturalWidth === 60; })()`))
	chromium.Screenshot(t, ctx, "handler-record")
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname.split("/").pop()`))
	must(err)

	// Back on the board, both at once: his check with its buttons, the
	// officer's without.
	must(chromedp.Do(ctx, chromedp.Navigate(g.m.URL()+"/console/rooms/AW")))
	see("#live-status", "Live")
	see("#check-"+id+" .entry-name", "Sam Clarke")
	var second struct {
		ID string `json:"id"`
	}
	g.call(t, "POST", "/v1/checks", handler, map[string]string{"origin": "999", "collar": "PC1234", "room": "AW"}, http.StatusCreated, &second)
	see("#check-"+second.ID+" .entry-name", "Sam Clarke") // by the live stream, with a mixed board
	if n := count("#verified-" + second.ID); n != 1 {
		t.Errorf("the call handler's 999 check has %d Verified buttons, want 1", n)
	}
	if n := count("#check-" + own.ID + ", #verified-" + own.ID + ", #refused-" + own.ID); n != 0 {
		t.Errorf("the officer's own request shows the call handler %d of its check and buttons, want none", n)
	}
	chromium.Screenshot(t, ctx, "handler-board")
	must(chromium.PreferColourScheme(ctx, "dark"))
	must(chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
	see(".not-yours", "A supervisor judges this one")
	chromium.Screenshot(t, ctx, "handler-board-phone")
	must(chromedp.Do(ctx, chromedp.EmulateViewport(1280, 1100)))
	photo, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(async function () { return (await fetch("/console/verifications/`+own.ID+`/photo")).status; })()`, chromedp.EvalAwaitPromise))
	must(err)
	if photo != http.StatusForbidden {
		t.Errorf("the call handler fetching the photo of the officer's own request: %d, want 403", photo)
	}

	must(chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#verified-"+second.ID))))
	see("main", "Recorded: verified.")
	done := g.verification(t, g.supervisor, second.ID)
	if done.State != gateway.StateVerified || done.Outcome == nil || done.Outcome.Supervisor != "Call handler 3012" {
		t.Fatalf("after the call handler's Verified: %+v", done)
	}
	if v := g.verification(t, g.supervisor, own.ID); v.Outcome != nil {
		t.Errorf("the officer's own request has an outcome: %+v", v.Outcome)
	}
}
