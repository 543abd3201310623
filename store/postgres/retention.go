package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safeconnection/gateway"
)

// PlaceHold puts a verification on legal hold with its ops entry.
func (s *Store) PlaceHold(ctx context.Context, h gateway.Hold, ev gateway.OpsEvent) (gateway.Hold, error) {
	const op = "postgres.PlaceHold"
	if strings.TrimSpace(h.Reason) == "" {
		return h, invalid(op, "a hold needs a reason")
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM verifications WHERE id = $1", h.VerificationID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound(op, "verification", h.VerificationID)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO holds (verification_id, reason, actor_id, actor_name) VALUES ($1, $2, $3, $4)
			ON CONFLICT (verification_id) DO NOTHING`, h.VerificationID, h.Reason, h.By.ID, h.By.Name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return conflict(op, "verification %q is already on hold", h.VerificationID)
		}
		if h, err = holdOf(ctx, tx, op, h.VerificationID); err != nil {
			return err
		}
		after, err := json.Marshal(h)
		if err != nil {
			return err
		}
		ev.Before, ev.After = json.RawMessage("null"), after
		_, err = insertOpsEvent(ctx, tx, op, ev)
		return err
	})
	return h, s.fail(op, err)
}

// LiftHold lifts a verification's hold with its ops entry.
func (s *Store) LiftHold(ctx context.Context, id string, ev gateway.OpsEvent) error {
	const op = "postgres.LiftHold"
	err := s.tx(ctx, func(tx pgx.Tx) error {
		h, err := holdOf(ctx, tx, op, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM holds WHERE verification_id = $1", id); err != nil {
			return err
		}
		before, err := json.Marshal(h)
		if err != nil {
			return err
		}
		ev.Before, ev.After = before, json.RawMessage("null")
		_, err = insertOpsEvent(ctx, tx, op, ev)
		return err
	})
	return s.fail(op, err)
}

// HoldOf returns the verification's hold.
func (s *Store) HoldOf(ctx context.Context, id string) (gateway.Hold, error) {
	const op = "postgres.HoldOf"
	h, err := holdOf(ctx, s.pool, op, id)
	return h, s.fail(op, err)
}

type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func holdOf(ctx context.Context, q rowQuerier, op, id string) (gateway.Hold, error) {
	h := gateway.Hold{VerificationID: id}
	err := q.QueryRow(ctx, "SELECT reason, actor_id, actor_name, at FROM holds WHERE verification_id = $1 FOR SHARE", id).
		Scan(&h.Reason, &h.By.ID, &h.By.Name, &h.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, notFound(op, "hold on verification", id)
	}
	h.At = h.At.UTC()
	return h, err
}

// Erased reports when the verification's personal fields were erased.
func (s *Store) Erased(ctx context.Context, id string) (time.Time, error) {
	const op = "postgres.Erased"
	var at *time.Time
	err := s.pool.QueryRow(ctx, "SELECT erased_at FROM verifications WHERE id = $1", id).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, notFound(op, "verification", id)
	}
	if err != nil || at == nil {
		return time.Time{}, s.fail(op, err)
	}
	return at.UTC(), nil
}

// EraseClosed erases the personal fields of old closed verifications. Each
// instance takes the rows it erases with FOR UPDATE SKIP LOCKED, so runs on
// every instance at once erase disjoint batches; a hold placed meanwhile
// waits for the batch (the hold's insert references the locked row).
func (s *Store) EraseClosed(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	const op = "postgres.EraseClosed"
	var ids []string
	err := s.tx(ctx, func(tx pgx.Tx) error {
		ids = ids[:0]
		rows, err := tx.Query(ctx, `SELECT id FROM verifications v
			WHERE state = ANY($1) AND updated_at < $2 AND erased_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.verification_id = v.id)
			ORDER BY updated_at, id LIMIT $3 FOR UPDATE SKIP LOCKED`,
			[]string{string(gateway.StateVerified), string(gateway.StateRefused), string(gateway.StateFailed), string(gateway.StateCancelled)},
			cutoff, limit)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(ids) == 0 {
			return err
		}
		// A hold committed after the query's snapshot but before its row
		// lock is seen by a new statement: such a verification is kept.
		rows, err = tx.Query(ctx, "SELECT verification_id FROM holds WHERE verification_id = ANY($1)", ids)
		if err != nil {
			return err
		}
		held, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		ids = slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(held, id) })
		if len(ids) == 0 {
			return nil
		}
		for _, q := range eraseSQL {
			if _, err := tx.Exec(ctx, q, ids); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(op, err)
	}
	return ids, nil
}

// eraseSQL erases the personal fields of the verifications $1; the leaves'
// nonces go with the events' fields.
var eraseSQL = []string{
	`UPDATE log_leaves l SET nonce = NULL FROM events e
		WHERE l.kind = 'event' AND l.ref = e.seq AND e.verification_id = ANY($1) AND l.nonce IS NOT NULL`,
	`UPDATE events SET message = '', data = NULL, report = NULL WHERE verification_id = ANY($1)`,
	`UPDATE attempts SET join_url = '', provider_ref = '', error = '' WHERE verification_id = ANY($1)`,
	`UPDATE orders SET handle = '', join_url = '', reference = '' WHERE verification_id = ANY($1)`,
	// An outbox entry's body names the officer and the supervisor: one
	// told (or given up) goes; one still to be told stays to be told.
	`DELETE FROM outbox WHERE verification_id = ANY($1) AND state != 'pending'`,
	`UPDATE verifications SET officer = '{}', lat = 0, lon = 0, contacts = '[]', join_url = '', reason = '',
		caller = '', caller_hash = '', request_hash = NULL, idempotency_key = NULL,
		outcome = CASE WHEN outcome IS NULL THEN NULL
			ELSE jsonb_build_object('outcome', outcome->'outcome', 'supervisor', '', 'at', outcome->'at') END,
		erased_at = clock_timestamp()
		WHERE id = ANY($1)`,
}
