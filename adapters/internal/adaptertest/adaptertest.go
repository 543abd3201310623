// Package adaptertest holds helpers that the adapters' tests share: the
// checks of a webhook's JSON error answer and of a signed Twilio callback's
// request. Only tests import it.
package adaptertest

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
)

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
