package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/safeconnection/gateway"
)

// CreateToken stores a token. ECONFLICT if its ID or hash exists; EINVALID
// without an ID or hash.
func (s *Store) CreateToken(ctx context.Context, t gateway.Token) error {
	const op = "postgres.CreateToken"
	if t.ID == "" || t.Hash == "" {
		return invalid(op, "a token needs an ID and a hash")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO tokens (id, role, name, subject, hash, revoked) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.ID, string(t.Role), t.Name, t.Subject, t.Hash, t.Revoked)
	if uniqueViolation(err, "tokens_pkey") || uniqueViolation(err, "tokens_hash_key") {
		return conflict(op, "token %q or its hash exists", t.ID)
	}
	return s.fail(op, err)
}

// tokenCols are the columns scanToken reads.
const tokenCols = `id, role, name, subject, hash, revoked`

// scanToken reads one row of tokenCols.
func scanToken(row pgx.Row) (gateway.Token, error) {
	var t gateway.Token
	err := row.Scan(&t.ID, &t.Role, &t.Name, &t.Subject, &t.Hash, &t.Revoked)
	return t, err
}

// TokenByHash finds a token that is not revoked. ENOTFOUND.
func (s *Store) TokenByHash(ctx context.Context, hash string) (gateway.Token, error) {
	const op = "postgres.TokenByHash"
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1 AND NOT revoked`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		// The hash is a secret's: it is not repeated in the message.
		return gateway.Token{}, &gateway.Error{Op: op, Code: gateway.ENOTFOUND, Message: "token not found"}
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

// RevokeToken revokes a token. ENOTFOUND.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	const op = "postgres.RevokeToken"
	tag, err := s.pool.Exec(ctx, `UPDATE tokens SET revoked = true WHERE id = $1`, id)
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(op, "token", id)
	}
	return nil
}
