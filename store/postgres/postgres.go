// Package postgres is the gateway's PostgreSQL store, for running several
// gateway instances on one database. It implements gateway.Store with pgx:
// device claims take rows with FOR UPDATE SKIP LOCKED, every time that
// decides something (lease expiry, heartbeats, ownership) is the database's
// clock, and the bus reaches the other instances through LISTEN/NOTIFY.
//
// # Schemas
//
// The store's tables live in the connection's current schema. To keep one
// store's tables in a schema of its own, either put search_path in the
// connection URL (postgres://host/db?search_path=gw1; the schema must exist)
// or set Store.Schema before Store.Open, which creates the schema when it is
// missing and sets search_path on every connection.
//
// # Migrations
//
// The SQL files in migrations/ are embedded and applied in name order by Open,
// in one transaction that holds pg_advisory_xact_lock(MigrationLock), so that
// instances starting together apply each migration once. Applied versions are
// recorded in schema_migrations.
//
// # Bus
//
// Publish delivers to this instance's subscribers at once and sends
// pg_notify on the channel "gateway_bus" (for the schema public) or
// "gateway_bus_<schema>", with the payload origin, topic and payload joined by
// the unit separator 0x1F. One dedicated connection per store LISTENs and
// hands the other instances' messages to local subscribers; it reconnects with
// backoff when dropped. Messages sent while it is down are lost, which the
// contract allows: a message only says "look in the store".
package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/store/membus"
	"github.com/sirupsen/logrus"
)

// MigrationLock is the key of the advisory lock that serialises migrations
// between instances starting together.
const MigrationLock int64 = 0x5afec0_0001

// Unavailable is the message of a store error that means "try again": the
// database could not be reached, or refused to write for now.
const Unavailable = "the store is unavailable; try again shortly"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the PostgreSQL gateway.Store. Build it with New, set its fields,
// then Open it; or use the package's Open, which does both with the defaults.
// The fields are read by Open and must not change after it.
type Store struct {
	// URL is the connection string, a URL or key=value pairs as pgx parses
	// them. Runtime parameters such as search_path may be given as query
	// parameters.
	URL string
	// Schema, when set, is the schema the store keeps its tables in: Open
	// creates it when missing and sets search_path on every connection.
	// When empty, Open sets it to the connection's current schema.
	Schema string
	// Logger receives the store's own log lines: the bus listener losing
	// and regaining its connection, and publishes that failed after a
	// commit. New sets a logger that discards them.
	Logger logrus.FieldLogger
	// Instance names this gateway instance in the store's log lines.
	Instance string
	// MaxConns is the pool size; zero keeps pgx's default or the URL's
	// pool_max_conns.
	MaxConns int32
	// Channels, when set, are the channels a device's handles may name
	// (the gateway's registry); when nil, any well-formed channel name.
	Channels *gateway.Registry
	// NoLog writes events without their leaves: the tamper-evident log
	// is off. For benchmarks that weigh its cost only; a deployment never
	// sets it.
	NoLog bool
	// Outbox writes, with each event that closes a verification, the
	// entries the force's incident system is to be told
	// (gateway.OutboxMessages). Set when the gateway delivers to one.
	Outbox bool

	log      logrus.FieldLogger // Logger with the instance, as at Open
	eventKey int32              // the event locks' first key: the schema's hash
	pool     *pgxpool.Pool
	bus      *membus.Bus
	channel  string // the NOTIFY channel
	origin   string // tags this store's notifications, which its listener skips

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	listenMu  sync.Mutex
	listenPID uint32 // backend PID of the listening connection, 0 while down

	fault atomic.Pointer[error] // set by FailWrites: the reason writes fail
}

// New returns a Store for the connection string with the default fields. It
// does not connect: call Open.
func New(url string) *Store {
	l := logrus.New()
	l.Out = io.Discard
	return &Store{URL: url, Logger: l}
}

