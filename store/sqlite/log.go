package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/safeconnection/gateway"
)

// The log (gateway.LogStore). SQLite has one writer, so the sequencer's
// transaction is alone by nature: no lock to take.

// logMigration is the migration that makes the log's tables; the records
// written before it get their leaves in its transaction (backfillLog).
const logMigration = 13

// writeLeaf writes leaf, not yet sequenced, unless the store keeps no log.
func writeLeaf(ctx context.Context, q querier, leaf gateway.LogLeaf) error {
	_, err := q.ExecContext(ctx, insertLeaf, leafID(leaf.Kind, leaf.Ref), string(leaf.Kind), leaf.Ref, leaf.Data, leaf.Nonce, leaf.Hash[:])
	return err
}

const insertLeaf = "INSERT INTO log_leaves (id, kind, ref, data, nonce, hash) VALUES (?, ?, ?, ?, ?, ?)"

// leafID is the id of a record's leaf: an event's Seq times two, an ops
// entry's ID times two plus one.
func leafID(kind gateway.LogKind, ref int64) int64 {
	if kind == gateway.LogOps {
		return ref*2 + 1
	}
	return ref * 2
}

// logEvent writes the leaf of ev, as stored, in tx.
func logEvent(ctx context.Context, t tx, ev gateway.Event) error {
	if t.nolog {
		return nil
	}
	leaf, err := gateway.EventLeaf(ev, gateway.NewNonce())
	if err != nil {
		return err
	}
	return writeLeaf(ctx, t, leaf)
}

// logOps writes the leaf of an ops entry, as stored.
func logOps(ctx context.Context, q querier, ev gateway.OpsEvent) error {
	if t, ok := q.(tx); ok && t.nolog {
		return nil
	}
	leaf, err := gateway.OpsLeaf(ev, gateway.NewNonce())
	if err != nil {
		return err
	}
	return writeLeaf(ctx, q, leaf)
}

// backfillLog gives every record written before the log began a leaf:
// events by Seq, then ops entries by ID.
func backfillLog(ctx context.Context, t tx) error {
	rows, err := t.Tx.QueryContext(ctx, "SELECT "+eventCols+" FROM events ORDER BY seq")
	if err != nil {
		return err
	}
	var leaves []gateway.LogLeaf
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			rows.Close()
			return err
		}
		leaf, err := gateway.EventLeaf(ev, gateway.NewNonce())
		if err != nil {
			rows.Close()
			return err
		}
		leaves = append(leaves, leaf)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	ops, err := opsEvents(ctx, t.Tx, gateway.OpsEventFilter{})
	if err != nil {
		return err
	}
	for _, ev := range ops {
		leaf, err := gateway.OpsLeaf(ev, gateway.NewNonce())
		if err != nil {
			return err
		}
		leaves = append(leaves, leaf)
	}
	for _, l := range leaves {
		if _, err := t.Tx.ExecContext(ctx, insertLeaf, leafID(l.Kind, l.Ref), string(l.Kind), l.Ref, l.Data, l.Nonce, l.Hash[:]); err != nil {
			return err
		}
	}
	return nil
}

// SequenceLog gives the next places in the log to at most max waiting
// leaves, oldest first, and stores the tree's new hashes.
func (s *Store) SequenceLog(ctx context.Context, max int, tree func(int64, []gateway.LogHash, func([]int64) ([]gateway.LogHash, error)) ([]gateway.LogHash, error)) (int64, error) {
	const op = "sqlite.SequenceLog"
	var size int64
	err := s.write(ctx, func(t tx, now time.Time) error {
		if err := t.QueryRowContext(ctx, "SELECT COALESCE(MAX(idx) + 1, 0) FROM log_leaves WHERE idx IS NOT NULL").Scan(&size); err != nil {
			return err
		}
		rows, err := t.QueryContext(ctx, "SELECT id, hash FROM log_leaves WHERE idx IS NULL ORDER BY id LIMIT ?", max)
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
		stored, err := tree(size, hashes, func(idx []int64) ([]gateway.LogHash, error) { return readHashes(ctx, t, idx) })
		if err != nil {
			return err
		}
		for i, id := range ids {
			if _, err := t.ExecContext(ctx, "UPDATE log_leaves SET idx = ? WHERE id = ?", size+int64(i), id); err != nil {
				return err
			}
		}
		var first int64
		if err := t.QueryRowContext(ctx, "SELECT COALESCE(MAX(n) + 1, 0) FROM log_hashes").Scan(&first); err != nil {
			return err
		}
		for i, h := range stored {
			if _, err := t.ExecContext(ctx, "INSERT INTO log_hashes (n, hash) VALUES (?, ?)", first+int64(i), h[:]); err != nil {
				return err
			}
		}
		size += int64(len(ids))
		return nil
	})
	return size, fail(op, err)
}

