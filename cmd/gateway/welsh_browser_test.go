package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/internal/chromium"
	"github.com/safeconnection/gateway/mocks/agent"
)

// TestPublicPagesInWelshInABrowser opens the public's pages in headless
// Chromium in Welsh: first as a phone whose language is Welsh
// (Accept-Language: cy) sees them (the numbers, a number checked, the
// receipt form, her live check changing by its event stream until
// verified, and her receipt from its link), then as one in English whose
// owner presses "Cymraeg": the language stays as she follows the links and
// the forms, the live check's stream speaks it, and "English" brings the
// English back. Screenshots of both languages as artifacts.
func TestPublicPagesInWelshInABrowser(t *testing.T) {
	b := chromium.Start(t)
	g := startGateway(t, testEnv(t), nil)
	d := g.addDevice(t, "AW", "+447700900506", facetimeWhatsApp("+447700900506"))
	g.startAgent(t, d, func(gateway.Order) agent.Behaviour { return agent.Behaviour{AnswerAfter: 200 * time.Millisecond} })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	see := func(ctx context.Context, selector, want string) string {
		t.Helper()
		got, err := chromium.WaitText(ctx, selector, want)
		must(err)
		return got
	}
	lang := func(ctx context.Context, want string) {
		t.Helper()
		must(chromium.Wait(ctx, `document.documentElement.lang === "`+want+`"`))
	}
	open := func(ctx context.Context, path string) {
		t.Helper()
		must(chromedp.Do(ctx, chromedp.Navigate(g.m.URL()+path)))
	}
	click := func(ctx context.Context, selector string) {
		t.Helper()
		must(chromedp.Do(ctx, chromedp.Click(chromedp.CSS(selector))))
	}

	// Her phone is in Welsh.
	her := b.Session(t, "welsh-phone")
	ctx, cancel := context.WithTimeout(her, 60*time.Second)
	defer cancel()
	must(chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": "cy"}})
		return err
	})))
	must(chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
	open(ctx, "/numbers")
	lang(ctx, "cy")
	see(ctx, "h1", "Rhifau swyddogol yr ystafelloedd rheoli")
	see(ctx, "footer", "Os ydych mewn perygl nawr, ffoniwch 999.")
	see(ctx, "#lang-switch", "English")
	chromium.Screenshot(t, ctx, "numbers-cy")
	number, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".rooms .number").textContent`))
	must(err)
	must(chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#number"), number)))
	must(chromedp.Do(ctx, chromedp.Submit(chromedp.CSS("#number"))))
	see(ctx, ".answer", "Ydy, mae hwn yn rhif swyddogol")
	chromium.Screenshot(t, ctx, "check-cy")
	open(ctx, "/receipt")
	see(ctx, "h1", "Gwirio derbynneb")
	see(ctx, "button", "Gwirio'r dderbynneb")
	chromium.Screenshot(t, ctx, "receipt-form-cy")

	v := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "+447700900782"})
	must(chromedp.Do(ctx, chromedp.Navigate(v.PublicURL)))
	lang(ctx, "cy")
	see(ctx, "h1", "Gwiriad byw")
	see(ctx, ".address", "Edrychwch ar y bar cyfeiriad")
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sameLoad = true`))
	must(err)
	see(ctx, ".stage", "Wedi cysylltu")
	see(ctx, ".word-box", "Y gair gwirio yw")
	chromium.Screenshot(t, ctx, "live-connected-cy")
	g.outcome(t, v.ID, gateway.OutcomeVerified)
	see(ctx, ".stage", "Cafodd y swyddog ei ddilysu")
	see(ctx, ".collar", "PC 1234")
	see(ctx, "#live-status", "Mae'r gwiriad wedi dod i ben.")
	same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sameLoad === true`))
	must(err)
	if !same {
		t.Error("the page was reloaded; want the change in Welsh by the event stream")
	}
	chromium.Screenshot(t, ctx, "live-verified-cy")
	click(ctx, `a[href="/receipt/`+v.Reference+`"]`)
	see(ctx, "h1", "Derbynneb")
	see(ctx, ".receipt", "wedi'i ddilysu")
	see(ctx, ".receipt", ", tua ")
	chromium.Screenshot(t, ctx, "receipt-cy")

	// A phone in English; its owner presses "Cymraeg".
	him := b.Session(t, "switch")
	sctx, scancel := context.WithTimeout(him, 60*time.Second)
	defer scancel()
	must(chromedp.Do(sctx, chromedp.EmulateViewport(1280, 900)))
	open(sctx, "/numbers")
	lang(sctx, "en-GB")
	see(sctx, "h1", "Official operations room numbers")
	see(sctx, "footer", "If you are in danger now, call 999.")
	chromium.Screenshot(t, sctx, "numbers-en")
	click(sctx, "#lang-switch")
	see(sctx, "h1", "Rhifau swyddogol yr ystafelloedd rheoli")
	lang(sctx, "cy")
	// The cookie keeps it along the links and through the forms.
	click(sctx, `footer a[href="/receipt"]`)
	see(sctx, "h1", "Gwirio derbynneb")
	must(chromedp.Do(sctx, chromedp.SendKeys(chromedp.CSS("#reference"), strings.ToLower(v.Reference))))
	must(chromedp.Do(sctx, chromedp.Submit(chromedp.CSS("#reference"))))
	see(sctx, "h1", "Derbynneb")
	see(sctx, ".answer", "Cafodd y swyddog ei ddilysu")
	click(sctx, "#lang-switch")
	see(sctx, "h1", "Receipt")
	see(sctx, ".answer", "The officer was verified.")
	lang(sctx, "en-GB")
	chromium.Screenshot(t, sctx, "receipt-en")

	// A live check, in English, then in Welsh by the switch: the stream
	// follows.
	w := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "+447700900783"})
	must(chromedp.Do(sctx, chromedp.Navigate(w.PublicURL)))
	see(sctx, "h1", "Live check")
	see(sctx, ".stage", "Connected")
	chromium.Screenshot(t, sctx, "live-connected-en")
	click(sctx, "#lang-switch")
	see(sctx, "h1", "Gwiriad byw")
	see(sctx, ".stage", "Wedi cysylltu")
	_, err = chromedp.Run(sctx, chromedp.Evaluate[bool](`window.sameLoad = true`))
	must(err)
	g.outcome(t, w.ID, gateway.OutcomeRefused)
	see(sctx, ".stage", "Ni chafodd y swyddog ei ddilysu")
	see(sctx, "#live-status", "Mae'r gwiriad wedi dod i ben.")
	if same, err := chromedp.Run(sctx, chromedp.Evaluate[bool](`window.sameLoad === true`)); err != nil || !same {
		t.Errorf("the refusal reached the Welsh page by a reload, or not at all (%v)", err)
	}
	chromium.Screenshot(t, sctx, "live-refused-cy")
	for _, line := range b.Log() {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Refused") {
			t.Errorf("the browser refused something: %s", line)
		}
	}
}
