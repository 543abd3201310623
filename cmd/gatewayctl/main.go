// Command gatewayctl is the ops staff's command line: it talks to a
// gateway's ops API, local or remote, with an ops credential, to look after
// the rooms, the handsets, the credentials, the verifications and the ops
// record.
//
//	gatewayctl rooms list|show|set
//	gatewayctl devices list|show|add|rotate|out|return|retire|history
//	gatewayctl credentials issue|list|revoke
//	gatewayctl verifications list|show|export
//	gatewayctl record          the ops record: who changed what, and why
//	gatewayctl flags           verifications that never connected
//
// The gateway is GATEWAYCTL_URL (or --url) and the credential
// GATEWAYCTL_TOKEN, GATEWAYCTL_TOKEN_FILE (or --token, --token-file).
// Tables are for people; --json prints the gateway's answer as it came.
// Exit codes: 0 done, 1 the gateway refused, 2 bad usage, 3 the gateway
// could not be reached.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/safeconnection/gateway/internal/opsclient"
)

// Exit codes scripts can trust.
const (
	exitOK          = 0 // done
	exitRefused     = 1 // the gateway refused, or its answer could not be read
	exitUsage       = 2 // unknown command, bad flag, missing argument, no URL or credential
	exitUnreachable = 3 // connection refused, name not found, no answer in time
)

// The environment variables gatewayctl reads.
const (
	envURL       = "GATEWAYCTL_URL"
	envToken     = "GATEWAYCTL_TOKEN"
	envTokenFile = "GATEWAYCTL_TOKEN_FILE"
	envTimeout   = "GATEWAYCTL_TIMEOUT"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// usageError is a command line that cannot be run as given.
type usageError struct{ error }

// usagef returns a usage error.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// run runs gatewayctl with the arguments (without the program's name) and
// the environment (as os.Environ gives it), and returns its exit code.
func run(args, env []string, stdout, stderr io.Writer) int {
	a := newApp(env, stdout, stderr)
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	fmt.Fprintf(stderr, "gatewayctl: %s\n", oneLine(err.Error()))
	if code == exitUsage && cmd != nil {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// exitCode is the exit code for a command's error: the client's errors say
// whether the gateway refused or could not be reached; every other error
// (cobra's unknown command, bad flag or argument count, and gatewayctl's
// own checks) is bad usage.
func exitCode(err error) int {
	var (
		unreachable *opsclient.UnreachableError
		refused     *opsclient.Error
		answer      *opsclient.AnswerError
		output      outputError
	)
	switch {
	case errors.As(err, &unreachable):
		return exitUnreachable
	case errors.As(err, &refused), errors.As(err, &answer), errors.As(err, &output):
		return exitRefused
	default:
		return exitUsage
	}
}

// oneLine keeps an error message on one line of the terminal.
func oneLine(s string) string {
	return strings.Join(strings.Fields(sanitize(s)), " ")
}

// rootCommand builds the command tree.
func (a *app) rootCommand() *cobra.Command {
	var root *cobra.Command
	root = &cobra.Command{
		Use:   "gatewayctl",
		Short: "The Safe Connection gateway's ops command line",
		Long: `gatewayctl looks after a Safe Connection gateway through its ops API: the ops rooms, their
handsets, the credentials, the verifications and the ops record. It works against a local or
a remote gateway with an ops credential.

Environment:
  ` + envURL + `         the gateway's URL, as http(s)://host[:port] (--url)
  ` + envToken + `       an ops credential's secret (--token)
  ` + envTokenFile + `  a file whose first line is the secret, kept out of the process list (--token-file)
  ` + envTimeout + `     how long one call may take, as a Go duration (--timeout; default 30s)
  TZ                     the time zone tables show times in (the machine's by default)

Output: tables for people, aligned, without colour; --json prints the gateway's answer as it came,
one JSON document, for scripts.

Exit codes:
  0  done
  1  the gateway refused (its message is printed on standard error), or its answer could not be read
  2  bad usage: unknown command, bad flag, missing argument, no URL or credential
  3  the gateway could not be reached: connection refused, name not found, no answer in time`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// With no command: bad usage.
		RunE: func(*cobra.Command, []string) error {
			return usagef("no command given: %s", names(root))
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.url, "url", "", "the gateway's URL (default $"+envURL+")")
	pf.StringVar(&a.token, "token", "", "an ops credential's secret (default $"+envToken+")")
	pf.StringVar(&a.tokenFile, "token-file", "", "a file holding the credential's secret (default $"+envTokenFile+")")
	pf.DurationVar(&a.timeout, "timeout", 0, "how long one call may take (default $"+envTimeout+", else 30s)")
	pf.BoolVar(&a.json, "json", false, "print the gateway's JSON answer as it came, for scripts")
	root.AddCommand(a.roomsCommand(), a.devicesCommand(), a.credentialsCommand(),
		a.verificationsCommand(), a.recordCommand(), a.flagsCommand(), a.outboxCommand())
	return root
}

// group is a command that only holds subcommands: run alone or with an
// unknown subcommand, it is bad usage (cobra would print the help and
// succeed).
func group(cmd *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.SuggestionsMinimumDistance = 2
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usagef("%s needs a command: %s", cmd.CommandPath(), names(cmd))
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
		}
		return usageError{errors.New(msg)}
	}
	cmd.AddCommand(subs...)
	return cmd
}

// names lists a group's subcommands.
func names(cmd *cobra.Command) string {
	var out []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			out = append(out, c.Name())
		}
	}
	return strings.Join(out, ", ")
}

// oneArg takes exactly one argument, named what in the message when it is
// missing.
func oneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return usagef("missing the %s: %s", what, cmd.UseLine())
		case len(args) > 1:
			return usagef("one %s only, got %d arguments: %s", what, len(args), cmd.UseLine())
		case strings.TrimSpace(args[0]) == "":
			return usagef("empty %s", what)
		}
		return nil
	}
}

// noArgs takes no argument.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q: %s", args[0], cmd.UseLine())
	}
	return nil
}
