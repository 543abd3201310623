// Package sqlite is the gateway's embedded store: gateway.Store on one SQLite
// file through modernc.org/sqlite (pure Go, no cgo), in WAL mode.
//
// SQLite allows one writer at a time. The store keeps one connection for
// writes, on which every change runs in a BEGIN IMMEDIATE transaction, so
// concurrent callers queue rather than meet SQLITE_BUSY, and a
// read-modify-write (a claim, a transition) sees no other change between its
// read and its write. Changes that queue while another commits are committed
// together, each in its own savepoint (group commit, see Store.write). Reads
// go through a separate pool of read-only connections and do not wait for
// writers. Commits do not checkpoint the WAL: a goroutine of the store does,
// every second, on a connection of its own, and truncates the WAL when it
// has grown large.
//
// Times are stored as Unix nanoseconds and judged by the store's clock (the
// Clock field), so tests can move time. Events are written by the one
// writer, so their Seq order is their commit order.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/store/membus"
	"github.com/sirupsen/logrus"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The values of Store.Synchronous.
const (
	SynchronousFull   = "full"
	SynchronousNormal = "normal"
)

// Unavailable is the message of a store error that means "try again": the
// disk or the database refused a write or could not be reached.
const Unavailable = "the store is unavailable; try again shortly"

// BusyTimeout is how long a connection waits for a lock held by another
// process (gatewayctl on the same file, say) before SQLite gives up.
const BusyTimeout = 10 * time.Second

// The write connection does not checkpoint the WAL in its commits: a
// background goroutine of the store does it, on its own connection.
const (
	// checkpointInterval is how often the WAL is checkpointed: a passive
	// checkpoint, which waits for no reader or writer.
	checkpointInterval = time.Second
	// walTruncatePages is the WAL size, in pages, past which a checkpoint
	// that readers kept from finishing is followed by one that truncates
	// the WAL, waiting for readers and holding writers back while it does,
	// so that the WAL stays bounded. A WAL four times that size is
	// truncated even when the passive checkpoint finished: writes outrun
	// the checkpoints. (A finished checkpoint lets the next write start the
	// WAL again from its beginning.)
	walTruncatePages = 4096
)

// Store is gateway.Store on a SQLite file. Build it with New, set its
// fields, then Open it; or use the package's Open, which does both with the
// defaults. The fields must not change once it is open.
type Store struct {
	// Path is the database file.
	Path string
	// Clock is the store's clock: lease expiry, heartbeats, event times and
	// ownership are judged by it, so tests can move time. Default time.Now.
	// (It cannot be called Now: that is the gateway.Store method that
	// reports it.)
	Clock func() time.Time
	// Bus carries the store's wake-ups. Default an in-memory bus, closed by
	// Close.
	Bus gateway.Bus
	// Logger logs the migrations Open applies and wake-ups that could not
	// be published. Default discards.
	Logger logrus.FieldLogger
	// Synchronous is SQLite's synchronous setting on every connection:
	// "full" (the default: a commit is on disk when it returns, and so
	// survives a power failure) or "normal" (in WAL mode, safe against a
	// crash of the process but not of the machine: the last commits can
	// be lost when the power goes).
	Synchronous string
	// NoLog writes events and ops entries without their leaves: the
	// tamper-evident log is off. For benchmarks that weigh its cost only;
	// a deployment never sets it.
	NoLog bool
	// Outbox writes, with each event that closes a verification, the
	// entries the force's incident system is to be told
	// (gateway.OutboxMessages). Set when the gateway delivers to one.
	Outbox bool

	wdb        *sql.DB   // one connection: every write, in BEGIN IMMEDIATE transactions
	rdb        *sql.DB   // read-only connections
	cdb        *sql.DB   // one connection: the checkpoints
	stmts      stmtCache // on wdb: writes
	rstmts     stmtCache // on rdb: reads
	defaultBus *membus.Bus

	checkpointEvery time.Duration // checkpointInterval; tests shorten it
	walLimit        int           // walTruncatePages
	stopCheckpoints func()        // ends the checkpoints
	checkpointsDone chan struct{} // closed when they have ended

	wmu     sync.Mutex
	wqueue  []*writeReq  // writes waiting for the writer
	wleader bool         // a caller is the writer
	wclosed bool         // Close has begun: no more writes
	grouped atomic.Int64 // writes committed in a group of two or more

	fault atomic.Pointer[error] // set by FailWrites: the reason writes fail
}

