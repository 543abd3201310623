package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/safeconnection/gateway"
)

const tokenSelect = "SELECT id, role, name, subject, hash, revoked, officer, supervisor, issued_at, expires_at, revoked_at, sessions_ended FROM tokens"

// tokenByHash reads the token with a hash, if it is neither revoked nor
// expired at the time given.
const tokenByHash = tokenSelect + " WHERE hash = ? AND NOT revoked AND (expires_at IS NULL OR expires_at > ?)"

func scanToken(row interface{ Scan(...any) error }) (gateway.Token, error) {
	var (
		t                         gateway.Token
		officer, supervisor       string
		issued, expires, revokedT sql.NullInt64
	)
	err := row.Scan(&t.ID, &t.Role, &t.Name, &t.Subject, &t.Hash, &t.Revoked, &officer, &supervisor, &issued, &expires, &revokedT, &t.SessionsEnded)
	if err != nil {
		return t, err
	}
	t.IssuedAt, t.ExpiresAt, t.RevokedAt = timeOf(issued), timeOf(expires), timeOf(revokedT)
	if officer != "" {
		t.Officer = new(gateway.OfficerIdentity)
		if err := json.Unmarshal([]byte(officer), t.Officer); err != nil {
			return t, err
		}
	}
	if supervisor != "" {
		t.Supervisor = new(gateway.SupervisorIdentity)
		if err := json.Unmarshal([]byte(supervisor), t.Supervisor); err != nil {
			return t, err
		}
	}
	return t, nil
}

// identityJSON is an identity for its column: ” for none.
func identityJSON[T any](v *T) (string, error) {
	if v == nil {
		return "", nil
	}
	return jsonText(v)
}

// CreateToken stores a token; its IssuedAt is the store's clock when zero.
// ECONFLICT if its ID or hash exists; EINVALID without an ID or hash.
func (s *Store) CreateToken(ctx context.Context, t gateway.Token) error {
	const op = "sqlite.CreateToken"
	if t.ID == "" || t.Hash == "" {
		return fail(op, gateway.Errorf(gateway.EINVALID, "a token needs an ID and a hash"))
	}
	officer, err := identityJSON(t.Officer)
	if err != nil {
		return fail(op, err)
	}
	supervisor, err := identityJSON(t.Supervisor)
	if err != nil {
		return fail(op, err)
	}
	err = s.write(ctx, func(tx tx, now time.Time) error {
		if t.IssuedAt.IsZero() {
			t.IssuedAt = now
		}
		if t.Revoked && t.RevokedAt.IsZero() {
			t.RevokedAt = now
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, role, name, subject, hash, revoked, officer, supervisor, issued_at, expires_at, revoked_at, sessions_ended)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Role, t.Name, t.Subject, t.Hash, t.Revoked || !t.RevokedAt.IsZero(), officer, supervisor,
			ns(t.IssuedAt), ns(t.ExpiresAt), ns(t.RevokedAt), t.SessionsEnded)
		if isUnique(err) {
			return gateway.Errorf(gateway.ECONFLICT, "token %s or its hash exists", t.ID)
		}
		return err
	})
	return fail(op, err)
}

// TokenByHash finds a token that is neither revoked nor expired by the
// store's clock, from the database every time. ENOTFOUND.
func (s *Store) TokenByHash(ctx context.Context, hash string) (gateway.Token, error) {
	t, err := scanToken(s.reads().QueryRowContext(ctx, tokenByHash, hash, s.now().UnixNano()))
	if errors.Is(err, sql.ErrNoRows) {
		err = gateway.Errorf(gateway.ENOTFOUND, "no such token")
	}
	return t, fail("sqlite.TokenByHash", err)
}

// Token returns one token, revoked or expired too. ENOTFOUND.
func (s *Store) Token(ctx context.Context, id string) (gateway.Token, error) {
	t, err := scanToken(s.rdb.QueryRowContext(ctx, tokenSelect+" WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		err = gateway.Errorf(gateway.ENOTFOUND, "no token %q", id)
	}
	return t, fail("sqlite.Token", err)
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

// RevokeToken revokes a token; revoking it again is no error and keeps the
// first time. ENOTFOUND.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx tx, now time.Time) error {
		res, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked = 1, revoked_at = coalesce(revoked_at, ?) WHERE id = ?", now.UnixNano(), id)
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

// EndSessions ends the token's console sessions: it adds one to its
// sessions_ended. ENOTFOUND.
func (s *Store) EndSessions(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx tx, _ time.Time) error {
		res, err := tx.ExecContext(ctx, "UPDATE tokens SET sessions_ended = sessions_ended + 1 WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return gateway.Errorf(gateway.ENOTFOUND, "no token %q", id)
		}
		return nil
	})
	return fail("sqlite.EndSessions", err)
}

// RecordRefusal stores a refusal with its ID and At (the store's clock).
// EINVALID without a reason or credential.
func (s *Store) RecordRefusal(ctx context.Context, r gateway.Refusal) (gateway.Refusal, error) {
	const op = "sqlite.RecordRefusal"
	if r.Reason == "" || r.TokenID == "" {
		return r, fail(op, gateway.Errorf(gateway.EINVALID, "a refusal needs a reason and a credential"))
	}
	err := s.write(ctx, func(tx tx, now time.Time) error {
		r.At = now
		res, err := tx.ExecContext(ctx, "INSERT INTO refusals (at, room_id, token_id, reason, officer, stated) VALUES (?, ?, ?, ?, ?, ?)",
			now.UnixNano(), r.RoomID, r.TokenID, r.Reason, r.Officer, r.Stated)
		if err != nil {
			return err
		}
		r.ID, err = res.LastInsertId()
		return err
	})
	return r, fail(op, err)
}

// Refusals lists refusals at or after since, oldest first, of one room or
// of all.
func (s *Store) Refusals(ctx context.Context, room string, since time.Time, limit int) ([]gateway.Refusal, error) {
	const op = "sqlite.Refusals"
	q := "SELECT id, at, room_id, token_id, reason, officer, stated FROM refusals WHERE at >= ? AND (? = '' OR room_id = ?) ORDER BY id"
	from := int64(math.MinInt64)
	if !since.IsZero() {
		from = since.UnixNano()
	}
	args := []any{from, room, room}
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fail(op, err)
	}
	defer rows.Close()
	var out []gateway.Refusal
	for rows.Next() {
		var (
			r  gateway.Refusal
			at int64
		)
		if err := rows.Scan(&r.ID, &at, &r.RoomID, &r.TokenID, &r.Reason, &r.Officer, &r.Stated); err != nil {
			return nil, fail(op, err)
		}
		r.At = time.Unix(0, at).UTC()
		out = append(out, r)
	}
	return out, fail(op, rows.Err())
}
