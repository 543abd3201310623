package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safeconnection/gateway"
)

// The log (gateway.LogStore). Leaves are written in their records'
// transactions without a place, so writers never wait for each other; the
// sequencer gives them places under the log's advisory lock, one instance
// at a time, in one order for the whole deployment.

// logMigration is the migration that makes the log's tables; the records
// written before it get their leaves in its transaction (backfillLog).
const logMigration = 12

const insertLeaf = "INSERT INTO log_leaves (kind, ref, data, nonce, hash) VALUES ($1, $2, $3, $4, $5)"

func writeLeaf(ctx context.Context, tx pgx.Tx, leaf gateway.LogLeaf) error {
	_, err := tx.Exec(ctx, insertLeaf, string(leaf.Kind), leaf.Ref, leaf.Data, leaf.Nonce, leaf.Hash[:])
	return err
}

// logEvent writes the leaf of ev, as stored, in tx.
func logEvent(ctx context.Context, tx pgx.Tx, ev gateway.Event) error {
	leaf, err := gateway.EventLeaf(ev, gateway.NewNonce())
	if err != nil {
		return err
	}
	return writeLeaf(ctx, tx, leaf)
}

// logOps writes the leaf of an ops entry, as stored, in tx.
func logOps(ctx context.Context, tx pgx.Tx, ev gateway.OpsEvent) error {
	leaf, err := gateway.OpsLeaf(ev, gateway.NewNonce())
	if err != nil {
		return err
	}
	return writeLeaf(ctx, tx, leaf)
}

