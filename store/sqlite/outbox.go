package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/safeconnection/gateway"
)

// The statements of the outbox.
const (
	outboxCols = "id, verification_id, type, state, attempts, next_at, last_error, since, created_at, updated_at"
	// outboxClosed finds a verification's OutboxClosed entry.
	outboxClosed = "SELECT 1 FROM outbox WHERE verification_id = ? AND type = '" + gateway.OutboxClosed + "'"
	// insertOutbox writes one entry; a second of the same verification and
	// type is dropped.
	insertOutbox = `INSERT INTO outbox (id, verification_id, type, body, state, next_at, since, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (verification_id, type) DO NOTHING`
	// claimOutbox leases to instance ?2 until ?4 the entries it may take
	// at ?1, at most ?3, and returns them with their bodies and places.
	claimOutbox = `UPDATE outbox SET lease_owner = ?2, lease_until = ?4 WHERE n IN (SELECT n FROM outbox o WHERE o.state = 'pending' AND o.next_at <= ?1
		AND (o.lease_owner = '' OR o.lease_owner = ?2 OR o.lease_until <= ?1)
		AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.verification_id = o.verification_id AND e.state = 'pending' AND e.n < o.n)
		ORDER BY o.n LIMIT ?3)
		RETURNING ` + outboxCols + ", body, n"
)