// New returns a Store for the file at path with the default fields. It
// opens nothing: call Open.
func New(path string) *Store {
	bus := membus.New()
	discard := logrus.New()
	discard.Out = io.Discard
	return &Store{Path: path, Clock: time.Now, Bus: bus, Logger: discard, Synchronous: SynchronousFull, defaultBus: bus,
		checkpointEvery: checkpointInterval, walLimit: walTruncatePages}
}

// Open opens the SQLite database at path with the default fields. It is
// New(path) followed by Store.Open.
func Open(ctx context.Context, path string) (*Store, error) {
	s := New(path)
	if err := s.Open(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Open opens the database, creating the file and its directory if needed,
// and brings its schema up to date. EINVALID for a path that is not a plain
// file name (":memory:", a "file:" URI, one with a query).
func (s *Store) Open(ctx context.Context) error {
	const op = "sqlite.Open"
	path := s.Path
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?#") {
		return &gateway.Error{Op: op, Code: gateway.EINVALID,
			Message: fmt.Sprintf("the store needs a plain file path, not %q (an in-memory database cannot be shared by the read and write connections)", path)}
	}
	if s.wdb != nil {
		return &gateway.Error{Op: op, Code: gateway.EINVALID, Message: "store already open"}
	}
	syncMode := strings.ToLower(s.Synchronous)
	switch syncMode {
	case "":
		syncMode = SynchronousFull
	case SynchronousFull, SynchronousNormal:
	default:
		return &gateway.Error{Op: op, Code: gateway.EINVALID,
			Message: fmt.Sprintf("synchronous must be %q or %q, not %q", SynchronousFull, SynchronousNormal, s.Synchronous)}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return gateway.E(op, gateway.EUNAVAILABLE, err)
	}
	// The pragmas are set on every connection the pools open. Busy timeout
	// goes first (the driver orders it so): it guards the others.
	dsn := path + "?_pragma=busy_timeout(" + strconv.FormatInt(BusyTimeout.Milliseconds(), 10) + ")" +
		"&_pragma=foreign_keys(ON)&_pragma=synchronous(" + strings.ToUpper(syncMode) + ")"
	// The write connection leaves checkpoints to the store's checkpointer,
	// and keeps its temporary files in memory: each write of a group runs
	// in a savepoint (see lead), whose sub-journal copies every page the
	// write changes; on disk, past 64 KiB, each copy was a write to a file
	// made inside the one writer.
	wdb, err := sql.Open("sqlite", dsn+"&_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)&_pragma=temp_store(MEMORY)&_txlock=immediate")
	if err != nil {
		return gateway.E(op, gateway.EINTERNAL, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	rdb, err := sql.Open("sqlite", dsn+"&_query_only=1")
	if err != nil {
		wdb.Close()
		return gateway.E(op, gateway.EINTERNAL, err)
	}
	n := max(4, runtime.NumCPU())
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	cdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		rdb.Close()
		wdb.Close()
		return gateway.E(op, gateway.EINTERNAL, err)
	}
	cdb.SetMaxOpenConns(1)
	cdb.SetMaxIdleConns(1)
	s.wdb, s.rdb, s.cdb = wdb, rdb, cdb
	s.stmts, s.rstmts = stmtCache{db: wdb}, stmtCache{db: rdb}
	s.wmu.Lock()
	s.wclosed = false
	s.wmu.Unlock()
	if err := s.init(ctx); err != nil {
		s.closeDB()
		return gateway.E(op, gateway.ErrorCode(err), err)
	}
	s.startCheckpoints()
	return nil
}

// startCheckpoints starts the goroutine that checkpoints the WAL every
// checkpointEvery until stopCheckpoints is called.
func (s *Store) startCheckpoints() {
	every, limit := s.checkpointEvery, s.walLimit
	if every <= 0 {
		every = checkpointInterval
	}
	if limit <= 0 {
		limit = walTruncatePages
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stopCheckpoints, s.checkpointsDone = cancel, done
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := s.checkpoint(ctx, limit); err != nil && ctx.Err() == nil {
				s.Logger.WithError(err).Warn("sqlite: WAL checkpoint failed")
			}
		}
	}()
}

// checkpoint copies the WAL's pages into the database file without waiting
// for readers or writers. When the WAL holds limit pages or more and
// readers kept some from being copied, or four times limit, it checkpoints
// again, waiting for them, and truncates it.
func (s *Store) checkpoint(ctx context.Context, limit int) error {
	var busy, frames, copied int
	if err := s.cdb.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		return err
	}
	if frames < limit || copied == frames && frames < 4*limit {
		return nil
	}
	if err := s.cdb.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied); err != nil {
		return err
	}
	if busy != 0 {
		return fmt.Errorf("the WAL holds %d pages and could not be truncated: a reader or writer held it past the busy timeout", frames)
	}
	return nil
}