func toHash(b []byte) gateway.LogHash {
	var h gateway.LogHash
	copy(h[:], b)
	return h
}

// readHashes reads stored hashes by index. ENOTFOUND for one not stored.
func readHashes(ctx context.Context, q querier, idx []int64) ([]gateway.LogHash, error) {
	out := make([]gateway.LogHash, len(idx))
	for i, n := range idx {
		var h []byte
		err := q.QueryRowContext(ctx, "SELECT hash FROM log_hashes WHERE n = ?", n).Scan(&h)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, gateway.Errorf(gateway.ENOTFOUND, "no stored hash %d", n)
		}
		if err != nil {
			return nil, err
		}
		out[i] = toHash(h)
	}
	return out, nil
}

// LogSize is the number of sequenced leaves.
func (s *Store) LogSize(ctx context.Context) (int64, error) {
	var n int64
	err := s.rdb.QueryRowContext(ctx, "SELECT COALESCE(MAX(idx) + 1, 0) FROM log_leaves WHERE idx IS NOT NULL").Scan(&n)
	return n, fail("sqlite.LogSize", err)
}

// LogHashes reads stored hashes by their stored index.
func (s *Store) LogHashes(ctx context.Context, indexes []int64) ([]gateway.LogHash, error) {
	hs, err := readHashes(ctx, s.rdb, indexes)
	return hs, fail("sqlite.LogHashes", err)
}

// leafCols are a leaf's columns, and entryCols a leaf's with its event's
// and its ops entry's (null when there is none).
const (
	leafCols  = "l.idx, l.kind, l.ref, l.data, l.nonce, l.hash"
	entryFrom = ` FROM log_leaves l
		LEFT JOIN events e ON l.kind = 'event' AND e.seq = l.ref
		LEFT JOIN ops_events o ON l.kind = 'ops' AND o.id = l.ref`
	entryCols = leafCols + `, e.seq, e.verification_id, e.type, e.state, e.attempt_id, e.message, e.data, e.report, e.at, e.instance,
		o.id, o.at, o.actor_id, o.actor_name, o.action, o.room_id, o.device_id, o.before, o.after, o.reason`
)

// scanEntry reads a row of entryCols.
func scanEntry(rows *sql.Rows) (gateway.LogEntry, error) {
	var (
		idx                                 sql.NullInt64
		hash                                []byte
		e                                   gateway.LogEntry
		eseq, eat, oid, oat                 sql.NullInt64
		ever, etype, estate, eatt, emsg     sql.NullString
		edata, ereport, einst               sql.NullString
		oactor, oname, oaction, oroom, odev sql.NullString
		obefore, oafter, oreason            sql.NullString
	)
	if err := rows.Scan(&idx, &e.Leaf.Kind, &e.Leaf.Ref, &e.Leaf.Data, &e.Leaf.Nonce, &hash,
		&eseq, &ever, &etype, &estate, &eatt, &emsg, &edata, &ereport, &eat, &einst,
		&oid, &oat, &oactor, &oname, &oaction, &oroom, &odev, &obefore, &oafter, &oreason); err != nil {
		return e, err
	}
	e.Leaf.Index = -1
	if idx.Valid {
		e.Leaf.Index = idx.Int64
	}
	e.Leaf.Hash = toHash(hash)
	if eseq.Valid {
		ev := gateway.Event{Seq: eseq.Int64, VerificationID: ever.String, Type: gateway.EventType(etype.String),
			State: gateway.State(estate.String), AttemptID: eatt.String, Message: emsg.String,
			At: time.Unix(0, eat.Int64).UTC(), Instance: einst.String}
		if edata.Valid {
			if err := json.Unmarshal([]byte(edata.String), &ev.Data); err != nil {
				return e, fmt.Errorf("event %d: data: %w", ev.Seq, err)
			}
		}
		if ereport.Valid {
			ev.Report = new(gateway.Report)
			if err := json.Unmarshal([]byte(ereport.String), ev.Report); err != nil {
				return e, fmt.Errorf("event %d: report: %w", ev.Seq, err)
			}
			ev.Report.At = ev.At
		}
		e.Event = &ev
	}
	if oid.Valid {
		e.Ops = &gateway.OpsEvent{ID: oid.Int64, At: time.Unix(0, oat.Int64).UTC(),
			Actor: gateway.Actor{ID: oactor.String, Name: oname.String}, Action: oaction.String,
			RoomID: oroom.String, DeviceID: odev.String, Before: json.RawMessage(obefore.String),
			After: json.RawMessage(oafter.String), Reason: oreason.String}
	}
	return e, nil
}

