// Package adaptertest holds helpers that the adapters' tests share: the
// checks of a webhook's answer and JSON error, of a signed Twilio
// callback's request and of a placement, and recording fakes of a
// JoinSender and a Reporter. Only tests import it.
package adaptertest

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// Serve serves r with h and stops the test unless the answer's status is
// status; with a code, the answer must also be the gateway's JSON error
// with that code. It returns the answer.
func Serve(tb testing.TB, h http.Handler, r *http.Request, status int, code string) *httptest.ResponseRecorder {
	tb.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != status {
		tb.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	if code != "" {
		CheckErrorBody(tb, w.Body.Bytes(), code)
	}
	return w
}

// CheckErrorBody fails t unless body is the gateway's JSON error with code
// and a message.
func CheckErrorBody(tb testing.TB, body []byte, code string) {
	tb.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != code || e.Error.Message == "" {
		tb.Errorf("error body %s, want code %q", body, code)
	}
}

// TwilioCallback returns a Twilio callback as the gateway receives it
// behind its proxy: method to http://10.0.0.7:8080+path with body as a
// form. It is signed by sign with token over signURL ("" public+path; "-"
// no signature).
func TwilioCallback(method, public, path, body, signURL, token string, sign func(token, url string, form url.Values) string) *http.Request {
	r := httptest.NewRequest(method, "http://10.0.0.7:8080"+path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if signURL == "" {
		signURL = public + path
	}
	if signURL != "-" {
		form, _ := url.ParseQuery(body)
		r.Header.Set("X-Twilio-Signature", sign(token, signURL, form))
	}
	return r
}

// ClosedURL returns the URL ("http://127.0.0.1:port") of a loopback port
// that refuses connections.
func ClosedURL(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

// CallError returns err as a *gateway.CallError, or stops the test.
func CallError(tb testing.TB, err error) *gateway.CallError {
	tb.Helper()
	var ce *gateway.CallError
	if !errors.As(err, &ce) {
		tb.Fatalf("error %v (%T) is not a *gateway.CallError", err, err)
	}
	return ce
}

// list is a list that is safe for concurrent use.
type list[T any] struct {
	mu    sync.Mutex
	items []T
}

func (l *list[T]) add(v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = append(l.items, v)
}

func (l *list[T]) all() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]T(nil), l.items...)
}

// JoinSender records the links sent to devices, or fails with Err. It is
// safe for concurrent use; set Err before use.
type JoinSender struct {
	Err   error
	links list[string]
}

// SendJoin records joinURL, or returns Err.
func (j *JoinSender) SendJoin(_ context.Context, _ gateway.Leg, joinURL string) error {
	if j.Err != nil {
		return j.Err
	}
	j.links.add(joinURL)
	return nil
}

// Links returns the links sent so far, in order.
func (j *JoinSender) Links() []string { return j.links.all() }

// Reporter records reports, as the router would take them, and answers
// with Err. It is safe for concurrent use; set Err before use.
type Reporter struct {
	Err     error
	reports list[gateway.Report]
}

// Report records rep and returns Err.
func (r *Reporter) Report(_ context.Context, rep gateway.Report) error {
	r.reports.add(rep)
	return r.Err
}

// Reports returns the reports taken so far, in order.
func (r *Reporter) Reports() []gateway.Report { return r.reports.all() }

// Place places leg with a, and fails tb when it took longer than the leg's
// deadline (of d from now) and a little, or less than minElapsed (a
// Retry-After it had to wait).
func Place(tb testing.TB, a gateway.Adapter, leg gateway.Leg, d, minElapsed time.Duration) (gateway.Placement, error) {
	tb.Helper()
	start := time.Now()
	p, err := a.Place(context.Background(), leg)
	elapsed := time.Since(start)
	if elapsed > d+250*time.Millisecond {
		tb.Errorf("Place took %v, past the deadline of %v", elapsed, d)
	}
	if elapsed < minElapsed {
		tb.Errorf("Place took %v, less than the Retry-After of %v", elapsed, minElapsed)
	}
	return p, err
}

// CheckFailed stops tb unless err (Place's error, beside p) is a
// *gateway.CallError of provider, and fails it unless the error has fate
// and code.
func CheckFailed(tb testing.TB, p gateway.Placement, err error, provider string, fate gateway.Fate, code string) {
	tb.Helper()
	var ce *gateway.CallError
	if !errors.As(err, &ce) || ce.Provider != provider {
		tb.Fatalf("Place = %+v, %v; want a %s CallError", p, err, provider)
	}
	if ce.Fate != fate || gateway.ErrorCode(err) != code {
		tb.Errorf("error %v: fate %v code %s, want %v %s", err, ce.Fate, gateway.ErrorCode(err), fate, code)
	}
}

// Statuses returns the statuses of the reports taken so far, with the party
// for joins ("joined:officer").
func (r *Reporter) Statuses() []string {
	var out []string
	for _, rep := range r.Reports() {
		s := string(rep.Status)
		if rep.Party != "" {
			s += ":" + string(rep.Party)
		}
		out = append(out, s)
	}
	return out
}

// WaitFor waits up to 5 seconds for the reports taken to satisfy done, and
// returns their Statuses; it stops tb, naming what it waited for, when
// they do not.
func (r *Reporter) WaitFor(tb testing.TB, what string, done func([]gateway.Report) bool) []string {
	tb.Helper()
	end := time.Now().Add(5 * time.Second)
	for !done(r.Reports()) {
		if time.Now().After(end) {
			tb.Fatalf("no %s: %v", what, r.Statuses())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return r.Statuses()
}