// backfillLog gives every record written before the log began a leaf:
// events by Seq, then ops entries by ID.
func backfillLog(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, "SELECT "+eventCols+" FROM events ORDER BY seq")
	if err != nil {
		return err
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.Event, error) { return scanEvent(r) })
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if err := logEvent(ctx, tx, ev); err != nil {
			return err
		}
	}
	ops, err := opsEvents(ctx, tx, "", "", nil, nil, nil)
	if err != nil {
		return err
	}
	for _, ev := range ops {
		if err := logOps(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

// logLock is the key of the sequencer's advisory lock: the schema's hash
// in the high half, so stores in other schemas do not wait for it.
func (s *Store) logLock() int64 { return int64(s.eventKey)<<32 | 0x6c6f67 }

// SequenceLog gives the next places in the log to at most max waiting
// leaves, oldest first, and stores the tree's new hashes, under the log's
// lock.
func (s *Store) SequenceLog(ctx context.Context, max int, tree func(int64, []gateway.LogHash, func([]int64) ([]gateway.LogHash, error)) ([]gateway.LogHash, error)) (int64, error) {
	const op = "postgres.SequenceLog"
	var size int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", s.logLock()); err != nil {
			return err
		}
		var first int64
		if err := tx.QueryRow(ctx, `SELECT (SELECT COALESCE(MAX(idx) + 1, 0) FROM log_leaves WHERE idx IS NOT NULL),
			(SELECT COALESCE(MAX(n) + 1, 0) FROM log_hashes)`).Scan(&size, &first); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT id, hash FROM log_leaves WHERE idx IS NULL ORDER BY id LIMIT $1", max)
		if err != nil {
			return err
		}
		var (
			ids    []int64
			hashes []gateway.LogHash
		)
		for rows.Next() {
			var (
				id int64
				h  []byte
			)
			if err := rows.Scan(&id, &h); err != nil {
				rows.Close()
				return err
			}
			ids, hashes = append(ids, id), append(hashes, toHash(h))
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		stored, err := tree(size, hashes, func(idx []int64) ([]gateway.LogHash, error) { return readHashes(ctx, tx, idx) })
		if err != nil {
			return fnError{err}
		}
		places := make([]int64, len(ids))
		for i := range ids {
			places[i] = size + int64(i)
		}
		if _, err := tx.Exec(ctx, `UPDATE log_leaves l SET idx = p.idx FROM unnest($1::bigint[], $2::bigint[]) AS p(id, idx)
			WHERE l.id = p.id`, ids, places); err != nil {
			return err
		}
		ns := make([]int64, len(stored))
		hs := make([][]byte, len(stored))
		for i, h := range stored {
			ns[i], hs[i] = first+int64(i), h[:]
		}
		if _, err := tx.Exec(ctx, `INSERT INTO log_hashes (n, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, ns, hs); err != nil {
			return err
		}
		size += int64(len(ids))
		return nil
	})
	return size, s.fail(op, err)
}

func toHash(b []byte) gateway.LogHash {
	var h gateway.LogHash
	copy(h[:], b)
	return h
}

type queryer interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

// readHashes reads stored hashes by index. ENOTFOUND for one not stored.
func readHashes(ctx context.Context, q queryer, idx []int64) ([]gateway.LogHash, error) {
	rows, err := q.Query(ctx, "SELECT n, hash FROM log_hashes WHERE n = ANY($1)", idx)
	if err != nil {
		return nil, err
	}
	got := make(map[int64]gateway.LogHash, len(idx))
	for rows.Next() {
		var (
			n int64
			h []byte
		)
		if err := rows.Scan(&n, &h); err != nil {
			rows.Close()
			return nil, err
		}
		got[n] = toHash(h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]gateway.LogHash, len(idx))
	for i, n := range idx {
		h, ok := got[n]
		if !ok {
			return nil, gateway.Errorf(gateway.ENOTFOUND, "no stored hash %d", n)
		}
		out[i] = h
	}
	return out, nil
}

// LogSize is the number of sequenced leaves.
func (s *Store) LogSize(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT COALESCE(MAX(idx) + 1, 0) FROM log_leaves WHERE idx IS NOT NULL").Scan(&n)
	return n, s.fail("postgres.LogSize", err)
}

// LogHashes reads stored hashes by their stored index.
func (s *Store) LogHashes(ctx context.Context, indexes []int64) ([]gateway.LogHash, error) {
	hs, err := readHashes(ctx, s.pool, indexes)
	return hs, s.fail("postgres.LogHashes", err)
}

const (
	leafCols  = "l.idx, l.kind, l.ref, l.data, l.nonce, l.hash"
	entryFrom = ` FROM log_leaves l
		LEFT JOIN events e ON l.kind = 'event' AND e.seq = l.ref
		LEFT JOIN ops_events o ON l.kind = 'ops' AND o.id = l.ref`
	entryCols = leafCols + `, e.seq, e.verification_id, e.type, e.state, e.attempt_id, e.message, e.data, e.report, e.at, e.instance,
		o.id, o.at, o.actor_id, o.actor_name, o.action, o.room_id, o.device_id,
		coalesce(o.before, 'null'::jsonb), coalesce(o.after, 'null'::jsonb), o.reason`
)

// scanEntry reads a row of entryCols.
func scanEntry(row pgx.Row) (gateway.LogEntry, error) {
	var (
		e                             gateway.LogEntry
		idx, eseq, oid                *int64
		hash, edata, ereport          []byte
		ever, etype, estate, eatt     *string
		emsg, einst                   *string
		eat, oat                      *time.Time
		oactor, oname, oaction, oroom *string
		odev, oreason                 *string
		obefore, oafter               []byte
	)
	if err := row.Scan(&idx, &e.Leaf.Kind, &e.Leaf.Ref, &e.Leaf.Data, &e.Leaf.Nonce, &hash,
		&eseq, &ever, &etype, &estate, &eatt, &emsg, &edata, &ereport, &eat, &einst,
		&oid, &oat, &oactor, &oname, &oaction, &oroom, &odev, &obefore, &oafter, &oreason); err != nil {
		return e, err
	}
	e.Leaf.Index = -1
	if idx != nil {
		e.Leaf.Index = *idx
	}
	e.Leaf.Hash = toHash(hash)
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	if eseq != nil {
		ev := gateway.Event{Seq: *eseq, VerificationID: str(ever), Type: gateway.EventType(str(etype)),
			State: gateway.State(str(estate)), AttemptID: str(eatt), Message: str(emsg), At: eat.UTC(), Instance: str(einst)}
		if edata != nil {
			if err := json.Unmarshal(edata, &ev.Data); err != nil {
				return e, fmt.Errorf("event %d: data: %w", ev.Seq, err)
			}
		}
		if ereport != nil {
			ev.Report = new(gateway.Report)
			if err := json.Unmarshal(ereport, ev.Report); err != nil {
				return e, fmt.Errorf("event %d: report: %w", ev.Seq, err)
			}
			ev.Report.At = ev.At
		}
		e.Event = &ev
	}
	if oid != nil {
		e.Ops = &gateway.OpsEvent{ID: *oid, At: oat.UTC(), Actor: gateway.Actor{ID: str(oactor), Name: str(oname)},
			Action: str(oaction), RoomID: str(oroom), DeviceID: str(odev), Before: obefore, After: oafter, Reason: str(oreason)}
	}
	return e, nil
}

// LogEntries calls fn with every leaf and its record: sequenced leaves by
// index, then waiting ones by their order of writing.
func (s *Store) LogEntries(ctx context.Context, fn func(gateway.LogEntry) error) error {
	const op = "postgres.LogEntries"
	for _, where := range []string{" WHERE l.idx IS NOT NULL ORDER BY l.idx", " WHERE l.idx IS NULL ORDER BY l.id"} {
		if err := s.entries(ctx, "SELECT "+entryCols+entryFrom+where, fn); err != nil {
			return s.fail(op, err)
		}
	}
	return nil
}

func (s *Store) entries(ctx context.Context, query string, fn func(gateway.LogEntry) error) error {
	rows, err := s.pool.Query(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return fnError{err}
		}
	}
	return rows.Err()
}

// Unlogged lists the events and ops entries that have no leaf.
func (s *Store) Unlogged(ctx context.Context) ([]gateway.LogRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT 'event', seq FROM events e
			WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.kind = 'event' AND l.ref = e.seq)
		UNION ALL SELECT 'ops', id FROM ops_events o
			WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.kind = 'ops' AND l.ref = o.id)
		ORDER BY 1, 2`)
	if err != nil {
		return nil, s.fail("postgres.Unlogged", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.LogRef, error) {
		var ref gateway.LogRef
		err := r.Scan(&ref.Kind, &ref.Ref)
		return ref, err
	})
	return out, s.fail("postgres.Unlogged", err)
}

// VerificationLeaves lists the leaves of a verification's events by Seq.
func (s *Store) VerificationLeaves(ctx context.Context, id string) ([]gateway.LogLeaf, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+leafCols+` FROM log_leaves l JOIN events e ON l.kind = 'event' AND e.seq = l.ref
		WHERE e.verification_id = $1 ORDER BY e.seq`, id)
	if err != nil {
		return nil, s.fail("postgres.VerificationLeaves", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.LogLeaf, error) {
		var (
			l    gateway.LogLeaf
			idx  *int64
			hash []byte
		)
		err := r.Scan(&idx, &l.Kind, &l.Ref, &l.Data, &l.Nonce, &hash)
		l.Index, l.Hash = -1, toHash(hash)
		if idx != nil {
			l.Index = *idx
		}
		return l, err
	})
	return out, s.fail("postgres.VerificationLeaves", err)
}

// PutCheckpoint stores a checkpoint, unless one of its size is stored.
func (s *Store) PutCheckpoint(ctx context.Context, c gateway.Checkpoint) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO log_checkpoints (size, note) VALUES ($1, $2) ON CONFLICT (size) DO NOTHING", c.Size, c.Note)
	return s.fail("postgres.PutCheckpoint", err)
}

// Checkpoints lists the stored checkpoints by size.
func (s *Store) Checkpoints(ctx context.Context) ([]gateway.Checkpoint, error) {
	cs, err := s.checkpoints(ctx, "")
	return cs, s.fail("postgres.Checkpoints", err)
}

// LatestCheckpoint returns the checkpoint of the largest size. ENOTFOUND.
func (s *Store) LatestCheckpoint(ctx context.Context) (gateway.Checkpoint, error) {
	cs, err := s.checkpoints(ctx, " DESC LIMIT 1")
	if err != nil {
		return gateway.Checkpoint{}, s.fail("postgres.LatestCheckpoint", err)
	}
	if len(cs) == 0 {
		return gateway.Checkpoint{}, gateway.Errorf(gateway.ENOTFOUND, "the log has no checkpoint yet")
	}
	return cs[0], nil
}

func (s *Store) checkpoints(ctx context.Context, order string) ([]gateway.Checkpoint, error) {
	rows, err := s.pool.Query(ctx, "SELECT size, note, at FROM log_checkpoints ORDER BY size"+order)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.Checkpoint, error) {
		var c gateway.Checkpoint
		err := r.Scan(&c.Size, &c.Note, &c.At)
		c.At = c.At.UTC()
		return c, err
	})
}
