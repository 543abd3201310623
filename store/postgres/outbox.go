package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safeconnection/gateway"
)

// outboxCols are the columns scanOutbox reads.
const outboxCols = "id, verification_id, type, state, attempts, next_at, last_error, since, created_at, updated_at"

// writeOutbox writes, in the transaction of ev (just written, under its
// verification's event lock), the outbox entries of the event that closes
// its verification, when the store delivers to an incident system. v is
// the verification as read in the transaction, when the caller has it;
// nil, it is read.
func (s *Store) writeOutbox(ctx context.Context, tx pgx.Tx, ev gateway.Event, v *gateway.Verification) error {
	if !s.Outbox || !ev.State.Terminal() {
		return nil
	}
	var one int
	switch err := tx.QueryRow(ctx, "SELECT 1 FROM outbox WHERE verification_id = $1 AND type = $2",
		ev.VerificationID, gateway.OutboxClosed).Scan(&one); {
	case err == nil:
		return nil // told already
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	if v == nil {
		read, err := loadVerification(ctx, tx, "postgres.writeOutbox", ev.VerificationID)
		if err != nil {
			return err
		}
		v = &read
	}
	es, err := gateway.OutboxMessages(*v, ev, false, ev.At)
	if err != nil {
		return err
	}
	for _, e := range es {
		if _, err := tx.Exec(ctx, `INSERT INTO outbox (id, verification_id, type, body, state, next_at, since, created_at, updated_at)
			VALUES ($1, $2, $3, $4::jsonb, $5, $6, $6, $6, $6) ON CONFLICT (verification_id, type) DO NOTHING`,
			e.ID, e.VerificationID, e.Type, string(e.Body), string(e.State), ev.At); err != nil {
			return err
		}
	}
	return nil
}

func scanOutbox(row pgx.Row, extra ...any) (gateway.OutboxEntry, error) {
	var e gateway.OutboxEntry
	var state string
	dest := append([]any{&e.ID, &e.VerificationID, &e.Type, &state, &e.Attempts, &e.NextAt, &e.LastError,
		&e.Since, &e.CreatedAt, &e.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return e, err
	}
	e.State = gateway.OutboxState(state)
	e.NextAt, e.Since, e.CreatedAt, e.UpdatedAt = e.NextAt.UTC(), e.Since.UTC(), e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return e, nil
}

func outboxEntry(ctx context.Context, q querier, op, id string) (gateway.OutboxEntry, error) {
	var body string
	e, err := scanOutbox(q.QueryRow(ctx, "SELECT "+outboxCols+", body::text FROM outbox WHERE id = $1", id), &body)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, notFound(op, "outbox entry", id)
	}
	e.Body = json.RawMessage(body)
	return e, err
}

// ClaimOutbox leases due entries to instance. Instances claiming at once
// skip each other's locked rows, so no two take one entry.
func (s *Store) ClaimOutbox(ctx context.Context, instance string, ttl time.Duration, limit int) ([]gateway.OutboxEntry, error) {
	const op = "postgres.ClaimOutbox"
	type claimed struct {
		n int64
		e gateway.OutboxEntry
	}
	var got []claimed
	err := s.tx(ctx, func(tx pgx.Tx) error {
		got = got[:0]
		rows, err := tx.Query(ctx, `UPDATE outbox o SET lease_owner = $1, lease_until = now() + $2 * interval '1 microsecond'
			WHERE o.n IN (SELECT c.n FROM outbox c WHERE c.state = 'pending' AND c.next_at <= now()
				AND (c.lease_owner = '' OR c.lease_owner = $1 OR c.lease_until <= now())
				AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.verification_id = c.verification_id AND e.state = 'pending' AND e.n < c.n)
				ORDER BY c.n LIMIT $3 FOR UPDATE SKIP LOCKED)
			RETURNING `+outboxCols+`, body::text, n`, instance, ttl.Microseconds(), limit)
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
			c.e.Body = json.RawMessage(body)
			got = append(got, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.fail(op, err)
	}
	slices.SortFunc(got, func(a, b claimed) int { return int(a.n - b.n) })
	out := make([]gateway.OutboxEntry, len(got))
	for i, c := range got {
		out[i] = c.e
	}
	return out, nil
}

// SettleOutbox records a try of an entry instance holds.
func (s *Store) SettleOutbox(ctx context.Context, id, instance string, t gateway.OutboxTry, ev gateway.OpsEvent) (gateway.OutboxEntry, error) {
	const op = "postgres.SettleOutbox"
	var out gateway.OutboxEntry
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var owner string
		err := tx.QueryRow(ctx, "SELECT lease_owner FROM outbox WHERE id = $1 FOR UPDATE", id).Scan(&owner)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(op, "outbox entry", id)
		}
		if err != nil {
			return err
		}
		if owner != instance {
			return conflict(op, "outbox entry %s is not held by %s", id, instance)
		}
		before, err := outboxEntry(ctx, tx, op, id)
		if err != nil {
			return err
		}
		var next *time.Time
		if !t.NextAt.IsZero() {
			next = &t.NextAt
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox SET state = $1, attempts = attempts + 1, next_at = COALESCE($2, now()),
			last_error = $3, updated_at = now(), lease_owner = '', lease_until = '-infinity' WHERE id = $4`,
			string(t.State), next, t.Error, id); err != nil {
			return err
		}
		if out, err = outboxEntry(ctx, tx, op, id); err != nil {
			return err
		}
		if t.State == gateway.OutboxDead {
			return outboxOpsEvent(ctx, tx, op, ev, before, out)
		}
		return nil
	})
	out.Body = nil
	return out, s.fail(op, err)
}

// outboxOpsEvent writes ev with the entry before and after.
func outboxOpsEvent(ctx context.Context, tx pgx.Tx, op string, ev gateway.OpsEvent, before, after gateway.OutboxEntry) error {
	ev, err := gateway.OutboxChange(ev, before, after)
	if err != nil {
		return err
	}
	_, err = insertOpsEvent(ctx, tx, op, ev)
	return err
}

// OutboxEntries lists entries oldest first.
func (s *Store) OutboxEntries(ctx context.Context, f gateway.OutboxFilter) ([]gateway.OutboxEntry, error) {
	const op = "postgres.OutboxEntries"
	var limit *int
	if f.Limit > 0 {
		limit = &f.Limit
	}
	rows, err := s.pool.Query(ctx, "SELECT "+outboxCols+` FROM outbox WHERE ($1 = '' OR verification_id = $1)
		AND ($2 = '' OR state = $2) ORDER BY n LIMIT $3`, f.VerificationID, string(f.State), limit)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.OutboxEntry, error) { return scanOutbox(r) })
	return out, s.fail(op, err)
}

// OutboxEntry returns one entry with its body.
func (s *Store) OutboxEntry(ctx context.Context, id string) (gateway.OutboxEntry, error) {
	const op = "postgres.OutboxEntry"
	e, err := outboxEntry(ctx, s.pool, op, id)
	return e, s.fail(op, err)
}

// ReplayOutbox makes a delivered or dead entry pending again.
func (s *Store) ReplayOutbox(ctx context.Context, id string, ev gateway.OpsEvent) (gateway.OutboxEntry, error) {
	const op = "postgres.ReplayOutbox"
	var out gateway.OutboxEntry
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT 1 FROM outbox WHERE id = $1 FOR UPDATE", id); err != nil {
			return err
		}
		before, err := outboxEntry(ctx, tx, op, id)
		if err != nil {
			return err
		}
		if before.State == gateway.OutboxPending {
			return conflict(op, "outbox entry %s is waiting to be delivered already", id)
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox SET state = 'pending', attempts = 0, next_at = now(), since = now(),
			last_error = '', updated_at = now(), lease_owner = '', lease_until = '-infinity' WHERE id = $1`, id); err != nil {
			return err
		}
		if out, err = outboxEntry(ctx, tx, op, id); err != nil {
			return err
		}
		return outboxOpsEvent(ctx, tx, op, ev, before, out)
	})
	out.Body = nil
	return out, s.fail(op, err)
}
