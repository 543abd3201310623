package httpx_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
)

// script is an httptest handler answering each request with the next step.
type script struct {
	steps []step
	n     atomic.Int32
}

type step struct {
	status     int
	retryAfter string
	body       string
	hang       bool
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int(s.n.Add(1)) - 1
	if i >= len(s.steps) {
		i = len(s.steps) - 1
	}
	st := s.steps[i]
	if st.hang {
		_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client leaving
		<-r.Context().Done()
		return
	}
	if st.retryAfter != "" {
		w.Header().Set("Retry-After", st.retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st.status)
	_, _ = io.WriteString(w, st.body)
}

func newServer(tb testing.TB, steps ...step) (*httptest.Server, *script) {
	tb.Helper()
	s := &script{steps: steps}
	srv := httptest.NewServer(s)
	tb.Cleanup(srv.Close)
	return srv, s
}

func post(tb testing.TB, ctx context.Context, c *httpx.Client, url string) (*http.Response, error) {
	tb.Helper()
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"a":1}`))
	if err != nil {
		tb.Fatal(err)
	}
	return c.Do(req)
}

func TestClientRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		steps     []step
		timeout   time.Duration
		wantTries int32
		wantFate  gateway.Fate // 0: success
		wantCode  string
		minTime   time.Duration // Retry-After honoured
	}{
		{"ok", []step{{status: 201, body: `{}`}}, 5 * time.Second, 1, 0, "", 0},
		{"429 with Retry-After then ok", []step{{status: 429, retryAfter: "1"}, {status: 200, body: `{}`}}, 5 * time.Second, 2, 0, "", time.Second},
		{"503 with Retry-After then ok", []step{{status: 503, retryAfter: "1"}, {status: 200, body: `{}`}}, 5 * time.Second, 2, 0, "", time.Second},
		{"503 without Retry-After then ok", []step{{status: 503}, {status: 503}, {status: 200, body: `{}`}}, 5 * time.Second, 3, 0, "", 0},
		{"400 not retried", []step{{status: 400, body: `{"message":"bad To"}`}, {status: 200}}, 5 * time.Second, 1, gateway.PlacedFailed, gateway.EINVALID, 0},
		{"404 not retried", []step{{status: 404}, {status: 200}}, 5 * time.Second, 1, gateway.PlacedFailed, gateway.EINVALID, 0},
		{"500 not retried", []step{{status: 500}, {status: 200}}, 5 * time.Second, 1, gateway.Unknown, gateway.EUNAVAILABLE, 0},
		{"502 not retried", []step{{status: 502}, {status: 200}}, 5 * time.Second, 1, gateway.Unknown, gateway.EUNAVAILABLE, 0},
		{"401 not retried", []step{{status: 401}, {status: 200}}, 5 * time.Second, 1, gateway.NotPlaced, gateway.EUNAUTHORIZED, 0},
		{"503 until the deadline", []step{{status: 503}}, 700 * time.Millisecond, 2, gateway.NotPlaced, gateway.EUNAVAILABLE, 0},
		{"429 asking past the deadline", []step{{status: 429, retryAfter: "5"}}, 700 * time.Millisecond, 1, gateway.NotPlaced, gateway.ERATELIMITED, 0},
		{"hang", []step{{hang: true}}, 300 * time.Millisecond, 1, gateway.Unknown, gateway.ETIMEOUT, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, s := newServer(t, tt.steps...)
			c := httpx.NewClient(nil)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			start := time.Now()
			resp, err := post(t, ctx, c, srv.URL)
			err = httpx.Classify("zoom", resp, err)
			elapsed := time.Since(start)
			if elapsed > tt.timeout+200*time.Millisecond {
				t.Errorf("took %v, deadline was %v", elapsed, tt.timeout)
			}
			if elapsed < tt.minTime {
				t.Errorf("took %v, want at least %v (Retry-After)", elapsed, tt.minTime)
			}
			if tt.wantFate == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				resp.Body.Close()
			} else {
				ce := adaptertest.CallError(t, err)
				if ce.Fate != tt.wantFate || ce.Provider != "zoom" {
					t.Errorf("fate = %v provider %q, want %v zoom (%v)", ce.Fate, ce.Provider, tt.wantFate, err)
				}
				if got := gateway.ErrorCode(err); got != tt.wantCode {
					t.Errorf("code = %q, want %q (%v)", got, tt.wantCode, err)
				}
			}
			if got := s.n.Load(); got < tt.wantTries || (tt.wantFate != gateway.NotPlaced && got != tt.wantTries) {
				t.Errorf("server saw %d requests, want %d", got, tt.wantTries)
			}
		})
	}
}

func TestClientRetryAfterReported(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, step{status: 429, retryAfter: "7"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := post(t, ctx, httpx.NewClient(nil), srv.URL)
	ce := adaptertest.CallError(t, httpx.Classify("zoom", resp, err))
	if ce.Fate != gateway.NotPlaced || ce.RetryAfter != 7*time.Second {
		t.Errorf("got %v RetryAfter %v, want not_placed 7s", ce.Fate, ce.RetryAfter)
	}
	if n := s.n.Load(); n != 1 {
		t.Errorf("server saw %d requests: a wait past the deadline must not be started", n)
	}
}

// countingTransport counts the requests sent through it.
type countingTransport struct {
	n    atomic.Int32
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func TestClientDialRefused(t *testing.T) {
	t.Parallel()
	c := httpx.NewClient(nil)
	ct := &countingTransport{next: c.HTTPClient.Transport}
	c.HTTPClient.Transport = ct
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	resp, err := post(t, ctx, c, adaptertest.ClosedURL(t)+"/v1")
	elapsed := time.Since(start)
	ce := adaptertest.CallError(t, httpx.Classify("zoom", resp, err))
	if ce.Fate != gateway.NotPlaced || gateway.ErrorCode(ce) != gateway.EUNAVAILABLE {
		t.Errorf("got %v %q, want not_placed unavailable (%v)", ce.Fate, gateway.ErrorCode(ce), ce)
	}
	if n := ct.n.Load(); n < 2 {
		t.Errorf("%d tries, want retries", n)
	}
	if elapsed > time.Second+100*time.Millisecond {
		t.Errorf("took %v past a 1s deadline", elapsed)
	}
}

func TestClientDeadlineDuringBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy httpx.Policy
	}{
		{"library policy sleeps until the deadline", httpx.LibraryPolicy()},
		{"default policy gives up before", httpx.DefaultPolicy()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t, step{status: 503, retryAfter: "30"})
			c := httpx.NewClient(nil)
			c.Policy = tt.policy
			const timeout = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			resp, err := post(t, ctx, c, srv.URL)
			elapsed := time.Since(start)
			ce := adaptertest.CallError(t, httpx.Classify("zoom", resp, err))
			if ce.Fate != gateway.NotPlaced {
				t.Errorf("fate %v, want not_placed (%v)", ce.Fate, ce)
			}
			if elapsed > timeout+150*time.Millisecond {
				t.Errorf("took %v, deadline %v", elapsed, timeout)
			}
		})
	}
}

func TestClientCancelledDuringBackoff(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, step{status: 503, retryAfter: "5"})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	resp, err := post(t, ctx, httpx.NewClient(nil), srv.URL)
	var ns *httpx.NotSentError
	if !errors.As(err, &ns) {
		t.Fatalf("err = %v, want a *NotSentError", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("cancel during backoff took %v", time.Since(start))
	}
	if f := adaptertest.CallError(t, httpx.Classify("zoom", resp, err)).Fate; f != gateway.NotPlaced {
		t.Errorf("fate %v, want not_placed", f)
	}
}

func TestStandardClient(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, step{status: 503}, step{status: 200, body: `{"ok":true}`})
	hc := httpx.NewClient(nil).StandardClient()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("a=b"))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ OK bool }
	if err := httpx.DecodeJSON("zoom", resp, &v); err != nil || !v.OK {
		t.Fatalf("decode: %v %+v", err, v)
	}
	if s.n.Load() != 2 {
		t.Errorf("server saw %d requests, want 2", s.n.Load())
	}
}

func TestLeveledLogger(t *testing.T) {
	t.Parallel()
	logger, hook := test.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	l := httpx.LeveledLogger{Logger: logger.WithField("provider", "zoom")}
	l.Error("request failed", "error", errors.New("dial to +447700900123 refused"), "method", "POST")
	l.Debug("retrying request", "remaining", 3, "odd")
	entries := hook.AllEntries()
	if len(entries) != 2 {
		t.Fatalf("%d entries, want 2", len(entries))
	}
	e := entries[0]
	if e.Level != logrus.WarnLevel || e.Message != "request failed" || e.Data["provider"] != "zoom" || e.Data["method"] != "POST" {
		t.Errorf("entry = %v %q %v", e.Level, e.Message, e.Data)
	}
	if s, _ := e.Data["error"].(string); strings.Contains(s, "7700900123") {
		t.Errorf("number logged in clear: %q", s)
	}
	if e := entries[1]; e.Level != logrus.DebugLevel || e.Data["remaining"] != 3 || e.Data["odd"] != "(missing)" {
		t.Errorf("entry = %v %v", e.Level, e.Data)
	}
}

func TestClientLogsRetries(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, step{status: 503}, step{status: 200})
	logger, hook := test.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	resp, err := post(t, context.Background(), httpx.NewClient(logger.WithField("provider", "zoom")), srv.URL)
	if err := httpx.Classify("zoom", resp, err); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var retried bool
	for _, e := range hook.AllEntries() {
		if e.Message == "retrying request" && e.Data["provider"] == "zoom" && e.Data["remaining"] != nil {
			retried = true
		}
	}
	if !retried {
		t.Errorf("no retry logged with fields: %v", hook.AllEntries())
	}
}

// TestClientDeadlineBeforeSending: a deadline that ends a try before it has
// written its request (here while dialling) leaves it not placed: the
// provider cannot have acted on it. One that ends a try after it was
// written leaves the outcome unknown.
func TestClientDeadlineBeforeSending(t *testing.T) {
	t.Parallel()
	t.Run("while dialling", func(t *testing.T) {
		t.Parallel()
		c := httpx.NewClient(nil)
		c.HTTPClient.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			<-ctx.Done() // a dial that never completes
			return nil, ctx.Err()
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		resp, err := post(t, ctx, c, "http://provider.example/v1")
		if ce := adaptertest.CallError(t, httpx.Classify("zoom", resp, err)); ce.Fate != gateway.NotPlaced {
			t.Errorf("fate %v, want not_placed (%v)", ce.Fate, ce)
		}
	})
	t.Run("after sending", func(t *testing.T) {
		t.Parallel()
		hung := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hung }))
		t.Cleanup(func() { close(hung); srv.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		resp, err := post(t, ctx, httpx.NewClient(nil), srv.URL)
		if ce := adaptertest.CallError(t, httpx.Classify("zoom", resp, err)); ce.Fate != gateway.Unknown {
			t.Errorf("fate %v, want unknown (%v)", ce.Fate, ce)
		}
	})
}
