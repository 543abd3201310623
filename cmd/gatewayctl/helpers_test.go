package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/rooms"
)

// testGateway is a real gateway API on loopback (httpapitest: a real
// httpapi.Server over a real SQLite store) with an ops credential.
type testGateway struct {
	*httpapitest.Env
	ops string // the ops credential's secret
}

// startGateway starts a gateway with the Met's rooms.
func startGateway(t *testing.T) *testGateway {
	t.Helper()
	set, err := rooms.Default()
	if err != nil {
		t.Fatal(err)
	}
	e := httpapitest.New(t, func(s *httpapi.Server) {
		s.Rooms, s.RoomEditor = set, set
	})
	_, ops := e.Token(t, gateway.RoleOps, "")
	return &testGateway{Env: e, ops: ops}
}

// result is one run of gatewayctl.
type result struct {
	stdout, stderr string
	code           int
}

// ctl runs gatewayctl against the gateway with its ops credential, in UTC.
func (g *testGateway) ctl(t *testing.T, args ...string) result {
	t.Helper()
	return runCtl(t, []string{envURL + "=" + g.URL, envToken + "=" + g.ops, "TZ=UTC"}, args...)
}

// runCtl runs gatewayctl with the environment.
func runCtl(t *testing.T, env []string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, env, &out, &errb)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// ok fails the test unless the run exited 0 with nothing on stderr.
func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q, stdout %q; want 0 and no stderr", r.code, r.stderr, r.stdout)
	}
	return r
}

// exits fails the test unless the run exited with code, nothing on
// stdout, and stderr holding each of want.
func (r result) exits(t *testing.T, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "gatewayctl: ") {
		t.Errorf("stderr %q does not start with gatewayctl: ", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not hold %q", r.stderr, w)
		}
	}
}

// api calls the API directly with the ops credential and returns the
// status and body.
func (g *testGateway) api(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+g.ops)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// sameJSON fails the test unless gatewayctl's --json output is the
// gateway's answer to the same question, as it came: one document.
func sameJSON(t *testing.T, out string, answer []byte) {
	t.Helper()
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("--json output %q is not one line ending in a newline", out)
	}
	if !json.Valid([]byte(out)) {
		t.Fatalf("--json output %q is not JSON", out)
	}
	if got, want := strings.TrimSpace(out), strings.TrimSpace(string(answer)); got != want {
		t.Errorf("--json output\n%s\nis not the gateway's answer\n%s", got, want)
	}
}

// decode decodes gatewayctl's --json output.
func decode[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	return v
}

// served reports whether the gateway serves the route: without a
// credential a route it serves answers 401, one it does not 404 or 405.
func (g *testGateway) served(t *testing.T, method, path string) bool {
	t.Helper()
	req, err := http.NewRequest(method, g.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusUnauthorized
}

// needRoute skips the test when this build of the gateway does not serve
// the route yet.
func (g *testGateway) needRoute(t *testing.T, method, path string) {
	t.Helper()
	if !g.served(t, method, path) {
		t.Skipf("SKIP: this gateway does not serve %s %s yet", method, path)
	}
}

// rows reads a table: its header line's columns are separated by two
// spaces or more, it must hold each of headers, and every row's cells start
// where their header does (an aligned table). It returns each row's cells
// by header.
func rows(t *testing.T, out string, headers ...string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	head := lines[0] // ASCII: its byte offsets are its code points'
	var names []string
	var starts []int
	for i := 0; i < len(head); {
		for i < len(head) && head[i] == ' ' {
			i++
		}
		if i == len(head) {
			break
		}
		j := strings.Index(head[i:], "  ")
		if j < 0 {
			j = len(head) - i
		}
		names, starts = append(names, head[i:i+j]), append(starts, i)
		i += j
	}
	for _, h := range headers {
		if !slices.Contains(names, h) {
			t.Fatalf("header %q not in %q", h, head)
		}
	}
	var out2 []map[string]string
	for _, line := range lines[1:] {
		l := []rune(line) // tabwriter aligns code points, not bytes
		cells := map[string]string{}
		for i, h := range names {
			if len(l) < starts[i] {
				t.Fatalf("row %q ends before column %s", line, h)
			}
			if starts[i] > 0 && l[starts[i]-1] != ' ' {
				t.Fatalf("row %q: column %s does not start at %d (misaligned)", line, h, starts[i])
			}
			end := len(l)
			if i+1 < len(names) && starts[i+1] < end {
				end = starts[i+1]
			}
			cells[h] = strings.TrimSpace(string(l[starts[i]:end]))
		}
		out2 = append(out2, cells)
	}
	return out2
}

// fields reads a list of fields ("Name  value" lines) into a map; a field
// given more than once keeps its values joined by " | ".
func fields(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	col := -1
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			break // what follows is another table
		}
		i := strings.Index(l, "  ")
		if i < 0 {
			t.Fatalf("field line %q has no value", l)
		}
		j := i + len(l[i:]) - len(strings.TrimLeft(l[i:], " "))
		if col >= 0 && j != col {
			t.Fatalf("field line %q: value at %d, others at %d (misaligned)", l, j, col)
		}
		col = j
		k := l[:i]
		if m[k] != "" {
			m[k] += " | " + l[j:]
		} else {
			m[k] = l[j:]
		}
	}
	return m
}

// closedURL is the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}
