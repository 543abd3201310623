package sqlite

import (
	"context"
	"time"

	"github.com/safeconnection/gateway"
)

// The statements of Remember and Forget.
const (
	// sweepKeys deletes the webhook keys that have expired.
	sweepKeys = "DELETE FROM webhook_keys WHERE expires_at <= ?"
	// rememberKey records a key unless it is there (and live: sweepKeys
	// runs first).
	rememberKey = "INSERT INTO webhook_keys (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
	// forgetKey deletes a key.
	forgetKey = "DELETE FROM webhook_keys WHERE key = ?"
)

// Remember records a webhook delivery's key until ttl from now by the
// store's clock, and reports whether the key was not there (first). The
// expired keys are deleted in the same transaction, so a key past its ttl
// is first again. The one writer makes concurrent calls take turns: of
// those with one key, only the first finds it missing. EINVALID for an
// empty key or a ttl that is not positive; EUNAVAILABLE when the store
// cannot write.
func (s *Store) Remember(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	const op = "sqlite.Remember"
	if key == "" || ttl <= 0 {
		return false, fail(op, gateway.Errorf(gateway.EINVALID, "a webhook key needs a key and a positive ttl"))
	}
	var first bool
	err := s.write(ctx, func(tx tx, now time.Time) error {
		if _, err := tx.ExecContext(ctx, sweepKeys, now.UnixNano()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, rememberKey, key, now.Add(ttl).UnixNano())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		first = n == 1
		return err
	})
	if err != nil {
		return false, fail(op, err)
	}
	return first, nil
}

// Forget deletes a webhook delivery's key, if it is there. EUNAVAILABLE
// when the store cannot write.
func (s *Store) Forget(ctx context.Context, key string) error {
	err := s.write(ctx, func(tx tx, _ time.Time) error {
		_, err := tx.ExecContext(ctx, forgetKey, key)
		return err
	})
	return fail("sqlite.Forget", err)
}