// The statements prepared at Open: those of the routing of a verification
// and of device agents. Any other query is parsed when it runs.
var (
	// writeStatements run in write transactions.
	writeStatements = []string{
		pickQuery, expireClaim, bumpFence, insertClaim, renewClaim, releaseClaim,
		verificationByID, attemptsOf, updateVerification, ownVerification, insertEventQuery, stateOf,
		idempotent, taken, insertVerification, attemptOwner, nextAttemptSeq, putAttempt,
		deviceByID, heartbeat, insertOrder, pendingOrders, deliverOrder, setOrderStatus,
		claimDeskLine, renewDeskLine, releaseDeskLine,
		sweepKeys, rememberKey, forgetKey, pendingQuery, insertLeaf, outboxClosed, insertOutbox,
	}
	// readStatements run on the read connections.
	readStatements = []string{
		verificationByID, attemptsOf, verificationEvents, allEvents, messageEvent, attemptByID, attemptByRef,
		deviceByID, orderByID, tokenByHash, pendingQuery,
	}
)

// init checks the journal mode, applies the migrations and prepares the
// statements of writeStatements and readStatements.
func (s *Store) init(ctx context.Context) error {
	var mode string
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		// WAL is refused on some file systems (network shares); the store
		// still works, with readers and the writer taking turns.
		s.Logger.WithField("journal_mode", mode).Warn("sqlite: WAL not available; readers will wait for writers")
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if err := s.stmts.prepare(ctx, writeStatements...); err != nil {
		return err
	}
	return s.rstmts.prepare(ctx, readStatements...)
}

//go:embed migrations/*.sql
var migrations embed.FS

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in order of version. A file
// is named NNNN_what.sql.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, name := range names {
		base := filepath.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: the name must start with a positive number and an underscore", base)
		}
		b, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", out[i-1].name, out[i].name, out[i].version)
		}
	}
	return out, nil
}

// migrate applies, in order, each migration not yet recorded in
// schema_migrations, each in its own transaction with its record. Opening the
// file again, or from two processes at once, applies nothing twice.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return err
	}
	for _, m := range ms {
		applied := false
		err := s.write(ctx, func(tx tx, now time.Time) error {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.Tx.ExecContext(ctx, m.sql); err != nil { // once: not prepared
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			applied = true
			if m.version == logMigration {
				if err := backfillLog(ctx, tx); err != nil {
					return fmt.Errorf("migration %s: %w", m.name, err)
				}
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, now.UnixNano())
			return err
		})
		if err != nil {
			return err
		}
		if applied {
			s.Logger.WithField("migration", m.name).Info("sqlite: migration applied")
		}
	}
	return nil
}

// Close closes the database, and the default bus with every subscription on
// it.
func (s *Store) Close() error {
	if s.defaultBus != nil && s.Bus == gateway.Bus(s.defaultBus) {
		s.defaultBus.Close()
	}
	return s.closeDB()
}

// closeDB stops the checkpoints and closes the connections, if open. The
// last connection to close checkpoints what the WAL still holds.
func (s *Store) closeDB() error {
	if s.wdb == nil {
		return nil
	}
	if s.stopCheckpoints != nil {
		s.stopCheckpoints()
		<-s.checkpointsDone
		s.stopCheckpoints = nil
	}
	s.wmu.Lock()
	s.wclosed = true
	s.wmu.Unlock()
	s.stmts.close()
	s.rstmts.close()
	err := errors.Join(s.cdb.Close(), s.rdb.Close(), s.wdb.Close())
	s.wdb, s.rdb, s.cdb = nil, nil, nil
	return err
}

