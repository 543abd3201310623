// Command gateway runs the Safe Connection gateway: the officer API, the
// device-agent protocol, provider webhooks, metrics and the routing core.
//
//	gateway -demo           everything simulated on an embedded store, London ops rooms
//	gateway                 the real thing: settings from GATEWAY_* variables (gateway -h lists them)
//	gateway token ROLE NAME create a credential (officer, supervisor, handler, ops) and print its secret once
//	gateway verify          check the tamper-evident log against the store and its checkpoints
//	gateway export ID       write a verification's verifiable export
//	gateway verify-export   check an export offline
//	gateway log-key         print the log's public key
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/provider"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "gateway:", err)
		var ec exitError
		if errors.As(err, &ec) {
			os.Exit(ec.code)
		}
		os.Exit(1)
	}
}

// Run parses the command line and the environment and runs the gateway (or
// a subcommand) until ctx ends.
func Run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	return run(ctx, providers, args, environ, stdout, stderr)
}

// run is Run with the providers given: their sections are configured, and
// the gateway wires them.
func run(ctx context.Context, list provider.List, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	demo := fs.Bool("demo", false, "run everything simulated: fake providers and handsets, London ops rooms")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  gateway [-demo]\n  gateway token ROLE NAME   (ROLE: officer, supervisor, handler, ops)\n"+
			"  gateway verify [-key PUBKEY] [CHECKPOINT-FILE...]\n  gateway export VERIFICATION-ID > FILE\n"+
			"  gateway verify-export -key PUBKEY FILE\n  gateway log-key [-new ORIGIN]\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintln(stderr)
		if err := config.Usage(stderr, list.Sections()...); err != nil {
			fmt.Fprintln(stderr, err)
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.Arg(0) == "verify-export" { // offline: no settings at all
		return verifyExportCommand(fs.Args()[1:], stdout)
	}
	load := config.Load
	switch fs.Arg(0) {
	case "token", "verify", "export", "log-key":
		// They open the store only: no public URL needed.
		load = config.LoadStoreOnly
	}
	if *demo {
		load = config.LoadDemo
	}
	cfg, err := load(environ, list.Sections()...)
	if err != nil {
		return err
	}
	if *demo && !setIn(environ, "GATEWAY_DATA_DIR") {
		cfg.DataDir = demoDataDir // where a real gateway will not look
	}
	if fs.NArg() > 0 {
		switch fs.Arg(0) {
		case "token":
			return tokenCommand(ctx, cfg, *demo, fs.Args()[1:], stdout)
		case "verify":
			return verifyCommand(ctx, cfg, *demo, fs.Args()[1:], stdout)
		case "export":
			return exportCommand(ctx, cfg, *demo, fs.Args()[1:], stdout)
		case "log-key":
			return logKeyCommand(cfg, fs.Args()[1:], stdout)
		default:
			return fmt.Errorf("unknown command %q (gateway -h lists the commands)", fs.Arg(0))
		}
	}
	m := NewMain(cfg, *demo)
	m.Providers = list
	m.Out = stdout
	if err := m.Open(ctx); err != nil {
		m.Close()
		return err
	}
	<-ctx.Done()
	m.Logger.Info("shutting down")
	return m.Close()
}

// setIn reports whether environ sets the variable key (even to "").
func setIn(environ []string, key string) bool {
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}
