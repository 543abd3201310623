package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/store/sqlite"
)

// shortTimeouts are server limits short enough for a test to outlast.
var shortTimeouts = []string{
	"GATEWAY_READ_HEADER_TIMEOUT=1s",
	"GATEWAY_READ_TIMEOUT=1s",
	"GATEWAY_WRITE_TIMEOUT=1s",
	"GATEWAY_IDLE_TIMEOUT=1s",
}

// dial opens a raw connection to the gateway, closed when the test ends.
func (g *rig) dial(tb testing.TB) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", g.m.listener.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads c until the gateway closes it, and returns how long
// that took; it fails the test if c is still open after limit.
func closedWithin(tb testing.TB, c net.Conn, limit time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		tb.Fatalf("the connection is still open after %v", limit)
	}
	return time.Since(start)
}

func TestServerDisconnectsSlowAndIdleClients(t *testing.T) {
	g := startGateway(t, testEnv(t, shortTimeouts...), nil)

	t.Run("slow body", func(t *testing.T) {
		// The headers arrive at once, the body a byte at a time, never
		// finishing: the read timeout ends it.
		c := g.dial(t)
		fmt.Fprintf(c, "POST /v1/devices HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", g.ops)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		took := closedWithin(t, c, 5*time.Second)
		t.Logf("slow body disconnected after %v", took)
	})

	t.Run("slow headers", func(t *testing.T) {
		c := g.dial(t)
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\n")
		closedWithin(t, c, 5*time.Second)
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		c := g.dial(t)
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("healthz: %d, close %v; want 200 kept alive", resp.StatusCode, resp.Close)
		}
		took := closedWithin(t, c, 5*time.Second)
		t.Logf("idle connection closed after %v", took)
	})
}

func TestStreamsAndLongPollsOutlastTheTimeouts(t *testing.T) {
	g := startGateway(t, testEnv(t, append(shortTimeouts, "GATEWAY_BUDGET=20s", "GATEWAY_RING_TIMEOUT=3s")...), nil)
	// No handset anywhere: the verification queues and stays open.
	v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber})
	d := g.addDevice(t, "AS", "+447700900201", facetimeWhatsApp("+447700900201"))

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp := g.openEvents(t, ctx, v.ID)
		start := time.Now()
		br := bufio.NewReader(resp.Body)
		heartbeats := 0
		for time.Since(start) < 3*time.Second {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Errorf("the event stream ended after %v (timeouts 1s): %v", time.Since(start), err)
				return
			}
			if strings.HasPrefix(line, ": heartbeat") {
				heartbeats++
			}
		}
		if heartbeats < 3 {
			t.Errorf("%d heartbeats in 3s, want one at least every half write timeout", heartbeats)
		}
	}()
	go func() {
		defer wg.Done()
		start := time.Now()
		status, body := g.send(t, "GET", "/v1/agent/orders?wait=3", d.secret, nil, nil)
		if status != http.StatusOK {
			t.Errorf("long poll: %d %s", status, body)
		}
		if took := time.Since(start); took < 2500*time.Millisecond {
			t.Errorf("the 3s long poll answered after %v", took)
		}
	}()
	wg.Wait()
}

func TestHealthzAnswersWithManyIdleConnections(t *testing.T) {
	// The cap is well under the idle clients: the ones idle longest give
	// way, so /healthz is still served, and the gateway never holds more
	// than the cap.
	const capacity, idle = 32, 200
	g := startGateway(t, testEnv(t, fmt.Sprintf("GATEWAY_MAX_CONNS=%d", capacity), "GATEWAY_IDLE_TIMEOUT=60s"), nil)
	var conns []net.Conn
	for range idle {
		c := g.dial(t)
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
		conns = append(conns, c)
	}
	client := newClient(t)
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", g.m.URL()+"/healthz", nil)
		resp, err := client.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("healthz #%d with %d idle connections: %v", i, idle, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz #%d: %d", i, resp.StatusCode)
		}
	}
	// The idle clients that were answered were then closed to make room.
	var answered, closed int
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		b, err := io.ReadAll(c)
		if len(b) > 0 {
			answered++
		}
		var ne net.Error
		if err == nil || !(errors.As(err, &ne) && ne.Timeout()) {
			closed++
		}
	}
	if closed < idle-capacity {
		t.Errorf("%d of %d idle connections closed, want at least %d: the cap is %d", closed, idle, idle-capacity, capacity)
	}
	t.Logf("%d idle clients answered, %d closed", answered, closed)
}

