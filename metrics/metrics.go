// Package metrics exposes the gateway's Prometheus metrics: attempts by
// channel and result, time to connect, verifications by final state, free
// devices by room, devices that can serve each room's channels, queue length
// and circuit-breaker states. It implements the router's Observer.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/safeconnection/gateway"
)

// Metrics holds the gateway's collectors in a registry of its own.
type Metrics struct {
	Registry *prometheus.Registry
	// Routable, when set, counts the devices that can serve each room's
	// channels at scrape time (gateway_room_routable_devices).
	Routable *Routable

	attempts  *prometheus.CounterVec
	attemptS  *prometheus.HistogramVec
	connect   *prometheus.HistogramVec
	finished  *prometheus.CounterVec
	never     *prometheus.CounterVec
	breaker   *prometheus.GaugeVec
	outbox    *prometheus.CounterVec
	free      *prometheus.Desc
	freeFn    func(context.Context) (map[string]int, error)
	queued    *prometheus.Desc
	queuedFn  func() int
	scrapeMax time.Duration
}

// New returns the gateway's metrics. free counts free devices by room at
// scrape time (the store's FreeDevices); queued counts waiting
// verifications. Either may be nil.
func New(free func(context.Context) (map[string]int, error), queued func() int) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_attempts_total", Help: "Call attempts by channel and result.",
		}, []string{"channel", "result"}),
		attemptS: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_attempt_seconds", Help: "How long attempts ran, by channel and result.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60},
		}, []string{"channel", "result"}),
		connect: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_time_to_connect_seconds", Help: "Time from the officer's request to a connected call, by channel.",
			Buckets: []float64{0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 45, 60},
		}, []string{"channel"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_verifications_finished_total", Help: "Verifications by final state.",
		}, []string{"state"}),
		never: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_verifications_never_connected_total",
			Help: "Verifications that ended without their call connecting (failed, or cancelled by the officer before it connected), by room.",
		}, []string{"room"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_breaker_open", Help: "Circuit-breaker state by provider: 0 closed, 0.5 half-open, 1 open.",
		}, []string{"provider"}),
		outbox: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_outbox_tries_total",
			Help: "Tries to deliver a message to the incident system, by what each came to: delivered, retry (to be tried again) or dead (given up, for ops to replay).",
		}, []string{"result"}),
		free:      prometheus.NewDesc("gateway_free_devices", "Routable free devices by room.", []string{"room"}, nil),
		freeFn:    free,
		queued:    prometheus.NewDesc("gateway_queued_verifications", "Verifications waiting for a free device on this instance.", nil, nil),
		queuedFn:  queued,
		scrapeMax: 2 * time.Second,
	}
	m.Registry.MustRegister(m.attempts, m.attemptS, m.connect, m.finished, m.never, m.breaker, m.outbox, poolCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// AttemptEnded counts an attempt.
func (m *Metrics) AttemptEnded(ch gateway.Channel, result gateway.AttemptResult, d time.Duration) {
	m.attempts.WithLabelValues(string(ch), string(result)).Inc()
	m.attemptS.WithLabelValues(string(ch), string(result)).Observe(d.Seconds())
}

// Connected observes the time to connect.
func (m *Metrics) Connected(ch gateway.Channel, sinceRequest time.Duration) {
	m.connect.WithLabelValues(string(ch)).Observe(sinceRequest.Seconds())
}

// Finished counts a verification's final state, and, by room, one that
// never connected.
func (m *Metrics) Finished(v gateway.Verification) {
	m.finished.WithLabelValues(string(v.State)).Inc()
	if v.NeverConnected() {
		m.never.WithLabelValues(v.RoomID).Inc()
	}
}

// OutboxTried counts a try to deliver to the incident system.
func (m *Metrics) OutboxTried(result string) {
	m.outbox.WithLabelValues(result).Inc()
}

// BreakerState records a provider's circuit-breaker state ("closed",
// "half-open" or "open").
func (m *Metrics) BreakerState(provider, state string) {
	v := 0.0
	switch state {
	case "open":
		v = 1
	case "half-open":
		v = 0.5
	}
	m.breaker.WithLabelValues(provider).Set(v)
}

// poolCollector reads the device pool at scrape time.
type poolCollector struct{ m *Metrics }

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.free
	ch <- c.m.queued
	ch <- routableDesc
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	if c.m.freeFn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.m.scrapeMax)
		defer cancel()
		if free, err := c.m.freeFn(ctx); err == nil {
			for room, n := range free {
				ch <- prometheus.MustNewConstMetric(c.m.free, prometheus.GaugeValue, float64(n), room)
			}
		} else {
			ch <- prometheus.NewInvalidMetric(c.m.free, err)
		}
	}
	if c.m.queuedFn != nil {
		ch <- prometheus.MustNewConstMetric(c.m.queued, prometheus.GaugeValue, float64(c.m.queuedFn()))
	}
	if c.m.Routable != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.m.scrapeMax)
		defer cancel()
		c.m.Routable.collectRoutable(ctx, ch)
	}
}
