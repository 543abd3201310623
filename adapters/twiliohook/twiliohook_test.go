package twiliohook_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway/adapters/twiliohook"
	faketwilio "github.com/safeconnection/gateway/mocks/twilio"
)

const (
	token  = "f1e2d3c4b5a69788776655443322110a"
	public = "https://gateway.example.police.uk"
)

// callback is a status callback as Twilio posts it to the public URL, the
// request as it reaches the gateway behind a proxy (another Host).
func callback(form url.Values, sign func(url.Values) string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://10.0.0.7:8080/webhooks/twilio/voice?attempt=a_1", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sign != nil {
		r.Header.Set("X-Twilio-Signature", sign(form))
	}
	return r
}

func TestVerifySignature(t *testing.T) {
	form := url.Values{"CallSid": {"CA0123"}, "CallStatus": {"ringing"}, "AccountSid": {"AC0123"}}
	repeated := url.Values{"CallSid": {"CA0123"}, "Codes": {"b", "a", "b"}}
	signedFor := func(u string) func(url.Values) string {
		return func(f url.Values) string { return faketwilio.Sign(token, u, f) }
	}
	right := signedFor(public + "/webhooks/twilio/voice?attempt=a_1")
	tests := []struct {
		name string
		form url.Values
		sign func(url.Values) string
		want bool
	}{
		{"signed for the public URL", form, right, true},
		{"repeated parameter", repeated, right, true},
		{"no signature", form, nil, false},
		{"signed for the Host the request reached", form, signedFor("http://10.0.0.7:8080/webhooks/twilio/voice?attempt=a_1"), false},
		{"signed for another attempt", form, signedFor(public + "/webhooks/twilio/voice?attempt=a_2"), false},
		{"another token", form, func(f url.Values) string {
			return faketwilio.Sign("0000", public+"/webhooks/twilio/voice?attempt=a_1", f)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := callback(tt.form, tt.sign)
			if err := r.ParseForm(); err != nil {
				t.Fatal(err)
			}
			if got := twiliohook.VerifySignature(token, public, r, r.PostForm); got != tt.want {
				t.Errorf("VerifySignature = %v, want %v", got, tt.want)
			}
		})
	}
	// A changed parameter breaks the signature.
	r := callback(form, right)
	r.ParseForm()
	r.PostForm.Set("CallStatus", "completed")
	if twiliohook.VerifySignature(token, public, r, r.PostForm) {
		t.Error("a changed parameter passed")
	}
}

// TestVerifySignatureExactURL: only the URL Twilio was given verifies, not
// the same URL with its port dropped or the default port added (twilio-go's
// RequestValidator accepts both).
func TestVerifySignatureExactURL(t *testing.T) {
	form := url.Values{"CallSid": {"CA0123"}, "CallStatus": {"in-progress"}}
	const uri = "/webhooks/twilio/voice?attempt=a_1"
	tests := []struct {
		name, public, signedFor string
		want                    bool
	}{
		{"public URL with a port, signed for it", "https://gw.example.police.uk:8443", "https://gw.example.police.uk:8443" + uri, true},
		{"public URL with a port, signed without it", "https://gw.example.police.uk:8443", "https://gw.example.police.uk" + uri, false},
		{"public URL with a port, signed with the default port", "https://gw.example.police.uk:8443", "https://gw.example.police.uk:443" + uri, false},
		{"public URL without a port, signed with the default port", public, "https://gateway.example.police.uk:443" + uri, false},
		{"public URL with the default port, signed without it", "https://gateway.example.police.uk:443", public + uri, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := callback(form, func(f url.Values) string { return faketwilio.Sign(token, tt.signedFor, f) })
			if err := r.ParseForm(); err != nil {
				t.Fatal(err)
			}
			if got := twiliohook.VerifySignature(token, tt.public, r, r.PostForm); got != tt.want {
				t.Errorf("VerifySignature = %v, want %v", got, tt.want)
			}
			w := httptest.NewRecorder()
			r = callback(form, func(f url.Values) string { return faketwilio.Sign(token, tt.signedFor, f) })
			log := logrus.New()
			log.Out = io.Discard
			if _, ok := twiliohook.Form(w, r, token, tt.public, log, "voice"); ok != tt.want || !tt.want && w.Code != http.StatusForbidden {
				t.Errorf("Form accepted %v, answer %d; want accepted %v (403 otherwise)", ok, w.Code, tt.want)
			}
		})
	}
}

