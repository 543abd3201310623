package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/internal/chromium"
	"github.com/safeconnection/gateway/mocks/agent"
)

// wordShape is a check word's shape: a word of the list and two digits.
var wordShape = regexp.MustCompile(`^([a-z]+) ([1-9][0-9])$`)

// liveToken is the token of a live link: its last path element.
func liveToken(tb testing.TB, publicURL string) string {
	tb.Helper()
	i := strings.LastIndex(publicURL, "/live/")
	if i < 0 {
		tb.Fatalf("public_url %q is not a live link", publicURL)
	}
	return publicURL[i+len("/live/"):]
}

// TestLiveCheckLinks checks the live check's link from outside: the
// officer's view carries public_url on the gateway's public address and a
// QR code of it, never the check word; the page's JSON shows the stage and
// a word of the list (different across verifications); a wrong, a
// guessed and an expired token get the same 404; the supervisor records
// that he read the word once, in his own name, the receipt says so, and
// the word is in no log line, record or officer's view.
func TestLiveCheckLinks(t *testing.T) {
	g := startGateway(t, testEnv(t, "GATEWAY_LIVE_AFTER=1s"), nil)
	d := g.addDevice(t, "AW", "+447700900503", facetimeWhatsApp("+447700900503"))
	g.startAgent(t, d, func(gateway.Order) agent.Behaviour { return agent.Behaviour{AnswerAfter: 100 * time.Millisecond} })

	v := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "+447700900779"})
	if !strings.HasPrefix(v.PublicURL, g.m.PublicURL()+"/live/v_") {
		t.Fatalf("public_url %q, want a live link on %s", v.PublicURL, g.m.PublicURL())
	}
	token := liveToken(t, v.PublicURL)
	if len(token) < len(v.ID)+1+22 {
		t.Fatalf("the token %q carries fewer than 128 bits", token)
	}
	status, qr := g.send(t, "GET", "/v1/verifications/"+v.ID+"/qr", g.officer, nil, nil)
	img, err := png.Decode(bytes.NewReader(qr))
	if status != http.StatusOK || err != nil || img.Bounds().Dx() < 200 {
		t.Fatalf("the QR code: %d, %v", status, err)
	}
	g.call(t, "GET", "/v1/verifications/"+v.ID+"/qr", g.token(t, gateway.RoleOps, "ops"), nil, http.StatusForbidden, nil)

	live := func(tok string) (int, httpapi.LiveView, []byte) {
		t.Helper()
		status, b := g.send(t, "GET", "/live/"+tok, "", nil, http.Header{"Accept": {"application/json"}})
		var lv httpapi.LiveView
		if status == http.StatusOK {
			if err := json.Unmarshal(b, &lv); err != nil {
				t.Fatal(err)
			}
		}
		return status, lv, b
	}
	g.waitState(t, v.ID, gateway.StateConnected)
	_, lv, _ := live(token)
	m := wordShape.FindStringSubmatch(lv.Word)
	if lv.Stage != httpapi.LiveConnected || lv.Room != "Central West" || m == nil || !slices.Contains(httpapi.CheckWords(), m[1]) {
		t.Fatalf("the live check %+v", lv)
	}
	if lv.Officer != "" || lv.Reference != "" {
		t.Errorf("before the outcome the live check shows %+v", lv)
	}
	// The page: it refreshes itself without JavaScript, and its policy
	// lets in its own script and stream alone.
	page := g.exchange(t, "GET", "/live/"+token, "", nil, nil)
	csp := page.header.Get("Content-Security-Policy")
	if page.status != http.StatusOK || !bytes.Contains(page.body, []byte(`<noscript><meta http-equiv="refresh" content="5"></noscript>`)) ||
		!strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || !bytes.Contains(page.body, []byte(lv.Word)) {
		t.Fatalf("the live page: %d, CSP %q\n%s", page.status, csp, page.body)
	}
	// Typed by its reference: on to the live page (the client follows
	// the 303).
	if typed := g.exchange(t, "GET", "/live?reference="+strings.ToLower(v.Reference), "", nil, nil); typed.status != http.StatusOK ||
		!bytes.Contains(typed.body, []byte(lv.Word)) {
		t.Fatalf("the live check by its reference: %d\n%s", typed.status, typed.body)
	}

	// Wrong and guessed tokens look the same as each other.
	dot := strings.IndexByte(token, '.')
	flip := byte('A')
	if token[dot+1] == 'A' {
		flip = 'B'
	}
	wrong := token[:dot+1] + string(flip) + token[dot+2:]
	s1, b1 := g.send(t, "GET", "/live/"+wrong, "", nil, nil)
	s2, b2 := g.send(t, "GET", "/live/v_0123456789abcdef0123.AAAAAAAAAAAAAAAAAAAAAA", "", nil, nil)
	if s1 != http.StatusNotFound || s2 != http.StatusNotFound || !bytes.Equal(b1, b2) {
		t.Fatalf("a wrong token: %d, a guessed one: %d; the pages differ: %v", s1, s2, !bytes.Equal(b1, b2))
	}

	// The word, read and recorded, once.
	var read httpapi.WordReadReply
	g.call(t, "POST", "/v1/verifications/"+v.ID+"/word-read", g.supervisor, nil, http.StatusOK, &read)
	var again httpapi.WordReadReply
	g.call(t, "POST", "/v1/verifications/"+v.ID+"/word-read", g.supervisor, nil, http.StatusOK, &again)
	if read.By != "PS 42" || again.At != read.At {
		t.Fatalf("the word read: %+v, again %+v", read, again)
	}
	g.call(t, "POST", "/v1/verifications/"+v.ID+"/word-read", g.officer, nil, http.StatusForbidden, nil)
	if _, lv, _ = live(token); !lv.WordRead {
		t.Errorf("the live check does not say the word was read: %+v", lv)
	}
	g.outcome(t, v.ID, gateway.OutcomeVerified)
	_, lv, _ = live(token)
	if lv.Stage != httpapi.LiveVerified || lv.Officer != "PC 1234" || lv.Supervisor != "PS 42" || lv.Reference != v.Reference || !lv.Final {
		t.Fatalf("the live check once verified: %+v", lv)
	}
	_, receipt := g.send(t, "GET", "/receipt/"+v.Reference, "", nil, http.Header{"Accept": {"application/json"}})
	var rec httpapi.Receipt
	if err := json.Unmarshal(receipt, &rec); err != nil || !rec.WordRead {
		t.Fatalf("the receipt %s does not say the word was read (%v)", receipt, err)
	}

	// Where the word must not be.
	_, view := g.send(t, "GET", "/v1/verifications/"+v.ID, g.officer, nil, nil)
	var record strings.Builder
	for _, ev := range g.events(t, v.ID) {
		b, _ := json.Marshal(ev)
		record.Write(b)
	}
	for what, text := range map[string]string{"the officer's view": string(view), "the record": record.String(),
		"the log": g.log.tail(1 << 30), "the receipt": string(receipt)} {
		if strings.Contains(text, lv.Word) {
			t.Errorf("%s shows the check word %q", what, lv.Word)
		}
	}

	// A second verification's word is another (nearly always: 256 × 90).
	other := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "+447700900780"})
	if _, lv2, _ := live(liveToken(t, other.PublicURL)); lv2.Word == lv.Word {
		t.Logf("two verifications drew the same word %q (one chance in 23,040)", lv.Word)
	}

	// Expired: a second after it ended, the same answer as a wrong token.
	time.Sleep(1500 * time.Millisecond)
	s3, b3 := g.send(t, "GET", "/live/"+token, "", nil, nil)
	if s3 != http.StatusNotFound || !bytes.Equal(b3, b1) {
		t.Fatalf("an expired link: %d, the same page as a wrong token: %v\n%s", s3, bytes.Equal(b3, b1), b3)
	}
}

