package httpx

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
)

// Limits on what is read from a provider's response.
const (
	// MaxResponseBytes bounds the body DecodeJSON reads.
	MaxResponseBytes = 1 << 20
	// maxErrorBytes bounds the body read to describe an error response.
	maxErrorBytes = 4 << 10
)

// Classify turns the outcome of a provider call into the gateway's terms: nil
// for a 2xx response (the caller then reads and closes the body), otherwise a
// *gateway.CallError for provider (e.g. "zoom") whose Fate says what the
// provider may have done, with the body closed. The CallError's Err is a
// *gateway.Error:
//
//	dial error, refused connection, TLS failure   NotPlaced     EUNAVAILABLE
//	*NotSentError (gave up while waiting)          NotPlaced     EUNAVAILABLE
//	429 (RetryAfter set)                           NotPlaced     ERATELIMITED
//	503 (RetryAfter set), 408                      NotPlaced     EUNAVAILABLE
//	401, 403: our credentials refused              NotPlaced     EUNAUTHORIZED
//	other 4xx: the request was refused             PlacedFailed  EINVALID
//	500, 502, 504, other 5xx                       Unknown       EUNAVAILABLE
//	timeout or context end after sending           Unknown       ETIMEOUT
//	any other transport error, 1xx, 3xx            Unknown       EUNAVAILABLE
//
// The error's message quotes the provider's own error message, when its body
// has one, with anything like a phone number masked.
func Classify(provider string, resp *http.Response, err error) error {
	now := time.Now()
	if err != nil {
		if resp != nil {
			Drain(resp)
		}
		return classifyErr(provider, err)
	}
	if resp == nil {
		return &gateway.CallError{Fate: gateway.Unknown, Provider: provider,
			Err: gateway.Errorf(gateway.EINTERNAL, "no response from %s", provider)}
	}
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	detail := errorDetail(resp)
	ce := &gateway.CallError{Provider: provider}
	msg := fmt.Sprintf("%s answered %d %s", provider, code, http.StatusText(code))
	if detail != "" {
		msg += ": " + detail
	}
	switch {
	case code == http.StatusTooManyRequests:
		ce.Fate = gateway.NotPlaced
		ce.Err = gateway.Errorf(gateway.ERATELIMITED, "%s", msg)
	case code == http.StatusServiceUnavailable || code == http.StatusRequestTimeout:
		ce.Fate = gateway.NotPlaced
		ce.Err = gateway.Errorf(gateway.EUNAVAILABLE, "%s", msg)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		ce.Fate = gateway.NotPlaced
		ce.Err = gateway.Errorf(gateway.EUNAUTHORIZED, "%s refused the gateway's credentials (%d)", provider, code)
		if detail != "" {
			ce.Err = gateway.Errorf(gateway.EUNAUTHORIZED, "%s refused the gateway's credentials (%d): %s", provider, code, detail)
		}
	case code >= 400 && code < 500:
		ce.Fate = gateway.PlacedFailed
		ce.Err = gateway.Errorf(gateway.EINVALID, "%s", msg)
	default: // 5xx, and 1xx or 3xx that we never ask for
		ce.Fate = gateway.Unknown
		ce.Err = gateway.Errorf(gateway.EUNAVAILABLE, "%s", msg)
	}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		if d, ok := RetryAfter(resp, now); ok {
			ce.RetryAfter = d
		}
	}
	return ce
}

// ClassifyStatus is Classify for SDKs that hide the response: the status
// code, the Retry-After header's value (or "") and the provider's error
// message, as the SDK decoded them.
func ClassifyStatus(provider string, status int, retryAfter, message string) error {
	resp := &http.Response{
		StatusCode: status,
		Header:     http.Header{},
		Body:       io.NopCloser(strings.NewReader("")),
	}
	if retryAfter != "" {
		resp.Header.Set("Retry-After", retryAfter)
	}
	if message != "" {
		b, _ := json.Marshal(map[string]string{"message": message})
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.Header.Set("Content-Type", "application/json")
	}
	return Classify(provider, resp, nil)
}

func classifyErr(provider string, err error) error {
	ce := &gateway.CallError{Provider: provider}
	var ns *NotSentError
	switch {
	case errors.As(err, &ns) || notSent(err):
		ce.Fate = gateway.NotPlaced
		ce.Err = gateway.E("", gateway.EUNAVAILABLE, fmt.Errorf("%s not reached: %w", provider, err))
	case isContext(err) || isTimeout(err):
		ce.Fate = gateway.Unknown
		ce.Err = gateway.E("", gateway.ETIMEOUT, fmt.Errorf("%s did not answer in time: %w", provider, err))
	default:
		ce.Fate = gateway.Unknown
		ce.Err = gateway.E("", gateway.EUNAVAILABLE, fmt.Errorf("%s: %w", provider, err))
	}
	return ce
}

// notSent reports whether a transport error shows that nothing reached the
// provider: a failure to dial (refused, unreachable, DNS, dial timeout) or to
// complete the TLS handshake.
func notSent(err error) bool {
	var ns *NotSentError
	if errors.As(err, &ns) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return true
	}
	var rh tls.RecordHeaderError
	return errors.As(err, &rh)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Drain reads what is left of a body (bounded) and closes it, so that the
// connection can be reused.
func Drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
	resp.Body.Close()
}

// errorDetail reads an error response's body (bounded), closes it, and
// returns the provider's message: the JSON fields "message", "error",
// "error_description" or "error.message" that providers use, else the
// start of a text body. Anything like a phone number is masked.
func errorDetail(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	Drain(resp)
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	var msg string
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		msg = jsonMessage(m)
	} else if !bytes.HasPrefix(b, []byte("<")) {
		msg = string(b)
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return MaskNumbers(msg)
}

func jsonMessage(m map[string]any) string {
	for _, k := range []string{"message", "error_description", "error"} {
		switch v := m[k].(type) {
		case string:
			if v != "" {
				return v
			}
		case map[string]any:
			if s := jsonMessage(v); s != "" {
				return s
			}
		}
	}
	return ""
}

// MaskNumbers replaces anything that looks like a phone number (seven or
// more digits, with optional +, spaces, dots or dashes between them) by
// "[number]", so that provider messages can be logged and recorded.
func MaskNumbers(s string) string {
	return phoneRE.ReplaceAllString(s, "[number]")
}

// phoneRE is compiled once and only read.
var phoneRE = regexp.MustCompile(`\+?\d(?:[ .\-]?\d){6,}`)

// DecodeJSON decodes a 2xx response's JSON body into v and closes the body.
// The body must be one JSON value of at most MaxResponseBytes, matching v's
// types, with nothing after it; otherwise the error is a *gateway.CallError
// with Fate Unknown (the provider accepted the request but its answer cannot
// be read): "malformed response from zoom: ...".
func DecodeJSON(provider string, resp *http.Response, v any) error {
	defer Drain(resp)
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err == nil && len(b) > MaxResponseBytes {
		err = fmt.Errorf("body over %d bytes", MaxResponseBytes)
	}
	if err == nil {
		err = decodeStrict(b, v)
	}
	if err != nil {
		return &gateway.CallError{Fate: gateway.Unknown, Provider: provider,
			Err: gateway.E("", gateway.EUNAVAILABLE, fmt.Errorf("malformed response from %s: %w", provider, err))}
	}
	return nil
}

// decodeStrict decodes exactly one JSON value from b into v.
func decodeStrict(b []byte, v any) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return errors.New("null body")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty body")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}
