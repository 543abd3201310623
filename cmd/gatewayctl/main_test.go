package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsage: a command line that cannot be run exits 2 with a clear
// message and asks the gateway nothing.
func TestUsage(t *testing.T) {
	g := startGateway(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no command", nil, []string{"no command given"}},
		{"unknown command", []string{"devies"}, []string{`unknown command "devies"`, "devices"}},
		{"group alone", []string{"rooms"}, []string{"gatewayctl rooms needs a command", "list, set, show"}},
		{"unknown subcommand", []string{"devices", "lst"}, []string{`unknown command "lst" for "gatewayctl devices"`, "did you mean list"}},
		{"unknown flag", []string{"devices", "list", "--bogus"}, []string{"unknown flag: --bogus", "gatewayctl devices list --help"}},
		{"bad flag value", []string{"flags", "--hours", "many"}, []string{`invalid argument "many"`}},
		{"missing argument", []string{"devices", "show"}, []string{"missing the device's ID"}},
		{"two arguments", []string{"rooms", "show", "AW", "AE"}, []string{"one room's ID only"}},
		{"empty argument", []string{"verifications", "show", " "}, []string{"empty verification's ID"}},
		{"stray argument", []string{"devices", "list", "AW"}, []string{`unexpected argument "AW"`}},
		{"required flag", []string{"devices", "add"}, []string{`required flag(s) "room" not set`}},
		{"no reason", []string{"devices", "out", "AW-1"}, []string{`required flag(s) "reason" not set`}},
		{"empty reason", []string{"devices", "retire", "AW-1", "--reason", " "}, []string{"--reason is empty"}},
		{"nothing to set", []string{"rooms", "set", "AW"}, []string{"nothing to change"}},
		{"nothing to rotate", []string{"devices", "rotate", "AW-1", "--reason", "x"}, []string{"nothing to change"}},
		{"handles both ways", []string{"devices", "rotate", "AW-1", "--handle", "zoom=a@b.c", "--no-handles"}, []string{"--handle and --no-handles"}},
		{"bad handle", []string{"devices", "add", "--room", "AW", "--handle", "whatsapp"}, []string{"want CHANNEL=HANDLE"}},
		{"handle twice", []string{"rooms", "set", "AW", "--handle", "whatsapp=1", "--handle", "whatsapp=2"}, []string{"whatsapp given twice"}},
		{"bad since", []string{"verifications", "list", "--since", "yesterday"}, []string{`--since "yesterday"`, "RFC 3339"}},
		{"until before since", []string{"verifications", "export", "--since", "2026-12-03", "--until", "2026-12-02"}, []string{"--until must be after --since"}},
		{"bad format", []string{"verifications", "export", "--format", "xml"}, []string{`--format "xml": want csv or json`}},
		{"json and csv", []string{"verifications", "export", "--json", "--format", "csv"}, []string{"--json and --format csv"}},
		{"officer details for ops", []string{"credentials", "issue", "--role", "ops", "--name", "desk", "--collar", "PC 1"}, []string{"an officer's"}},
		{"supervisor details for officer", []string{"credentials", "issue", "--role", "officer", "--name", "app", "--rooms", "AW"}, []string{"a supervisor's"}},
		{"negative expiry", []string{"credentials", "issue", "--role", "ops", "--name", "desk", "--expires-in", "-1h"}, []string{"--expires-in must be positive"}},
		{"negative limit", []string{"record", "--limit", "-1"}, []string{"--limit must be positive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(g.Log.AllEntries())
			g.ctl(t, tc.args...).exits(t, exitUsage, tc.want...)
			if n := len(g.Log.AllEntries()) - before; n != 0 {
				t.Errorf("the gateway was asked %d times", n)
			}
		})
	}
}

// TestSettings: the gateway and the credential come from the flags, else
// the environment; missing or malformed ones are bad usage (2).
func TestSettings(t *testing.T) {
	g := startGateway(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(g.ops+"\nsecond line ignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	list := []string{"devices", "list"}
	with := func(extra ...string) []string { return append(append([]string{}, list...), extra...) }
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"environment", []string{envURL + "=" + g.URL, envToken + "=" + g.ops}, list, exitOK, ""},
		{"flags", nil, with("--url", g.URL, "--token", g.ops), exitOK, ""},
		{"flags over environment", []string{envURL + "=" + closedURL(t), envToken + "=wrong"}, with("--url", g.URL+"/", "--token", g.ops), exitOK, ""},
		{"token file flag", []string{envURL + "=" + g.URL}, with("--token-file", tokenFile), exitOK, ""},
		{"token file variable", []string{envURL + "=" + g.URL, envTokenFile + "=" + tokenFile}, list, exitOK, ""},
		{"timeout variable", []string{envURL + "=" + g.URL, envToken + "=" + g.ops, envTimeout + "=5s"}, list, exitOK, ""},
		{"no URL", []string{envToken + "=" + g.ops}, list, exitUsage, "no gateway URL: set GATEWAYCTL_URL or pass --url"},
		{"no token", []string{envURL + "=" + g.URL}, list, exitUsage, "no credential: set GATEWAYCTL_TOKEN"},
		{"blank token", []string{envURL + "=" + g.URL, envToken + "=  "}, list, exitUsage, "no credential"},
		{"missing token file", []string{envURL + "=" + g.URL}, with("--token-file", filepath.Join(dir, "nope")), exitUsage, "credential file"},
		{"empty token file", []string{envURL + "=" + g.URL}, with("--token-file", empty), exitUsage, "first line is empty"},
		{"URL without scheme", []string{envURL + "=127.0.0.1:8080", envToken + "=x"}, list, exitUsage, "want http://host[:port]"},
		{"URL of another scheme", []string{envURL + "=ftp://example.org", envToken + "=x"}, list, exitUsage, "want http://host[:port]"},
		{"URL with a query", []string{envURL + "=" + g.URL + "?a=b", envToken + "=x"}, list, exitUsage, "no query"},
		{"bad timeout", []string{envURL + "=" + g.URL, envToken + "=x", envTimeout + "=soon"}, list, exitUsage, "GATEWAYCTL_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCtl(t, tc.env, tc.args...)
			if tc.code == exitOK {
				r.ok(t)
				if !strings.HasPrefix(r.stdout, "No devices.") {
					t.Errorf("stdout %q", r.stdout)
				}
				return
			}
			r.exits(t, tc.code, tc.want)
		})
	}
}

