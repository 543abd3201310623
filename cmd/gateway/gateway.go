package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/ledger"
	"github.com/safeconnection/gateway/metrics"
	"github.com/safeconnection/gateway/provider"
	"github.com/safeconnection/gateway/rooms"
	"github.com/safeconnection/gateway/roster"
	"github.com/safeconnection/gateway/router"
	"github.com/safeconnection/gateway/store/postgres"
	"github.com/safeconnection/gateway/store/sqlite"
	"github.com/sirupsen/logrus"
)

// Main is the whole gateway, wired from its configuration. Open it, and
// Close it to stop; tests run it on ":0".
type Main struct {
	Config config.Config
	Demo   bool
	// Out is where the demo says where its tokens are.
	Out io.Writer

	Logger *logrus.Logger
	Store  gateway.Store
	Rooms  *rooms.Set
	// RosterSource holds the duty roster; nil when GATEWAY_ROSTER is empty.
	RosterSource *roster.Source
	Router       *router.Router
	Metrics      *metrics.Metrics
	Server       *httpapi.Server
	// Log is the tamper-evident log, and LogKey its public key.
	Log    *ledger.Log
	LogKey string
	// Webhooks are the enabled providers' webhook handlers by name.
	Webhooks map[string]http.Handler
	// Pages are the enabled adapters' browser pages by name (mounted at
	// /join/{name}/).
	Pages map[string]http.Handler
	// Providers are the providers Open wires, described by their adapter
	// packages: the package's list unless a test gives its own. Config
	// must have been loaded with their sections.
	Providers provider.List

	http     *http.Server
	listener net.Listener
	// metrics serves /metrics alone when GATEWAY_METRICS_ADDR is set.
	metrics         *http.Server
	metricsListener net.Listener
	demo            *demo
	closers         []func() error
	served          chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// NewMain returns an unopened gateway for the configuration.
func NewMain(cfg config.Config, demo bool) *Main {
	return &Main{Config: cfg, Demo: demo, Out: io.Discard, Providers: providers,
		Webhooks: map[string]http.Handler{}, Pages: map[string]http.Handler{}}
}

// URL is the base URL the gateway listens on.
func (m *Main) URL() string { return "http://" + m.listener.Addr().String() }

// PublicURL is the URL providers reach the gateway at: the configured one,
// or in the demo the listening address.
func (m *Main) PublicURL() string {
	if m.Config.PublicURL != "" {
		return strings.TrimSuffix(m.Config.PublicURL, "/")
	}
	return m.URL()
}

// Open wires and starts everything: store, rooms, router, adapters, HTTP
// server and, in the demo, the fake providers and simulated device agents.
func (m *Main) Open(ctx context.Context) error {
	cfg := m.Config
	m.Logger = newLogger(cfg.LogLevel)
	instance := cfg.Instance
	if instance == "" {
		host, _ := os.Hostname()
		instance = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	log := m.Logger.WithField("instance", instance)

	channels, err := m.Providers.Registry()
	if err != nil {
		return fmt.Errorf("providers: %w", err)
	}
	st, err := openStore(ctx, cfg, m.Logger, instance, channels, writesOutbox(m))
	if err != nil {
		return err
	}
	m.Store = st
	m.closers = append(m.closers, st.Close)
	if err := checkDemoMark(ctx, st, m.Demo, storeName(cfg)); err != nil {
		return err
	}

	m.Rooms, err = rooms.LoadFiles(cfg.RoomsFile, cfg.BoundariesFile)
	if err != nil {
		return fmt.Errorf("rooms: %w", err)
	}
	// The rooms file is the default; what ops staff changed over it is
	// read at start and followed while the gateway runs.
	if err := m.Rooms.Refresh(ctx, st); err != nil {
		log.WithError(err).Warn("room overrides: not all applied")
	}
	follow, stopFollow := context.WithCancel(context.Background())
	m.closers = append(m.closers, func() error { stopFollow(); return nil })
	go m.Rooms.Follow(follow, st, st, RoomRefresh, func(err error) {
		log.WithError(err).Warn("room overrides: not all applied")
	})

	m.listener, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on GATEWAY_ADDR %s: %w", cfg.Addr, err)
	}

	r := router.New(st, m.Rooms)
	r.Channels = channels
	r.Logger = log
	r.Instance = instance
	r.RingTimeout = cfg.RingTimeout
	r.Budget = cfg.Budget
	r.LeaseTTL = cfg.LeaseTTL
	r.HeartbeatStale = cfg.HeartbeatStale
	r.Policy.RetryMin, r.Policy.RetryMax = cfg.RetryMin, cfg.RetryMax
	r.MaxCall = cfg.MaxCall
	r.OwnerTTL = cfg.OwnerTTL
	r.SweepInterval = cfg.SweepInterval
	r.ReportGrace = cfg.ReportGrace
	r.DeskCalls = cfg.DeskCalls
	r.Ranker = router.NewRanker()
	m.Router = r
	m.Metrics = metrics.New(func(ctx context.Context) (map[string]int, error) {
		return st.FreeDevices(ctx, cfg.HeartbeatStale)
	}, r.Queued)
	r.Observer = m.Metrics
	r.BatteryFloor = cfg.DeviceBatteryFloor
	health := gateway.HealthPolicy{Stale: cfg.HeartbeatStale, BatteryFloor: cfg.DeviceBatteryFloor}
	m.Metrics.Routable = &metrics.Routable{Pool: st, Rooms: m.roomIDs, Channels: r.Served,
		Policy: health, MaxAge: time.Second}

	if m.Demo {
		m.demo = newDemo(m)
		if err := m.demo.startProviders(ctx); err != nil {
			return err
		}
	}
	if err := m.wireAdapters(ctx, log); err != nil {
		return err
	}

	srv := httpapi.NewServer(r, st)
	m.wireReceipts(srv)
	srv.Channels = channels
	srv.Logger = log
	srv.MaxBody = cfg.MaxBody
	srv.Rooms = m.Rooms
	srv.RoomEditor = m.Rooms
	srv.Webhooks = m.Webhooks
	srv.Pages = m.Pages
	srv.Ready = st.Ping
	srv.WriteTimeout = cfg.WriteTimeout
	// Webhooks and join pages read their bodies in less than the whole
	// read timeout, never in more.
	srv.BodyTimeout = min(httpapi.DefaultBodyTimeout, cfg.ReadTimeout)
	srv.MaxStreams = cfg.MaxStreams
	srv.Health = health
	if err := m.wirePublic(srv); err != nil {
		return err
	}
	if err := m.wireHandsets(srv); err != nil {
		return err
	}
	if err := m.wireRoster(ctx, srv, log); err != nil {
		return err
	}
	if err := m.wireConsole(srv); err != nil {
		return err
	}
	if err := m.wireLog(srv); err != nil {
		return err
	}
	m.wireRetention()
	if err := m.wireOutbox(log, instance); err != nil {
		return err
	}
	if cfg.MetricsAddr == "" {
		srv.Metrics, srv.MetricsAuth = m.Metrics.Handler(), cfg.MetricsAuth
	} else if err := m.serveMetrics(log); err != nil {
		return err
	}
	m.Server = srv
	// Requests run under a context that shutting down cancels, so agents'
	// long polls and event streams end at once instead of holding Close up.
	base, stopRequests := context.WithCancel(context.Background())
	ln := httpapi.Listen(m.listener, cfg.MaxConns)
	handler := srv.Handler()
	if m.demo != nil {
		handler = m.demo.faults.handler(handler, st, log) // POST /demo/faults/...
		handler = m.demo.callRooms(handler)               // POST /demo/call-room/{room}
		handler = m.demo.ringDevices(handler)             // POST /demo/ring-device/{device}
	}
	m.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ConnState:         ln.ConnState,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	m.http.RegisterOnShutdown(stopRequests)
	m.closers = append(m.closers, func() error { stopRequests(); return nil })
	if err := r.Open(ctx); err != nil {
		return err
	}
	m.served = make(chan struct{})
	go func() {
		defer close(m.served)
		if err := m.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("HTTP server stopped")
		}
	}()
	log.WithFields(logrus.Fields{"addr": m.URL(), "public_url": m.PublicURL(), "channels": r.Served(), "demo": m.Demo}).Info("gateway listening")

	if m.Demo {
		if err := m.demo.start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// MetricsURL is the base URL of the separate metrics listener, "" when
// /metrics is served at URL.
func (m *Main) MetricsURL() string {
	if m.metrics == nil {
		return ""
	}
	return "http://" + m.metricsListener.Addr().String()
}

// serveMetrics serves /metrics alone on GATEWAY_METRICS_ADDR.
func (m *Main) serveMetrics(log logrus.FieldLogger) error {
	l, err := net.Listen("tcp", m.Config.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen on GATEWAY_METRICS_ADDR %s: %w", m.Config.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Metrics.Handler())
	m.metricsListener = l
	m.metrics = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: m.Config.ReadHeaderTimeout,
		ReadTimeout:       m.Config.ReadTimeout,
		WriteTimeout:      m.Config.WriteTimeout,
		IdleTimeout:       m.Config.IdleTimeout,
		MaxHeaderBytes:    m.Config.MaxHeaderBytes,
	}
	srv := m.metrics
	m.closers = append(m.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("metrics server stopped")
		}
	}()
	log.WithField("metrics_addr", l.Addr().String()).Info("metrics listening")
	return nil
}

// Close stops the HTTP server (ending agents' long polls and event streams
// at once), the router (verifications in progress are left for take-over),
// the demo's parts and the store. Calls after the first return its result.
func (m *Main) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	var errs []error
	if m.demo != nil {
		m.demo.stopAgents()
	}
	if m.served == nil && m.listener != nil {
		m.listener.Close() // Open failed before serving: nothing else closes it
	}
	if m.http != nil && m.served != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := m.http.Shutdown(ctx); err != nil {
			m.http.Close()
		}
		cancel()
		<-m.served
	}
	if m.Router != nil {
		errs = append(errs, m.Router.Close())
	}
	if m.demo != nil {
		m.demo.stopProviders()
	}
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	m.closers = nil
	return errors.Join(errs...)
}

