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

// The log (gateway.LogStore). SQLite has one writer, so a leaf is given
// its place as it is written, in the record's transaction, and the
// sequencer's transaction is alone by nature: no lock to take. The
// sequencer only hashes the leaves into the tree; log_state holds the
// size it has reached, and a leaf past it is waiting.

// logMigration is the migration that makes the log's tables; the records
// written before it get their leaves in its transaction (backfillLog).
const logMigration = 13

// writeLeaf writes leaf at place idx.
func writeLeaf(ctx context.Context, q querier, idx int64, leaf gateway.LogLeaf) error {
	_, err := q.ExecContext(ctx, insertLeaf, idx, string(leaf.Kind), leaf.Ref, leaf.Data, leaf.Nonce, leaf.Hash[:])
	return err
}

const insertLeaf = "INSERT INTO log_leaves (idx, kind, ref, data, nonce, hash) VALUES (?, ?, ?, ?, ?, ?)"

// logEvent writes the leaf of ev, as stored, at the place its row took
// (none when the store keeps no log), from its draft if it has one.
func logEvent(ctx context.Context, q querier, ev gateway.Event, idx sql.NullInt64, draft *leafDraft) error {
	if !idx.Valid {
		return nil
	}
	leaf, err := draft.leaf(ev)
	if err != nil {
		return err
	}
	return writeLeaf(ctx, q, idx.Int64, leaf)
}

// logOps writes the leaf of an ops entry, as stored, at the place its row
// took (none when the store keeps no log).
func logOps(ctx context.Context, q querier, ev gateway.OpsEvent, idx sql.NullInt64) error {
	if !idx.Valid {
		return nil
	}
	leaf, err := gateway.OpsLeaf(ev, gateway.NewNonce())
	if err != nil {
		return err
	}
	return writeLeaf(ctx, q, idx.Int64, leaf)
}

// backfillLog gives every record written before the log began a leaf:
// events by Seq, then ops entries by ID.
func backfillLog(ctx context.Context, t tx) error {
	rows, err := t.Tx.QueryContext(ctx, "SELECT "+eventCols+" FROM events ORDER BY seq")
	if err != nil {
		return err
	}
	var events []gateway.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			rows.Close()
			return err
		}
		events = append(events, ev)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	ops, err := opsEvents(ctx, t.Tx, gateway.OpsEventFilter{})
	if err != nil {
		return err
	}
	var idx int64
	for _, ev := range events {
		if _, err := t.Tx.ExecContext(ctx, "UPDATE events SET leaf = ? WHERE seq = ?", idx, ev.Seq); err != nil {
			return err
		}
		if err := logEvent(ctx, t.Tx, ev, sql.NullInt64{Int64: idx, Valid: true}, nil); err != nil {
			return err
		}
		idx++
	}
	for _, ev := range ops {
		if _, err := t.Tx.ExecContext(ctx, "UPDATE ops_events SET leaf = ? WHERE id = ?", idx, ev.ID); err != nil {
			return err
		}
		if err := logOps(ctx, t.Tx, ev, sql.NullInt64{Int64: idx, Valid: true}); err != nil {
			return err
		}
		idx++
	}
	return nil
}

// SequenceLog hashes at most max waiting leaves, oldest first, into the
// tree: it stores the tree's new hashes and the log's new size. The
// leaves are read and hashed from a snapshot, outside the one writer,
// which then only stores what they came to; if the log grew meanwhile
// (another instance sharing the file sequenced), the writer reads and
// hashes again from the size it finds.
func (s *Store) SequenceLog(ctx context.Context, max int, tree func(int64, []gateway.LogHash, func([]int64) ([]gateway.LogHash, error)) ([]gateway.LogHash, error)) (int64, error) {
	const op = "sqlite.SequenceLog"
	var (
		size, leaves int64
		stored       []gateway.LogHash
	)
	err := s.read(ctx, func(t tx, now time.Time) (err error) {
		size, leaves, stored, err = hashLeaves(ctx, t, max, tree)
		return err
	})
	if err != nil || leaves == 0 {
		return size, fail(op, err)
	}
	err = s.write(ctx, func(t tx, now time.Time) error {
		var at int64
		if err := t.QueryRowContext(ctx, "SELECT size FROM log_state").Scan(&at); err != nil {
			return err
		}
		if at != size {
			var err error
			if size, leaves, stored, err = hashLeaves(ctx, t, max, tree); err != nil || leaves == 0 {
				return err
			}
		}
		// The new stored hashes are written by one statement, not one
		// a row: the writer is held the shorter.
		var first int64
		if err := t.QueryRowContext(ctx, "SELECT COALESCE(MAX(n) + 1, 0) FROM log_hashes").Scan(&first); err != nil {
			return err
		}
		hexes := make([]string, len(stored))
		for i, h := range stored {
			hexes[i] = h.String()
		}
		list, err := json.Marshal(hexes)
		if err != nil {
			return err
		}
		if _, err := t.ExecContext(ctx, insertHashes, first, string(list)); err != nil {
			return err
		}
		_, err = t.ExecContext(ctx, "UPDATE log_state SET size = ?", size+leaves)
		return err
	})
	if err != nil {
		return size, fail(op, err)
	}
	return size + leaves, nil
}