// Ping reports whether the store can be written: it writes one row of the
// health table, a real commit, so that readiness fails while writes fail
// (a read-only or full disk, an I/O error, FailWrites). EUNAVAILABLE.
func (s *Store) Ping(ctx context.Context) error {
	err := s.write(ctx, func(tx tx, now time.Time) error {
		_, err := tx.ExecContext(ctx, pingQuery, now.UnixNano())
		return err
	})
	if err != nil {
		return unavailable("sqlite.Ping", fail("sqlite.Ping", err))
	}
	return nil
}

// pingQuery is Ping's write.
const pingQuery = "INSERT INTO health (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at"

// FailWrites makes every write fail, for tests and the demo's fault
// injection, as a read-only disk would: while err is not nil the write
// connection is switched to PRAGMA query_only, so that SQLite itself
// refuses each write (SQLITE_READONLY) and the refusal takes the path of a
// real one: EUNAVAILABLE, with err in the error's chain. Ping fails too;
// reads go on. FailWrites(nil) restores writes. A failure to switch is
// logged.
func (s *Store) FailWrites(err error) {
	if err != nil {
		s.fault.Store(&err)
	} else {
		s.fault.Store(nil)
	}
	on := "OFF"
	if err != nil {
		on = "ON"
	}
	// On the write connection, outside a transaction: with query_only on,
	// SQLite refuses BEGIN IMMEDIATE too. database/sql hands the one
	// connection over between the writer's commits.
	_, werr := s.wdb.ExecContext(context.Background(), "PRAGMA query_only = "+on)
	if werr != nil {
		s.Logger.WithError(werr).Error("sqlite: could not switch query_only for FailWrites")
	}
}

// Now returns the store's clock.
func (s *Store) Now(context.Context) (time.Time, error) { return s.now(), nil }

// now reads the clock as stored: UTC, to the nanosecond, without a
// monotonic reading.
func (s *Store) now() time.Time { return time.Unix(0, s.Clock().UnixNano()).UTC() }

// Publish sends a wake-up on the store's bus.
func (s *Store) Publish(ctx context.Context, topic, payload string) error {
	return s.Bus.Publish(ctx, topic, payload)
}

// Subscribe listens on the store's bus.
func (s *Store) Subscribe(topic string) (<-chan string, func()) {
	return s.Bus.Subscribe(topic)
}

// notify publishes a wake-up after a commit. The change is stored, so a lost
// wake-up is logged, not returned: a reader recovers it from the store.
func (s *Store) notify(ctx context.Context, topic, payload string) {
	if err := s.Bus.Publish(ctx, topic, payload); err != nil {
		s.Logger.WithError(err).WithField("topic", topic).Warn("sqlite: wake-up not published")
	}
}

// write runs fn on the writer, in a BEGIN IMMEDIATE transaction of its own
// or in a savepoint of a group's (see lead), and returns once it is
// committed. now is read when fn starts, under the write lock, so the
// store's clock never runs backwards across writes. fn's error is returned
// as is, and what fn wrote before it is undone.
func (s *Store) write(ctx context.Context, fn func(tx tx, now time.Time) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	s.wmu.Lock()
	if s.wclosed {
		s.wmu.Unlock()
		return &gateway.Error{Code: gateway.EUNAVAILABLE, Message: Unavailable, Err: errors.New("the store is closed")}
	}
	s.wqueue = append(s.wqueue, req)
	leading := !s.wleader
	s.wleader = true
	s.wmu.Unlock()
	if !leading {
		select {
		case err := <-req.done:
			return s.faulted(err)
		case <-req.lead: // handed the lead, still queued
		}
	}
	return s.faulted(s.lead(req))
}

// faulted adds the reason given to FailWrites, if any, to a write's error
// that says the store is unavailable.
func (s *Store) faulted(err error) error {
	if err == nil {
		return nil
	}
	if f := s.fault.Load(); f != nil && isUnavailable(err) {
		return fmt.Errorf("%w (writes fail: %w)", err, *f)
	}
	return err
}

// writeReq is a write waiting for the writer.
type writeReq struct {
	ctx  context.Context
	fn   func(tx tx, now time.Time) error
	done chan error    // buffered: the answer, sent once
	lead chan struct{} // buffered: this caller is now the writer
}

