package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/ledger"
)

// TestLogBackfill opens a database written before the log began: the
// migration that makes the log gives its records leaves, events by Seq then
// ops entries, each record keeping its leaf's place, and the log verifies;
// a record written after takes the next place.
func TestLogBackfill(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gateway.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT")
	for _, m := range ms {
		if m.version >= logMigration {
			break
		}
		exec(m.sql)
		exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)", m.version, m.name)
	}
	at := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC).UnixNano()
	exec(`INSERT INTO events (verification_id, type, state, message, data, at) VALUES ('v_old', 'state', 'routing', 'requested', NULL, ?)`, at)
	exec(`INSERT INTO events (verification_id, type, state, message, data, at) VALUES ('v_old', 'note', '', 'dialling AW-1', '{"device":"AW-1"}', ?)`, at+1)
	exec(`INSERT INTO ops_events (at, actor_id, actor_name, action, reason) VALUES (?, 't_ops', 'Ops Desk', 'device.add', 'a new handset')`, at+2)
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if u, err := s.Unlogged(ctx); err != nil || len(u) != 0 {
		t.Fatalf("unlogged after the migration: %v, %v", u, err)
	}
	var places []int64
	rows, err := s.rdb.QueryContext(ctx, "SELECT leaf FROM events ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		places = append(places, p)
	}
	rows.Close()
	var opsPlace int64
	if err := s.rdb.QueryRowContext(ctx, "SELECT leaf FROM ops_events").Scan(&opsPlace); err != nil {
		t.Fatal(err)
	}
	if len(places) != 2 || places[0] != 0 || places[1] != 1 || opsPlace != 2 {
		t.Fatalf("places: events %v, ops entry %d; want [0 1] and 2", places, opsPlace)
	}
	if _, _, err := s.CreateVerification(ctx, gateway.Verification{ID: "v_new", Reference: gateway.NewReference(), RoomID: "AW",
		RequestedBy: "t_officer"}, "", gateway.Event{Type: gateway.EventState, Message: "requested"}); err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := ledger.GenerateKey("police.example/log")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(s, skey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := s.VerificationLeaves(ctx, "v_new")
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 4 || len(leaves) != 1 || leaves[0].Index != 3 {
		t.Fatalf("checkpoint of %d leaves, the new verification's leaves %+v; want 4, its event's at 3", cp.Size, leaves)
	}
	rep, err := ledger.Verify(ctx, s, vkey, nil)
	if err != nil || !rep.OK() || rep.Size != 4 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}

// TestLogStopsAtAHole: a waiting leaf deleted behind the gateway's back is
// a hole the sequencer does not hash past, and says so.
func TestLogStopsAtAHole(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.CreateVerification(ctx, gateway.Verification{ID: "v1", Reference: gateway.NewReference(), RoomID: "AW",
		RequestedBy: "t_officer"}, "", gateway.Event{Type: gateway.EventState, Message: "requested"}); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"one", "two", "three"} {
		if _, err := s.AppendEvent(ctx, gateway.Event{VerificationID: "v1", Type: gateway.EventNote, Message: msg}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.wdb.ExecContext(ctx, "DELETE FROM log_leaves WHERE idx = 2"); err != nil {
		t.Fatal(err)
	}
	skey, _, err := ledger.GenerateKey("police.example/log")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(s, skey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Sequence(ctx); err == nil || gateway.ErrorCode(err) != gateway.EINTERNAL {
		t.Fatalf("sequencing past a hole: %v, want an internal error naming leaf 2", err)
	}
	if n, err := s.LogSize(ctx); err != nil || n != 2 {
		t.Fatalf("log size %d, %v; want 2: the leaves before the hole, and no more", n, err)
	}
}
