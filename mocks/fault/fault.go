// Package fault is what the provider fakes share to misbehave on purpose
// and to keep a record of what they saw: the knobs (latency, the next
// requests failing with a status and a Retry-After, malformed answers,
// hangs, webhooks off), the record of requests and of webhooks posted,
// where webhooks go (Hook) and how they are posted (Post), JSON answers,
// and a fake's lifetime (waits that end when the request or the fake does,
// and goroutines that Close waits for).
//
// A fake embeds Knobs, Record and, when it posts webhooks, Webhooks, so that
// their methods (FailNext, Requests, NoWebhooks, ...) are the fake's own.
// What only the fake's handlers use is a function here rather than a
// method, so that embedding adds nothing else to the fake's API.
package fault

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Action is what the knobs decided for one request.
type Action int

// The actions, in the order the knobs are consumed after Hang.
const (
	Serve     Action = iota // answer as usual
	Fail                    // answer with the Failure's status
	Malformed               // answer, but with a malformed body
	Hang                    // never answer
)

// Failure is one failure queued by FailNext.
type Failure struct {
	Status     int
	RetryAfter time.Duration // a Retry-After header when positive
	Code       int           // the provider's own error code; 0: the usual one for Status
}

// SetRetryAfter sets the Retry-After header to d in whole seconds, rounded
// up, when d is positive.
func SetRetryAfter(h http.Header, d time.Duration) {
	if d > 0 {
		h.Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
}

// Knobs are a fake's fault knobs for its API requests. The zero value
// injects nothing; Knobs are safe for concurrent use.
type Knobs struct {
	mu        sync.Mutex
	latency   time.Duration
	fails     []Failure
	malformed int
	hang      int
	hangAll   bool
	failAll   *Failure
}

// SetLatency makes every later API request wait d before it is answered.
func (k *Knobs) SetLatency(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.latency = d
}

// FailNext makes the next n API requests (not token requests) fail with the
// HTTP status and the provider's error body, with a Retry-After header when
// retryAfter is positive.
func (k *Knobs) FailNext(n, status int, retryAfter time.Duration) {
	Queue(k, n, Failure{Status: status, RetryAfter: retryAfter})
}

// MalformedNext makes the next n successful API answers malformed JSON.
func (k *Knobs) MalformedNext(n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.malformed += n
}

// HangNext makes the next n API requests hang until the client gives up or
// the fake is closed.
func (k *Knobs) HangNext(n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.hang += n
}

// HangAll makes every later API request hang (true) until the client gives
// up or the fake is closed, or stops doing so (false).
func (k *Knobs) HangAll(on bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.hangAll = on
}

// FailAll makes every later API request fail with the HTTP status and the
// provider's error body, with a Retry-After header when retryAfter is
// positive; status 0 stops it. Failures queued by FailNext come first.
func (k *Knobs) FailAll(status int, retryAfter time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if status == 0 {
		k.failAll = nil
		return
	}
	k.failAll = &Failure{Status: status, RetryAfter: retryAfter}
}

// Reset clears every knob: no latency, nothing queued, no hang or failure
// for all.
func (k *Knobs) Reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.latency, k.fails, k.malformed, k.hang, k.hangAll, k.failAll = 0, nil, 0, 0, false, nil
}

// Queue makes the next n API requests fail as fl says.
func Queue(k *Knobs, n int, fl Failure) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for range n {
		k.fails = append(k.fails, fl)
	}
}

// Decide consumes one knob for an API request (a hang first, then a
// failure, then a malformed answer; HangAll and FailAll after the queued
// ones of their kind, consuming nothing) and returns it with the latency to
// wait first.
func Decide(k *Knobs) (Action, Failure, time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case k.hang > 0:
		k.hang--
		return Hang, Failure{}, k.latency
	case k.hangAll:
		return Hang, Failure{}, k.latency
	case len(k.fails) > 0:
		fl := k.fails[0]
		k.fails = k.fails[1:]
		return Fail, fl, k.latency
	case k.failAll != nil:
		return Fail, *k.failAll, k.latency
	case k.malformed > 0:
		k.malformed--
		return Malformed, Failure{}, k.latency
	}
	return Serve, Failure{}, k.latency
}

// Apply consumes one knob for the API request r and carries it out: it
// waits the latency, then hangs, or sets Retry-After and has fail write the
// failure. It reports whether the handler is to answer the request, and
// whether malformed.
func Apply(k *Knobs, l *Life, w http.ResponseWriter, r *http.Request, fail func(Failure)) (serve, malformed bool) {
	act, fl, latency := Decide(k)
	if !l.Wait(r.Context(), latency) {
		return false, false
	}
	switch act {
	case Hang:
		l.Hang(r.Context())
		return false, false
	case Fail:
		SetRetryAfter(w.Header(), fl.RetryAfter)
		fail(fl)
		return false, false
	}
	return true, act == Malformed
}