// Open connects to the database at url, applies the migrations and starts
// the bus listener. It is New(url) followed by Store.Open.
func Open(ctx context.Context, url string) (*Store, error) {
	s := New(url)
	if err := s.Open(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Open connects, applies the migrations and starts listening for the other
// instances' bus messages. EINVALID for a bad URL or a store already open,
// EUNAVAILABLE when the database cannot be reached.
func (s *Store) Open(ctx context.Context) error {
	const op = "postgres.Open"
	if s.pool != nil {
		return &gateway.Error{Op: op, Code: gateway.EINVALID, Message: "store already open"}
	}
	if s.Logger == nil {
		l := logrus.New()
		l.Out = io.Discard
		s.Logger = l
	}
	s.log = s.Logger.WithField("instance", s.Instance)
	cfg, err := pgxpool.ParseConfig(s.URL)
	if err != nil {
		return &gateway.Error{Op: op, Code: gateway.EINVALID, Message: "bad database URL", Err: err}
	}
	if s.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{s.Schema}.Sanitize()
	}
	if s.MaxConns > 0 {
		cfg.MaxConns = s.MaxConns
	}
	cfg.PrepareConn = s.prepareConn
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return s.fail(op, err)
	}
	if err := s.migrate(ctx, pool); err != nil {
		pool.Close()
		return err
	}
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&s.Schema); err != nil {
		pool.Close()
		return s.fail(op, err)
	}
	h := fnv.New32a()
	h.Write([]byte(s.Schema))
	s.eventKey = int32(h.Sum32())
	s.pool = pool
	s.bus = membus.New()
	s.channel = busChannel(s.Schema)
	s.origin = randomHex(8)

	// The first LISTEN happens here, so that a message published by
	// another instance after Open returns reaches this one's subscribers.
	conn, err := s.connectListener(ctx)
	if err != nil {
		pool.Close()
		s.pool = nil
		return s.fail(op, err)
	}
	lctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.done = make(chan struct{})
	go s.listen(lctx, conn)
	return nil
}

// Close stops the bus listener, ends every subscription and closes the
// connection pool. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			s.stop()
			<-s.done
		}
		if s.bus != nil {
			s.bus.Close()
		}
		if s.pool != nil {
			s.pool.Close()
		}
	})
	return nil
}

// Now returns the database's clock, by which leases, heartbeats and
// ownership are judged.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	var t time.Time
	if err := s.pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&t); err != nil {
		return time.Time{}, s.fail("postgres.Now", err)
	}
	return t.UTC(), nil
}

