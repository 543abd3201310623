package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/roster"
)

// wireRoster loads the duty roster GATEWAY_ROSTER names, keeps it loaded on
// its schedule while ctx lasts, and gives it to the API. A roster that
// cannot be loaded at start is not fatal: the gateway serves, and every
// check shows that no roster is loaded until a load succeeds.
func (m *Main) wireRoster(ctx context.Context, srv *httpapi.Server, log logrus.FieldLogger) error {
	cfg := m.Config
	if cfg.Roster == "" {
		return nil
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return err // Validate has checked it
	}
	known := map[string]bool{}
	for _, r := range m.Rooms.Rooms() {
		known[strings.ToLower(r.ID)] = true
		for _, b := range r.Boroughs {
			known[strings.ToLower(b)] = true
		}
	}
	src := roster.NewSource(cfg.Roster, roster.Options{
		Location:  loc,
		KnownArea: func(a string) bool { return known[strings.ToLower(a)] },
	}, log)
	src.Interval = cfg.RosterInterval
	if cfg.RosterAuth != "" {
		src.Header = http.Header{"Authorization": {cfg.RosterAuth}}
	}
	_ = src.Load(ctx) // logged; the snapshot says why
	runCtx, stop := context.WithCancel(context.Background())
	m.closers = append(m.closers, func() error { stop(); return nil })
	go src.Run(runCtx)

	photos := cfg.RosterPhotos
	if photos == "" && !strings.Contains(cfg.Roster, "://") {
		photos = filepath.Dir(cfg.Roster)
	}
	srv.Roster = httpapi.Roster{Source: src, Photos: photos, Stale: cfg.RosterStale}
	m.RosterSource = src
	return nil
}
