package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// rememberKey records a webhook key until $2 microseconds from now, or
// renews one that has expired, and returns a row only then (a first
// delivery); a live key is left as it is and no row returned. It also
// deletes up to 64 other expired keys, skipping those another
// transaction holds, so that no sweeper is needed and concurrent calls do
// not queue behind one another's sweeps.
const rememberKey = `WITH swept AS (
		DELETE FROM webhook_keys WHERE key IN (
			SELECT key FROM webhook_keys WHERE expires_at <= clock_timestamp() AND key <> $1
			LIMIT 64 FOR UPDATE SKIP LOCKED)
	)
	INSERT INTO webhook_keys (key, expires_at) VALUES ($1, clock_timestamp() + $2::bigint * interval '1 microsecond')
	ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE webhook_keys.expires_at <= clock_timestamp()
	RETURNING true`

// Remember records a webhook delivery's key until ttl from now by the
// database's clock, and reports whether it was not there or had expired
// (first). Of concurrent calls with one key, on any instances, one inserts
// the row and the others find it live. EINVALID for an empty key or a ttl
// that is not positive; EUNAVAILABLE when the database is unavailable.
func (s *Store) Remember(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	const op = "postgres.Remember"
	if key == "" || ttl <= 0 {
		return false, invalid(op, "a webhook key needs a key and a positive ttl")
	}
	var first bool
	err := s.pool.QueryRow(ctx, rememberKey, key, micros(ttl)).Scan(&first)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, s.fail(op, err)
	}
	return first, nil
}

// Forget deletes a webhook delivery's key, if it is there. EUNAVAILABLE
// when the database is unavailable.
func (s *Store) Forget(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM webhook_keys WHERE key = $1`, key)
	return s.fail("postgres.Forget", err)
}