// Ping reports whether the database can be written: it writes the one row
// of the health table, a real commit, so that readiness fails while writes
// fail (a read-only standby after a failover, a full disk, FailWrites).
// EUNAVAILABLE.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO health (id, at) VALUES (1, clock_timestamp())
		ON CONFLICT (id) DO UPDATE SET at = excluded.at`)
	if err != nil {
		return asUnavailable("postgres.Ping", s.fail("postgres.Ping", err))
	}
	return nil
}

// FailWrites makes every write fail, for tests and fault injection, as a
// read-only standby would: while err is not nil each connection the pool
// hands out is switched to default_transaction_read_only, so that
// PostgreSQL itself refuses each write (25006) and the refusal takes the
// path of a real one: EUNAVAILABLE, with err in the error's chain. Ping
// fails too; reads go on. FailWrites(nil) restores writes. A connection
// in use when it is called is switched when it is next handed out.
func (s *Store) FailWrites(err error) {
	if err != nil {
		s.fault.Store(&err)
	} else {
		s.fault.Store(nil)
	}
}

// readOnlyKey is the key, in a connection's custom data, of whether the
// connection was switched to read-only by FailWrites.
const readOnlyKey = "gateway.read_only"

// prepareConn switches a connection the pool hands out to read-only or
// back, when it is not as FailWrites asks.
func (s *Store) prepareConn(ctx context.Context, conn *pgx.Conn) (bool, error) {
	want := s.fault.Load() != nil
	data := conn.PgConn().CustomData()
	if have, _ := data[readOnlyKey].(bool); have == want {
		return true, nil
	}
	set := "off"
	if want {
		set = "on"
	}
	if _, err := conn.Exec(ctx, "SET default_transaction_read_only = "+set); err != nil {
		return false, err // the connection is closed; the query fails
	}
	data[readOnlyKey] = want
	return true, nil
}

// migration is one embedded SQL file.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order. A file is
// named NNNN_what.sql.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must start with a positive number and an underscore", name)
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", name))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %q and %q share a version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrate applies the migrations not yet recorded in schema_migrations, all
// in one transaction under the migration lock.
func (s *Store) migrate(ctx context.Context, pool *pgxpool.Pool) error {
	const op = "postgres.migrate"
	ms, err := migrations()
	if err != nil {
		return gateway.E(op, gateway.EINTERNAL, err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, MigrationLock); err != nil {
			return err
		}
		if s.Schema != "" {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.Schema}.Sanitize()); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		done := make(map[int]bool, len(applied))
		for _, v := range applied {
			done[int(v)] = true
		}
		for _, m := range ms {
			if done[m.version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if m.version == logMigration {
				if err := backfillLog(ctx, tx); err != nil {
					return fmt.Errorf("migration %s: %w", m.name, err)
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return err
			}
			s.log.WithField("migration", m.name).Info("applied migration")
		}
		return nil
	})
	return s.fail(op, err)
}

// tx runs fn in a transaction, retrying it a few times when the database
// aborts it for a deadlock or a serialization failure. fn may run more than
// once and must not have effects outside the transaction.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for try := 0; try < 4; try++ {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "40001" && pe.Code != "40P01") {
			return err
		}
	}
	return err
}

// fnError marks an error returned by a caller's function, to pass on as is.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// fail turns a database error into a *gateway.Error for op. A caller's
// function's error and errors that are already *gateway.Error pass as they
// are.
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	var fe fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	var ge *gateway.Error
	if errors.As(err, &ge) {
		return err
	}
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return &gateway.Error{Op: op, Code: gateway.ENOTFOUND, Message: "not found", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &gateway.Error{Op: op, Code: gateway.ETIMEOUT, Message: "database timed out", Err: err}
	case errors.As(err, &ce), pgconn.Timeout(err), connectionLost(err),
		errors.As(err, &pe) && unavailableCode(pe.Code):
		return s.unavailable(op, err)
	case errors.As(err, &pe) && pe.Code == "23505":
		return &gateway.Error{Op: op, Code: gateway.ECONFLICT, Message: "already exists", Err: err}
	}
	return &gateway.Error{Op: op, Code: gateway.EINTERNAL, Message: "database error", Err: err}
}

// unavailableCode reports whether a PostgreSQL error code (SQLSTATE) says
// the database cannot serve the request now, a state that passes, rather
// than a fault in the request or the code: a connection exception (08), a
// read-only transaction (25006: a standby, or a primary demoted in a
// failover), a serialization failure left after the retries (40001,
// frequent around a failover), insufficient resources (53: disk full,
// out of memory, too many connections), an operator intervention (57P:
// shutting down, crashed, cannot connect now), a system or I/O error (58).
func unavailableCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "57P"), strings.HasPrefix(code, "58"):
		return true
	}
	return code == "25006" || code == "40001"
}

// unavailable returns err as EUNAVAILABLE for op with the message
// Unavailable and, while FailWrites is on, its reason in the chain.
func (s *Store) unavailable(op string, err error) error {
	if f := s.fault.Load(); f != nil {
		err = fmt.Errorf("%w (writes fail: %w)", err, *f)
	}
	return &gateway.Error{Op: op, Code: gateway.EUNAVAILABLE, Message: Unavailable, Err: err}
}

// asUnavailable returns err as EUNAVAILABLE for op, as it is when its code
// is that already.
func asUnavailable(op string, err error) error {
	if gateway.ErrorCode(err) == gateway.EUNAVAILABLE {
		return err
	}
	return &gateway.Error{Op: op, Code: gateway.EUNAVAILABLE, Message: Unavailable, Err: err}
}

// connectionLost reports whether err is the connection to the database
// breaking under a query (reset, closed, or the server gone mid-reply).
func connectionLost(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

// uniqueViolation reports whether err is a unique violation of constraint.
func uniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}

// notFound returns an ENOTFOUND error naming what was not found.
func notFound(op, what, id string) error {
	return &gateway.Error{Op: op, Code: gateway.ENOTFOUND, Message: fmt.Sprintf("%s %q not found", what, id)}
}

// invalid returns an EINVALID error with a message.
func invalid(op, format string, args ...any) error {
	return &gateway.Error{Op: op, Code: gateway.EINVALID, Message: fmt.Sprintf(format, args...)}
}

// conflict returns an ECONFLICT error with a message.
func conflict(op, format string, args ...any) error {
	return &gateway.Error{Op: op, Code: gateway.ECONFLICT, Message: fmt.Sprintf(format, args...)}
}

// micros is d in whole microseconds, PostgreSQL's resolution, for
// "$n::bigint * interval '1 microsecond'".
func micros(d time.Duration) int64 { return d.Microseconds() }

// timePtr returns t in UTC, or nil for the zero time (stored as NULL).
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// timeOf returns *p in UTC, or the zero time for nil.
func timeOf(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.UTC()
}

// utcPtr returns a copy of p in UTC, or nil.
func utcPtr(p *time.Time) *time.Time {
	if p == nil {
		return nil
	}
	u := p.UTC()
	return &u
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Interface guards
var _ gateway.Store = (*Store)(nil)