// maxGroup is the most writes committed together, and maxGroupTime how
// long a group runs before it commits what it has run: a write reads the
// store's clock when it runs (a lease's expiry, an event's time), so its
// reading is never more than this older than its commit.
const (
	maxGroup     = 64
	maxGroupTime = 5 * time.Millisecond
)

// lead makes the caller of req the writer (group commit): it takes the
// writes queued so far, its own among them, commits them together, and
// repeats until its own is answered; then it hands the lead to the first
// write still queued, if any. A write that finds no writer commits at
// once, with no hand-over; one that queues behind a commit goes in the next
// group. Each write of a group runs in a savepoint of one transaction, so
// each succeeds or fails on its own as if alone, while the commit's WAL
// frames and system calls, the bulk of a write's cost, are shared.
func (s *Store) lead(req *writeReq) error {
	for {
		s.wmu.Lock()
		n := min(len(s.wqueue), maxGroup)
		batch := slices.Clone(s.wqueue[:n])
		s.wqueue = append(s.wqueue[:0], s.wqueue[n:]...)
		s.wmu.Unlock()
		if rest := s.commit(batch); len(rest) > 0 {
			s.wmu.Lock()
			s.wqueue = append(rest, s.wqueue...)
			s.wmu.Unlock()
		}
		select {
		case err := <-req.done:
			s.wmu.Lock()
			if len(s.wqueue) > 0 {
				s.wqueue[0].lead <- struct{}{}
			} else {
				s.wleader = false
			}
			s.wmu.Unlock()
			return err
		default: // not in that group (more than maxGroup were queued)
		}
	}
}

// commit runs a group of writes in one transaction and answers each; it
// returns those it left for the next group (see maxGroupTime), unanswered.
func (s *Store) commit(batch []*writeReq) (rest []*writeReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err // gave up while queued: not run
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	failAll := func(err error) {
		for _, r := range live {
			r.done <- err
		}
	}
	// The transaction outlives any one caller's context: a caller giving
	// up mid-statement must not abort the others' writes (an interrupted
	// write rolls back the whole transaction in SQLite).
	ctx := context.Background()
	t, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		failAll(err)
		return
	}
	w := tx{Tx: t, stmts: &s.stmts, detached: true, nolog: s.NoLog, outbox: s.Outbox}
	if len(live) == 1 {
		if err := live[0].fn(w, s.now()); err != nil {
			t.Rollback()
			live[0].done <- err
			return
		}
		if err := t.Commit(); err != nil {
			live[0].done <- err
			return
		}
		live[0].done <- nil
		return
	}
	results := make([]error, len(live))
	start := time.Now()
	ran := live
	for i, r := range live {
		if i > 0 && time.Since(start) > maxGroupTime {
			// The rest wait for the next group, so that no write's clock
			// reading is far older than its commit.
			ran, rest = live[:i], slices.Clone(live[i:])
			break
		}
		if _, err := t.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			t.Rollback()
			failAll(err)
			return
		}
		if results[i] = r.fn(w, s.now()); results[i] != nil {
			if _, err := t.ExecContext(ctx, "ROLLBACK TO w"); err != nil {
				// SQLite rolled the whole transaction back (a full disk,
				// an I/O error): nothing of the group is written.
				t.Rollback()
				failAll(errors.Join(results[i], err))
				return
			}
		}
		if _, err := t.ExecContext(ctx, "RELEASE w"); err != nil {
			t.Rollback()
			failAll(err)
			return
		}
	}
	if err := t.Commit(); err != nil {
		for _, r := range ran {
			r.done <- err
		}
		return rest
	}
	s.grouped.Add(int64(len(ran)))
	for i, r := range ran {
		r.done <- results[i]
	}
	return rest
}

// read runs fn in a read transaction, a consistent snapshot.
func (s *Store) read(ctx context.Context, fn func(tx tx, now time.Time) error) error {
	t, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer t.Rollback()
	return fn(tx{Tx: t, stmts: &s.rstmts}, s.now())
}

// reads returns the read connections, for a query outside a transaction,
// with their prepared statements.
func (s *Store) reads() pool { return pool{s.rdb, &s.rstmts} }

// pool is a connection pool that runs the statements prepared on it
// prepared, and the others as they come.
type pool struct {
	db    *sql.DB
	stmts *stmtCache
}

