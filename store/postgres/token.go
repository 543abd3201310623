package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/safeconnection/gateway"
)

// CreateToken stores a token; its IssuedAt is the database's clock when
// zero. ECONFLICT if its ID or hash exists; EINVALID without an ID or hash.
func (s *Store) CreateToken(ctx context.Context, t gateway.Token) error {
	const op = "postgres.CreateToken"
	if t.ID == "" || t.Hash == "" {
		return invalid(op, "a token needs an ID and a hash")
	}
	revoked := t.Revoked || !t.RevokedAt.IsZero()
	_, err := s.pool.Exec(ctx, `INSERT INTO tokens (id, role, name, subject, hash, revoked, officer, supervisor, issued_at, expires_at, revoked_at, sessions_ended)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, clock_timestamp()), $10,
			CASE WHEN $6 THEN coalesce($11, clock_timestamp()) END, $12)`,
		t.ID, string(t.Role), t.Name, t.Subject, t.Hash, revoked, t.Officer, t.Supervisor,
		timeOrNil(t.IssuedAt), timeOrNil(t.ExpiresAt), timeOrNil(t.RevokedAt), t.SessionsEnded)
	if uniqueViolation(err, "tokens_pkey") || uniqueViolation(err, "tokens_hash_key") {
		return conflict(op, "token %q or its hash exists", t.ID)
	}
	return s.fail(op, err)
}

// timeOrNil is t for a nullable column: NULL for the zero time.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// tokenCols are the columns scanToken reads.
const tokenCols = `id, role, name, subject, hash, revoked, officer, supervisor, issued_at, expires_at, revoked_at, sessions_ended`

// scanToken reads one row of tokenCols.
func scanToken(row pgx.Row) (gateway.Token, error) {
	var (
		t                         gateway.Token
		issued, expires, revokedT *time.Time
	)
	err := row.Scan(&t.ID, &t.Role, &t.Name, &t.Subject, &t.Hash, &t.Revoked, &t.Officer, &t.Supervisor, &issued, &expires, &revokedT, &t.SessionsEnded)
	for _, p := range []struct {
		from *time.Time
		to   *time.Time
	}{{issued, &t.IssuedAt}, {expires, &t.ExpiresAt}, {revokedT, &t.RevokedAt}} {
		if p.from != nil {
			*p.to = p.from.UTC()
		}
	}
	return t, err
}

// TokenByHash finds a token that is neither revoked nor expired by the
// database's clock, from the database every time: a revocation by another
// instance counts at once. ENOTFOUND.
func (s *Store) TokenByHash(ctx context.Context, hash string) (gateway.Token, error) {
	const op = "postgres.TokenByHash"
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens
		WHERE hash = $1 AND NOT revoked AND (expires_at IS NULL OR expires_at > clock_timestamp())`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		// The hash is a secret's: it is not repeated in the message.
		return gateway.Token{}, &gateway.Error{Op: op, Code: gateway.ENOTFOUND, Message: "token not found"}
	}
	return t, s.fail(op, err)
}

// Token returns one token, revoked or expired too. ENOTFOUND.
func (s *Store) Token(ctx context.Context, id string) (gateway.Token, error) {
	const op = "postgres.Token"
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Token{}, notFound(op, "token", id)
	}
	return t, s.fail(op, err)
}

// Tokens lists every token, revoked ones too, by ID.
func (s *Store) Tokens(ctx context.Context) ([]gateway.Token, error) {
	const op = "postgres.Tokens"
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY id`)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.Token, error) { return scanToken(r) })
	return out, s.fail(op, err)
}

// RevokeToken revokes a token; revoking it again keeps the first time.
// ENOTFOUND.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	const op = "postgres.RevokeToken"
	tag, err := s.pool.Exec(ctx, `UPDATE tokens SET revoked = true, revoked_at = coalesce(revoked_at, clock_timestamp()) WHERE id = $1`, id)
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(op, "token", id)
	}
	return nil
}

// EndSessions ends the token's console sessions: it adds one to its
// sessions_ended. ENOTFOUND.
func (s *Store) EndSessions(ctx context.Context, id string) error {
	const op = "postgres.EndSessions"
	tag, err := s.pool.Exec(ctx, `UPDATE tokens SET sessions_ended = sessions_ended + 1 WHERE id = $1`, id)
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(op, "token", id)
	}
	return nil
}

// RecordRefusal stores a refusal with its ID and At (the database's
// clock). EINVALID without a reason or credential.
func (s *Store) RecordRefusal(ctx context.Context, r gateway.Refusal) (gateway.Refusal, error) {
	const op = "postgres.RecordRefusal"
	if r.Reason == "" || r.TokenID == "" {
		return r, invalid(op, "a refusal needs a reason and a credential")
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO refusals (at, room_id, token_id, reason, officer, stated)
		VALUES (clock_timestamp(), $1, $2, $3, $4, $5) RETURNING id, at`,
		r.RoomID, r.TokenID, r.Reason, r.Officer, r.Stated).Scan(&r.ID, &r.At)
	r.At = r.At.UTC()
	return r, s.fail(op, err)
}

// Refusals lists refusals at or after since, oldest first, of one room or
// of all.
func (s *Store) Refusals(ctx context.Context, room string, since time.Time, limit int) ([]gateway.Refusal, error) {
	const op = "postgres.Refusals"
	q := `SELECT id, at, room_id, token_id, reason, officer, stated FROM refusals
		WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2 = '' OR room_id = $2) ORDER BY id`
	args := []any{timeOrNil(since), room}
	if limit > 0 {
		q += ` LIMIT $3`
		args = append(args, limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.Refusal, error) {
		var r gateway.Refusal
		err := row.Scan(&r.ID, &r.At, &r.RoomID, &r.TokenID, &r.Reason, &r.Officer, &r.Stated)
		r.At = r.At.UTC()
		return r, err
	})
	return out, s.fail(op, err)
}