// MaxBody is how much of a request's body is read and recorded.
const MaxBody = 1 << 20

// ReadBody reads (at most MaxBody of) r's body.
func ReadBody(r *http.Request) []byte {
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxBody))
	return body
}

// Request is one request a fake received, as recorded.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	At       time.Time
}

// NewRequest returns the record of r, whose body was body, received at at.
func NewRequest(r *http.Request, body []byte, at time.Time) Request {
	return Request{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, At: at,
	}
}

// Record is a fake's record of the requests it received, of type R. It is
// safe for concurrent use.
type Record[R any] struct {
	mu       sync.Mutex
	requests []R
}

// Requests returns a copy of the requests received so far, token requests
// included, in order.
func (rec *Record[R]) Requests() []R {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]R(nil), rec.requests...)
}

// Add records a request.
func Add[R any](rec *Record[R], r R) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.requests = append(rec.requests, r)
}

// ReadAndRecord reads (at most MaxBody of) r's body, records the request
// as received at now() and returns the body.
func ReadAndRecord(rec *Record[Request], r *http.Request, now func() time.Time) []byte {
	body := ReadBody(r)
	Add(rec, NewRequest(r, body, now()))
	return body
}

// Delivery is one JSON webhook a fake posted to the gateway, for the fakes
// whose webhooks are a JSON body with an event name.
type Delivery struct {
	Event  string
	Body   []byte
	Status int   // the gateway's HTTP status; 0 when the post failed
	Err    error // the transport error, if any
}

// Webhooks are a fake's webhook switch and its record of the webhooks
// posted, of type D. They are safe for concurrent use.
type Webhooks[D any] struct {
	mu         sync.Mutex
	off        bool
	deliveries []D
}

// NoWebhooks stops (true) or resumes (false) the webhooks the fake posts.
func (wh *Webhooks[D]) NoWebhooks(off bool) {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	wh.off = off
}

// Deliveries returns a copy of the webhooks posted so far, in order.
func (wh *Webhooks[D]) Deliveries() []D {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	return append([]D(nil), wh.deliveries...)
}

// Off reports whether webhooks are off.
func Off[D any](wh *Webhooks[D]) bool {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	return wh.off
}

// Delivered records a webhook posted.
func Delivered[D any](wh *Webhooks[D], d D) {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	wh.deliveries = append(wh.deliveries, d)
}

// Life is a fake's lifetime: the context its webhooks are posted in, and
// the end that releases its waits and hanging requests.
type Life struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

// NewLife returns a Life not yet closed.
func NewLife() *Life {
	ctx, cancel := context.WithCancel(context.Background())
	return &Life{ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// Context returns a context that ends when the fake is closed.
func (l *Life) Context() context.Context { return l.ctx }

// Done returns a channel closed when the fake is closed.
func (l *Life) Done() <-chan struct{} { return l.done }

// Wait sleeps for d, or until ctx or the fake ends; it reports whether the
// full time passed (at once true when d is not positive).
func (l *Life) Wait(ctx context.Context, d time.Duration) bool {
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
	case <-l.done:
		return false
	}
}

// WaitUnless sleeps for d, or until stop is closed (a call hung up, a room
// ended) or the fake ends; it reports whether the full time passed. A stop
// already closed ends it at once.
func (l *Life) WaitUnless(stop <-chan struct{}, d time.Duration) bool {
	select {
	case <-stop:
		return false
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	case <-l.done:
		return false
	}
}

// Hang blocks until ctx or the fake ends.
func (l *Life) Hang(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-l.done:
	}
}

// Go runs fn in a goroutine that Close waits for.
func (l *Life) Go(fn func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		fn()
	}()
}

// After runs fn with the fake's context once d has passed, unless the fake
// is closed first; Close waits for it.
func (l *Life) After(d time.Duration, fn func(ctx context.Context)) {
	l.Go(func() {
		if l.Wait(l.ctx, d) {
			fn(l.ctx)
		}
	})
}

// Close cancels the fake's context, releases its waits and hanging
// requests, and waits for the goroutines started with Go and After. It may
// be called more than once.
func (l *Life) Close() {
	l.once.Do(func() {
		l.cancel()
		close(l.done)
	})
	l.wg.Wait()
}

// Hook is where a fake posts its webhooks: the gateway's webhook URL. The
// zero value posts none; a Hook is safe for concurrent use.
type Hook struct {
	mu  sync.Mutex
	url string
}

// SetWebhookURL sets where webhooks are posted (the gateway's webhook URL
// for the provider, /webhooks/zoom/ say); empty sends none.
func (h *Hook) SetWebhookURL(u string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.url = u
}

// URL returns where webhooks are posted, "" for nowhere.
func URL(h *Hook) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.url
}
