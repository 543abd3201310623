// Package chromium runs Debian's headless Chromium, through chromedp, for
// the tests that open the gateway's pages in a real browser (the Twilio
// Video join page). Each test gets a browser of its own with a fresh
// profile, fake camera and microphone that it may use without asking, and
// a record of what its pages said on the console, which the test shows if
// it fails.
//
// Without Chromium at Path the tests skip, saying how to install it;
// with GATEWAY_REQUIRE_CHROMIUM=1 (as CI sets it) they fail instead.
package chromium

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/safeconnection/gateway/internal/skipnote"
)

// Path is where Debian's chromium package installs the browser.
const Path = "/usr/bin/chromium"

// EnvRequire names the variable that, set to 1, makes a missing Chromium a
// failure rather than a skip.
const EnvRequire = "GATEWAY_REQUIRE_CHROMIUM"

// Browser is one headless Chromium, closed when the test ends.
type Browser struct {
	ctx context.Context

	mu      sync.Mutex
	log     []string
	tabUsed bool // the first tab has been handed out
}

// Start starts Chromium for the test, with the flags of a quiet, sandboxless
// headless browser and fake media devices that pages may use; opts are
// applied last (chromedp.Flag(name, false) removes a flag). It skips the
// test when Chromium is not installed, unless GATEWAY_REQUIRE_CHROMIUM=1.
func Start(tb testing.TB, opts ...chromedp.ExecAllocatorOption) *Browser {
	tb.Helper()
	path, err := exec.LookPath(Path)
	if err != nil {
		msg := fmt.Sprintf("Chromium is not installed at %s, and this test opens pages in it: install it with `apt-get install chromium`", Path)
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatalf("%s (%s=1 requires it)", msg, EnvRequire)
		}
		skipnote.Skip(tb, "headless-Chromium", fmt.Sprintf("%s (or set %s=1 to make this a failure)", msg, EnvRequire))
	}
	profile := tb.TempDir() // removed after the browser has exited
	all := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	all = append(all, opts...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), all...)
	b := &Browser{}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(func(string, ...any) {}))
	tb.Cleanup(func() {
		cancel()
		cancelAlloc()
		if tb.Failed() {
			tb.Logf("the browser's console:\n%s", strings.Join(b.Log(), "\n"))
		}
	})
	// Start the browser now, so that a failure to start is the test's. (A
	// timeout here would be the browser's life: the first action's context
	// owns it.)
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start Chromium: %v", err)
	}
	b.ctx = ctx
	if err := b.listen(ctx, "tab 1"); err != nil {
		tb.Fatal(err)
	}
	return b
}

// Tab returns the context of a tab of its own, the first call the tab
// Start opened, each later one a new tab. The tab closes when the test
// ends or ctx is cancelled.
func (b *Browser) Tab(tb testing.TB, name string) context.Context {
	tb.Helper()
	b.mu.Lock()
	first := !b.tabUsed
	b.tabUsed = true
	b.mu.Unlock()
	if first {
		return b.ctx
	}
	return b.open(tb, name)
}

// Session returns the context of a new tab in a browser context of its
// own, like a private window: its cookies and storage are apart from every
// other tab's, so a page signed in there is a session of its own. The tab
// and its browser context close when the test ends or ctx is cancelled.
func (b *Browser) Session(tb testing.TB, name string) context.Context {
	tb.Helper()
	return b.open(tb, name, chromedp.WithNewBrowserContext())
}

// open opens a new tab with the options and records what its pages say.
func (b *Browser) open(tb testing.TB, name string, opts ...chromedp.ContextOption) context.Context {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, opts...)
	tb.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("open a tab: %v", err)
	}
	if err := b.listen(ctx, name); err != nil {
		tb.Fatal(err)
	}
	return ctx
}

// listen records the tab's console messages, exceptions and log entries
// (refused scripts and failed loads among them).
func (b *Browser) listen(ctx context.Context, name string) error {
	return chromedp.Listen(ctx, func(ev any) {
		var line string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				if a.Value != nil {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			line = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
		case *runtime.EventExceptionThrown:
			line = "exception: " + ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil {
				line += " " + ex.Description
			}
		case *cdplog.EventEntryAdded:
			line = string(ev.Entry.Level) + ": " + ev.Entry.Text + " " + ev.Entry.URL
		default:
			return
		}
		b.mu.Lock()
		b.log = append(b.log, name+": "+line)
		b.mu.Unlock()
	})
}

// Log returns what the browser's pages have said so far.
func (b *Browser) Log() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.log...)
}

// WaitText waits until the text of the first element matching selector
// contains want, and returns the text; an error when ctx ends first, with
// the last text seen.
func WaitText(ctx context.Context, selector, want string) (string, error) {
	var text string
	for {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](
			fmt.Sprintf(`(function(){var e=document.querySelector(%q);return e?e.textContent:""})()`, selector)))
		if err == nil {
			text = got
			if strings.Contains(text, want) {
				return text, nil
			}
		}
		select {
		case <-ctx.Done():
			return text, fmt.Errorf("%s says %q, not %q: %w", selector, text, want, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Wait waits until the JavaScript expression is true in the tab's page; an
// error when ctx ends first.
func Wait(ctx context.Context, expression string) error {
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expression))
		if err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", expression, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// EnvArtifacts names the variable that says where Screenshot saves its
// pictures; without it they go to artifacts/ at the module's root (which
// git ignores).
const EnvArtifacts = "GATEWAY_ARTIFACTS"

// PreferColourScheme makes the tab's pages see the colour scheme asked for
// ("light", or "dark": a phone at night) in their prefers-color-scheme
// media queries.
func PreferColourScheme(ctx context.Context, scheme string) error {
	return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// Screenshot saves a picture of the whole page in the tab as
// <test name>-<name>.png in the artifacts directory, and logs where.
func Screenshot(tb testing.TB, ctx context.Context, name string) string {
	tb.Helper()
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			tb.Fatalf("screenshot: %v", err)
		}
		dir = filepath.Join(root, "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatalf("screenshot: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG, not JPEG
	if err != nil {
		tb.Fatalf("screenshot: %v", err)
	}
	file := strings.NewReplacer("/", "-", " ", "_").Replace(tb.Name()) + "-" + name + ".png"
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.Fatalf("screenshot: %v", err)
	}
	tb.Logf("screenshot: %s", path)
	return path
}

// moduleRoot is the directory of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