// LogEntries calls fn with every leaf and its record: sequenced leaves by
// index, then waiting ones by their order of writing.
func (s *Store) LogEntries(ctx context.Context, fn func(gateway.LogEntry) error) error {
	const op = "sqlite.LogEntries"
	for _, where := range []string{" WHERE l.idx IS NOT NULL ORDER BY l.idx", " WHERE l.idx IS NULL ORDER BY l.id"} {
		if err := s.entries(ctx, "SELECT "+entryCols+entryFrom+where, fn); err != nil {
			var fe fnError
			if errors.As(err, &fe) {
				return fe.err
			}
			return fail(op, err)
		}
	}
	return nil
}

func (s *Store) entries(ctx context.Context, query string, fn func(gateway.LogEntry) error) error {
	rows, err := s.rdb.QueryContext(ctx, query)
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
	const op = "sqlite.Unlogged"
	var out []gateway.LogRef
	for _, q := range []struct {
		kind  gateway.LogKind
		query string
	}{
		{gateway.LogEvent, "SELECT seq FROM events e WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.id = e.seq * 2 AND l.kind = 'event') ORDER BY seq"},
		{gateway.LogOps, "SELECT id FROM ops_events o WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.id = o.id * 2 + 1 AND l.kind = 'ops') ORDER BY id"},
	} {
		rows, err := s.rdb.QueryContext(ctx, q.query)
		if err != nil {
			return nil, fail(op, err)
		}
		for rows.Next() {
			var ref int64
			if err := rows.Scan(&ref); err != nil {
				rows.Close()
				return nil, fail(op, err)
			}
			out = append(out, gateway.LogRef{Kind: q.kind, Ref: ref})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fail(op, err)
		}
	}
	return out, nil
}

// VerificationLeaves lists the leaves of a verification's events by Seq.
func (s *Store) VerificationLeaves(ctx context.Context, id string) ([]gateway.LogLeaf, error) {
	const op = "sqlite.VerificationLeaves"
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+leafCols+` FROM events e JOIN log_leaves l ON l.id = e.seq * 2 AND l.kind = 'event'
		WHERE e.verification_id = ? ORDER BY e.seq`, id)
	if err != nil {
		return nil, fail(op, err)
	}
	defer rows.Close()
	var out []gateway.LogLeaf
	for rows.Next() {
		var (
			l    gateway.LogLeaf
			idx  sql.NullInt64
			hash []byte
		)
		if err := rows.Scan(&idx, &l.Kind, &l.Ref, &l.Data, &l.Nonce, &hash); err != nil {
			return nil, fail(op, err)
		}
		l.Index, l.Hash = -1, toHash(hash)
		if idx.Valid {
			l.Index = idx.Int64
		}
		out = append(out, l)
	}
	return out, fail(op, rows.Err())
}

// PutCheckpoint stores a checkpoint, unless one of its size is stored.
func (s *Store) PutCheckpoint(ctx context.Context, c gateway.Checkpoint) error {
	err := s.write(ctx, func(t tx, now time.Time) error {
		_, err := t.ExecContext(ctx, "INSERT INTO log_checkpoints (size, note, at) VALUES (?, ?, ?) ON CONFLICT (size) DO NOTHING",
			c.Size, c.Note, now.UnixNano())
		return err
	})
	return fail("sqlite.PutCheckpoint", err)
}

// Checkpoints lists the stored checkpoints by size.
func (s *Store) Checkpoints(ctx context.Context) ([]gateway.Checkpoint, error) {
	cs, err := s.checkpoints(ctx, "")
	return cs, fail("sqlite.Checkpoints", err)
}

// LatestCheckpoint returns the checkpoint of the largest size. ENOTFOUND.
func (s *Store) LatestCheckpoint(ctx context.Context) (gateway.Checkpoint, error) {
	cs, err := s.checkpoints(ctx, " DESC LIMIT 1")
	if err != nil {
		return gateway.Checkpoint{}, fail("sqlite.LatestCheckpoint", err)
	}
	if len(cs) == 0 {
		return gateway.Checkpoint{}, gateway.Errorf(gateway.ENOTFOUND, "the log has no checkpoint yet")
	}
	return cs[0], nil
}

func (s *Store) checkpoints(ctx context.Context, order string) ([]gateway.Checkpoint, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT size, note, at FROM log_checkpoints ORDER BY size"+order)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []gateway.Checkpoint
	for rows.Next() {
		var (
			c  gateway.Checkpoint
			at int64
		)
		if err := rows.Scan(&c.Size, &c.Note, &at); err != nil {
			return nil, err
		}
		c.At = time.Unix(0, at).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}
