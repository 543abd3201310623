package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/ledger"
)

// logKeyFile holds the log's signer key in the data directory when
// GATEWAY_LOG_KEY is not set.
const logKeyFile = "log.key"

// exitError ends the command with its code (the message, if any, already
// printed): `gateway verify` exits 1 for a log found tampered with.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// closeSync is how long a closing gateway gives the log to sequence and
// sign what was written.
const closeSync = 3 * time.Second

// Exit codes of verify and verify-export.
const (
	exitTampered = 1 // checked, and found wrong
	exitCannot   = 2 // could not check
)

// logOrigin is the name a new log key takes: the public URL's host and
// path, then /log.
func logOrigin(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return "gateway.invalid/log"
	}
	return strings.TrimSuffix(u.Host+u.Path, "/") + "/log"
}

// readLogKey is GATEWAY_LOG_KEY, else the key in the data directory's
// log.key; ENOTFOUND-like os.ErrNotExist when there is none.
func readLogKey(cfg config.Config) (string, error) {
	if k := strings.TrimSpace(cfg.LogKey); k != "" {
		return k, nil
	}
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, logKeyFile))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// logKey is readLogKey's key, generated into log.key (mode 0600) the
// first time, named after the public URL.
func logKey(cfg config.Config, publicURL string) (string, error) {
	k, err := readLogKey(cfg)
	if !errors.Is(err, os.ErrNotExist) {
		if err != nil {
			return "", fmt.Errorf("log key: %w", err)
		}
		return k, nil
	}
	skey, _, err := ledger.GenerateKey(logOrigin(publicURL))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("log key: %w", err)
	}
	path := filepath.Join(cfg.DataDir, logKeyFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return logKey(cfg, publicURL) // another process wrote it first
	}
	if err != nil {
		return "", fmt.Errorf("log key: %w", err)
	}
	if _, err := io.WriteString(f, skey+"\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("log key: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("log key: %w", err)
	}
	return skey, nil
}

// wireLog starts the log's sequencer and signer and serves the log.
func (m *Main) wireLog(srv *httpapi.Server) error {
	skey, err := logKey(m.Config, m.PublicURL())
	if err != nil {
		return err
	}
	l, err := ledger.New(m.Store, skey)
	if err != nil {
		return fmt.Errorf("GATEWAY_LOG_KEY: %w", err)
	}
	vkey, err := ledger.VerifierKey(skey)
	if err != nil {
		return fmt.Errorf("GATEWAY_LOG_KEY: %w", err)
	}
	l.Logger = m.Logger
	l.SequenceEvery, l.CheckpointEvery = m.Config.LogSequence, m.Config.LogCheckpoint
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	m.closers = append(m.closers, func() error {
		stop()
		<-done
		// What was written before the close is sequenced and signed
		// now, not by the next instance to run.
		sctx, cancel := context.WithTimeout(context.Background(), closeSync)
		defer cancel()
		if _, err := l.Sync(sctx); err != nil {
			m.Logger.WithError(err).Warn("log: not sequenced at shutdown; the next instance will")
		}
		return nil
	})
	m.Log, m.LogKey = l, vkey
	srv.Log, srv.LogKey = l, vkey
	return nil
}

// commandStore opens the configured store for a command, refusing the
// demo's without -demo as the gateway does.
func commandStore(ctx context.Context, cfg config.Config, demo bool) (gateway.Store, error) {
	st, err := openStore(ctx, cfg, newLogger("warning"), "", nil, false)
	if err != nil {
		return nil, err
	}
	if err := checkDemoMark(ctx, st, demo, storeName(cfg)); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// commandKey is the log's signer key for a command: never generated (a
// new key would sign nothing the gateway did).
func commandKey(cfg config.Config) (string, error) {
	k, err := readLogKey(cfg)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no log key: set GATEWAY_LOG_KEY, or GATEWAY_DATA_DIR to the directory whose %s the gateway made", logKeyFile)
	}
	return k, err
}