// TestHelp: help is asked for, so it succeeds; it names the environment
// variables and the exit codes.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := runCtl(t, nil, args...).ok(t)
		for _, want := range []string{envURL, envToken, envTokenFile, envTimeout, "Exit codes", "3  the gateway could not be reached",
			"rooms", "devices", "credentials", "verifications", "record", "flags"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%v: help does not hold %q:\n%s", args, want, r.stdout)
			}
		}
	}
	r := runCtl(t, nil, "verifications", "export", "--help").ok(t)
	for _, col := range csvColumns {
		if !strings.Contains(r.stdout, "\n  "+col+" ") {
			t.Errorf("export's help does not document the column %s", col)
		}
	}
	r = runCtl(t, nil, "devices", "--help").ok(t)
	for _, sub := range []string{"list", "show", "add", "rotate", "out", "return", "retire", "history"} {
		if !strings.Contains(r.stdout, "\n  "+sub+" ") {
			t.Errorf("devices' help does not list %s:\n%s", sub, r.stdout)
		}
	}
	runCtl(t, nil, "completion", "bash").ok(t)
}

// TestUnreachable: a gateway that cannot be reached is exit 3, whatever
// the command, with the URL in the message.
func TestUnreachable(t *testing.T) {
	down := closedURL(t)
	// A server that takes the request and never answers.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	for _, tc := range []struct {
		name string
		url  string
		args []string
		want string
	}{
		{"connection refused", down, []string{"devices", "list"}, "connection refused"},
		{"refused, a change", down, []string{"devices", "retire", "AW-1", "--reason", "broken"}, "connection refused"},
		{"refused, json", down, []string{"rooms", "list", "--json"}, "connection refused"},
		{"refused, export", down, []string{"verifications", "export"}, "connection refused"},
		{"no answer in time", hang.URL, []string{"devices", "list", "--timeout", "200ms"}, "no answer in time"},
		{"name not found", "http://gateway.invalid", []string{"flags", "--timeout", "5s"}, "gateway.invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCtl(t, []string{envURL + "=" + tc.url, envToken + "=secret"}, tc.args...)
			r.exits(t, exitUnreachable, "cannot reach the gateway at "+tc.url, tc.want)
			if strings.Contains(r.stderr, "secret") {
				t.Errorf("the message shows the credential: %q", r.stderr)
			}
		})
	}
}

// TestRefused: what the gateway refuses is exit 1 with its message, and so
// is an answer that is not the gateway's.
func TestRefused(t *testing.T) {
	g := startGateway(t)
	_, officer := g.Token(t, "officer", "")
	for _, tc := range []struct {
		name  string
		token string
		args  []string
		want  []string
	}{
		{"unknown device", g.ops, []string{"devices", "show", "nope"}, []string{"404 Not Found, not_found"}},
		{"unknown device, json", g.ops, []string{"devices", "show", "nope", "--json"}, []string{"404 Not Found"}},
		{"unknown verification", g.ops, []string{"verifications", "show", "v_nope"}, []string{"404 Not Found, not_found"}},
		{"bad input", g.ops, []string{"devices", "add", "--room", "ZZ", "--number", "+447700900555"}, []string{`room "ZZ" is not one of the operations rooms`, "400 Bad Request, invalid"}},
		{"bad handle", g.ops, []string{"devices", "add", "--room", "AW", "--handle", "carrier-pigeon=x"}, []string{"handles", "400 Bad Request"}},
		{"wrong role", officer, []string{"devices", "list"}, []string{"403 Forbidden, forbidden"}},
		{"bad credential", "not-a-credential", []string{"devices", "list"}, []string{"401 Unauthorized, unauthorized"}},
		{"bad hours", g.ops, []string{"flags", "--hours", "500"}, []string{"hours: a whole number from 1 to 168", "400"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCtl(t, []string{envURL + "=" + g.URL, envToken + "=" + tc.token}, tc.args...)
			r.exits(t, exitRefused, tc.want...)
		})
	}

	// Something else at the URL: a proxy's error page, a 200 that is not JSON.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/devices" {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html><body>502 Bad Gateway\nnginx</body></html>"))
			return
		}
		w.Write([]byte("<html>hello</html>"))
	}))
	t.Cleanup(other.Close)
	env := []string{envURL + "=" + other.URL, envToken + "=x"}
	runCtl(t, env, "devices", "list").exits(t, exitRefused, "<html><body>502 Bad Gateway (502 Bad Gateway)")
	runCtl(t, env, "rooms", "list").exits(t, exitRefused, "the gateway's answer (200) could not be read: not JSON")
}
