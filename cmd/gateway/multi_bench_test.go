package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/store/postgres/pgtest"
)

// BenchmarkInstances measures how many verifications per second the whole
// gateway takes from request to connected, and how many device claims per
// second it makes, on each store side by side: SQLite with one instance,
// PostgreSQL with one instance, and PostgreSQL with two instances sharing
// the database.
//
// Each gateway is cmd/gateway's Main on loopback with its production
// timings (budget raised to two minutes). There are 36 handsets, three in
// each of the twelve rooms, with FaceTime and WhatsApp, each run by a
// simulated device agent over the HTTP agent protocol that answers at once;
// with two instances, half the agents talk to each. As many officer apps
// as there are handsets work in parallel, each in a loop: ask for a
// verification (the instances in turn), follow its event stream (on the
// other instance, when there are two) until it connects, and record the
// supervisor's outcome, which ends the call and frees the handset.
//
// Reported: verifications/s (connected, b.N over the wall time of the
// run), claims/s (claims taken during the run over the same time), and
// the median and 99th percentile of the time from request to reading
// "connected". The claim history is checked afterwards: no handset held
// twice at once. Run with a fixed count, for instance -benchtime=300x.
func BenchmarkInstances(b *testing.B) {
	cases := []struct {
		name      string
		postgres  bool
		instances int
	}{
		{"sqlite-1", false, 1},
		{"postgres-1", true, 1},
		{"postgres-2", true, 2},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			store := ""
			if tc.postgres {
				store = pgtest.URL(b)
			}
			c := newMultiCluster(b, multiOptions{Store: store, Instances: tc.instances, PerRoom: 3,
				Env: []string{"GATEWAY_BUDGET=2m", "GATEWAY_LOG_LEVEL=error"}})
			workers := len(c.devices)
			b.SetParallelism((workers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))

			var (
				next atomic.Int64
				mu   sync.Mutex
				lat  []time.Duration
			)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1))
					p := roomPlaces[i%len(roomPlaces)]
					handle := fmt.Sprintf("+447700900%03d", i%1000)
					via := i % tc.instances
					r, err := c.verify(ctx, fmt.Sprintf("PC %d", i), p.loc, []gateway.Contact{
						{Channel: gateway.Channel("facetime"), Handle: handle}, {Channel: gateway.Channel("whatsapp"), Handle: handle}},
						via, (via+1)%tc.instances, via)
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					lat = append(lat, r.took)
					mu.Unlock()
				}
			})
			end := time.Now()
			b.StopTimer()

			c.waitIdle(b)
			claims := 0
			for _, r := range multiCheckClaims(b, c.store) {
				if !r.ClaimedAt.Before(start) && !r.ClaimedAt.After(end) {
					claims++
				}
			}
			secs := end.Sub(start).Seconds()
			b.ReportMetric(float64(b.N)/secs, "verifications/s")
			b.ReportMetric(float64(claims)/secs, "claims/s")
			benchPercentiles(b, lat)
		})
	}
}
