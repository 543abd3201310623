package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/ledger"
	"github.com/safeconnection/gateway/store/sqlite"
)

// overtaken is a store whose sequencing is overtaken, once, by
// meanwhile (another instance's sequencing and writing, on the same
// file), between hashing the leaves (outside the writer) and storing what
// they came to.
type overtaken struct {
	*sqlite.Store
	meanwhile func() error
	done      bool
	err       error
}

func (o *overtaken) SequenceLog(ctx context.Context, max int, tree func(int64, []gateway.LogHash, func([]int64) ([]gateway.LogHash, error)) ([]gateway.LogHash, error)) (int64, error) {
	return o.Store.SequenceLog(ctx, max, func(size int64, leaves []gateway.LogHash, read func([]int64) ([]gateway.LogHash, error)) ([]gateway.LogHash, error) {
		if !o.done {
			o.done = true
			o.err = o.meanwhile()
		}
		return tree(size, leaves, read)
	})
}

// TestSequenceOvertaken: a sequencer that finds, when it comes to store
// the tree's hashes, that another instance sharing the file has sequenced
// since it read the leaves (and another record was written), hashes again
// from the size it finds: the log holds every leaf once, in one order, and
// verifies.
func TestSequenceOvertaken(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gateway.db")
	skey, vkey, err := ledger.GenerateKey("police.example/log")
	if err != nil {
		t.Fatal(err)
	}
	var stores [2]*sqlite.Store
	for i := range stores {
		if stores[i], err = sqlite.Open(ctx, path); err != nil {
			t.Fatal(err)
		}
		defer stores[i].Close()
	}
	other, err := ledger.New(stores[1], skey)
	if err != nil {
		t.Fatal(err)
	}
	st := &overtaken{Store: stores[0], meanwhile: func() error {
		if _, err := other.Sequence(ctx); err != nil {
			return err
		}
		_, err := stores[1].AppendEvent(ctx, gateway.Event{VerificationID: "v2", Type: gateway.EventNote, Message: "meanwhile"})
		return err
	}}
	l, err := ledger.New(st, skey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(id string, notes int) {
		t.Helper()
		if _, _, err := stores[0].CreateVerification(ctx, gateway.Verification{ID: id, Reference: gateway.NewReference(), RoomID: "AW",
			RequestedBy: "t_officer"}, "", gateway.Event{Type: gateway.EventState, Message: "requested"}); err != nil {
			t.Fatal(err)
		}
		for i := range notes {
			if _, err := stores[1].AppendEvent(ctx, gateway.Event{VerificationID: id, Type: gateway.EventNote, Message: fmt.Sprintf("note %d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("v1", 4)
	if _, err := other.Sequence(ctx); err != nil {
		t.Fatal(err)
	}
	write("v2", 6)
	size, err := l.Sequence(ctx)
	if err != nil || st.err != nil || !st.done {
		t.Fatalf("sequence: %v; the other instance's: %v (ran %v)", err, st.err, st.done)
	}
	if size != 13 {
		t.Fatalf("log size %d, want 13", size)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := ledger.Verify(ctx, stores[1], vkey, nil)
	if err != nil || !rep.OK() || rep.Size != 13 || rep.Waiting != 0 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}
