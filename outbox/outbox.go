// Package outbox delivers the gateway's record to the force's
// command-and-control or incident system: each message is POSTed as JSON
// to one configured HTTPS endpoint, signed as the Standard Webhooks
// specification says (headers webhook-id, webhook-timestamp and
// webhook-signature, an HMAC-SHA256 over id.timestamp.body), through
// go-retryablehttp, and retried with exponential backoff for a
// configurable time before it is given up as dead. A message keeps its id
// on every try, so the receiver can drop repeats.
package outbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/safeconnection/gateway"
)

// SecretPrefix starts a secret in the Standard Webhooks form: "whsec_"
// then the key in standard base64.
const SecretPrefix = "whsec_"

// ParseSecret returns the key of a secret in the Standard Webhooks form
// (the prefix may be left out). EINVALID for a key that is not base64 or
// shorter than 24 bytes (the specification asks for 24 to 64).
func ParseSecret(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
	if err != nil {
		return nil, gateway.Errorf(gateway.EINVALID, "the incident system's secret is not %s followed by base64", SecretPrefix)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, gateway.Errorf(gateway.EINVALID, "the incident system's secret must hold 24 to 64 bytes, not %d", len(key))
	}
	return key, nil
}

// Sign is the webhook-signature header of a message: "v1," and the base64
// HMAC-SHA256 under key of id, ".", the timestamp in unix seconds, ".",
// and the body.
func Sign(key []byte, id string, at time.Time, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(at.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Message is one delivery: its stable id (kept for every try), its type
// and its JSON body, built once when it was written.
type Message struct {
	ID   string
	Type string
	Body []byte
}

// Result is what one delivery came to.
type Result int

// The results of a delivery.
const (
	Delivered Result = iota // the receiver answered 2xx
	Retry                   // try again later
	Gone                    // the receiver answered 410: the endpoint wants no more; dead at once
)

// Sender posts messages to the incident system's endpoint.
type Sender struct {
	// URL is the endpoint.
	URL string
	// Key is the signing key (ParseSecret).
	Key []byte
	// Client sends the request; NewSender sets a go-retryablehttp client
	// that tries a few times within one delivery, a few seconds apart at
	// most.
	Client *retryablehttp.Client
	// Now is the clock of the webhook-timestamp header.
	Now func() time.Time
}

// NewSender returns a Sender for url and key with the default client and
// clock.
func NewSender(url string, key []byte) *Sender {
	c := retryablehttp.NewClient()
	c.Logger = nil
	c.RetryMax = 2
	c.RetryWaitMin = 100 * time.Millisecond
	c.RetryWaitMax = 2 * time.Second
	c.HTTPClient.Timeout = 10 * time.Second
	// A 410 is an answer, not a failure to retry.
	c.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if err == nil && resp.StatusCode == http.StatusGone {
			return false, nil
		}
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return &Sender{URL: url, Key: key, Client: c, Now: time.Now}
}

// Send posts m once (with the client's own quick retries) and says what
// came of it; err describes a failure without secrets or the body.
func (s *Sender) Send(ctx context.Context, m Message) (Result, error) {
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(m.Body))
	if err != nil {
		return Retry, err
	}
	at := s.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", Sign(s.Key, m.ID, at, m.Body))
	resp, err := s.Client.Do(req)
	if err != nil {
		return Retry, errors.New("the incident system could not be reached")
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return Delivered, nil
	case resp.StatusCode == http.StatusGone:
		return Gone, fmt.Errorf("the incident system answered %d", resp.StatusCode)
	}
	return Retry, fmt.Errorf("the incident system answered %d", resp.StatusCode)
}

// Schedule is when to try a message again after attempts failed tries,
// given when its retry window began: exponential backoff (go-retryablehttp's
// DefaultBackoff, from Min doubling to Max), and dead (false) once the
// next try would fall after since plus For.
type Schedule struct {
	Min, Max time.Duration
	For      time.Duration // the retry window: GATEWAY_INCIDENT_RETRY_FOR
}

// DefaultSchedule tries again after 5 s, doubling to an hour, for a day.
func DefaultSchedule() Schedule {
	return Schedule{Min: 5 * time.Second, Max: time.Hour, For: 24 * time.Hour}
}

// Next returns the time of the next try after attempts failures, now, of
// a message whose window began at since; false when it is dead.
func (s Schedule) Next(since, now time.Time, attempts int) (time.Time, bool) {
	next := now.Add(retryablehttp.DefaultBackoff(s.Min, s.Max, attempts-1, nil))
	if next.After(since.Add(s.For)) {
		return time.Time{}, false
	}
	return next, true
}
