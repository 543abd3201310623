package zoom

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// Request is one request the fake received, as recorded.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	At       time.Time
}

// Delivery is one webhook the fake posted to the gateway.
type Delivery struct {
	Event  string
	Body   []byte
	Status int   // the gateway's HTTP status; 0 when the post failed
	Err    error // the transport error, if any
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

func (f *faults) record(r *http.Request, body []byte, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, Request{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, At: at,
	})
}

func (f *faults) delivered(d Delivery) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deliveries = append(f.deliveries, d)
}

func (f *faults) webhooksOff() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.noWebhooks
}

// SetLatency makes every later request wait d before it is answered.
func (f *Fake) SetLatency(d time.Duration) {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	f.faults.latency = d
}

// FailNext makes the next n API requests (not token requests) fail with the
// HTTP status and Zoom's error body, with a Retry-After header when
// retryAfter is positive.
func (f *Fake) FailNext(n, status int, retryAfter time.Duration) {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	for range n {
		f.faults.fails = append(f.faults.fails, failure{status: status, retryAfter: retryAfter})
	}
}

// MalformedNext makes the next n successful API answers malformed JSON.
func (f *Fake) MalformedNext(n int) {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	f.faults.malformed += n
}

// HangNext makes the next n API requests hang until the client gives up or
// the fake is closed.
func (f *Fake) HangNext(n int) {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	f.faults.hang += n
}

// NoWebhooks stops (true) or resumes (false) the webhooks the fake posts.
func (f *Fake) NoWebhooks(off bool) {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	f.faults.noWebhooks = off
}

// Requests returns a copy of the requests received so far, token requests
// included, in order.
func (f *Fake) Requests() []Request {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	return append([]Request(nil), f.faults.requests...)
}

// Deliveries returns a copy of the webhooks posted so far, in order.
func (f *Fake) Deliveries() []Delivery {
	f.faults.mu.Lock()
	defer f.faults.mu.Unlock()
	return append([]Delivery(nil), f.faults.deliveries...)
}

// readBody records the request and returns its body (at most 1 MiB).
func (f *Fake) readBody(r *http.Request) []byte {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	f.faults.record(r, body, f.now())
	return body
}

// wait sleeps for d, or until the request or the fake ends; it reports
// whether the full time passed.
func (f *Fake) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
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

// hang blocks until the request or the fake ends.
func (f *Fake) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-f.done:
	}
}

// after runs fn once d has passed, unless the fake is closed first.
func (f *Fake) after(d time.Duration, fn func(ctx context.Context)) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if !f.wait(f.ctx, d) {
			return
		}
		fn(f.ctx)
	}()
}

// Close stops the webhooks not yet sent, releases hanging requests and waits
// for the fake's goroutines.
func (f *Fake) Close() {
	f.closeOnce.Do(func() {
		f.cancel()
		close(f.done)
	})
	f.wg.Wait()
}