func TestFormRefusesBadCallbacks(t *testing.T) {
	log := logrus.New()
	log.Out = io.Discard
	form := url.Values{"CallSid": {"CA0123"}}
	right := func(f url.Values) string {
		return faketwilio.Sign(token, public+"/webhooks/twilio/voice?attempt=a_1", f)
	}
	tests := []struct {
		name   string
		req    *http.Request
		status int // 0: accepted
	}{
		{"signed", callback(form, right), 0},
		{"unsigned", callback(form, nil), http.StatusForbidden},
		{"GET", httptest.NewRequest(http.MethodGet, "/webhooks/twilio/voice", nil), http.StatusMethodNotAllowed},
		{"too large", callback(url.Values{"Body": {strings.Repeat("x", twiliohook.MaxBody+1)}}, right), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			got, ok := twiliohook.Form(w, tt.req, token, public, log, "voice")
			if tt.status == 0 {
				if !ok || got.Get("CallSid") != "CA0123" {
					t.Fatalf("accepted %v, form %v; answer %d %s", ok, got, w.Code, w.Body)
				}
				return
			}
			if ok || w.Code != tt.status || !strings.Contains(w.Body.String(), `"message"`) {
				t.Errorf("answer %d %s (accepted %v), want %d with a JSON message", w.Code, w.Body, ok, tt.status)
			}
		})
	}
}

// TestDeliveryKeys: one delivery's keys are the hash of what Twilio signed
// and, when sent, its idempotency token; the same callback again has the
// same hash whatever its token, and another callback, URL or signature
// another hash.
func TestDeliveryKeys(t *testing.T) {
	form := url.Values{"CallSid": {"CA0123"}, "CallStatus": {"ringing"}}
	sign := func(f url.Values) string {
		return faketwilio.Sign(token, public+"/webhooks/twilio/voice?attempt=a_1", f)
	}
	keys := func(r *http.Request, tok string) []string {
		if tok != "" {
			r.Header.Set(twiliohook.IdempotencyHeader, tok)
		}
		return twiliohook.DeliveryKeys(public, r, form)
	}
	first := keys(callback(form, sign), "RE1")
	if len(first) != 2 || !strings.HasPrefix(first[0], "twilio:sha256:") || first[1] != "twilio:token:RE1" {
		t.Fatalf("keys %q, want the hash and the token", first)
	}
	if again := keys(callback(form, sign), ""); len(again) != 1 || again[0] != first[0] {
		t.Errorf("the same callback without a token: keys %q, want only the hash %q", again, first[0])
	}
	if again := keys(callback(form, sign), "RE2"); again[0] != first[0] {
		t.Errorf("the same callback with another token: hash %q, want %q", again[0], first[0])
	}
	other := url.Values{"CallSid": {"CA0123"}, "CallStatus": {"completed"}}
	if k := twiliohook.DeliveryKeys(public, callback(other, sign), other); k[0] == first[0] {
		t.Error("another callback has the same hash")
	}
	r := callback(form, sign)
	r.URL.RawQuery = "attempt=a_2"
	if k := twiliohook.DeliveryKeys(public, r, form); k[0] == first[0] {
		t.Error("another URL has the same hash")
	}
	r = callback(form, sign)
	r.Header.Set("X-Twilio-Signature", "x"+r.Header.Get("X-Twilio-Signature"))
	if k := twiliohook.DeliveryKeys(public, r, form); k[0] == first[0] {
		t.Error("another signature has the same hash")
	}
	if k := keys(callback(form, sign), strings.Repeat("x", 300)); len(k) != 1 {
		t.Errorf("an overlong token was kept: keys %q", k)
	}
}

func TestServed(t *testing.T) {
	for _, tt := range []struct {
		path string
		want bool
	}{{"/webhooks/twilio/voice", true}, {"/webhooks/twilio/messages", true}, {"/webhooks/twilio/voice/", false}, {"/webhooks/twilio", false}} {
		w := httptest.NewRecorder()
		got := twiliohook.Served(w, httptest.NewRequest(http.MethodPost, tt.path, nil), "/webhooks/twilio/voice", "/webhooks/twilio/messages")
		if got != tt.want || !tt.want && (w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"not_found"`)) {
			t.Errorf("Served(%s) = %v, answer %d %s; want %v (404 otherwise)", tt.path, got, w.Code, w.Body, tt.want)
		}
	}
}
