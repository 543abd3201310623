package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/safeconnection/gateway"
)

// deskCols are the columns scanDesk reads, from a desk_leases row.
const deskCols = `room_id, line, holder, fence, claimed_at, expires_at`

// scanDesk reads one row of deskCols.
func scanDesk(row pgx.Row) (gateway.DeskLease, error) {
	var l gateway.DeskLease
	err := row.Scan(&l.RoomID, &l.Line, &l.Holder, &l.Fence, &l.ClaimedAt, &l.ExpiresAt)
	l.ClaimedAt, l.ExpiresAt = l.ClaimedAt.UTC(), l.ExpiresAt.UTC()
	return l, err
}

// ClaimDesk takes the lowest free line of the room's desk, each line in one
// statement that waits on a concurrent claim of it and then sees it held.
// EUNAVAILABLE when every line is held; EINVALID for a claim without room,
// holder, lines or TTL.
func (s *Store) ClaimDesk(ctx context.Context, roomID string, lines int, holder string, ttl time.Duration) (gateway.DeskLease, error) {
	const op = "postgres.ClaimDesk"
	switch {
	case roomID == "":
		return gateway.DeskLease{}, invalid(op, "a desk claim needs a room")
	case holder == "":
		return gateway.DeskLease{}, invalid(op, "a desk claim needs a holder")
	case lines <= 0:
		return gateway.DeskLease{}, invalid(op, "a desk has at least one line, not %d", lines)
	case ttl <= 0:
		return gateway.DeskLease{}, invalid(op, "a desk claim needs a positive TTL")
	}
	for line := range lines {
		l, err := scanDesk(s.pool.QueryRow(ctx, `INSERT INTO desk_leases AS d (`+deskCols+`)
			VALUES ($1, $2, $3, 1, clock_timestamp(), clock_timestamp() + $4::bigint * interval '1 microsecond')
			ON CONFLICT (room_id, line) DO UPDATE SET holder = excluded.holder, fence = d.fence + 1,
				claimed_at = excluded.claimed_at, expires_at = excluded.expires_at
			WHERE d.expires_at <= excluded.claimed_at
			RETURNING `+deskCols, roomID, line, holder, micros(ttl)))
		if errors.Is(err, pgx.ErrNoRows) {
			continue // held
		}
		if err != nil {
			return gateway.DeskLease{}, s.fail(op, err)
		}
		return l, nil
	}
	return gateway.DeskLease{}, &gateway.Error{Op: op, Code: gateway.EUNAVAILABLE,
		Message: fmt.Sprintf("every line of the supervisor desk of room %s is busy", roomID)}
}

// RenewDesk extends a live desk lease by ttl from the database's clock.
// ECONFLICT when it is not the line's current live one.
func (s *Store) RenewDesk(ctx context.Context, l gateway.DeskLease, ttl time.Duration) (gateway.DeskLease, error) {
	const op = "postgres.RenewDesk"
	if ttl <= 0 {
		return gateway.DeskLease{}, invalid(op, "a renewal needs a positive TTL")
	}
	out, err := scanDesk(s.pool.QueryRow(ctx, `UPDATE desk_leases
		SET expires_at = clock_timestamp() + $5::bigint * interval '1 microsecond'
		WHERE room_id = $1 AND line = $2 AND fence = $3 AND holder = $4 AND expires_at > clock_timestamp()
		RETURNING `+deskCols, l.RoomID, l.Line, l.Fence, l.Holder, micros(ttl)))
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.DeskLease{}, staleDesk(op, l)
	}
	return out, s.fail(op, err)
}

// ReleaseDesk frees a desk line. ECONFLICT when the lease is not the line's
// current live one.
func (s *Store) ReleaseDesk(ctx context.Context, l gateway.DeskLease) error {
	const op = "postgres.ReleaseDesk"
	tag, err := s.pool.Exec(ctx, `UPDATE desk_leases SET expires_at = clock_timestamp()
		WHERE room_id = $1 AND line = $2 AND fence = $3 AND holder = $4 AND expires_at > clock_timestamp()`,
		l.RoomID, l.Line, l.Fence, l.Holder)
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return staleDesk(op, l)
	}
	return nil
}

func staleDesk(op string, l gateway.DeskLease) error {
	return conflict(op, "the lease on line %d of the desk of room %s (fence %d, holder %s) is not live: released, expired or superseded",
		l.Line, l.RoomID, l.Fence, l.Holder)
}
