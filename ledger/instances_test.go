package ledger_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/ledger"
	"github.com/safeconnection/gateway/store/postgres"
	"github.com/safeconnection/gateway/store/postgres/pgtest"
	"github.com/safeconnection/gateway/store/sqlite"
)

// TestTwoInstancesOnPostgres: two instances (two stores on one database)
// write records and run their sequencers at once: the log has one order
// with no gaps, every record its leaf, and every checkpoint either signed
// is consistent with the one before.
func TestTwoInstancesOnPostgres(t *testing.T) {
	url := pgtest.URL(t)
	twoInstances(t, func(ctx context.Context) (gateway.Store, error) { return postgres.Open(ctx, url) })
}

// TestTwoInstancesOnSQLite is TestTwoInstancesOnPostgres with two stores
// on one SQLite file, as the gateway and gatewayctl share it: each
// sequencer hashes the leaves outside the writer, and must find when the
// other has sequenced meanwhile.
func TestTwoInstancesOnSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	twoInstances(t, func(ctx context.Context) (gateway.Store, error) { return sqlite.Open(ctx, path) })
}

func twoInstances(t *testing.T, open func(context.Context) (gateway.Store, error)) {
	ctx := context.Background()
	var stores []gateway.Store
	var logs []*ledger.Log
	for range 2 {
		st, err := open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		l, err := ledger.New(st, testKey)
		if err != nil {
			t.Fatal(err)
		}
		stores, logs = append(stores, st), append(logs, l)
	}
	const writers, each = 4, 25
	stop := make(chan struct{})
	errs := make(chan error, 16)
	var seq sync.WaitGroup
	for _, l := range logs {
		seq.Add(1)
		go func() {
			defer seq.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := l.Sync(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := stores[w%2]
			id := fmt.Sprintf("v%d", w)
			if _, _, err := st.CreateVerification(ctx, gateway.Verification{ID: id, Reference: gateway.NewReference(), RoomID: "AW", RequestedBy: "t_o"}, "",
				gateway.Event{Type: gateway.EventState, Message: "requested"}); err != nil {
				errs <- err
				return
			}
			for i := range each - 1 {
				if _, err := st.AppendEvent(ctx, gateway.Event{VerificationID: id, Type: gateway.EventNote, Message: fmt.Sprintf("note %d", i)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	seq.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := logs[1].Sync(ctx); err != nil {
		t.Fatal(err)
	}
	rep := verify(t, stores[0])
	if !rep.OK() || rep.Size != writers*each || rep.Waiting != 0 {
		t.Fatalf("after two instances: %d leaves (want %d), %d waiting, findings %v", rep.Size, writers*each, rep.Waiting, rep.Findings)
	}
	// One order: each place held once, 0 to size-1 (Verify checks there is
	// no gap or double); every record has its leaf (no Unlogged finding).
	// One more event, sequenced by the other instance, so that there is a
	// later checkpoint to hold consistent with those of the busy phase
	// however few it signed on a loaded machine.
	if _, err := stores[0].AppendEvent(ctx, gateway.Event{VerificationID: "v0", Type: gateway.EventNote, Message: "after"}); err != nil {
		t.Fatal(err)
	}
	if _, err := logs[0].Sync(ctx); err != nil {
		t.Fatal(err)
	}
	cps, err := stores[1].Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) < 2 {
		t.Fatalf("only %d checkpoints signed", len(cps))
	}
	var last ledger.Checkpoint
	for _, c := range cps {
		cur, err := ledger.OpenCheckpoint(c.Note, testPub)
		if err != nil {
			t.Fatal(err)
		}
		if last.Size > 0 {
			p, err := logs[0].ProveConsistency(ctx, last.Size, cur.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(p, cur.Size, cur.Root, last.Size, last.Root); err != nil {
				t.Fatalf("checkpoint %d is not consistent with %d: %v", cur.Size, last.Size, err)
			}
		}
		last = cur
	}
}
