package router_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/ledger"
	"github.com/safeconnection/gateway/rooms"
	"github.com/safeconnection/gateway/store/postgres"
	"github.com/safeconnection/gateway/store/postgres/pgtest"
	"github.com/safeconnection/gateway/store/sqlite"
)

// BenchmarkThroughputLog is BenchmarkThroughput at concurrency 64 with the
// record on (the tamper-evident log: every event written with its leaf, a
// sequencer and signer running as in the gateway, at its default
// intervals; and the outbox, the stores' Outbox) and off (NoLog, no
// outbox), side by side, on SQLite and on PostgreSQL. The outbox writes
// its entries when a verification closes, after it connected: on the way
// to connected it costs a check of each event's state. Use a fixed
// -benchtime (1000x) to compare runs.
func BenchmarkThroughputLog(b *testing.B) {
	set, err := rooms.Default()
	if err != nil {
		b.Fatal(err)
	}
	skey, _, err := ledger.GenerateKey("bench.invalid/log")
	if err != nil {
		b.Fatal(err)
	}
	open := map[string]func(b *testing.B, noLog bool) gateway.Store{
		"sqlite": func(b *testing.B, noLog bool) gateway.Store {
			st := sqlite.New(filepath.Join(b.TempDir(), "gateway.db"))
			st.NoLog, st.Outbox = noLog, !noLog
			if err := st.Open(context.Background()); err != nil {
				b.Fatal(err)
			}
			return st
		},
		"postgres": func(b *testing.B, noLog bool) gateway.Store {
			st := postgres.New(pgtest.URL(b))
			st.NoLog, st.Outbox = noLog, !noLog
			if err := st.Open(context.Background()); err != nil {
				b.Fatal(err)
			}
			return st
		},
	}
	for _, store := range []string{"sqlite", "postgres"} {
		for _, log := range []string{"off", "on"} {
			b.Run("store="+store+"/log="+log, func(b *testing.B) {
				st := open[store](b, log == "off")
				rig := newBenchRigOn(b, 1000, answerByReport, st, set)
				if log == "on" {
					l, err := ledger.New(st, skey)
					if err != nil {
						b.Fatal(err)
					}
					ctx, cancel := context.WithCancel(context.Background())
					done := make(chan struct{})
					go func() { defer close(done); l.Run(ctx) }()
					b.Cleanup(func() { cancel(); <-done })
				}
				throughput(b, rig, 64)
			})
		}
	}
}
