package main

import (
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
)

// leafCommands returns the path (without "gatewayctl ") of every command
// of the tree that runs something: those without subcommands.
func leafCommands() []string {
	var out []string
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.HasSubCommands() {
			out = append(out, strings.TrimPrefix(c.CommandPath(), "gatewayctl "))
			return
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newApp(nil, io.Discard, io.Discard).rootCommand())
	slices.Sort(out)
	return out
}

// validLines is a command line gatewayctl takes for each leaf command, so
// that what comes of it is the gateway's doing. A new command needs one.
var validLines = map[string][]string{
	"credentials issue":    {"--role", "ops", "--name", "night desk"},
	"credentials list":     nil,
	"credentials revoke":   {"t_1"},
	"devices add":          {"--room", "AW", "--number", "+447700900555"},
	"devices history":      {"AW-1"},
	"devices list":         nil,
	"devices out":          {"AW-1", "--reason", "flat"},
	"devices retire":       {"AW-1", "--reason", "broken"},
	"devices return":       {"AW-1", "--reason", "charged"},
	"devices rotate":       {"AW-1", "--number", "+447700900556"},
	"devices show":         {"AW-1"},
	"flags":                nil,
	"outbox list":          nil,
	"outbox replay":        {"msg_1", "--reason", "back"},
	"record":               nil,
	"rooms list":           nil,
	"rooms set":            {"AW", "--desk-number", "+442079460999"},
	"rooms show":           {"AW"},
	"verifications export": nil,
	"verifications list":   nil,
	"verifications show":   {"v_1"},
}

// commandLine is the leaf's valid command line with extra flags.
func commandLine(t *testing.T, leaf string, extra ...string) []string {
	t.Helper()
	args, ok := validLines[leaf]
	if !ok {
		t.Fatalf("validLines has no command line for %q", leaf)
	}
	return append(append(strings.Fields(leaf), args...), extra...)
}

// TestEveryCommandIsListed: validLines holds exactly the leaf commands, so
// the tests below try every one.
func TestEveryCommandIsListed(t *testing.T) {
	leaves := leafCommands()
	if len(leaves) < 19 {
		t.Fatalf("the command tree has %d leaf commands (%v), want at least 19", len(leaves), leaves)
	}
	for _, l := range leaves {
		if _, ok := validLines[l]; !ok {
			t.Errorf("command %q has no entry in validLines", l)
		}
	}
	for l := range validLines {
		if !slices.Contains(leaves, l) {
			t.Errorf("validLines has %q, which is not a command", l)
		}
	}
}

// TestEveryCommandUnreachable: every leaf command, as a table and with
// --json, exits 3 when nothing listens at the gateway's URL.
func TestEveryCommandUnreachable(t *testing.T) {
	down := closedURL(t)
	env := []string{envURL + "=" + down, envToken + "=secret"}
	for _, leaf := range leafCommands() {
		for _, extra := range [][]string{nil, {"--json"}} {
			args := commandLine(t, leaf, extra...)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				r := runCtl(t, env, args...)
				r.exits(t, exitUnreachable, "cannot reach the gateway at "+down, "connection refused")
				if strings.Contains(r.stderr, "secret") {
					t.Errorf("the message shows the credential: %q", r.stderr)
				}
			})
		}
	}
}

// TestEveryCommandRefused: every leaf command exits 1 with the gateway's
// 403 when its credential is an agent's, which may use no ops route.
func TestEveryCommandRefused(t *testing.T) {
	g := startGateway(t)
	_, agent := g.Token(t, gateway.RoleAgent, "AW-1")
	env := []string{envURL + "=" + g.URL, envToken + "=" + agent}
	for _, leaf := range leafCommands() {
		for _, extra := range [][]string{nil, {"--json"}} {
			args := commandLine(t, leaf, extra...)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				before := len(g.Log.AllEntries())
				runCtl(t, env, args...).exits(t, exitRefused, "may not do that", "403 Forbidden, forbidden")
				if len(g.Log.AllEntries()) == before {
					t.Errorf("the gateway was not asked")
				}
			})
		}
	}
}

// TestListsRefused: the listings and the export exit 1 with the gateway's
// message when it refuses their filters (an ops credential, a 4xx).
func TestListsRefused(t *testing.T) {
	g := startGateway(t)
	tooMany := strconv.Itoa(httpapi.MaxOpsLimit + 1)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"credentials", "list", "--role", "emperor"}, []string{"role must be officer, supervisor, handler, ops or agent", "400 Bad Request, invalid"}},
		{[]string{"verifications", "list", "--outcome", "maybe"}, []string{"outcome must be verified or refused", "400 Bad Request, invalid"}},
		{[]string{"verifications", "list", "--room", "ZZ"}, []string{`no operations room "ZZ"`, "404 Not Found, not_found"}},
		{[]string{"verifications", "export", "--outcome", "maybe"}, []string{"outcome must be verified or refused", "400 Bad Request, invalid"}},
		{[]string{"verifications", "export", "--format", "json", "--room", "ZZ"}, []string{`no operations room "ZZ"`, "404 Not Found"}},
		{[]string{"record", "--limit", tooMany}, []string{"limit must be a whole number from 1 to", "400 Bad Request, invalid"}},
		{[]string{"record", "--room", strings.Repeat("Z", httpapi.MaxRoomID+1)}, []string{"room", "400 Bad Request, invalid"}},
	} {
		for _, extra := range [][]string{nil, {"--json"}} {
			args := append(append([]string{}, tc.args...), extra...)
			if slices.Contains(args, "--format") && slices.Contains(args, "--json") {
				continue // --json is --format json
			}
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				before := len(g.Log.AllEntries())
				g.ctl(t, args...).exits(t, exitRefused, tc.want...)
				if len(g.Log.AllEntries()) == before {
					t.Errorf("the gateway was not asked")
				}
			})
		}
	}
}
