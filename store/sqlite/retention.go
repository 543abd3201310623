package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
)

// PlaceHold puts a verification on legal hold with its ops entry.
func (s *Store) PlaceHold(ctx context.Context, h gateway.Hold, ev gateway.OpsEvent) (gateway.Hold, error) {
	const op = "sqlite.PlaceHold"
	if strings.TrimSpace(h.Reason) == "" {
		return h, gateway.E(op, gateway.EINVALID, errors.New("a hold needs a reason"))
	}
	err := s.write(ctx, func(tx tx, now time.Time) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM verifications WHERE id = ?", h.VerificationID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return gateway.Errorf(gateway.ENOTFOUND, "no verification %q", h.VerificationID)
		}
		if _, err := holdOf(ctx, tx, h.VerificationID); err == nil {
			return gateway.Errorf(gateway.ECONFLICT, "verification %q is already on hold", h.VerificationID)
		}
		h.At = now.UTC()
		if _, err := tx.ExecContext(ctx, "INSERT INTO holds (verification_id, reason, actor_id, actor_name, at) VALUES (?, ?, ?, ?, ?)",
			h.VerificationID, h.Reason, h.By.ID, h.By.Name, now.UnixNano()); err != nil {
			return err
		}
		after, err := json.Marshal(h)
		if err != nil {
			return err
		}
		ev.Before, ev.After = json.RawMessage("null"), after
		_, err = insertOpsEvent(ctx, tx, ev, now)
		return err
	})
	return h, fail(op, err)
}

// LiftHold lifts a verification's hold with its ops entry.
func (s *Store) LiftHold(ctx context.Context, id string, ev gateway.OpsEvent) error {
	const op = "sqlite.LiftHold"
	err := s.write(ctx, func(tx tx, now time.Time) error {
		h, err := holdOf(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM holds WHERE verification_id = ?", id); err != nil {
			return err
		}
		before, err := json.Marshal(h)
		if err != nil {
			return err
		}
		ev.Before, ev.After = before, json.RawMessage("null")
		_, err = insertOpsEvent(ctx, tx, ev, now)
		return err
	})
	return fail(op, err)
}

// HoldOf returns the verification's hold.
func (s *Store) HoldOf(ctx context.Context, id string) (gateway.Hold, error) {
	h, err := holdOf(ctx, s.rdb, id)
	return h, fail("sqlite.HoldOf", err)
}

func holdOf(ctx context.Context, q querier, id string) (gateway.Hold, error) {
	h := gateway.Hold{VerificationID: id}
	var at int64
	err := q.QueryRowContext(ctx, "SELECT reason, actor_id, actor_name, at FROM holds WHERE verification_id = ?", id).
		Scan(&h.Reason, &h.By.ID, &h.By.Name, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return h, gateway.Errorf(gateway.ENOTFOUND, "verification %q is not on hold", id)
	}
	h.At = time.Unix(0, at).UTC()
	return h, err
}

// Erased reports when the verification's personal fields were erased.
func (s *Store) Erased(ctx context.Context, id string) (time.Time, error) {
	var at sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, "SELECT erased_at FROM verifications WHERE id = ?", id).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fail("sqlite.Erased", gateway.Errorf(gateway.ENOTFOUND, "no verification %q", id))
	}
	if err != nil || !at.Valid {
		return time.Time{}, fail("sqlite.Erased", err)
	}
	return time.Unix(0, at.Int64).UTC(), nil
}

// EraseClosed erases the personal fields of old closed verifications. The
// store's writes are serialised, so two runs never erase one at once.
func (s *Store) EraseClosed(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	const op = "sqlite.EraseClosed"
	var ids []string
	err := s.write(ctx, func(tx tx, now time.Time) error {
		ids = ids[:0]
		rows, err := tx.QueryContext(ctx, `SELECT id FROM verifications v
			WHERE state IN (?, ?, ?, ?) AND updated_at < ? AND erased_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.verification_id = v.id)
			ORDER BY updated_at, id LIMIT ?`,
			gateway.StateVerified, gateway.StateRefused, gateway.StateFailed, gateway.StateCancelled, cutoff.UnixNano(), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			for _, q := range eraseSQL {
				if _, err := tx.ExecContext(ctx, q, id); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, "UPDATE verifications SET erased_at = ? WHERE id = ?", now.UnixNano(), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fail(op, err)
	}
	return ids, nil
}

// eraseSQL erases one verification's personal fields (the statement's one
// argument is its ID); the leaves' nonces go with the events' fields.
var eraseSQL = []string{
	`UPDATE log_leaves SET nonce = NULL WHERE idx IN (SELECT leaf FROM events WHERE verification_id = ?1 AND leaf IS NOT NULL)`,
	`UPDATE events SET message = '', data = NULL, report = NULL WHERE verification_id = ?1`,
	`UPDATE attempts SET join_url = '', provider_ref = '', error = '' WHERE verification_id = ?1`,
	`UPDATE orders SET handle = '', join_url = '', reference = '' WHERE verification_id = ?1`,
	// An outbox entry's body names the officer and the supervisor: one
	// told (or given up) goes; one still to be told stays to be told.
	`DELETE FROM outbox WHERE verification_id = ?1 AND state != 'pending'`,
	`UPDATE verifications SET officer = '{}', lat = 0, lon = 0, contacts = '[]', join_url = '', reason = '',
		caller = '', caller_hash = '', request_hash = NULL, idempotency_key = NULL,
		outcome = CASE WHEN outcome IS NULL THEN NULL
			ELSE json_object('outcome', json_extract(outcome, '$.outcome'), 'supervisor', '', 'at', json_extract(outcome, '$.at')) END
		WHERE id = ?1`,
}