func TestNetHTTPErrorsAreJSON(t *testing.T) {
	g := startGateway(t, testEnv(t, "GATEWAY_MAX_HEADER_BYTES=4096"), nil)
	for _, tt := range []struct {
		name, request string
		status        int
		code          string
	}{
		{"huge headers", "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Big: " + strings.Repeat("a", 20000) + "\r\n\r\n", 431, "headers_too_large"},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, gateway.EINVALID},
		{"malformed", "GARBAGE\r\n\r\n", 400, gateway.EINVALID},
		{"unknown transfer coding", "POST /healthz HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: rot13\r\n\r\n", 501, gateway.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := g.dial(t)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tt.request)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb httpapi.ErrorBody
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("status %d %q, want %d JSON: %s", resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, b)
			}
			if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code != tt.code || eb.Error.Message == "" {
				t.Errorf("body %s (%v), want code %s", b, err, tt.code)
			}
		})
	}
	// Headers under the limit still pass.
	status, _ := g.send(t, "GET", "/healthz", "", nil, http.Header{"X-Small": {strings.Repeat("a", 1000)}})
	if status != http.StatusOK {
		t.Errorf("healthz with small headers: %d", status)
	}
}

func TestMetricsAccess(t *testing.T) {
	t.Run("separate address", func(t *testing.T) {
		g := startGateway(t, testEnv(t, "GATEWAY_METRICS_ADDR=127.0.0.1:0"), nil)
		if status, _ := g.send(t, "GET", "/metrics", "", nil, nil); status != http.StatusNotFound {
			t.Errorf("/metrics at GATEWAY_ADDR: %d, want 404", status)
		}
		resp, err := g.client.Get(g.m.MetricsURL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "gateway_") {
			t.Errorf("/metrics at GATEWAY_METRICS_ADDR: %d %.200s", resp.StatusCode, b)
		}
	})
	t.Run("ops credential", func(t *testing.T) {
		g := startGateway(t, testEnv(t, "GATEWAY_METRICS_AUTH=true"), nil)
		if status, _ := g.send(t, "GET", "/metrics", "", nil, nil); status != http.StatusUnauthorized {
			t.Errorf("/metrics without a credential: %d, want 401", status)
		}
		if status, _ := g.send(t, "GET", "/metrics", g.officer, nil, nil); status != http.StatusForbidden {
			t.Errorf("/metrics with an officer's credential: %d, want 403", status)
		}
		if status, b := g.send(t, "GET", "/metrics", g.ops, nil, nil); status != http.StatusOK || !strings.Contains(string(b), "gateway_") {
			t.Errorf("/metrics with the ops credential: %d %.200s", status, b)
		}
	})
}

func TestTokenCommandNeedsNoPublicURL(t *testing.T) {
	var stdout, stderr strings.Builder
	environ := []string{"GATEWAY_DATA_DIR=" + t.TempDir()}
	if err := Run(context.Background(), []string{"token", "ops", "Central West ops desk"}, environ, &stdout, &stderr); err != nil {
		t.Fatalf("gateway token without GATEWAY_PUBLIC_URL: %v", err)
	}
	if secret := strings.TrimSpace(stdout.String()); secret == "" || strings.Contains(secret, "\n") {
		t.Errorf("printed %q, want the secret alone", stdout.String())
	}
	// A bad setting is still refused.
	err := Run(context.Background(), []string{"token", "ops", "desk"}, append(environ, "GATEWAY_MAX_BODY=x"), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "GATEWAY_MAX_BODY") {
		t.Errorf("gateway token with a bad setting: %v", err)
	}
}

