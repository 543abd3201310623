// Package skipnote says, once per test binary, which groups of tests were
// skipped for want of something on the machine (PostgreSQL, Chromium) and
// how to run them. `go test ./...` shows a passing package's output only
// with -v, so a plain run would otherwise give no sign that tests did not
// run: a package's TestMain calls Main, which writes one line per skipped
// group to standard error and, when there is a terminal, to it as well.
//
// It is for tests only.
package skipnote

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"testing"
)

// skips counts the tests skipped by group, with how to run them. It is the
// one piece of package state: a test binary's record of its skips.
var skips = struct {
	sync.Mutex
	n   map[string]int
	how map[string]string
}{n: map[string]int{}, how: map[string]string{}}

// Skip records that tb skips as one of group (say "PostgreSQL") and why,
// then skips it with why as its message.
func Skip(tb testing.TB, group, why string) {
	tb.Helper()
	skips.Lock()
	skips.n[group]++
	skips.how[group] = why
	skips.Unlock()
	tb.Skip(why)
}

// Main runs the package's tests, writes the summary of skipped groups and
// exits with the tests' code: func TestMain(m *testing.M) { skipnote.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if s := Summary(); s != "" {
		fmt.Fprint(os.Stderr, s)
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			io.WriteString(tty, s)
			tty.Close()
		}
	}
	os.Exit(code)
}

// Summary returns one line per skipped group: how many tests, and why.
func Summary() string {
	skips.Lock()
	defer skips.Unlock()
	var groups []string
	for g := range skips.n {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	var out string
	for _, g := range groups {
		tests := "tests"
		if skips.n[g] == 1 {
			tests = "test"
		}
		out += fmt.Sprintf("SKIP: %d %s %s skipped: %s\n", skips.n[g], g, tests, skips.how[g])
	}
	return out
}
