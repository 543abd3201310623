package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/safeconnection/gateway"
)

const tokenSelect = "SELECT id, role, name, subject, hash, revoked FROM tokens"

// tokenByHash reads the token with a hash, if it is not revoked.
const tokenByHash = tokenSelect + " WHERE hash = ? AND NOT revoked"

func scanToken(row interface{ Scan(...any) error }) (gateway.Token, error) {
	var t gateway.Token
	err := row.Scan(&t.ID, &t.Role, &t.Name, &t.Subject, &t.Hash, &t.Revoked)
	return t, err
}

// CreateToken stores a token. ECONFLICT if its ID or hash exists; EINVALID
// without an ID or hash.
func (s *Store) CreateToken(ctx context.Context, t gateway.Token) error {
	const op = "sqlite.CreateToken"
	if t.ID == "" || t.Hash == "" {
		return fail(op, gateway.Errorf(gateway.EINVALID, "a token needs an ID and a hash"))
	}
	err := s.write(ctx, func(tx tx, _ time.Time) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO tokens (id, role, name, subject, hash, revoked) VALUES (?, ?, ?, ?, ?, ?)",
			t.ID, t.Role, t.Name, t.Subject, t.Hash, t.Revoked)
		if isUnique(err) {
			return gateway.Errorf(gateway.ECONFLICT, "token %s or its hash exists", t.ID)
		}
		return err
	})
	return fail(op, err)
}

// TokenByHash finds a token that is not revoked. ENOTFOUND.
func (s *Store) TokenByHash(ctx context.Context, hash string) (gateway.Token, error) {
	t, err := scanToken(s.reads().QueryRowContext(ctx, tokenByHash, hash))
	if errors.Is(err, sql.ErrNoRows) {
		err = gateway.Errorf(gateway.ENOTFOUND, "no such token")
	}
	return t, fail("sqlite.TokenByHash", err)
}

// Tokens lists every token, revoked ones too, by ID.
func (s *Store) Tokens(ctx context.Context) ([]gateway.Token, error) {
	const op = "sqlite.Tokens"
	rows, err := s.rdb.QueryContext(ctx, tokenSelect+" ORDER BY id")
	if err != nil {
		return nil, fail(op, err)
	}
	defer rows.Close()
	var out []gateway.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fail(op, err)
		}
		out = append(out, t)
	}
	return out, fail(op, rows.Err())
}

// RevokeToken revokes a token; revoking it again is no error. ENOTFOUND.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx tx, _ time.Time) error {
		res, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked = 1 WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return gateway.Errorf(gateway.ENOTFOUND, "no token %q", id)
		}
		return nil
	})
	return fail("sqlite.RevokeToken", err)
}
