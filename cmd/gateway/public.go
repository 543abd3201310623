package main

import (
	"time"
	_ "time/tzdata" // receipts' time zone, on a machine without a zone database

	"github.com/safeconnection/gateway/httpapi"
)

// wirePublic sets up the public's pages: the official numbers, the number
// check and receipts, with each client's lookups limited.
func (m *Main) wirePublic(srv *httpapi.Server) error {
	cfg := m.Config
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return err // Validate has checked it
	}
	pub := httpapi.Public{Force: cfg.ForceName, Rooms: m.Rooms, Receipts: m.Store, Region: cfg.NumberRegion, Location: loc}
	if cfg.PublicRate > 0 {
		lim := httpapi.NewClientLimiter(float64(cfg.PublicRate), cfg.PublicBurst)
		if lim.Proxies, err = httpapi.ParseProxies(cfg.TrustedProxies); err != nil {
			return err
		}
		lim.Header = cfg.ClientIPHeader
		pub.Limiter = lim
	}
	srv.Public = pub
	return nil
}
