package ledger_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
	_ "modernc.org/sqlite"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/ledger"
	"github.com/safeconnection/gateway/store/postgres"
	"github.com/safeconnection/gateway/store/postgres/pgtest"
	"github.com/safeconnection/gateway/store/sqlite"
)

var testKey, testPub = func() (string, string) {
	s, v, err := ledger.GenerateKey("police.example/log")
	if err != nil {
		panic(err)
	}
	return s, v
}()

// backend is a store with a raw connection to its database, to tamper
// with it as someone with write access to the database would.
type backend struct {
	name string
	open func(t *testing.T) (gateway.Store, func(q string, args ...any))
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t *testing.T) (gateway.Store, func(string, ...any)) {
			path := filepath.Join(t.TempDir(), "gateway.db")
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return st, func(q string, args ...any) {
				t.Helper()
				if _, err := db.Exec(q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		}},
		{"postgres", func(t *testing.T) (gateway.Store, func(string, ...any)) {
			url := pgtest.URL(t)
			st, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			conn, err := pgx.Connect(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close(context.Background()) })
			return st, func(q string, args ...any) {
				t.Helper()
				// The tests' statements use ? for parameters.
				for i := 1; strings.Contains(q, "?"); i++ {
					q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
				}
				if _, err := conn.Exec(context.Background(), q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		}},
	}
}

