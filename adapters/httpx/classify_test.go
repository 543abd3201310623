package httpx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
)

func response(status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body))}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name       string
		resp       *http.Response
		err        error
		fate       gateway.Fate // 0: nil error
		code       string
		retryAfter time.Duration
	}{
		{"200", response(200, nil, "{}"), nil, 0, "", 0},
		{"201", response(201, nil, "{}"), nil, 0, "", 0},
		{"204", response(204, nil, ""), nil, 0, "", 0},
		{"429 Retry-After seconds", response(429, http.Header{"Retry-After": {"3"}}, ""), nil, gateway.NotPlaced, gateway.ERATELIMITED, 3 * time.Second},
		{"503 Retry-After", response(503, http.Header{"Retry-After": {"12"}}, ""), nil, gateway.NotPlaced, gateway.EUNAVAILABLE, 12 * time.Second},
		{"503 bad Retry-After", response(503, http.Header{"Retry-After": {"soon"}}, ""), nil, gateway.NotPlaced, gateway.EUNAVAILABLE, 0},
		{"408", response(408, nil, ""), nil, gateway.NotPlaced, gateway.EUNAVAILABLE, 0},
		{"401", response(401, nil, `{"code":20003,"message":"Authenticate"}`), nil, gateway.NotPlaced, gateway.EUNAUTHORIZED, 0},
		{"403", response(403, nil, ""), nil, gateway.NotPlaced, gateway.EUNAUTHORIZED, 0},
		{"400", response(400, nil, `{"code":21201,"message":"No 'To' number is specified"}`), nil, gateway.PlacedFailed, gateway.EINVALID, 0},
		{"404", response(404, nil, "not found"), nil, gateway.PlacedFailed, gateway.EINVALID, 0},
		{"409", response(409, nil, ""), nil, gateway.PlacedFailed, gateway.EINVALID, 0},
		{"500", response(500, nil, ""), nil, gateway.Unknown, gateway.EUNAVAILABLE, 0},
		{"502", response(502, nil, "<html>bad gateway</html>"), nil, gateway.Unknown, gateway.EUNAVAILABLE, 0},
		{"504", response(504, nil, ""), nil, gateway.Unknown, gateway.EUNAVAILABLE, 0},
		{"302", response(302, nil, ""), nil, gateway.Unknown, gateway.EUNAVAILABLE, 0},
		{"refused", nil, &urlError{refused}, gateway.NotPlaced, gateway.EUNAVAILABLE, 0},
		{"dns", nil, &net.DNSError{Err: "no such host", Name: "api.zoom.us", IsNotFound: true}, gateway.NotPlaced, gateway.EUNAVAILABLE, 0},
		{"not sent", nil, &httpx.NotSentError{Err: context.DeadlineExceeded}, gateway.NotPlaced, gateway.EUNAVAILABLE, 0},
		{"deadline after sending", nil, context.DeadlineExceeded, gateway.Unknown, gateway.ETIMEOUT, 0},
		{"cancelled after sending", nil, context.Canceled, gateway.Unknown, gateway.ETIMEOUT, 0},
		{"reset after sending", nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, gateway.Unknown, gateway.EUNAVAILABLE, 0},
		{"EOF", nil, io.ErrUnexpectedEOF, gateway.Unknown, gateway.EUNAVAILABLE, 0},
		{"no response no error", nil, nil, gateway.Unknown, gateway.EINTERNAL, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := httpx.Classify("zoom", tt.resp, tt.err)
			if tt.fate == 0 {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			ce := adaptertest.CallError(t, err)
			if ce.Fate != tt.fate || ce.Provider != "zoom" || ce.Skipped {
				t.Errorf("got %v %q skipped=%v, want %v zoom (%v)", ce.Fate, ce.Provider, ce.Skipped, tt.fate, err)
			}
			if got := gateway.ErrorCode(err); got != tt.code {
				t.Errorf("code %q, want %q (%v)", got, tt.code, err)
			}
			if ce.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter %v, want %v", ce.RetryAfter, tt.retryAfter)
			}
			if gateway.FateOf(err) != tt.fate {
				t.Errorf("FateOf = %v", gateway.FateOf(err))
			}
		})
	}
}

// urlError stands for the *url.Error net/http wraps transport errors in.
type urlError struct{ err error }

func (e *urlError) Error() string { return "Post \"https://api.zoom.us\": " + e.err.Error() }
func (e *urlError) Unwrap() error { return e.err }

func TestClassifyMasksNumbers(t *testing.T) {
	t.Parallel()
	resp := response(400, nil, `{"code":21211,"message":"The 'To' number +44 7700 900123 is not a valid phone number."}`)
	err := httpx.Classify("twilio", resp, nil)
	msg := gateway.ErrorMessage(err)
	if strings.Contains(msg, "900123") || !strings.Contains(msg, "[number]") || !strings.Contains(msg, "not a valid phone number") {
		t.Errorf("message %q", msg)
	}
}

