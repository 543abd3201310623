package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/store/storetest"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// wantCode fails the test unless err carries the code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := gateway.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func TestOpenCreatesDirectoryAndSetsPragmas(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a", "b", "gateway.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}
	for pragma, want := range map[string]string{
		"journal_mode":       "wal",
		"foreign_keys":       "1",
		"synchronous":        "2", // FULL: a commit survives a power failure
		"busy_timeout":       "10000",
		"wal_autocheckpoint": "0", // the store's checkpointer does it
	} {
		var got string
		if err := s.wdb.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	// Read connections are read-only.
	if _, err := s.rdb.ExecContext(ctx, "DELETE FROM devices"); err == nil {
		t.Error("a read connection wrote")
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsNonFiles(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if _, err := Open(context.Background(), path); gateway.ErrorCode(err) != gateway.EINVALID {
			t.Errorf("Open(%q) = %v, want EINVALID", path, err)
		}
	}
	if err := New("").Close(); err != nil {
		t.Errorf("Close of a store never opened: %v", err)
	}
}

func TestMigrationsApplyOnceAcrossReopens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gateway.db")
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].version != 1 {
		t.Fatalf("migrations = %+v, want 0001 first", ms)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].version <= ms[i-1].version {
			t.Fatalf("migrations out of order: %s after %s", ms[i].name, ms[i-1].name)
		}
	}

	logger, logged := logtest.NewNullLogger()
	s := New(path)
	s.Logger = logger
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(logged.AllEntries()); n != len(ms) {
		t.Fatalf("%d log lines, want one per migration applied (%d)", n, len(ms))
	}
	wantCode(t, s.Open(ctx), gateway.EINVALID) // already open
	if _, err := s.CreateDevice(ctx, gateway.Device{ID: "d1", RoomID: "r1"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for range 2 {
		logged.Reset()
		s = New(path)
		s.Logger = logger
		if err := s.Open(ctx); err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if n := len(logged.AllEntries()); n != 0 {
			t.Fatalf("reopen logged %d lines, want none: nothing to apply", n)
		}
		var n int
		if err := s.rdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) {
			t.Fatalf("schema_migrations has %d rows, want %d", n, len(ms))
		}
		if _, err := s.Device(ctx, "d1"); err != nil {
			t.Fatalf("device lost across reopen: %v", err)
		}
		s.Close()
	}
}

