package httpx_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
)

// TestWriteError: a webhook's error answer is the API's JSON error body
// under the status of the API's table, to the byte.
func TestWriteError(t *testing.T) {
	for _, tt := range []struct {
		err        error
		wantStatus int
		wantBody   string
	}{
		{gateway.Errorf(gateway.EINVALID, "malformed form body"), 400, `{"error":{"code":"invalid","message":"malformed form body"}}`},
		{gateway.Errorf(gateway.ESIGNATURE, "X-Twilio-Signature does not verify"), 403, `{"error":{"code":"bad_signature","message":"X-Twilio-Signature does not verify"}}`},
		{gateway.Errorf(gateway.ENOTFOUND, "no such webhook"), 404, `{"error":{"code":"not_found","message":"no such webhook"}}`},
		{gateway.Errorf(gateway.ETOOLARGE, "body over 65536 bytes"), 413, `{"error":{"code":"too_large","message":"body over 65536 bytes"}}`},
		{gateway.Errorf(gateway.EINTERNAL, "could not record the event"), 500, `{"error":{"code":"internal","message":"could not record the event"}}`},
		{gateway.Errorf(gateway.EUNAVAILABLE, "not ready"), 503, `{"error":{"code":"unavailable","message":"not ready"}}`},
		{errors.New("a plain error's text is not shown"), 500, `{"error":{"code":"internal","message":"internal error"}}`},
	} {
		w := httptest.NewRecorder()
		httpx.WriteError(w, tt.err)
		if w.Code != tt.wantStatus || w.Body.String() != tt.wantBody+"\n" || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("WriteError(%v): %d %q %s, want %d application/json %s", tt.err, w.Code, w.Header().Get("Content-Type"), w.Body, tt.wantStatus, tt.wantBody)
		}
	}
}

func TestRefuseMethod(t *testing.T) {
	w := httptest.NewRecorder()
	httpx.RefuseMethod(w, "GET, POST", "method not allowed")
	want := `{"error":{"code":"invalid","message":"method not allowed"}}` + "\n"
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, POST" || w.Body.String() != want {
		t.Errorf("RefuseMethod: %d, Allow %q, %s; want 405, GET, POST, %s", w.Code, w.Header().Get("Allow"), w.Body, want)
	}
}

func TestReadBody(t *testing.T) {
	for _, tt := range []struct {
		body     string
		wantCode string
	}{
		{strings.Repeat("a", 16), ""},
		{strings.Repeat("a", 17), gateway.ETOOLARGE},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/webhooks/x", strings.NewReader(tt.body))
		got, err := httpx.ReadBody(w, r, 16)
		if gateway.ErrorCode(err) != tt.wantCode {
			t.Errorf("ReadBody of %d bytes: %v, want code %q", len(tt.body), err, tt.wantCode)
		}
		if err == nil && string(got) != tt.body {
			t.Errorf("ReadBody = %q, want %q", got, tt.body)
		}
	}
}

func TestURL(t *testing.T) {
	for _, tt := range []struct{ base, def, path, want string }{
		{"", "https://api.zoom.us", "/v2/meetings/1", "https://api.zoom.us/v2/meetings/1"},
		{"http://127.0.0.1:8080/", "https://api.zoom.us", "/v2/meetings/1", "http://127.0.0.1:8080/v2/meetings/1"},
		{"http://proxy/zoom//", "https://api.zoom.us", "", "http://proxy/zoom"},
	} {
		if got := httpx.URL(tt.base, tt.def, tt.path); got != tt.want {
			t.Errorf("URL(%q, %q, %q) = %q, want %q", tt.base, tt.def, tt.path, got, tt.want)
		}
	}
}

func TestDefaultSettings(t *testing.T) {
	s := httpx.DefaultSettings()
	if s.HTTPClient == nil || s.Logger == nil || s.Now == nil || s.HTTPClient.Policy.RetryMax != httpx.DefaultRetryMax {
		t.Errorf("DefaultSettings = %+v: want a client with the default policy, a logger and a clock", s)
	}
}
