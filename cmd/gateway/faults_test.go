package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safeconnection/gateway/adapters/zoom"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/httpapi"
)

// startDemo opens the gateway as -demo does, in-process, on a loopback port
// and a temporary data directory (or dir, when given), and closes it when
// the test ends.
func startDemo(tb testing.TB, dir string, extra ...string) *Main {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	env := append([]string{"GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DATA_DIR=" + dir, "GATEWAY_LOG_LEVEL=error"}, extra...)
	cfg, err := config.LoadDemo(env, providers.Sections()...)
	if err != nil {
		tb.Fatal(err)
	}
	m := NewMain(cfg, true)
	m.Out = &logBuffer{}
	if err := m.Open(context.Background()); err != nil {
		m.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	m.Logger.SetOutput(&logBuffer{})
	return m
}

// postFault sets a fault through the gateway's control endpoint and returns
// the status and body.
func postFault(tb testing.TB, client *http.Client, base, target, body string) (int, []byte) {
	tb.Helper()
	resp, err := client.Post(base+"/demo/faults/"+target, "application/json", strings.NewReader(body))
	if err != nil {
		tb.Fatalf("POST /demo/faults/%s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestDemoFaultControl sets each fault mode on the demo's fake Zoom through
// POST /demo/faults/zoom and checks what the fake then does to a request of
// the kind the adapter sends, and that the endpoint refuses bad requests
// with a JSON error.
func TestDemoFaultControl(t *testing.T) {
	t.Parallel()
	m := startDemo(t, "")
	client := newClient(t)
	zoomAPI := zoom.Section.Get(m.Config).APIURL
	probeClient := &http.Client{Timeout: 700 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	probe := func() (int, time.Duration, error) {
		start := time.Now()
		resp, err := probeClient.Get(zoomAPI + "/v2/users/me/meetings")
		if err != nil {
			return 0, time.Since(start), err
		}
		resp.Body.Close()
		return resp.StatusCode, time.Since(start), nil
	}
	if status, _, err := probe(); err != nil || status == 0 || status >= 500 {
		t.Fatalf("the fake Zoom before any fault: %d, %v", status, err)
	}

	for _, c := range []struct {
		name, body string
		check      func(status int, took time.Duration, err error) string
	}{
		{"refuse", `{"mode":"refuse"}`, func(_ int, _ time.Duration, err error) string {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return "want the connection refused"
			}
			return ""
		}},
		{"5xx", `{"mode":"5xx","status":502,"retry_after":"2s"}`, func(status int, _ time.Duration, err error) string {
			if err != nil || status != http.StatusBadGateway {
				return "want 502"
			}
			return ""
		}},
		{"hang", `{"mode":"hang"}`, func(_ int, _ time.Duration, err error) string {
			if err == nil || !strings.Contains(err.Error(), "Timeout") {
				return "want no answer before the client's timeout"
			}
			return ""
		}},
		{"slow", `{"mode":"slow","delay":"300ms"}`, func(status int, took time.Duration, err error) string {
			if err != nil || status >= 500 || took < 300*time.Millisecond {
				return "want an answer after at least 300ms"
			}
			return ""
		}},
		{"none", `{"mode":"none"}`, func(status int, took time.Duration, err error) string {
			if err != nil || status >= 500 || took > 300*time.Millisecond {
				return "want a prompt answer"
			}
			return ""
		}},
	} {
		status, body := postFault(t, client, m.URL(), "zoom", c.body)
		if status != http.StatusOK {
			t.Fatalf("%s: POST /demo/faults/zoom %s: %d %s", c.name, c.body, status, body)
		}
		var views map[string]faultView
		if err := json.Unmarshal(body, &views); err != nil || views["zoom"].Mode != c.name {
			t.Errorf("%s: answer %s, want zoom's mode %q", c.name, body, c.name)
		}
		got, took, err := probe()
		if msg := c.check(got, took, err); msg != "" {
			t.Errorf("%s: the fake answered %d after %v (%v): %s", c.name, got, took.Round(time.Millisecond), err, msg)
		}
	}

	// GET lists every fake with its mode.
	resp, err := client.Get(m.URL() + "/demo/faults")
	if err != nil {
		t.Fatal(err)
	}
	var views map[string]faultView
	err = json.NewDecoder(resp.Body).Decode(&views)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"zoom", "meet", "teams", "twilio", "whatsapp"} {
		if views[name].Mode != faultNone {
			t.Errorf("GET /demo/faults: %s is %+v, want listed with mode none", name, views[name])
		}
	}

	for _, c := range []struct {
		name, target, body string
		want               int
	}{
		{"unknown mode", "zoom", `{"mode":"explode"}`, http.StatusBadRequest},
		{"unknown field", "zoom", `{"mode":"slow","latency":"1s"}`, http.StatusBadRequest},
		{"not JSON", "zoom", `mode=hang`, http.StatusBadRequest},
		{"two objects", "zoom", `{"mode":"none"}{"mode":"hang"}`, http.StatusBadRequest},
		{"status out of range", "zoom", `{"mode":"5xx","status":404}`, http.StatusBadRequest},
		{"bad delay", "zoom", `{"mode":"slow","delay":"soon"}`, http.StatusBadRequest},
		{"delay for refuse", "zoom", `{"mode":"refuse","delay":"1s"}`, http.StatusBadRequest},
		{"store mode for a provider", "zoom", `{"mode":"fail"}`, http.StatusBadRequest},
		{"provider mode for the store", "store", `{"mode":"hang"}`, http.StatusBadRequest},
		{"too large", "zoom", `{"mode":"none","x":"` + strings.Repeat("a", 5000) + `"}`, http.StatusRequestEntityTooLarge},
		{"unknown provider", "skype", `{"mode":"hang"}`, http.StatusNotFound},
		{"nested path", "zoom/x", `{"mode":"hang"}`, http.StatusNotFound},
	} {
		status, body := postFault(t, client, m.URL(), c.target, c.body)
		var eb httpapi.ErrorBody
		if status != c.want || json.Unmarshal(body, &eb) != nil || eb.Error.Code == "" {
			t.Errorf("%s: %d %s, want %d with a JSON error", c.name, status, body, c.want)
		}
	}
	if status, _, _ := probe(); status == 0 || status >= 500 {
		t.Errorf("after the refused requests the fake Zoom answers %d, want it unchanged (behaving)", status)
	}
}

// TestDemoFaultControlLoopbackOnly checks that the control endpoint refuses
// a request from an address other than loopback, changing nothing, and that
// a gateway started without -demo does not serve it.
func TestDemoFaultControlLoopbackOnly(t *testing.T) {
	t.Parallel()
	m := startDemo(t, "")
	for _, remote := range []string{"192.0.2.10:40000", "[2001:db8::1]:40000", "10.0.0.1:1"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/demo/faults/zoom", bytes.NewReader([]byte(`{"mode":"refuse"}`)))
		req.RemoteAddr = remote
		m.http.Handler.ServeHTTP(rec, req)
		var eb httpapi.ErrorBody
		if rec.Code != http.StatusForbidden || json.Unmarshal(rec.Body.Bytes(), &eb) != nil || eb.Error.Code != "forbidden" {
			t.Errorf("from %s: %d %s, want 403 forbidden", remote, rec.Code, rec.Body)
		}
	}
	if v := m.demo.faults.fakes["zoom"].current(); v.Mode != faultNone {
		t.Errorf("after the refused requests zoom's fault is %+v, want none", v)
	}

	g := startGateway(t, testEnv(t), nil)
	status, body := postFault(t, g.client, g.m.URL(), "zoom", `{"mode":"refuse"}`)
	if status != http.StatusNotFound {
		t.Errorf("a gateway without -demo answers POST /demo/faults/zoom with %d %s, want 404", status, body)
	}
}