// ExecContext runs query, prepared if it was.
func (p pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmts.get(query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

// QueryContext runs query, prepared if it was.
func (p pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmts.get(query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query, prepared if it was.
func (p pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmts.get(query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// tx is a transaction that runs the statements prepared at Open prepared,
// and the others as they come.
type tx struct {
	*sql.Tx
	stmts *stmtCache // nil: none prepared
	// detached: statements ignore their context's cancellation (a group
	// commit's transaction is not one caller's to abort).
	detached bool
	nolog    bool // the store's NoLog
	outbox   bool // the store's Outbox
}

// ctx is the context a statement runs under.
func (t tx) ctx(ctx context.Context) context.Context {
	if t.detached {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// ExecContext runs query, prepared if it was.
func (t tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = t.ctx(ctx)
	if st := t.stmts.get(query); st != nil {
		return t.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs query, prepared if it was.
func (t tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = t.ctx(ctx)
	if st := t.stmts.get(query); st != nil {
		return t.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query, prepared if it was.
func (t tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = t.ctx(ctx)
	if st := t.stmts.get(query); st != nil {
		return t.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

// stmtCache holds a database's prepared statements by query: those the
// store runs most, prepared at Open. Each is prepared on one connection
// then, and on each other connection of the pool the first time it runs
// there. A statement cannot be added later, inside a transaction: the
// write pool's one connection is then taken (as may be every read
// connection), and preparing would wait for one for ever.
type stmtCache struct {
	db     *sql.DB
	m      sync.Map // query -> *sql.Stmt
	missed sync.Map // query -> true: asked for and not prepared
}

// prepare prepares the queries.
func (c *stmtCache) prepare(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		c.m.Store(q, st)
	}
	return nil
}

// get returns query prepared, or nil when it was not.
func (c *stmtCache) get(query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	if st, ok := c.m.Load(query); ok {
		return st.(*sql.Stmt)
	}
	c.missed.Store(query, true)
	return nil
}

// close closes every statement.
func (c *stmtCache) close() {
	c.m.Range(func(q, st any) bool {
		st.(*sql.Stmt).Close()
		c.m.Delete(q)
		return true
	})
}

// fnError marks an error returned by a caller's function, to pass on as is.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// fail gives err the operation: a caller's error passes as is; SQLite
// failing to write or reach the file (see isUnavailable) is EUNAVAILABLE
// with the message Unavailable, also under a *gateway.Error of another
// code; another *gateway.Error passes as is, a deadline is ETIMEOUT,
// anything else EINTERNAL.
func fail(op string, err error) error {
	if err == nil {
		return nil
	}
	var fe fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	if isUnavailable(err) {
		return unavailable(op, err)
	}
	var ge *gateway.Error
	if errors.As(err, &ge) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return gateway.E(op, gateway.ETIMEOUT, err)
	}
	return gateway.E(op, gateway.EINTERNAL, err)
}

// unavailable returns err as EUNAVAILABLE for op with the message
// Unavailable, or as it is when its code is that already.
func unavailable(op string, err error) error {
	if gateway.ErrorCode(err) == gateway.EUNAVAILABLE {
		return err
	}
	return &gateway.Error{Op: op, Code: gateway.EUNAVAILABLE, Message: Unavailable, Err: err}
}

// isUnavailable reports whether err says the store cannot write or be
// reached now, a state that passes (a disk made read-only or full, an I/O
// error, a file that cannot be opened, a lock held past the busy timeout,
// the store closed), rather than a fault in the request or in the code.
func isUnavailable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary code; extended codes add bits above
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOLFS:
			return true
		}
	}
	if errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var ge *gateway.Error
	return errors.As(err, &ge) && ge.Message == Unavailable
}

// isUnique reports whether err is a violation of a primary key or unique
// constraint.
func isUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// ns stores t as Unix nanoseconds; the zero time is NULL.
func ns(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// nsPtr stores *t as Unix nanoseconds; nil is NULL.
func nsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ns(*t)
}

// timeOf reads a time stored by ns.
func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// timePtr reads a time stored by nsPtr.
func timePtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := timeOf(n)
	return &t
}

// jsonText encodes v for a JSON column.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// Interface guards
var _ gateway.Store = (*Store)(nil)
