package ledger_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/ledger"
)

// export writes v1's export from st.
func export(t *testing.T, st gateway.Store) []byte {
	t.Helper()
	ctx := context.Background()
	l, err := ledger.New(st, testKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.Verification(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(ctx, "v1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	file, err := l.Export(ctx, v, evs)
	if err != nil {
		t.Fatal(err)
	}
	return file
}

// TestExportVerifiesOffline: an export checks with the public key alone,
// each event's proof checks with the library's verifier against the
// checkpoint, and one byte changed anywhere fails it.
func TestExportVerifiesOffline(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st, _ := b.open(t)
			seed(t, st)
			file := export(t, st)
			x, err := ledger.VerifyExport(file, testPub)
			if err != nil {
				t.Fatalf("an untouched export: %v", err)
			}
			if x.Verification.ID != "v1" || len(x.Events) != 4 || x.Pending != 0 {
				t.Fatalf("export of %s with %d events, %d pending", x.Verification.ID, len(x.Events), x.Pending)
			}
			cp, err := ledger.OpenCheckpoint([]byte(x.Checkpoint), testPub)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range x.Events {
				if err := tlog.CheckRecord(e.Proof, cp.Size, cp.Root, e.Index, tlog.RecordHash(e.Leaf)); err != nil {
					t.Fatalf("event %d: %v", e.Event.Seq, err)
				}
			}
			for i := range file {
				bad := []byte(string(file))
				bad[i] ^= 0x01
				if _, err := ledger.VerifyExport(bad, testPub); err == nil {
					t.Fatalf("byte %d changed (%q), and the export still verifies", i, file[max(0, i-20):min(len(file), i+20)])
				}
			}
			other, otherPub, err := ledger.GenerateKey("police.example/log")
			if err != nil {
				t.Fatal(err)
			}
			_ = other
			if _, err := ledger.VerifyExport(file, otherPub); err == nil || !strings.Contains(err.Error(), "does not verify") {
				t.Fatalf("checked with another log's key: %v", err)
			}
		})
	}
}