// hashLeaves reads the log's size and at most max waiting leaves after it,
// and computes with tree the stored hashes they add: it returns the size,
// the number of leaves hashed and the hashes.
func hashLeaves(ctx context.Context, t tx, max int, tree func(int64, []gateway.LogHash, func([]int64) ([]gateway.LogHash, error)) ([]gateway.LogHash, error)) (int64, int64, []gateway.LogHash, error) {
	var size int64
	if err := t.QueryRowContext(ctx, "SELECT size FROM log_state").Scan(&size); err != nil {
		return 0, 0, nil, err
	}
	rows, err := t.QueryContext(ctx, "SELECT idx, hash FROM log_leaves WHERE idx >= ? ORDER BY idx LIMIT ?", size, max)
	if err != nil {
		return size, 0, nil, err
	}
	var (
		hashes []gateway.LogHash
		hole   = int64(-1)
	)
	for rows.Next() {
		var (
			idx int64
			h   []byte
		)
		if err := rows.Scan(&idx, &h); err != nil {
			rows.Close()
			return size, 0, nil, err
		}
		if want := size + int64(len(hashes)); idx != want {
			// Places are given densely; a hole is a leaf deleted
			// behind the gateway's back. Hashing past it would put
			// every later leaf in the wrong place.
			hole = want
			break
		}
		hashes = append(hashes, toHash(h))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return size, 0, nil, err
	}
	if len(hashes) == 0 {
		if hole >= 0 {
			return size, 0, nil, gateway.Errorf(gateway.EINTERNAL, "the log's leaf %d is missing: it cannot grow past it (run gateway verify)", hole)
		}
		return size, 0, nil, nil
	}
	stored, err := tree(size, hashes, func(idx []int64) ([]gateway.LogHash, error) { return readHashes(ctx, t, idx) })
	return size, int64(len(hashes)), stored, err
}

// insertHashes stores the hashes of the JSON list ?2 (in hex) from the
// stored index ?1 on.
const insertHashes = "INSERT INTO log_hashes (n, hash) SELECT ?1 + key, unhex(value) FROM json_each(?2)"

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
	err := s.rdb.QueryRowContext(ctx, "SELECT size FROM log_state").Scan(&n)
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
	leafCols  = sequenced + ", l.kind, l.ref, l.data, l.nonce, l.hash"
	entryFrom = ` FROM log_leaves l
		LEFT JOIN events e ON l.kind = 'event' AND e.seq = l.ref
		LEFT JOIN ops_events o ON l.kind = 'ops' AND o.id = l.ref`
	// sequenced reads a leaf's place as the log's: -1 past its size
	// (waiting).
	sequenced = "CASE WHEN l.idx < (SELECT size FROM log_state) THEN l.idx ELSE -1 END"
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

// LogEntries calls fn with every leaf and its record, by place: the
// sequenced leaves, then the waiting ones, in one snapshot of the store.
func (s *Store) LogEntries(ctx context.Context, fn func(gateway.LogEntry) error) error {
	const op = "sqlite.LogEntries"
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+entryCols+entryFrom+" ORDER BY l.idx")
	if err != nil {
		return fail(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return fail(op, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return fail(op, rows.Err())
}

// Unlogged lists the events and ops entries that no leaf names. A record
// keeps its leaf's place, so the leaf is found by the table's key; only a
// record whose place does not name it (written or moved behind the
// gateway's back) is looked for among every leaf.
func (s *Store) Unlogged(ctx context.Context) ([]gateway.LogRef, error) {
	const op = "sqlite.Unlogged"
	var out []gateway.LogRef
	for _, q := range []struct {
		kind  gateway.LogKind
		query string
	}{
		{gateway.LogEvent, "SELECT seq FROM events e WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.idx = e.leaf AND l.kind = 'event' AND l.ref = e.seq) ORDER BY seq"},
		{gateway.LogOps, "SELECT id FROM ops_events o WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.idx = o.leaf AND l.kind = 'ops' AND l.ref = o.id) ORDER BY id"},
	} {
		refs, err := s.refs(ctx, q.query)
		if err != nil {
			return nil, fail(op, err)
		}
		for _, ref := range refs {
			var one int
			err := s.rdb.QueryRowContext(ctx, "SELECT 1 FROM log_leaves WHERE kind = ? AND ref = ? LIMIT 1", string(q.kind), ref).Scan(&one)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				out = append(out, gateway.LogRef{Kind: q.kind, Ref: ref})
			case err != nil:
				return nil, fail(op, err)
			}
		}
	}
	return out, nil
}

// refs reads a query's column of integers.
func (s *Store) refs(ctx context.Context, query string) ([]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var ref int64
		if err := rows.Scan(&ref); err != nil {
			return nil, err
		}
		out = append(out, ref)
	}
	return out, rows.Err()
}

// VerificationLeaves lists the leaves of a verification's events by Seq.
func (s *Store) VerificationLeaves(ctx context.Context, id string) ([]gateway.LogLeaf, error) {
	const op = "sqlite.VerificationLeaves"
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+leafCols+` FROM events e JOIN log_leaves l ON l.idx = e.leaf AND l.kind = 'event' AND l.ref = e.seq
		WHERE e.verification_id = ? ORDER BY e.seq`, id)
	if err != nil {
		return nil, fail(op, err)
	}
	defer rows.Close()
	var out []gateway.LogLeaf
	for rows.Next() {
		var (
			l    gateway.LogLeaf
			hash []byte
		)
		if err := rows.Scan(&l.Index, &l.Kind, &l.Ref, &l.Data, &l.Nonce, &hash); err != nil {
			return nil, fail(op, err)
		}
		l.Hash = toHash(hash)
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