func TestHelpPrintsItsHeaderOnceInShortLines(t *testing.T) {
	var stdout, stderr strings.Builder
	if err := Run(context.Background(), []string{"-h"}, nil, &stdout, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Run -h = %v", err)
	}
	help := stderr.String()
	if n := strings.Count(help, "environment variables"); n != 1 {
		t.Errorf("the settings' header is printed %d times, want once", n)
	}
	for _, line := range strings.Split(help, "\n") {
		if w := len(strings.ReplaceAll(line, "\t", "        ")); w > 84 {
			t.Errorf("a line of %d columns: %q", w, line)
		}
	}
}

// TestTokenCommandIdentity: gateway token stores an officer's, a
// supervisor's and a 999 call handler's identity and an expiry with the
// credential, and refuses an officer's, supervisor's or call handler's
// credential without one.
func TestTokenCommandIdentity(t *testing.T) {
	dir := t.TempDir()
	environ := []string{"GATEWAY_DATA_DIR=" + dir}
	run := func(args ...string) (string, error) {
		var stdout, stderr strings.Builder
		err := Run(context.Background(), append([]string{"token"}, args...), environ, &stdout, &stderr)
		return strings.TrimSpace(stdout.String()), err
	}
	officer, err := run("-collar", "PC 1234", "-warrant", "W998877", "-expires", "720h", "officer", "PC 1234's phone")
	if err != nil {
		t.Fatal(err)
	}
	supervisor, err := run("-rank", "PS", "-number", "42", "-rooms", "AW, CE", "supervisor", "PS 42")
	if err != nil {
		t.Fatal(err)
	}
	handler, err := run("-rank", "Call handler", "-number", "3012", "handler", "Call handler 3012")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{
		{"officer", "no identity"},
		{"handler", "no identity"},
		{"-collar", "PC 1", "-warrant", "W1", "handler", "officer flags"},
		{"-collar", "PC 1", "officer", "no warrant"},
		{"-rank", "PS", "supervisor", "no number"},
		{"-collar", "PC 1", "-warrant", "W1", "supervisor", "officer flags"},
		{"-rank", "PS", "-number", "1", "ops", "identity on ops"},
		{"-expires", "soon", "ops", "bad expiry"},
	} {
		if _, err := run(bad...); err == nil {
			t.Errorf("gateway token %q: no error", bad)
		}
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o, err := st.TokenByHash(context.Background(), gateway.HashSecret(officer))
	if err != nil || o.Officer == nil || *o.Officer != (gateway.OfficerIdentity{Force: "Metropolitan Police", Collar: "PC 1234", Warrant: "W998877"}) ||
		o.ExpiresAt.Before(time.Now().Add(719*time.Hour)) {
		t.Errorf("officer credential %+v %+v, %v", o, o.Officer, err)
	}
	s, err := st.TokenByHash(context.Background(), gateway.HashSecret(supervisor))
	if err != nil || s.Supervisor == nil || s.Supervisor.Name() != "PS 42" || strings.Join(s.Supervisor.Rooms, ",") != "AW,CE" || !s.ExpiresAt.IsZero() {
		t.Errorf("supervisor credential %+v %+v, %v", s, s.Supervisor, err)
	}
	h, err := st.TokenByHash(context.Background(), gateway.HashSecret(handler))
	if err != nil || h.Role != gateway.RoleHandler || h.Supervisor == nil || h.Supervisor.Name() != "Call handler 3012" || len(h.Supervisor.Rooms) != 0 {
		t.Errorf("call handler credential %+v %+v, %v", h, h.Supervisor, err)
	}
}
