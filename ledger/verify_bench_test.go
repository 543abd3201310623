package ledger_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/ledger"
	"github.com/safeconnection/gateway/store/sqlite"
)

// BenchmarkVerify is gateway verify's work (ledger.Verify) over a log of
// SQLite of 100,000 and of 1,000,000 leaves, every one an event with its
// record, sequenced and signed: the time of one whole check, and the
// largest heap it needed (peak-heap-MB, sampled every 10 ms) beside the
// bytes it allocated. Making the store takes longer than checking it; run
// with -benchtime 1x.
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("leaves=%d", n), func(b *testing.B) {
			st := millionStore(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			peak := heapPeak()
			for range b.N {
				rep, err := ledger.Verify(context.Background(), st, testPub, nil)
				if err != nil {
					b.Fatal(err)
				}
				if !rep.OK() || rep.Size != int64(n) {
					b.Fatalf("verify: size %d, findings %v", rep.Size, rep.Findings)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
		})
	}
}

// millionStore makes a SQLite store whose log holds n leaves: one
// verification and n-1 notes on it, written in one transaction as the
// store writes them (each event with its leaf at its place), then
// sequenced and signed.
func millionStore(b *testing.B, n int) gateway.Store {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "gateway.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, _, err := st.CreateVerification(ctx, gateway.Verification{ID: "v_bench", Reference: gateway.NewReference(), RoomID: "AW",
		RequestedBy: "t_officer"}, "", gateway.Event{Type: gateway.EventState, Message: "requested"}); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=synchronous(off)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	event, err := tx.PrepareContext(ctx, `INSERT INTO events (seq, verification_id, type, state, attempt_id, message, data, at, instance, leaf)
		VALUES (?, 'v_bench', 'note', '', '', ?, '{"device":"AW-1"}', ?, 'gw-1', ?)`)
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := tx.PrepareContext(ctx, "INSERT INTO log_leaves (idx, kind, ref, data, nonce, hash) VALUES (?, 'event', ?, ?, ?, ?)")
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	for i := int64(1); i < int64(n); i++ {
		ev := gateway.Event{Seq: i + 1, VerificationID: "v_bench", Type: gateway.EventNote, Message: fmt.Sprintf("note %d", i),
			Data: map[string]string{"device": "AW-1"}, At: at.Add(time.Duration(i) * time.Millisecond), Instance: "gw-1"}
		l, err := gateway.EventLeaf(ev, gateway.NewNonce())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := event.ExecContext(ctx, ev.Seq, ev.Message, ev.At.UnixNano(), i); err != nil {
			b.Fatal(err)
		}
		if _, err := leaf.ExecContext(ctx, i, ev.Seq, l.Data, l.Nonce, l.Hash[:]); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	l, err := ledger.New(st, testKey)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := l.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	return st
}

// heapPeak samples the live heap every 10 ms until the function it returns
// is called, which returns the largest sample.
func heapPeak() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
	}
	runtime.GC()
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		read()
		return peak.Load()
	}
}