func TestClassifyStatus(t *testing.T) {
	t.Parallel()
	err := httpx.ClassifyStatus("twilio", 429, "4", "Too many requests")
	ce := adaptertest.CallError(t, err)
	if ce.Fate != gateway.NotPlaced || ce.RetryAfter != 4*time.Second || !strings.Contains(ce.Error(), "Too many requests") {
		t.Errorf("got %v %v %v", ce.Fate, ce.RetryAfter, ce)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header string
		want   time.Duration
		ok     bool
	}{
		{"none", "", 0, false},
		{"seconds", "120", 120 * time.Second, true},
		{"zero", "0", 0, true},
		{"negative", "-1", 0, false},
		{"date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"garbage", "tomorrow", 0, false},
		{"huge", "99999999999999", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.header != "" {
				h.Set("Retry-After", tt.header)
			}
			got, ok := httpx.RetryAfter(response(429, h, ""), now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	lo, hi := 100*time.Millisecond, 2*time.Second
	for attempt := 0; attempt < 12; attempt++ {
		base := lo << attempt
		if base > hi || base <= 0 {
			base = hi
		}
		for range 50 {
			d := httpx.Backoff(lo, hi, attempt, nil)
			if d < lo || d < base/2 || d > base {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, max(base/2, lo), base)
			}
		}
	}
	h := http.Header{"Retry-After": {"4"}}
	if d := httpx.Backoff(lo, hi, 0, response(503, h, "")); d != 4*time.Second {
		t.Errorf("503 Retry-After 4: %v", d)
	}
	if d := httpx.Backoff(lo, hi, 0, response(500, h, "")); d > lo {
		t.Errorf("500 with Retry-After must not be honoured by Backoff: %v", d)
	}
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	type meeting struct {
		ID      int64  `json:"id"`
		JoinURL string `json:"join_url"`
	}
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{"ok", `{"id":85746065,"join_url":"https://zoom.us/j/85746065"}`, true},
		{"unknown fields kept out", `{"id":1,"join_url":"x","uuid":"abc"}`, true},
		{"whitespace after", "{\"id\":1}\n", true},
		{"empty", ``, false},
		{"null", `null`, false},
		{"truncated", `{"id":85746065,"join_url":"https://zo`, false},
		{"html", `<html>oops</html>`, false},
		{"wrong type", `{"id":"eighty"}`, false},
		{"array", `[1,2]`, false},
		{"two values", `{"id":1}{"id":2}`, false},
		{"trailing garbage", `{"id":1} x`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var m meeting
			err := httpx.DecodeJSON("zoom", response(201, nil, tt.body), &m)
			if tt.ok {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			ce := adaptertest.CallError(t, err)
			if ce.Fate != gateway.Unknown || !strings.HasPrefix(ce.Err.Error(), "malformed response from zoom: ") {
				t.Errorf("got %v %q", ce.Fate, ce.Err)
			}
		})
	}
}

func TestDecodeJSONTooLarge(t *testing.T) {
	t.Parallel()
	body := `{"pad":"` + strings.Repeat("x", httpx.MaxResponseBytes) + `"}`
	var v map[string]string
	if f := gateway.FateOf(httpx.DecodeJSON("zoom", response(200, nil, body), &v)); f != gateway.Unknown {
		t.Errorf("fate %v, want unknown", f)
	}
}

func TestMaskNumbers(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"call +447700900123 failed", "call [number] failed"},
		{"to 07700 900123.", "to [number]."},
		{"error 21211", "error 21211"},
		{"CA0123456789abcdef", "CA[number]abcdef"},
	}
	for _, tt := range tests {
		if got := httpx.MaskNumbers(tt.in); got != tt.want {
			t.Errorf("MaskNumbers(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"id":1,"join_url":"u"}`, `null`, `[`, `{"id":1}{}`, "", `"x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var v struct {
			ID      int64  `json:"id"`
			JoinURL string `json:"join_url"`
		}
		err := httpx.DecodeJSON("zoom", response(200, nil, body), &v)
		if err != nil && gateway.FateOf(err) != gateway.Unknown {
			t.Fatalf("fate %v for %q", gateway.FateOf(err), body)
		}
	})
}

func FuzzClassify(f *testing.F) {
	f.Add(400, "3", `{"message":"bad"}`)
	f.Add(429, "Wed, 21 Oct 2015 07:28:00 GMT", `{"error":{"message":"slow down"}}`)
	f.Add(503, "", "<html>")
	f.Add(200, "", "")
	f.Fuzz(func(t *testing.T, status int, retryAfter, body string) {
		if status < 100 || status > 999 {
			return
		}
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		err := httpx.Classify("zoom", response(status, h, body), nil)
		if (status >= 200 && status < 300) != (err == nil) {
			t.Fatalf("status %d: err %v", status, err)
		}
		if err != nil {
			var ce *gateway.CallError
			if !errors.As(err, &ce) || ce.Fate == 0 || ce.RetryAfter < 0 {
				t.Fatalf("status %d: %#v", status, err)
			}
			_ = fmt.Sprint(err)
		}
	})
}
