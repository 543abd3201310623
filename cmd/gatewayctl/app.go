package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/safeconnection/gateway/internal/opsclient"
)

// app is one run of gatewayctl: its environment, its output and the
// global flags.
type app struct {
	env            map[string]string
	stdout, stderr io.Writer
	loc            *time.Location // where tables show times
	now            func() time.Time

	url, token, tokenFile string
	timeout               time.Duration
	json                  bool
}

// newApp reads what it needs of the environment.
func newApp(environ []string, stdout, stderr io.Writer) *app {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	loc := time.Local
	if tz, ok := env["TZ"]; ok {
		if l, err := time.LoadLocation(strings.TrimPrefix(tz, ":")); err == nil {
			loc = l
		}
	}
	return &app{env: env, stdout: stdout, stderr: stderr, loc: loc, now: time.Now}
}

// client builds the ops API client from the flags, else the environment.
func (a *app) client() (*opsclient.Client, error) {
	base := firstSet(a.url, a.env[envURL])
	if base == "" {
		return nil, usagef("no gateway URL: set %s or pass --url", envURL)
	}
	token, err := a.secret()
	if err != nil {
		return nil, err
	}
	c, err := opsclient.New(base, token)
	if err != nil {
		return nil, usageError{err}
	}
	timeout := a.timeout
	if timeout == 0 {
		if s := a.env[envTimeout]; s != "" {
			if timeout, err = time.ParseDuration(s); err != nil || timeout <= 0 {
				return nil, usagef("%s=%q: want a duration such as 30s", envTimeout, s)
			}
		}
	}
	if timeout < 0 {
		return nil, usagef("--timeout must be positive")
	}
	if timeout > 0 {
		c.HTTP.Timeout = timeout
	}
	return c, nil
}

// secret is the credential's secret: --token, --token-file, then the
// environment's in the same order.
func (a *app) secret() (string, error) {
	if t := strings.TrimSpace(a.token); t != "" {
		return t, nil
	}
	file := a.tokenFile
	if file == "" && strings.TrimSpace(a.env[envToken]) != "" {
		return strings.TrimSpace(a.env[envToken]), nil
	}
	if file == "" {
		file = a.env[envTokenFile]
	}
	if file == "" {
		return "", usagef("no credential: set %s (or %s) or pass --token (or --token-file)", envToken, envTokenFile)
	}
	f, err := os.Open(file)
	if err != nil {
		return "", usagef("credential file: %v", err)
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", usagef("credential file %s: %v", file, err)
	}
	if line = strings.TrimSpace(line); line == "" {
		return "", usagef("credential file %s: its first line is empty", file)
	}
	return line, nil
}

func firstSet(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// ctx is the context of one call.
func (a *app) ctx() context.Context { return context.Background() }

// outputError is output that could not be written.
type outputError struct{ error }

// printJSON prints the gateway's answer as it came, one document ending in
// a newline.
func (a *app) printJSON(raw json.RawMessage) error {
	if _, err := fmt.Fprintf(a.stdout, "%s\n", raw); err != nil {
		return outputError{err}
	}
	return nil
}

// table writes aligned columns for people.
type table struct {
	tw *tabwriter.Writer
}

// newTable starts a table with its header row (none when headers are
// empty, as for a list of fields).
func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(headers) > 0 {
		t.row(headers...)
	}
	return t
}

// row writes one row; cells are kept on one line and free of control
// characters, so that a value cannot break the table or the terminal.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c = sanitize(c); c == "" {
			c = "-"
		}
		cells[i] = c
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

// flush writes the table out.
func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return outputError{err}
	}
	return nil
}

// sanitize replaces control characters (tabs, newlines, escape sequences)
// with spaces.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// when shows a time for people, in the app's time zone; "-" for none.
func (a *app) when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(a.loc).Format("2006-01-02 15:04:05 MST")
}

// whenPtr is when for an optional time.
func (a *app) whenPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return a.when(*t)
}

// none prints that a list is empty.
func (a *app) none(what string) error {
	if _, err := fmt.Fprintf(a.stdout, "No %s.\n", what); err != nil {
		return outputError{err}
	}
	return nil
}

// list joins a list's items for one cell.
func list(items []string) string { return strings.Join(items, ",") }

// kvs shows a map as k=v pairs in key order.
func kvs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

// handles reads --handle flags, each CHANNEL=HANDLE.
func handles(flags []string) (map[string]string, error) {
	out := make(map[string]string, len(flags))
	for _, f := range flags {
		ch, h, ok := strings.Cut(f, "=")
		ch = strings.TrimSpace(ch)
		if !ok || ch == "" {
			return nil, usagef("--handle %q: want CHANNEL=HANDLE, such as whatsapp=+447700900555", f)
		}
		if _, dup := out[ch]; dup {
			return nil, usagef("--handle: %s given twice", ch)
		}
		out[ch] = strings.TrimSpace(h)
	}
	return out, nil
}

// splitList reads a comma-separated list; empty is the empty list.
func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// timeHelp describes the forms parseWhen takes.
const timeHelp = "RFC 3339 (2026-12-03T02:00:00Z), a date (2026-12-03, midnight in TZ), or a time ago (24h, 90m)"

// parseWhen reads a --since or --until: an RFC 3339 time, a date (its
// midnight in the app's time zone) or a duration back from now.
func (a *app) parseWhen(flag, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, a.loc); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return a.now().Add(-d), nil
	}
	return time.Time{}, usagef("--%s %q: want %s", flag, s, timeHelp)
}
