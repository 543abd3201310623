// Package httpx is the provider adapters' shared HTTP plumbing: one
// go-retryablehttp client with a retry policy that retries only what a
// provider cannot have acted on, a logrus adapter for go-retryablehttp's
// LeveledLogger, the one function that turns an HTTP outcome into the
// gateway's *gateway.CallError, and the one error writer of the webhooks
// (WriteError: the API's JSON error body and status table).
//
// Use:
//
//	c := httpx.NewClient(logger.WithField("provider", "zoom"))
//	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, url, body)
//	...
//	resp, err := c.Do(req)
//	if err := httpx.Classify("zoom", resp, err); err != nil {
//		return gateway.Placement{}, err // a *gateway.CallError; the body is closed
//	}
//	var m meeting
//	if err := httpx.DecodeJSON("zoom", resp, &m); err != nil { // closes the body
//		return gateway.Placement{}, err // Unknown: "malformed response from zoom: ..."
//	}
//
// The policy (DefaultPolicy):
//   - retry only dial errors (nothing was sent), 429 and 503; never 500, 502,
//     504, other 4xx, or a transport error after the request may have been
//     written;
//   - wait with capped, jittered exponential backoff (100 ms doubling to at
//     most 1 s), or the provider's Retry-After on 429/503, capped at 10 s;
//   - never sleep past the request context's deadline: when the next wait
//     would cross it, give up at once and hand back the last refusal, which
//     Classify turns into NotPlaced;
//   - at most 2 retries (DefaultRetryMax), though the deadline often ends
//     them first.
//
// Client.StandardClient gives an *http.Client with the same behaviour for
// SDKs that want one (twilio-go).
package httpx

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/sirupsen/logrus"
)

// Defaults of DefaultPolicy. The client's own retries only smooth over a
// blip: the router retries a leg that was not placed within the attempt's
// deadline, and each of its tries counts towards the provider's circuit
// breaker. Long retries here would multiply with the router's and keep a
// failing provider's breaker closed while the officer waits.
const (
	DefaultRetryMax      = 2
	DefaultRetryWaitMin  = 100 * time.Millisecond
	DefaultRetryWaitMax  = 1 * time.Second
	DefaultRetryAfterMax = 10 * time.Second
)

// Policy is a retry policy: how many retries, how long to wait between them,
// and which outcomes to retry. Its function fields have go-retryablehttp's
// types, so any of that package's policies can be used or wrapped.
type Policy struct {
	RetryMax     int           // retries after the first try
	RetryWaitMin time.Duration // passed to Backoff as min
	RetryWaitMax time.Duration // passed to Backoff as max
	// RetryAfterMax caps every wait, whatever Backoff returns (a provider's
	// Retry-After included). Zero means no cap.
	RetryAfterMax time.Duration
	// StopBeforeDeadline makes the client give up at once, handing back the
	// last response or error, when the next wait would end after the
	// request context's deadline, instead of sleeping until the deadline.
	StopBeforeDeadline bool
	// CheckRetry decides whether to retry after a try.
	CheckRetry retryablehttp.CheckRetry
	// Backoff says how long to wait before retry attemptNum (from 0).
	Backoff retryablehttp.Backoff
}

// DefaultPolicy returns the gateway's policy: CheckRetry, Backoff, 2 retries,
// waits of 100 ms to 1 s, Retry-After honoured up to 10 s, and never a sleep
// past the context's deadline.
func DefaultPolicy() Policy {
	return Policy{
		RetryMax:           DefaultRetryMax,
		RetryWaitMin:       DefaultRetryWaitMin,
		RetryWaitMax:       DefaultRetryWaitMax,
		RetryAfterMax:      DefaultRetryAfterMax,
		StopBeforeDeadline: true,
		CheckRetry:         CheckRetry,
		Backoff:            Backoff,
	}
}

