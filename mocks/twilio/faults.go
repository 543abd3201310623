package twilio

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Request is one API request the fake received, as recorded.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Form     url.Values // the parsed form body
	Body     []byte
	At       time.Time
}

// Delivery is one callback the fake posted to the gateway.
type Delivery struct {
	URL    string     // the callback URL as the gateway gave it (and as signed)
	Kind   string     // "call", "bridge", "dial-action" or "room"
	Event  string     // the status callback event: "initiated", "ringing", "answered", "completed", "room-created", ...
	Form   url.Values // the parameters posted
	Status int        // the gateway's HTTP status; 0 when the post failed
	Err    error      // the transport error, if any
}

// action is what the knobs decided for one request.
type action int

const (
	actServe action = iota
	actFail
	actMalformed
	actHang
)

type failure struct {
	status     int
	retryAfter time.Duration
}

// faults holds the knobs and records shared by the fake's handlers. It is
// safe for concurrent use.
type faults struct {
	mu         sync.Mutex
	latency    time.Duration
	fails      []failure
	malformed  int
	hang       int
	noWebhooks bool
	requests   []Request
	deliveries []Delivery
}

// decide consumes one knob for an API request: a hang first, then a failure,
// then a malformed answer.
func (f *faults) decide() (action, failure, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.hang > 0:
		f.hang--
		return actHang, failure{}, f.latency
	case len(f.fails) > 0:
		fl := f.fails[0]
		f.fails = f.fails[1:]
		return actFail, fl, f.latency
	case f.malformed > 0:
		f.malformed--
		return actMalformed, failure{}, f.latency
	}
	return actServe, failure{}, f.latency
}

// SetLatency makes every later API request wait d before it is answered.
func (f *Fake) SetLatency(d time.Duration) {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	f.faults.latency = d
}

// FailNext makes the next n API requests fail with the HTTP status and
// Twilio's error body (code 20000+status: 20429, 20500, 20503...), with a
// Retry-After header when retryAfter is positive. The requests are checked
// for credentials first: a request with wrong credentials gets 401 and does
// not use up a failure.
func (f *Fake) FailNext(n, status int, retryAfter time.Duration) {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	for range n {
		f.faults.fails = append(f.faults.fails, failure{status: status, retryAfter: retryAfter})
	}
}

// MalformedNext makes the next n successful API answers truncated JSON (the
// request takes effect: the call or room exists).
func (f *Fake) MalformedNext(n int) {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	f.faults.malformed += n
}

// HangNext makes the next n API requests hang, unanswered, until the client
// gives up or the fake is closed. They take no effect.
func (f *Fake) HangNext(n int) {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	f.faults.hang += n
}

// NoWebhooks stops (true) or resumes (false) the callbacks the fake posts;
// the simulated calls and rooms go on regardless.
func (f *Fake) NoWebhooks(off bool) {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	f.faults.noWebhooks = off
}

func (f *faults) webhooksOff() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.noWebhooks
}

// Requests returns a copy of the API requests received so far, in order.
func (f *Fake) Requests() []Request {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	return append([]Request(nil), f.faults.requests...)
}

// Deliveries returns a copy of the callbacks posted so far, in order.
func (f *Fake) Deliveries() []Delivery {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	return append([]Delivery(nil), f.faults.deliveries...)
}

func (f *faults) delivered(d Delivery) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deliveries = append(f.deliveries, d)
}

// readRequest reads (at most 1 MiB of) the body, parses it as a form when
// it is one, and records the request.
func (f *Fake) readRequest(r *http.Request) (url.Values, []byte) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	form, err := url.ParseQuery(string(body))
	if err != nil {
		form = url.Values{}
	}
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	f.faults.requests = append(f.faults.requests, Request{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Form: form, Body: body, At: f.now(),
	})
	return form, body
}

// sleep waits for d, or until ctx or the fake ends; it reports whether the
// full time passed.
func (f *Fake) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-f.done:
		return false
	}
}

// go runs fn in a goroutine that Close waits for.
func (f *Fake) spawn(fn func()) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		fn()
	}()
}
