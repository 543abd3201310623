package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"time"
	_ "time/tzdata" // receipts' time zone, on a machine without a zone database

	"github.com/safeconnection/gateway/httpapi"
)

// wirePublic sets up the public's pages: the official numbers, the number
// check, receipts and the live check, with each client's lookups limited.
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
	key, err := consoleKey(cfg)
	if err != nil {
		return err
	}
	pub.Live = &httpapi.Live{Key: liveKey(key), BaseURL: m.PublicURL(), After: cfg.LiveAfter}
	srv.Public = pub
	srv.Feedback = m.Store
	return nil
}

// liveKey is the key of the live check's links and check words, made from
// the console's key (which instances behind one address share) for this
// use alone.
func liveKey(consoleKey []byte) []byte {
	m := hmac.New(sha256.New, consoleKey)
	m.Write([]byte("safeconnection live-check key v1"))
	return m.Sum(nil)
}