// writeOutbox writes, in the transaction of ev (just written), the outbox
// entries of the event that closes its verification, when the store
// delivers to an incident system. v is the verification as it is after
// ev, when the caller has it (a transition has just written it); nil, it
// is read.
func writeOutbox(ctx context.Context, tx tx, ev gateway.Event, v *gateway.Verification, now time.Time) error {
	if !tx.outbox || !ev.State.Terminal() {
		return nil
	}
	var one int
	switch err := tx.QueryRowContext(ctx, outboxClosed, ev.VerificationID).Scan(&one); {
	case err == nil:
		return nil // told already
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if v == nil {
		read, err := loadVerification(ctx, tx, now, ev.VerificationID)
		if err != nil {
			return err
		}
		v = &read
	}
	es, err := gateway.OutboxMessages(*v, ev, false, now)
	if err != nil {
		return err
	}
	for _, e := range es {
		if _, err := tx.ExecContext(ctx, insertOutbox, e.ID, e.VerificationID, e.Type, string(e.Body), e.State,
			now.UnixNano(), now.UnixNano(), now.UnixNano(), now.UnixNano()); err != nil {
			return err
		}
	}
	return nil
}

func scanOutbox(row interface{ Scan(...any) error }, body *string, extra ...any) (gateway.OutboxEntry, error) {
	var (
		e                           gateway.OutboxEntry
		next, since, created, updat int64
	)
	dest := []any{&e.ID, &e.VerificationID, &e.Type, &e.State, &e.Attempts, &next, &e.LastError, &since, &created, &updat}
	if body != nil {
		dest = append(dest, body)
	}
	dest = append(dest, extra...)
	if err := row.Scan(dest...); err != nil {
		return e, err
	}
	e.NextAt, e.Since = time.Unix(0, next).UTC(), time.Unix(0, since).UTC()
	e.CreatedAt, e.UpdatedAt = time.Unix(0, created).UTC(), time.Unix(0, updat).UTC()
	if body != nil {
		e.Body = json.RawMessage(*body)
	}
	return e, nil
}

func outboxEntry(ctx context.Context, q querier, id string) (gateway.OutboxEntry, error) {
	var body string
	e, err := scanOutbox(q.QueryRowContext(ctx, "SELECT "+outboxCols+", body FROM outbox WHERE id = ?", id), &body)
	if errors.Is(err, sql.ErrNoRows) {
		err = gateway.Errorf(gateway.ENOTFOUND, "no outbox entry %q", id)
	}
	return e, err
}

// ClaimOutbox leases due entries to instance; the one writer makes
// claims of instances sharing the file one at a time.
func (s *Store) ClaimOutbox(ctx context.Context, instance string, ttl time.Duration, limit int) ([]gateway.OutboxEntry, error) {
	const op = "sqlite.ClaimOutbox"
	type claimed struct {
		n int64
		e gateway.OutboxEntry
	}
	var got []claimed
	err := s.write(ctx, func(tx tx, now time.Time) error {
		got = got[:0]
		rows, err := tx.QueryContext(ctx, claimOutbox, now.UnixNano(), instance, limit, now.Add(ttl).UnixNano())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c    claimed
				body string
			)
			if c.e, err = scanOutbox(rows, &body, &c.n); err != nil {
				return err
			}
			got = append(got, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fail(op, err)
	}
	// RETURNING keeps no order: the claim's is the writing order.
	slices.SortFunc(got, func(a, b claimed) int { return cmp.Compare(a.n, b.n) })
	out := make([]gateway.OutboxEntry, len(got))
	for i, c := range got {
		out[i] = c.e
	}
	return out, nil
}

// SettleOutbox records a try of an entry instance holds.
func (s *Store) SettleOutbox(ctx context.Context, id, instance string, t gateway.OutboxTry, ev gateway.OpsEvent) (gateway.OutboxEntry, error) {
	const op = "sqlite.SettleOutbox"
	var out gateway.OutboxEntry
	err := s.write(ctx, func(tx tx, now time.Time) error {
		var owner string
		err := tx.QueryRowContext(ctx, "SELECT lease_owner FROM outbox WHERE id = ?", id).Scan(&owner)
		if errors.Is(err, sql.ErrNoRows) {
			return gateway.Errorf(gateway.ENOTFOUND, "no outbox entry %q", id)
		}
		if err != nil {
			return err
		}
		if owner != instance {
			return gateway.Errorf(gateway.ECONFLICT, "outbox entry %s is not held by %s", id, instance)
		}
		before, err := outboxEntry(ctx, tx, id)
		if err != nil {
			return err
		}
		next := t.NextAt
		if next.IsZero() {
			next = now
		}
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET state = ?, attempts = attempts + 1, next_at = ?, last_error = ?,
			updated_at = ?, lease_owner = '', lease_until = 0 WHERE id = ?`,
			t.State, next.UnixNano(), t.Error, now.UnixNano(), id); err != nil {
			return err
		}
		if out, err = outboxEntry(ctx, tx, id); err != nil {
			return err
		}
		if t.State == gateway.OutboxDead {
			return outboxOpsEvent(ctx, tx, ev, before, out, now)
		}
		return nil
	})
	out.Body = nil
	return out, fail(op, err)
}

// outboxOpsEvent writes ev with the entry before and after.
func outboxOpsEvent(ctx context.Context, tx tx, ev gateway.OpsEvent, before, after gateway.OutboxEntry, now time.Time) error {
	ev, err := gateway.OutboxChange(ev, before, after)
	if err != nil {
		return err
	}
	_, err = insertOpsEvent(ctx, tx, ev, now)
	return err
}

// OutboxEntries lists entries oldest first.
func (s *Store) OutboxEntries(ctx context.Context, f gateway.OutboxFilter) ([]gateway.OutboxEntry, error) {
	q := "SELECT " + outboxCols + " FROM outbox WHERE (? = '' OR verification_id = ?) AND (? = '' OR state = ?) ORDER BY n LIMIT ?"
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.rdb.QueryContext(ctx, q, f.VerificationID, f.VerificationID, f.State, f.State, limit)
	if err != nil {
		return nil, fail("sqlite.OutboxEntries", err)
	}
	defer rows.Close()
	var out []gateway.OutboxEntry
	for rows.Next() {
		e, err := scanOutbox(rows, nil)
		if err != nil {
			return nil, fail("sqlite.OutboxEntries", err)
		}
		out = append(out, e)
	}
	return out, fail("sqlite.OutboxEntries", rows.Err())
}

// OutboxEntry returns one entry with its body.
func (s *Store) OutboxEntry(ctx context.Context, id string) (gateway.OutboxEntry, error) {
	e, err := outboxEntry(ctx, s.rdb, id)
	return e, fail("sqlite.OutboxEntry", err)
}

// ReplayOutbox makes a delivered or dead entry pending again.
func (s *Store) ReplayOutbox(ctx context.Context, id string, ev gateway.OpsEvent) (gateway.OutboxEntry, error) {
	const op = "sqlite.ReplayOutbox"
	var out gateway.OutboxEntry
	err := s.write(ctx, func(tx tx, now time.Time) error {
		before, err := outboxEntry(ctx, tx, id)
		if err != nil {
			return err
		}
		if before.State == gateway.OutboxPending {
			return gateway.Errorf(gateway.ECONFLICT, "outbox entry %s is waiting to be delivered already", id)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'pending', attempts = 0, next_at = ?, since = ?, last_error = '',
			updated_at = ?, lease_owner = '', lease_until = 0 WHERE id = ?`, now.UnixNano(), now.UnixNano(), now.UnixNano(), id); err != nil {
			return err
		}
		if out, err = outboxEntry(ctx, tx, id); err != nil {
			return err
		}
		return outboxOpsEvent(ctx, tx, ev, before, out, now)
	})
	out.Body = nil
	return out, fail(op, err)
}
