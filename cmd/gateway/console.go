package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/console"
	"github.com/safeconnection/gateway/httpapi"
)

// consoleKeyFile is where the console's signing key is generated when
// GATEWAY_CONSOLE_KEY is not set.
const consoleKeyFile = "console.key"

// wireConsole mounts the supervisor console on srv: its outcomes go
// through srv's own outcome path, its sessions are signed with the
// console's key.
func (m *Main) wireConsole(srv *httpapi.Server) error {
	cfg := m.Config
	key, err := consoleKey(cfg)
	if err != nil {
		return err
	}
	c := console.New(m.Store, m.Rooms, srv, key)
	c.Session = cfg.ConsoleSession
	c.Secure = strings.HasPrefix(strings.ToLower(cfg.PublicURL), "https://")
	c.Force = cfg.ForceName
	if loc, err := time.LoadLocation(cfg.TimeZone); err == nil {
		c.Location = loc
	}
	c.Stale = cfg.HeartbeatStale
	c.WriteTimeout = cfg.WriteTimeout
	c.Logger = srv.Logger
	c.Checks, c.Grounds, c.Words, c.Feedback = srv, m.Router, srv, m.Store
	health := srv.Health
	c.Health = &health
	if m.Metrics != nil && m.Metrics.Routable != nil {
		c.Routable = m.Metrics.Routable
	}
	srv.Console = c
	return nil
}

// consoleKey is GATEWAY_CONSOLE_KEY, else the key in the data directory's
// console.key, generated there (32 random bytes, hex, mode 0600) the first
// time.
func consoleKey(cfg config.Config) ([]byte, error) {
	if cfg.ConsoleKey != "" {
		return []byte(cfg.ConsoleKey), nil
	}
	path := filepath.Join(cfg.DataDir, consoleKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if k := strings.TrimSpace(string(b)); len(k) >= 32 {
			return []byte(k), nil
		}
		return nil, fmt.Errorf("console key %s: shorter than 32 characters; remove it to generate another, or set GATEWAY_CONSOLE_KEY", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("console key: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	k := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("console key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return consoleKey(cfg) // another process wrote it first
	}
	if err != nil {
		return nil, fmt.Errorf("console key: %w", err)
	}
	if _, err := io.WriteString(f, k+"\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("console key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("console key: %w", err)
	}
	return []byte(k), nil
}
