package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/store/sqlite"
)

// TestRetentionErasesEveryColumn reads the database file itself after
// EraseClosed: every column retention erases is empty for the erased
// verification, and the erased events' leaves have no nonce.
func TestRetentionErasesEveryColumn(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gateway.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fc := gateway.Channel("facetime")
	v := gateway.Verification{ID: "v1", Reference: gateway.NewReference(), RoomID: "r1", RequestedBy: "t_a",
		Officer:  gateway.Officer{Collar: "AB123", Warrant: "W-456", Force: "MPS"},
		Location: gateway.Location{Lat: 51.5, Lon: -0.12}, Reason: "a stop on Whitehall",
		Contacts: []gateway.Contact{{Channel: fc, Handle: "+447700900111"}}, Caller: "•••111", CallerHash: "keyed-hash"}
	if _, _, err := s.CreateVerification(ctx, v, "idem-1", gateway.Event{Type: gateway.EventState, Message: "requested",
		Data: map[string]string{gateway.DataGrounds: "she asked"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutAttempt(ctx, gateway.Attempt{ID: "a1", VerificationID: "v1", Seq: 1, Channel: fc, ProviderRef: "prov-1",
		JoinURL: "https://join.example.org/1", Error: "rang +447700900111"}, gateway.Event{VerificationID: "v1", Type: gateway.EventNote,
		Report: &gateway.Report{AttemptID: "a1", Channel: fc, ProviderRef: "prov-1", Status: gateway.ReportJoined, Detail: "x"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Transition(ctx, "v1", gateway.Transition{To: gateway.StateVerified, Set: func(v *gateway.Verification) {
		v.JoinURL = "https://join.example.org/1"
		v.Outcome = &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 1", Note: "fine", Number: "PS1", At: time.Now()}
	}, Event: gateway.Event{Type: gateway.EventOutcome, Message: "verified"}}); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.EraseClosed(ctx, time.Now().Add(time.Hour), 10); err != nil || len(ids) != 1 {
		t.Fatalf("EraseClosed: %v, %v", ids, err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`SELECT COUNT(*) FROM verifications WHERE id = 'v1' AND (officer <> '{}' OR lat <> 0 OR lon <> 0 OR contacts <> '[]'
			OR join_url <> '' OR reason <> '' OR caller <> '' OR caller_hash <> '' OR request_hash IS NOT NULL
			OR idempotency_key IS NOT NULL OR json_extract(outcome, '$.supervisor') <> '' OR json_extract(outcome, '$.note') IS NOT NULL
			OR json_extract(outcome, '$.number') IS NOT NULL OR erased_at IS NULL)`,
		`SELECT COUNT(*) FROM attempts WHERE verification_id = 'v1' AND (join_url <> '' OR provider_ref <> '' OR error <> '')`,
		`SELECT COUNT(*) FROM events WHERE verification_id = 'v1' AND (message <> '' OR data IS NOT NULL OR report IS NOT NULL)`,
		`SELECT COUNT(*) FROM log_leaves WHERE nonce IS NOT NULL AND idx IN (SELECT leaf FROM events WHERE verification_id = 'v1')`,
		`SELECT COUNT(*) FROM orders WHERE verification_id = 'v1' AND (handle <> '' OR join_url <> '' OR reference <> '')`,
		`SELECT COUNT(*) FROM verifications WHERE id = 'v1' AND (state <> 'verified' OR json_extract(outcome, '$.outcome') <> 'verified' OR room_id <> 'r1')`,
	} {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n != 0 {
			t.Errorf("%d rows: %s", n, q)
		}
	}
	var leaves int
	if err := db.QueryRow(`SELECT COUNT(*) FROM log_leaves WHERE idx IN (SELECT leaf FROM events WHERE verification_id = 'v1')`).Scan(&leaves); err != nil || leaves < 3 {
		t.Fatalf("the erased events' leaves: %d, %v", leaves, err)
	}
}