// LibraryPolicy returns go-retryablehttp's own defaults (4 retries, waits of
// 1 s to 30 s, DefaultRetryPolicy, which also retries 500, 502 and 504, and
// DefaultBackoff), bounded only by the context: for comparison with
// DefaultPolicy, not for use.
func LibraryPolicy() Policy {
	d := retryablehttp.NewClient()
	return Policy{
		RetryMax:     d.RetryMax,
		RetryWaitMin: d.RetryWaitMin,
		RetryWaitMax: d.RetryWaitMax,
		CheckRetry:   retryablehttp.DefaultRetryPolicy,
		Backoff:      retryablehttp.DefaultBackoff,
	}
}

// Client is the providers' HTTP client: go-retryablehttp with a Policy,
// logging through logrus. It is safe for concurrent use.
type Client struct {
	Policy
	// HTTPClient makes each try. Defaults to go-cleanhttp's pooled client
	// (no overall timeout: the request's context bounds it) that does not
	// follow redirects.
	HTTPClient *http.Client
	// Logger receives go-retryablehttp's messages (tries, retries) at debug
	// and warning level. Defaults to a logger that discards.
	Logger logrus.FieldLogger
	// Now is the clock used against the context's deadline.
	Now func() time.Time
}

// NewClient returns a Client with DefaultPolicy that logs to logger (nil
// discards). Give each adapter its own, with a "provider" field on logger.
func NewClient(logger logrus.FieldLogger) *Client {
	if logger == nil {
		l := logrus.New()
		l.Out = discard{}
		logger = l
	}
	hc := cleanhttp.DefaultPooledClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{
		Policy:     DefaultPolicy(),
		HTTPClient: hc,
		Logger:     logger,
		Now:        time.Now,
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Do sends req with retries under the policy and returns the last response
// or error. Unlike go-retryablehttp's own Do, a response that was still
// retryable when the retries or the time ran out is returned with a nil
// error, so that Classify can read its status and Retry-After; the caller
// must close its body (Classify and DecodeJSON do).
//
// When the context ends the retries, the provider's last answer, if there is
// one, is returned without error: it is the fact that matters. An error that
// ends them while waiting (the context cancelled or its deadline passed
// during a backoff) or while dialling is wrapped in a *NotSentError: the
// provider cannot have acted.
func (c *Client) Do(req *retryablehttp.Request) (*http.Response, error) {
	st := &tryState{}
	// Whether each try got as far as writing its request: a try that
	// failed before (its context ended while it dialled or waited for a
	// connection, say) reached nobody.
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteHeaders: func() {
			st.mu.Lock()
			st.wrote = true
			st.mu.Unlock()
		},
	}))
	rc := c.retryable(st)
	resp, err := rc.Do(req)
	if err == nil {
		return resp, nil
	}
	if resp != nil && isContext(err) {
		return resp, nil
	}
	if st.notSent() {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, &NotSentError{Err: err}
	}
	return resp, err
}

// NotSentError says that a request failed without the provider having acted
// on it: every try was refused before acceptance.
type NotSentError struct{ Err error }