// TestLiveCheckInABrowser opens her live check in headless Chromium and
// watches it change as the check is made, without a reload: connected,
// the word the supervisor's console shows him (and that he records as
// read from there), then verified with the officer's collar number. Dark
// mode, a phone's width; screenshots as artifacts.
func TestLiveCheckInABrowser(t *testing.T) {
	b := chromium.Start(t)
	g := startGateway(t, testEnv(t), nil)
	d := g.addDevice(t, "AW", "+447700900504", facetimeWhatsApp("+447700900504"))
	g.startAgent(t, d, func(gateway.Order) agent.Behaviour { return agent.Behaviour{AnswerAfter: 300 * time.Millisecond} })

	v := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "+447700900781"})
	her := b.Session(t, "live-her")
	ctx, cancel := context.WithTimeout(her, 60*time.Second)
	defer cancel()
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
	must(chromium.PreferColourScheme(ctx, "dark"))
	must(chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
	must(chromedp.Do(ctx, chromedp.Navigate(v.PublicURL)))
	see(ctx, "h1", "Live check")
	see(ctx, ".host", "127.0.0.1")
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sameLoad = true`))
	must(err)
	see(ctx, ".stage", "Connected")
	word := strings.TrimSpace(see(ctx, "#word", " "))
	if !wordShape.MatchString(word) {
		t.Fatalf("the page's word %q", word)
	}
	chromium.Screenshot(t, ctx, "connected")

	// The supervisor's console shows him the same word, and records that
	// he read it.
	sup := b.Tab(t, "live-supervisor")
	sctx, scancel := context.WithTimeout(sup, 60*time.Second)
	defer scancel()
	must(chromedp.Do(sctx, chromedp.Navigate(g.m.URL()+"/console/verifications/"+v.ID)))
	see(sctx, "h1", "Sign in")
	must(chromedp.Do(sctx, chromedp.SendKeys(chromedp.CSS("#credential"), g.supervisor)))
	must(chromedp.Do(sctx, chromedp.Submit(chromedp.CSS("#credential"))))
	if got := strings.TrimSpace(see(sctx, "#word-"+v.ID, " ")); got != word {
		t.Fatalf("the console shows the word %q, her page %q", got, word)
	}
	must(chromedp.Do(sctx, chromedp.Click(chromedp.CSS("#word-read-"+v.ID))))
	see(sctx, "main", "Recorded: you read her the check word.")
	must(chromium.PreferColourScheme(sctx, "dark"))
	must(chromedp.Do(sctx, chromedp.EmulateViewport(390, 844)))
	must(chromedp.Do(sctx, chromedp.Navigate(g.m.URL()+"/console/verifications/"+v.ID)))
	see(sctx, ".word-read", "Recorded: the word was read to her.")
	chromium.Screenshot(t, sctx, "console-word-phone")
	see(ctx, ".word-box", "the supervisor has recorded that he read it to you")

	g.outcome(t, v.ID, gateway.OutcomeVerified)
	see(ctx, ".stage", "verified")
	see(ctx, ".collar", "PC 1234")
	see(ctx, "#live-status", "The check has ended.")
	same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sameLoad === true`))
	must(err)
	if !same {
		t.Error("the page was reloaded to show the change; want it shown by the event stream")
	}
	chromium.Screenshot(t, ctx, "verified")
	page, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	must(err)
	for _, secret := range []string{"W998877", "+447700900781", "Sam Clarke"} {
		if strings.Contains(page, secret) {
			t.Errorf("her page shows %q", secret)
		}
	}
}
