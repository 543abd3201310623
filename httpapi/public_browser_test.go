package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/internal/chromium"
	"github.com/safeconnection/gateway/ledger"
)

// TestPublicPagesInABrowser opens the public's pages in headless Chromium,
// as a phone at night (a narrow screen, dark mode) and a desk screen: the
// list of numbers, a number checked through its form, and a receipt looked
// up through its form; it saves a screenshot of each.
func TestPublicPagesInABrowser(t *testing.T) {
	b := chromium.Start(t)
	skey, _, err := ledger.GenerateKey("police.example/log")
	if err != nil {
		t.Fatal(err)
	}
	var log *ledger.Log
	e := httpapitest.New(t, func(s *httpapi.Server) {
		publicServer(t, s, nil)
		if log, err = ledger.New(s.Verifications.(gateway.LogStore), skey); err != nil {
			t.Fatal(err)
		}
		s.Log = log
	})
	v := finished(t, e, &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 42", Note: testNote, At: time.Now()}, time.Now())
	if _, err := log.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}

	for _, screen := range []struct {
		name          string
		width, height int64
		dark          bool
	}{
		{"phone-dark", 390, 844, true},
		{"desk", 1280, 900, false},
	} {
		t.Run(screen.name, func(t *testing.T) {
			tab := b.Tab(t, screen.name)
			ctx, cancel := context.WithTimeout(tab, 30*time.Second)
			defer cancel()
			scheme := "light"
			if screen.dark {
				scheme = "dark"
			}
			must(t, chromedp.Do(ctx, chromedp.EmulateViewport(screen.width, screen.height)))
			must(t, chromium.PreferColourScheme(ctx, scheme))

			// The official numbers.
			must(t, chromedp.Do(ctx, chromedp.Navigate(e.URL+"/numbers")))
			wantVisible(t, ctx, "h1", "Official operations room numbers")
			wantVisible(t, ctx, "main", "Central West")
			wantVisible(t, ctx, "main", "020 7946 0104")
			// Central West's video handles, with their apps' names.
			wantVisible(t, ctx, "main", "Video call on WhatsApp: 07700 900804")
			wantVisible(t, ctx, "main", "Video call on FaceTime: opsroom-aw@met.demo.invalid")
			wantVisible(t, ctx, "footer", "call 999")
			chromium.Screenshot(t, ctx, "numbers")

			// A number checked through the form: an official one, the
			// room's WhatsApp number the list shows, then a fake.
			for _, c := range []struct{ typed, want, says, shot string }{
				{"(020) 7946-0104", "Yes, this is an official number", "Central West operations room", "check-official"},
				{"07700 900804", "Yes, this is an official number", "Central West operations room's WhatsApp video number", "check-whatsapp"},
				{"07700 900123", "No, this is not an official number", "Do not call it", "check-fake"},
			} {
				must(t, chromedp.Do(ctx, chromedp.Navigate(e.URL+"/numbers")))
				must(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#number"), c.typed)))
				must(t, chromedp.Do(ctx, chromedp.Submit(chromedp.CSS("#number"))))
				wantVisible(t, ctx, "h1", c.want)
				wantVisible(t, ctx, ".answer", c.says)
				chromium.Screenshot(t, ctx, c.shot)
			}

			// The receipt, looked up as she would type it.
			must(t, chromedp.Do(ctx, chromedp.Navigate(e.URL+"/receipt")))
			must(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#reference"), strings.ToLower(strings.ReplaceAll(v.Reference, "-", " ")))))
			must(t, chromedp.Do(ctx, chromedp.Submit(chromedp.CSS("#reference"))))
			wantVisible(t, ctx, "h1", "Receipt "+v.Reference)
			wantVisible(t, ctx, ".answer", "The officer was verified.")
			wantVisible(t, ctx, "dl", "Central West")
			wantVisible(t, ctx, "dl", testCollar)
			wantVisible(t, ctx, "dl", "PS 42")
			// Where the record stands in the log, so that what she was
			// shown can be proved later.
			wantVisible(t, ctx, "main", "In the force's record")
			wantVisible(t, ctx, "main", "police.example/log")
			text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			must(t, err)
			for _, secret := range []string{testWarrant, testHandle, testNote, testDevice} {
				if strings.Contains(text, secret) {
					t.Errorf("the receipt shows %q", secret)
				}
			}
			chromium.Screenshot(t, ctx, "receipt")

			// A reference that matches nothing.
			must(t, chromedp.Do(ctx, chromedp.Navigate(e.URL+"/receipt/ACDE-FGHJ")))
			wantVisible(t, ctx, "h1", "No receipt found")
			wantVisible(t, ctx, ".answer", "No receipt has the reference ACDE-FGHJ")
			chromium.Screenshot(t, ctx, "receipt-none")

			// The stylesheet loaded (same origin, allowed by the CSP): the
			// force's name has its rule under it.
			styled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`getComputedStyle(document.querySelector(".force")).borderBottomStyle === "solid"`))
			must(t, err)
			if !styled {
				t.Errorf("the page's stylesheet did not apply; console:\n%s", strings.Join(b.Log(), "\n"))
			}
			for _, line := range b.Log() {
				if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Refused") {
					t.Errorf("the browser refused something: %s", line)
				}
			}
		})
	}
}

// TestBusyPageInABrowser opens the page a client over its rate sees.
func TestBusyPageInABrowser(t *testing.T) {
	b := chromium.Start(t)
	e := publicEnv(t, httpapi.NewClientLimiter(1, 1)) // one at once, then one a minute
	for _, screen := range []struct {
		name          string
		width, height int64
	}{{"phone", 390, 844}, {"desk", 1280, 900}} {
		t.Run(screen.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(b.Tab(t, screen.name), 30*time.Second)
			defer cancel()
			must(t, chromedp.Do(ctx, chromedp.EmulateViewport(screen.width, screen.height)))
			must(t, chromedp.Do(ctx, chromedp.Navigate(e.URL+"/receipt/ACDE-FGHJ")))
			must(t, chromedp.Do(ctx, chromedp.Navigate(e.URL+"/receipt/ACDE-FGHJ")))
			wantVisible(t, ctx, "h1", "Please wait a moment")
			wantVisible(t, ctx, ".answer", "Wait ")
			chromium.Screenshot(t, ctx, "busy")
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantVisible fails unless the element's text comes to hold want.
func wantVisible(t testing.TB, ctx context.Context, selector, want string) {
	t.Helper()
	if _, err := chromium.WaitText(ctx, selector, want); err != nil {
		t.Fatal(err)
	}
}