// Error describes the failure.
func (e *NotSentError) Error() string { return "not sent: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *NotSentError) Unwrap() error { return e.Err }

// StandardClient returns an *http.Client whose transport sends through c, for
// SDKs that take one. Requests keep their own context.
func (c *Client) StandardClient() *http.Client {
	return &http.Client{
		Transport:     roundTripper{c},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type roundTripper struct{ c *Client }

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	req, err := retryablehttp.FromRequest(r)
	if err != nil {
		return nil, err
	}
	return rt.c.Do(req)
}

// tryState is one request's retry state, shared by the closures that wrap
// the policy's CheckRetry and Backoff.
type tryState struct {
	mu   sync.Mutex
	wait time.Duration // the wait CheckRetry chose for the next retry
	// sleeping is true between a decision to retry and the next try.
	sleeping bool
	// unsent is true when the last try failed before sending anything.
	unsent bool
	// wrote is true once the current try has written its request headers.
	wrote bool
}

// notSent reports whether the request is known not to have reached the
// provider in a form it could act on: the client was waiting to retry, or the
// last try failed while dialling or before it had written its request.
func (s *tryState) notSent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sleeping || s.unsent
}

// retryable builds the go-retryablehttp client for one request: the policy's
// functions wrapped so that the wait is chosen (and checked against the
// deadline) when deciding to retry.
func (c *Client) retryable(st *tryState) *retryablehttp.Client {
	p := c.Policy
	if p.CheckRetry == nil {
		p.CheckRetry = CheckRetry
	}
	if p.Backoff == nil {
		p.Backoff = Backoff
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	attempt := 0
	rc := &retryablehttp.Client{
		HTTPClient:   c.HTTPClient,
		RetryWaitMin: p.RetryWaitMin,
		RetryWaitMax: p.RetryWaitMax,
		RetryMax:     p.RetryMax,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	if c.Logger != nil {
		rc.Logger = LeveledLogger{Logger: c.Logger}
	}
	rc.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		st.mu.Lock()
		st.sleeping = false
		st.unsent = err != nil && (notSent(err) || !st.wrote)
		st.wrote = false
		st.mu.Unlock()
		retry, cerr := p.CheckRetry(ctx, resp, err)
		n := attempt
		attempt++
		if !retry || cerr != nil || n >= p.RetryMax {
			return retry, cerr
		}
		wait := p.Backoff(p.RetryWaitMin, p.RetryWaitMax, n, resp)
		if p.RetryAfterMax > 0 && wait > p.RetryAfterMax {
			wait = p.RetryAfterMax
		}
		if p.StopBeforeDeadline {
			if dl, ok := ctx.Deadline(); ok && !now().Add(wait).Before(dl) {
				return false, nil // give up now: the last refusal stands
			}
		}
		st.mu.Lock()
		st.wait, st.sleeping = wait, true
		st.mu.Unlock()
		return true, nil
	}
	rc.Backoff = func(_, _ time.Duration, _ int, _ *http.Response) time.Duration {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.wait
	}
	return rc
}

// CheckRetry is the gateway's retry policy, for Policy.CheckRetry: retry a
// try that the provider cannot have acted on (a dial error: nothing was
// sent; 429; 503) and nothing else. It stops when ctx is done.
func CheckRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return notSent(err), nil
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true, nil
	}
	return false, nil
}

// Backoff is the gateway's backoff, for Policy.Backoff: the provider's
// Retry-After on a 429 or 503 response that has one; otherwise min doubled
// per attempt, capped at max, with "equal jitter" (between half and all of
// that, and never below min). Client caps the result at
// Policy.RetryAfterMax.
func Backoff(min, max time.Duration, attemptNum int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := RetryAfter(resp, time.Now()); ok {
			return d
		}
	}
	base := min
	for i := 0; i < attemptNum && base < max; i++ {
		base *= 2
	}
	if base > max {
		base = max
	}
	if base <= 0 {
		return 0
	}
	half := base / 2
	d := half + time.Duration(randUint64()%uint64(half+1))
	if d < min {
		d = min
	}
	return d
}

func randUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// RetryAfter returns the wait a response's Retry-After header asks for, in
// seconds or as an HTTP date (relative to now), and whether it had a valid
// one. A date in the past gives 0.
func RetryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if n, ok := parseSeconds(v); ok {
		return n, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

func parseSeconds(v string) (time.Duration, bool) {
	if len(v) == 0 || len(v) > 9 {
		return 0, false
	}
	var n int64
	for _, r := range v {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int64(r-'0')
	}
	return time.Duration(n) * time.Second, true
}

func isContext(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// WithDeadline bounds ctx by a leg's deadline dl, when it has one (a zero dl
// leaves ctx's own).
func WithDeadline(ctx context.Context, dl time.Time) (context.Context, context.CancelFunc) {
	if dl.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl)
}