// TestClockJudgesLeases moves the store's clock: expiry and staleness follow
// it, not the wall clock.
func TestClockJudgesLeases(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s.Clock = func() time.Time { return now }

	d, err := s.CreateDevice(ctx, gateway.Device{ID: "d1", RoomID: "r1", Number: "+447700900001"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Heartbeat(ctx, d.ID, 80, nil); err != nil {
		t.Fatal(err)
	}
	req := gateway.ClaimRequest{RoomIDs: []string{"r1"}, Channel: gateway.ChannelPSTN, Holder: "v1", TTL: time.Minute, Stale: 30 * time.Second}
	l, _, err := s.Claim(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !l.ClaimedAt.Equal(now) || !l.ExpiresAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("lease times %v..%v, want %v..%v", l.ClaimedAt, l.ExpiresAt, now, now.Add(time.Minute))
	}
	now = now.Add(59 * time.Second)
	if got, _ := s.ExpireLeases(ctx); len(got) != 0 {
		t.Fatalf("expired early: %+v", got)
	}
	now = now.Add(time.Second)
	got, err := s.ExpireLeases(ctx)
	if err != nil || len(got) != 1 || got[0].Fence != l.Fence {
		t.Fatalf("ExpireLeases = %+v, %v; want the lease", got, err)
	}
	// Free again, but its heartbeat is now a minute old.
	if _, _, err := s.Claim(ctx, req); gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
		t.Fatalf("claim of a stale device: %v, want EUNAVAILABLE", err)
	}
	if _, err := s.Heartbeat(ctx, d.ID, 80, nil); err != nil {
		t.Fatal(err)
	}
	l2, _, err := s.Claim(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if l2.Fence <= l.Fence {
		t.Fatalf("fence %d after %d", l2.Fence, l.Fence)
	}
	h, err := s.ClaimHistory(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Reason != "expired" || h[0].ReleasedAt == nil || !h[0].ReleasedAt.Equal(l.ExpiresAt) {
		t.Fatalf("history = %+v", h)
	}
	if got, _ := s.Now(ctx); !got.Equal(now) {
		t.Fatal("Now does not report the clock")
	}
}

// TestManyWritersNeverBusy has hundreds of goroutines write at once through
// two stores on one file, as the gateway and gatewayctl do: the second
// store's writer waits for the first's lock, and no caller sees SQLITE_BUSY.
func TestManyWritersNeverBusy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gateway.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stores := []*Store{a, b}
	for i := range 10 {
		if _, err := a.CreateDevice(ctx, gateway.Device{ID: fmt.Sprintf("d%d", i), RoomID: "r1", Number: "+447700900123"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := a.CreateVerification(ctx, gateway.Verification{ID: "v1"}, "", gateway.Event{Type: gateway.EventState}); err != nil {
		t.Fatal(err)
	}
	req := gateway.ClaimRequest{RoomIDs: []string{"r1"}, Channel: gateway.ChannelPSTN, Holder: "v1", TTL: time.Minute}
	var wg sync.WaitGroup
	for g := range 300 {
		s := stores[g%2]
		wg.Go(func() {
			var err error
			switch g % 3 {
			case 0:
				_, err = s.Heartbeat(ctx, fmt.Sprintf("d%d", g%10), g%100, nil)
			case 1:
				_, err = s.AppendEvent(ctx, gateway.Event{VerificationID: "v1", Type: gateway.EventNote, Message: strconv.Itoa(g)})
			case 2:
				var l gateway.Lease
				l, _, err = s.Claim(ctx, req)
				if gateway.ErrorCode(err) == gateway.EUNAVAILABLE {
					err = nil
				} else if err == nil {
					err = s.Release(ctx, l, "")
				}
			}
			if err != nil {
				t.Errorf("goroutine %d: %v", g, err)
			}
		})
	}
	wg.Wait()
	evs, err := b.Events(ctx, "v1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1+100 {
		t.Fatalf("%d events, want 101", len(evs))
	}
	h, err := a.ClaimHistory(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckHistory(t, h)
}

// queryPlan returns the EXPLAIN QUERY PLAN of query, one detail a line.
func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.rdb.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var (
			id, parent, unused int
			detail             string
		)
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestEventsUseAnIndex checks that neither query of Events, nor
// MessageEvent's, reads the whole table or sorts: one verification's events
// come from events_verification, every verification's from the primary key,
// a message's note from events_message.
func TestEventsUseAnIndex(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tt := range []struct {
		name, query, want string
		args              []any
	}{
		{"one verification", verificationEvents, "SEARCH events USING INDEX events_verification (verification_id=? AND seq>?)", []any{"v1", 0, -1}},
		{"every verification", allEvents, "SEARCH events USING INTEGER PRIMARY KEY (rowid>?)", []any{0, -1}},
		{"a message's note", messageEvent, "SEARCH events USING INDEX events_message (<expr>=?)", []any{"wamid.A"}},
	} {
		plan := queryPlan(t, s, tt.query, tt.args...)
		if plan != tt.want {
			t.Errorf("%s: plan\n%s\nwant\n%s", tt.name, plan, tt.want)
		}
	}
}

// TestTransitionReturnsWhatIsStored checks that the verification Transition
// returns, built from what it read and wrote, is the one a read returns
// afterwards, whatever Set does: times in other zones and with a monotonic
// reading, empty lists, an outcome, and changes to what a transition keeps.
func TestTransitionReturnsWhatIsStored(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateDevice(ctx, gateway.Device{ID: "d1", RoomID: "r1", Number: "+447700900001"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.CreateVerification(ctx, gateway.Verification{ID: "v1", Reference: "ref1", RoomID: "r1", RequestedBy: "t1",
		Officer: gateway.Officer{Collar: "AB123"}, Contacts: []gateway.Contact{{Channel: gateway.ChannelPSTN, Handle: "+447700900002"}}},
		"", gateway.Event{Type: gateway.EventState})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutAttempt(ctx, gateway.Attempt{ID: "a1", VerificationID: "v1", Channel: gateway.ChannelPSTN, RoomID: "r1",
		DeviceID: "d1", StartedAt: time.Now()}, gateway.Event{Type: gateway.EventAttempt}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"r1"}, Channel: gateway.ChannelPSTN, Holder: "v1", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}

	zone := time.FixedZone("X", 3600)
	for _, tt := range []struct {
		name string
		tr   gateway.Transition
	}{
		{"state only", gateway.Transition{To: gateway.StateDialling}},
		{"every field", gateway.Transition{From: []gateway.State{gateway.StateDialling}, To: gateway.StateConnected,
			Set: func(v *gateway.Verification) {
				until, zero := time.Now().In(zone), time.Time{}
				v.Deadline = time.Now().Add(time.Minute).In(zone)
				v.OwnerUntil, v.QueuedAt = &until, &zero
				v.Outcome = &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 1", At: time.Now().In(zone)}
				v.Contacts, v.Officer.Warrant = []gateway.Contact{}, "W1"
				v.DeviceID, v.Channel, v.Owner = "d1", gateway.ChannelPSTN, "gw1"
				// What a transition does not change.
				v.ID, v.CreatedAt, v.RequestedBy = "other", time.Now(), "t2"
				v.Attempts[0].Result = gateway.ResultFailed
				v.Attempts = append(v.Attempts, gateway.Attempt{ID: "a2"})
				v.Lease.Holder = "v2"
			}}},
		{"back to nothing", gateway.Transition{Set: func(v *gateway.Verification) {
			v.Deadline, v.OwnerUntil, v.QueuedAt, v.Outcome, v.Contacts = time.Time{}, nil, nil, nil, nil
		}}},
	} {
		out, _, err := s.Transition(ctx, "v1", tt.tr)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, err := s.Verification(ctx, "v1")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(out, got) {
			t.Errorf("%s: Transition returned\n%+v\nthen Verification\n%+v", tt.name, out, got)
		}
		if len(got.Attempts) != 1 || got.Attempts[0].Result != gateway.ResultPending || got.Lease == nil || got.Lease.Holder != "v1" {
			t.Errorf("%s: attempts %+v, lease %+v; want a1 pending and v1's lease", tt.name, got.Attempts, got.Lease)
		}
	}
}

// openWith opens a store on a new file after set has changed its fields.
func openWith(t *testing.T, set func(*Store)) *Store {
	t.Helper()
	s := New(filepath.Join(t.TempDir(), "gateway.db"))
	set(s)
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// appendEvents writes n events for one verification, a commit each.
func appendEvents(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.CreateVerification(ctx, gateway.Verification{ID: "v1"}, "", gateway.Event{Type: gateway.EventState}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := s.AppendEvent(ctx, gateway.Event{VerificationID: "v1", Type: gateway.EventNote, Message: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCommitsDoNotCheckpoint writes more pages than SQLite's default
// automatic checkpoint (1,000) with the checkpointer idle: they all stay in
// the WAL.
func TestCommitsDoNotCheckpoint(t *testing.T) {
	s := openWith(t, func(s *Store) { s.checkpointEvery = time.Hour })
	appendEvents(t, s, 800)
	var busy, frames, copied int
	if err := s.wdb.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		t.Fatal(err)
	}
	if frames < 1000 {
		t.Fatalf("the WAL holds %d pages after 800 commits: a commit checkpointed it", frames)
	}
}

// TestCheckpointerTruncatesALargeWAL lets the checkpointer run with a small
// limit: it truncates the WAL once four times past it, and stops at Close.
func TestCheckpointerTruncatesALargeWAL(t *testing.T) {
	s := openWith(t, func(s *Store) { s.checkpointEvery, s.walLimit = time.Hour, 50 })
	appendEvents(t, s, 300) // a page or more a commit
	// Only now, with the WAL past four times the limit, is it checkpointed.
	s.stopCheckpoints()
	<-s.checkpointsDone
	s.checkpointEvery = 10 * time.Millisecond
	s.startCheckpoints()
	wal := s.Path + "-wal"
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL is still %d bytes: not truncated", fi.Size())
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := s.checkpointsDone
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	default:
		t.Fatal("the checkpointer runs on after Close")
	}
}

// missed lists the queries the store ran unprepared.
func missed(s *Store) map[string]bool {
	out := map[string]bool{}
	for _, c := range []*stmtCache{&s.stmts, &s.rstmts} {
		c.missed.Range(func(q, _ any) bool {
			out[q.(string)] = true
			return true
		})
	}
	return out
}

// TestRoutingRunsPreparedStatements routes a verification as the router
// and a device agent do and checks every statement it ran was prepared.
func TestRoutingRunsPreparedStatements(t *testing.T) {
	ctx := context.Background()
	s := openWith(t, func(*Store) {})
	if _, err := s.CreateDevice(ctx, gateway.Device{ID: "d1", RoomID: "r1", Number: "+447700900001"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, gateway.Token{ID: "t1", Role: gateway.RoleOfficer, Hash: "h1"}); err != nil {
		t.Fatal(err)
	}
	before := missed(s)

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.TokenByHash(ctx, "h1")
	must(err)
	_, err = s.Heartbeat(ctx, "d1", 90, []gateway.Channel{gateway.ChannelPSTN})
	must(err)
	_, _, err = s.CreateVerification(ctx, gateway.Verification{ID: "v1", Reference: "ref1", RoomID: "r1", RequestedBy: "t1"},
		"k1", gateway.Event{Type: gateway.EventState})
	must(err)
	_, err = s.Own(ctx, "v1", "gw1", time.Minute)
	must(err)
	l, _, err := s.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"r1"}, Channel: gateway.ChannelPSTN, Holder: "v1", TTL: time.Minute})
	must(err)
	_, err = s.Renew(ctx, l, time.Minute)
	must(err)
	a := gateway.Attempt{ID: "a1", VerificationID: "v1", Channel: gateway.ChannelPSTN, RoomID: "r1", DeviceID: "d1", StartedAt: time.Now()}
	_, err = s.PutAttempt(ctx, a, gateway.Event{Type: gateway.EventAttempt})
	must(err)
	_, _, err = s.Transition(ctx, "v1", gateway.Transition{To: gateway.StateDialling, Event: gateway.Event{Type: gateway.EventState}})
	must(err)
	must(s.PutOrder(ctx, gateway.Order{ID: "o1", DeviceID: "d1", VerificationID: "v1", AttemptID: "a1", Kind: gateway.OrderDial}))
	_, err = s.TakeOrders(ctx, "d1")
	must(err)
	must(s.SetOrderStatus(ctx, "o1", gateway.OrderDone))
	_, err = s.Order(ctx, "o1")
	must(err)
	a.ProviderRef = "p1"
	_, err = s.PutAttempt(ctx, a, gateway.Event{Type: gateway.EventReport})
	must(err)
	_, err = s.AttemptByProviderRef(ctx, gateway.ChannelPSTN, "p1")
	must(err)
	_, err = s.Attempt(ctx, "a1")
	must(err)
	_, err = s.AppendEvent(ctx, gateway.Event{VerificationID: "v1", Type: gateway.EventNote})
	must(err)
	_, err = s.Events(ctx, "v1", 0, 0)
	must(err)
	_, err = s.Events(ctx, "", 0, 0)
	must(err)
	_, err = s.Verification(ctx, "v1")
	must(err)
	_, err = s.Device(ctx, "d1")
	must(err)
	must(s.Release(ctx, l, ""))

	for q := range missed(s) {
		if !before[q] {
			t.Errorf("ran unprepared:\n%s", q)
		}
	}
}

// TestGroupCommit runs many concurrent writes, every third of which fails
// after writing: those grouped with others must be undone alone, and every
// caller must get its own result. The writer is held busy while they queue,
// so that they are committed in groups.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.CreateVerification(ctx, gateway.Verification{ID: "v1", RoomID: "r1", RequestedBy: "t"}, "", gateway.Event{Type: gateway.EventState}); err != nil {
		t.Fatal(err)
	}

	// Hold the writer until every write below is queued.
	release := make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.write(ctx, func(tx, time.Time) error { <-release; return nil })
	}()

	const n = 60
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.write(ctx, func(tx tx, now time.Time) error {
				if _, err := insertEvent(ctx, tx, gateway.Event{VerificationID: "v1", Type: gateway.EventNote,
					State: gateway.StateRouting, Message: strconv.Itoa(i)}, now); err != nil {
					return err
				}
				if i%3 == 0 {
					return fmt.Errorf("write %d fails", i)
				}
				return nil
			})
		})
	}
	time.Sleep(200 * time.Millisecond) // let them queue behind the held write
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}

	for i, err := range errs {
		if (i%3 == 0) != (err != nil) {
			t.Errorf("write %d: error %v", i, err)
		}
	}
	evs, err := s.Events(ctx, "v1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kept []int
	for _, ev := range evs {
		if ev.Type == gateway.EventNote {
			i, _ := strconv.Atoi(ev.Message)
			kept = append(kept, i)
		}
	}
	if len(kept) != n-n/3 {
		t.Errorf("%d notes stored, want %d", len(kept), n-n/3)
	}
	for _, i := range kept {
		if i%3 == 0 {
			t.Errorf("the note of failed write %d was committed", i)
		}
	}
	if g := s.grouped.Load(); g < n/2 {
		t.Errorf("%d writes committed in groups, want most of the %d queued", g, n)
	}
}

// TestWriteGivesUpWhileQueued checks that a write whose context ends while
// it waits behind another is not run, and says so.
func TestWriteGivesUpWhileQueued(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := make(chan struct{})
	go s.write(ctx, func(tx, time.Time) error { <-release; return nil })
	time.Sleep(50 * time.Millisecond)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	time.AfterFunc(300*time.Millisecond, func() { close(release) }) // after cctx has ended
	ran := false
	err = s.write(cctx, func(tx, time.Time) error { ran = true; return nil })
	if err == nil || ran {
		t.Fatalf("write after its context ended: error %v, ran %v", err, ran)
	}
}

// TestSynchronous: FULL by default on every connection; NORMAL when asked
// for; anything else refused.
func TestSynchronous(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		setting, want string // want "": Open refuses it
	}{
		{"default", "2"}, {"full", "2"}, {"FULL", "2"}, {"normal", "1"}, {"off", ""}, {"extra", ""},
	} {
		t.Run(tt.setting, func(t *testing.T) {
			s := New(filepath.Join(t.TempDir(), "gateway.db"))
			if tt.setting != "default" {
				s.Synchronous = tt.setting
			}
			err := s.Open(ctx)
			if tt.want == "" {
				wantCode(t, err, gateway.EINVALID)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for name, db := range map[string]interface {
				QueryRowContext(context.Context, string, ...any) *sql.Row
			}{"write": s.wdb, "read": s.rdb, "checkpoint": s.cdb} {
				var got string
				if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("%s connection: PRAGMA synchronous = %s, want %s", name, got, tt.want)
				}
			}
		})
	}
}

// TestFailWrites: while writes fail, every write and Ping answer
// EUNAVAILABLE with the safe message (SQLite itself refusing them:
// SQLITE_READONLY), reads go on, nothing is half written; afterwards both
// recover.
func TestFailWrites(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.FailWrites(t, s, Unavailable, func(err error) bool {
		var se *sqlite.Error
		return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_READONLY
	})
}

// TestUnavailableErrors: the SQLite failures that pass are EUNAVAILABLE,
// not internal, also under another *gateway.Error.
func TestUnavailableErrors(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	// A read-only connection refusing a write is SQLITE_READONLY.
	_, raw := s.rdb.ExecContext(ctx, "DELETE FROM devices")
	if raw == nil {
		t.Fatal("a read connection wrote")
	}
	for name, err := range map[string]error{
		"readonly":            raw,
		"wrapped as internal": gateway.E("x", gateway.EINTERNAL, raw),
		"conn done":           sql.ErrConnDone,
	} {
		wantCode(t, fail("op", err), gateway.EUNAVAILABLE)
		if gateway.ErrorMessage(fail("op", err)) != Unavailable {
			t.Errorf("%s: message %q", name, gateway.ErrorMessage(fail("op", err)))
		}
	}
	wantCode(t, fail("op", errors.New("boom")), gateway.EINTERNAL)
	s.Close()
	_, err = s.CreateDevice(ctx, gateway.Device{ID: "d1", RoomID: "r1"})
	wantCode(t, err, gateway.EUNAVAILABLE)
	if err := s.Ping(ctx); gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
		t.Errorf("Ping of a closed store: %v", err)
	}
}