// seed writes three verifications' records and an ops entry, signs the
// log, and returns its events by Seq.
func seed(t *testing.T, st gateway.Store) []gateway.Event {
	ctx := context.Background()
	for i := range 3 {
		id := fmt.Sprintf("v%d", i)
		_, _, err := st.CreateVerification(ctx, gateway.Verification{ID: id, Reference: gateway.NewReference(), RoomID: "AW",
			Officer: gateway.Officer{Collar: "PC 1234", Warrant: "W998877"}, RequestedBy: "t_officer"}, "",
			gateway.Event{Type: gateway.EventState, Message: "requested"})
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range []string{"dialling AW-1 on zoom", "connected", "verified by PS 42: warrant card seen"} {
			if _, err := st.AppendEvent(ctx, gateway.Event{VerificationID: id, Type: gateway.EventNote, Message: msg,
				Data: map[string]string{"device": "AW-1"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := st.AppendOpsEvent(ctx, gateway.OpsEvent{Actor: gateway.Actor{ID: "t_ops", Name: "Ops Desk"}, Action: gateway.OpsTokenIssue,
		After: json.RawMessage(`{"token":"t_1"}`), Reason: "a new phone"}); err != nil {
		t.Fatal(err)
	}
	signLog(t, st)
	evs, err := st.Events(ctx, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func signLog(t *testing.T, st gateway.Store) gateway.Checkpoint {
	l, err := ledger.New(st, testKey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func verify(t *testing.T, st gateway.Store, given ...[]byte) ledger.Report {
	t.Helper()
	rep, err := ledger.Verify(context.Background(), st, testPub, given)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// leafOf is the place of the leaf of the event seq.
func leafOf(t *testing.T, st gateway.Store, seq int64) int64 {
	var idx int64 = -1
	err := st.LogEntries(context.Background(), func(e gateway.LogEntry) error {
		if e.Leaf.Kind == gateway.LogEvent && e.Leaf.Ref == seq {
			idx = e.Leaf.Index
		}
		return nil
	})
	if err != nil || idx < 0 {
		t.Fatalf("no leaf for event %d: %v", seq, err)
	}
	return idx
}

// wantFinding fails unless a finding names the leaf (-1: any) and says
// what.
func wantFinding(t *testing.T, rep ledger.Report, leaf int64, what string) {
	t.Helper()
	for _, f := range rep.Findings {
		if (leaf < 0 || f.Leaf == leaf) && strings.Contains(f.String(), what) {
			return
		}
	}
	t.Fatalf("no finding at leaf %d saying %q in %v", leaf, what, rep.Findings)
}

// TestVerifyFindsTampering: every kind of tampering with the database is
// found and named, on both stores; an untouched store passes.
func TestVerifyFindsTampering(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Run("untouched", func(t *testing.T) {
				st, _ := b.open(t)
				first := seed(t, st)
				old := signLog(t, st)
				if rep := verify(t, st, old.Note); !rep.OK() || rep.Size != int64(len(first)+1) || rep.Given != 1 {
					t.Fatalf("an untouched log: %+v", rep)
				}
			})
			t.Run("edit a personal field", func(t *testing.T) {
				st, exec := b.open(t)
				evs := seed(t, st)
				exec("UPDATE events SET message = ? WHERE seq = ?", "verified by PS 42: no concerns", evs[3].Seq)
				wantFinding(t, verify(t, st), leafOf(t, st, evs[3].Seq), "[personal fields] differ")
			})
			t.Run("edit the skeleton", func(t *testing.T) {
				st, exec := b.open(t)
				evs := seed(t, st)
				exec("UPDATE events SET state = 'failed' WHERE seq = ?", evs[2].Seq)
				wantFinding(t, verify(t, st), leafOf(t, st, evs[2].Seq), "[state] differ")
			})
			t.Run("delete", func(t *testing.T) {
				st, exec := b.open(t)
				evs := seed(t, st)
				leaf := leafOf(t, st, evs[5].Seq)
				exec("DELETE FROM events WHERE seq = ?", evs[5].Seq)
				wantFinding(t, verify(t, st), leaf, fmt.Sprintf("event %d: the event this leaf records is gone: deleted", evs[5].Seq))
			})
			t.Run("insert", func(t *testing.T) {
				st, exec := b.open(t)
				evs := seed(t, st)
				exec(`INSERT INTO events (verification_id, type, state, attempt_id, message, data, report, at, instance)
					SELECT verification_id, type, state, attempt_id, 'verified by PS 99', data, report, at, instance FROM events WHERE seq = ?`, evs[1].Seq)
				wantFinding(t, verify(t, st), -1, "the record has no leaf: it was written outside the gateway")
			})
			t.Run("swap", func(t *testing.T) {
				st, exec := b.open(t)
				evs := seed(t, st)
				a, c := evs[1].Seq, evs[6].Seq
				exec("UPDATE events SET seq = ? WHERE seq = ?", -1, a)
				exec("UPDATE events SET seq = ? WHERE seq = ?", a, c)
				exec("UPDATE events SET seq = ? WHERE seq = ?", c, -1)
				rep := verify(t, st)
				wantFinding(t, rep, leafOf(t, st, a), fmt.Sprintf("(events %d and %d were swapped)", a, c))
				wantFinding(t, rep, leafOf(t, st, c), "changed places")
			})
			t.Run("forged leaf", func(t *testing.T) {
				// The event edited and its leaf made again to match: the
				// tree's hashes and the signed checkpoint show it.
				st, exec := b.open(t)
				evs := seed(t, st)
				ev := evs[3]
				ev.Message = "verified by PS 42: no concerns"
				leaf, err := gateway.EventLeaf(ev, gateway.NewNonce())
				if err != nil {
					t.Fatal(err)
				}
				exec("UPDATE events SET message = ? WHERE seq = ?", ev.Message, ev.Seq)
				exec("UPDATE log_leaves SET data = ?, nonce = ?, hash = ? WHERE kind = 'event' AND ref = ?", leaf.Data, leaf.Nonce, leaf.Hash[:], ev.Seq)
				rep := verify(t, st)
				wantFinding(t, rep, -1, "the tree's stored hashes do not match its leaves")
				wantFinding(t, rep, -1, "its history was rewritten")
			})
			t.Run("truncate", func(t *testing.T) {
				st, exec := b.open(t)
				evs := seed(t, st)
				cp := signLog(t, st)
				exec("DELETE FROM log_leaves WHERE idx >= ?", cp.Size-3)
				rep := verify(t, st)
				wantFinding(t, rep, cp.Size-3, fmt.Sprintf("it was signed when the log held %d leaves, and the store holds %d", cp.Size, cp.Size-3))
				wantFinding(t, rep, -1, fmt.Sprintf("event %d: the record has no leaf", evs[len(evs)-1].Seq))
			})
			t.Run("leaf removed from the middle", func(t *testing.T) {
				st, exec := b.open(t)
				seed(t, st)
				exec("DELETE FROM log_leaves WHERE idx = 4")
				wantFinding(t, verify(t, st), 4, "the leaf is gone: the log skips from place 4 to 5")
			})
			t.Run("rolled back", func(t *testing.T) {
				// The database put back as it was at an earlier checkpoint,
				// later records and checkpoints gone with it: a witness's
				// copy of a later checkpoint shows it.
				st, exec := b.open(t)
				seed(t, st)
				older := signLog(t, st)
				ctx := context.Background()
				if _, err := st.AppendEvent(ctx, gateway.Event{VerificationID: "v0", Type: gateway.EventNote, Message: "complaint received"}); err != nil {
					t.Fatal(err)
				}
				later := signLog(t, st)
				exec("DELETE FROM events WHERE seq IN (SELECT ref FROM log_leaves WHERE kind = 'event' AND idx >= ?)", older.Size)
				exec("DELETE FROM log_leaves WHERE idx >= ?", older.Size)
				exec("DELETE FROM log_hashes WHERE n >= ?", storedHashCount(older.Size))
				exec("DELETE FROM log_checkpoints WHERE size > ?", older.Size)
				if rep := verify(t, st); !rep.OK() {
					t.Fatalf("the rolled-back store alone looks intact, as it would: %v", rep.Findings)
				}
				wantFinding(t, verify(t, st, later.Note), older.Size, "the store rolled back to an older copy")
			})
		})
	}
}

// storedHashCount is how many hashes a tree of n leaves stores
// (tlog.StoredHashCount), for a test that rolls a store back.
func storedHashCount(n int64) int64 {
	c := int64(0)
	for i := int64(0); i < n; i++ {
		c++ // the leaf's
		for j := i; j&1 == 1; j >>= 1 {
			c++ // a parent it completes
		}
	}
	return c
}

// TestVerifyGivenCheckpointOfAnotherLog: a checkpoint signed by another
// key, or not signed at all, is a finding.
func TestVerifyGivenCheckpointOfAnotherLog(t *testing.T) {
	st, _ := backends()[0].open(t)
	seed(t, st)
	other, _, err := ledger.GenerateKey("police.example/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(other)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := note.Sign(&note.Note{Text: ledger.FormatCheckpoint("police.example/log", 1, [32]byte{})}, signer)
	if err != nil {
		t.Fatal(err)
	}
	unsigned := []byte(ledger.FormatCheckpoint("police.example/log", 1, [32]byte{}))
	rep := verify(t, st, forged, unsigned)
	wantFinding(t, rep, -1, "given checkpoint 1: the checkpoint's signature does not verify")
	wantFinding(t, rep, -1, "given checkpoint 2: the checkpoint's signature does not verify")
}