func newLogger(level string) *logrus.Logger {
	l := logrus.New()
	l.SetFormatter(&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano})
	l.SetOutput(os.Stderr)
	if lv, err := logrus.ParseLevel(level); err == nil {
		l.SetLevel(lv)
	}
	return l
}

// openStore opens the configured store: SQLite in the data directory by
// default, SQLite at a path, or PostgreSQL for a postgres:// URL.
// With outbox it writes the outbox (see sqlite.Store.Outbox).
func openStore(ctx context.Context, cfg config.Config, log logrus.FieldLogger, instance string, channels *gateway.Registry, outbox bool) (gateway.Store, error) {
	target := cfg.Store
	if strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://") {
		// Logger and instance are set before Open so that the bus
		// listener, started by Open, logs losing its connection.
		st := postgres.New(target)
		st.Logger, st.Instance, st.Channels, st.Outbox = log, instance, channels, outbox
		if err := st.Open(ctx); err != nil {
			return nil, fmt.Errorf("open PostgreSQL store: %w", err)
		}
		return st, nil
	}
	if target == "" {
		target = filepath.Join(cfg.DataDir, "gateway.db")
	}
	st := sqlite.New(target)
	st.Logger, st.Synchronous, st.Outbox = log, cfg.SQLiteSynchronous, outbox
	if instance != "" {
		st.Logger = log.WithField("instance", instance)
	}
	if err := st.Open(ctx); err != nil {
		return nil, fmt.Errorf("open SQLite store %s: %w", target, err)
	}
	return st, nil
}

// roomIDs lists the IDs of the operations rooms, in the rooms file's order.
func (m *Main) roomIDs() []string {
	rooms := m.Rooms.Rooms()
	out := make([]string, len(rooms))
	for i, r := range rooms {
		out[i] = r.ID
	}
	return out
}

// RoomRefresh is how often a gateway reads the room overrides again, should
// it have missed another instance's wake-up.
const RoomRefresh = 30 * time.Second