// verifyCommand recomputes the log from the store and checks it: `gateway
// verify [-key PUBKEY] [CHECKPOINT-FILE...]`. Exit 0 intact, 1 tampered
// with, 2 not checked.
func verifyCommand(ctx context.Context, cfg config.Config, demo bool, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	key := fs.String("key", "", "the log's public key (default: the configured key's)")
	usage := "usage: gateway verify [-key PUBKEY] [CHECKPOINT-FILE...]"
	if err := fs.Parse(args); err != nil {
		return exitError{exitCannot, fmt.Sprintf("%v; %s", err, usage)}
	}
	var given [][]byte
	for _, f := range fs.Args() {
		b, err := os.ReadFile(f)
		if err != nil {
			return exitError{exitCannot, fmt.Sprintf("checkpoint: %v", err)}
		}
		given = append(given, b)
	}
	vkey := *key
	if vkey == "" {
		skey, err := commandKey(cfg)
		if err != nil {
			return exitError{exitCannot, err.Error()}
		}
		if vkey, err = ledger.VerifierKey(skey); err != nil {
			return exitError{exitCannot, err.Error()}
		}
	}
	st, err := commandStore(ctx, cfg, demo)
	if err != nil {
		return exitError{exitCannot, err.Error()}
	}
	defer st.Close()
	rep, err := ledger.Verify(ctx, st, vkey, given)
	if err != nil {
		return exitError{exitCannot, fmt.Sprintf("the log could not be checked: %v", err)}
	}
	fmt.Fprintf(out, "log: %d leaves, root %s; %d waiting to be sequenced; %d with personal fields erased\n",
		rep.Size, rep.Root, rep.Waiting, rep.Erased)
	fmt.Fprintf(out, "checkpoints: %d stored and %d given checked\n", rep.Checkpoints, rep.Given)
	if rep.OK() {
		fmt.Fprintln(out, "intact: every record matches its leaf and every checkpoint its tree")
		return nil
	}
	for _, f := range rep.Findings {
		fmt.Fprintln(out, "TAMPERED:", f)
	}
	return exitError{exitTampered, fmt.Sprintf("the log was tampered with: %d findings", len(rep.Findings))}
}

// exportCommand writes a verification's export: `gateway export ID`.
func exportCommand(ctx context.Context, cfg config.Config, demo bool, args []string, out io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("usage: gateway export VERIFICATION-ID > FILE")
	}
	skey, err := commandKey(cfg)
	if err != nil {
		return err
	}
	st, err := commandStore(ctx, cfg, demo)
	if err != nil {
		return err
	}
	defer st.Close()
	l, err := ledger.New(st, skey)
	if err != nil {
		return err
	}
	v, err := st.Verification(ctx, args[0])
	if err != nil {
		return fmt.Errorf("verification %q: %s", args[0], gateway.ErrorMessage(err))
	}
	evs, err := st.Events(ctx, v.ID, 0, 0)
	if err != nil {
		return err
	}
	file, err := l.Export(ctx, v, evs)
	if err != nil {
		return err
	}
	_, err = out.Write(file)
	return err
}

// verifyExportCommand checks an export offline: `gateway verify-export
// FILE -key PUBKEY`. Exit 0 verified, 1 not, 2 not checked.
func verifyExportCommand(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("verify-export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	key := fs.String("key", "", "the log's public key, as GET /log/key serves it (required)")
	usage := "usage: gateway verify-export -key PUBKEY FILE"
	// The file may come before the flag, as the README writes it.
	var files []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return exitError{exitCannot, fmt.Sprintf("%v; %s", err, usage)}
		}
		args = fs.Args()
		if len(args) > 0 {
			files, args = append(files, args[0]), args[1:]
		}
	}
	if len(files) != 1 || *key == "" {
		return exitError{exitCannot, usage}
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		return exitError{exitCannot, err.Error()}
	}
	x, err := ledger.VerifyExport(b, *key)
	if err != nil {
		return exitError{exitTampered, "NOT VERIFIED: " + err.Error()}
	}
	fmt.Fprintf(out, "verified: verification %s (reference %s), %d events in log %s", x.Verification.ID, x.Verification.Reference, len(x.Events), x.Log)
	if x.Pending > 0 {
		fmt.Fprintf(out, "; %d later events were not yet in a checkpoint", x.Pending)
	}
	fmt.Fprintln(out)
	return nil
}

// logKeyCommand prints the log's public key, or makes a new key pair:
// `gateway log-key`, `gateway log-key -new ORIGIN`.
func logKeyCommand(cfg config.Config, args []string, out io.Writer) error {
	if len(args) == 2 && args[0] == "-new" {
		skey, vkey, err := ledger.GenerateKey(args[1])
		if err != nil {
			return fmt.Errorf("a log key for %q: %w (an origin is a name such as gateway.police.example/log, without spaces or +)", args[1], err)
		}
		fmt.Fprintf(out, "GATEWAY_LOG_KEY=%s\npublic key: %s\n", skey, vkey)
		return nil
	}
	if len(args) != 0 {
		return fmt.Errorf("usage: gateway log-key [-new ORIGIN]")
	}
	skey, err := commandKey(cfg)
	if err != nil {
		return err
	}
	vkey, err := ledger.VerifierKey(skey)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, vkey)
	return nil
}
