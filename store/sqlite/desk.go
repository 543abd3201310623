package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/safeconnection/gateway"
)

// The statements of desk leases, prepared at Open.
const (
	// claimDeskLine takes line ?2 of room ?1's desk for holder ?3 from ?4
	// until ?5, unless it is held (a lease not expired by ?4).
	claimDeskLine = `INSERT INTO desk_leases (room_id, line, holder, fence, claimed_at, expires_at)
		VALUES (?1, ?2, ?3, 1, ?4, ?5)
		ON CONFLICT (room_id, line) DO UPDATE SET holder = excluded.holder, fence = desk_leases.fence + 1,
			claimed_at = excluded.claimed_at, expires_at = excluded.expires_at
		WHERE desk_leases.expires_at <= excluded.claimed_at
		RETURNING fence`
	renewDeskLine = `UPDATE desk_leases SET expires_at = ?1
		WHERE room_id = ?2 AND line = ?3 AND fence = ?4 AND holder = ?5 AND expires_at > ?6
		RETURNING claimed_at`
	releaseDeskLine = `UPDATE desk_leases SET expires_at = ?1
		WHERE room_id = ?2 AND line = ?3 AND fence = ?4 AND holder = ?5 AND expires_at > ?1`
)

// ClaimDesk takes the lowest free line of the room's desk, in one write.
// EUNAVAILABLE when every line is held; EINVALID for a claim without room,
// holder, lines or TTL.
func (s *Store) ClaimDesk(ctx context.Context, roomID string, lines int, holder string, ttl time.Duration) (gateway.DeskLease, error) {
	const op = "sqlite.ClaimDesk"
	if err := checkDeskClaim(roomID, lines, holder, ttl); err != nil {
		return gateway.DeskLease{}, fail(op, err)
	}
	var out gateway.DeskLease
	err := s.write(ctx, func(tx tx, now time.Time) error {
		for line := range lines {
			var fence int64
			err := tx.QueryRowContext(ctx, claimDeskLine, roomID, line, holder, now.UnixNano(), now.Add(ttl).UnixNano()).Scan(&fence)
			if errors.Is(err, sql.ErrNoRows) {
				continue // held
			}
			if err != nil {
				return err
			}
			out = gateway.DeskLease{RoomID: roomID, Line: line, Holder: holder, Fence: fence, ClaimedAt: now, ExpiresAt: now.Add(ttl)}
			return nil
		}
		return gateway.Errorf(gateway.EUNAVAILABLE, "every line of the supervisor desk of room %s is busy", roomID)
	})
	if err != nil {
		return gateway.DeskLease{}, fail(op, err)
	}
	return out, nil
}

// RenewDesk extends a live desk lease by ttl from now. ECONFLICT when it
// is not the line's current live one.
func (s *Store) RenewDesk(ctx context.Context, l gateway.DeskLease, ttl time.Duration) (gateway.DeskLease, error) {
	const op = "sqlite.RenewDesk"
	if ttl <= 0 {
		return gateway.DeskLease{}, fail(op, gateway.Errorf(gateway.EINVALID, "a renewal needs a positive TTL"))
	}
	err := s.write(ctx, func(tx tx, now time.Time) error {
		var claimed int64
		err := tx.QueryRowContext(ctx, renewDeskLine, now.Add(ttl).UnixNano(), l.RoomID, l.Line, l.Fence, l.Holder, now.UnixNano()).Scan(&claimed)
		if errors.Is(err, sql.ErrNoRows) {
			return staleDesk(l)
		}
		l.ClaimedAt, l.ExpiresAt = time.Unix(0, claimed).UTC(), now.Add(ttl)
		return err
	})
	if err != nil {
		return gateway.DeskLease{}, fail(op, err)
	}
	return l, nil
}

// ReleaseDesk frees a desk line. ECONFLICT when the lease is not the line's
// current live one.
func (s *Store) ReleaseDesk(ctx context.Context, l gateway.DeskLease) error {
	const op = "sqlite.ReleaseDesk"
	return fail(op, s.write(ctx, func(tx tx, now time.Time) error {
		res, err := tx.ExecContext(ctx, releaseDeskLine, now.UnixNano(), l.RoomID, l.Line, l.Fence, l.Holder)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			return staleDesk(l)
		}
		return err
	}))
}

func checkDeskClaim(roomID string, lines int, holder string, ttl time.Duration) error {
	switch {
	case roomID == "":
		return gateway.Errorf(gateway.EINVALID, "a desk claim needs a room")
	case holder == "":
		return gateway.Errorf(gateway.EINVALID, "a desk claim needs a holder")
	case lines <= 0:
		return gateway.Errorf(gateway.EINVALID, "a desk has at least one line, not %d", lines)
	case ttl <= 0:
		return gateway.Errorf(gateway.EINVALID, "a desk claim needs a positive TTL")
	}
	return nil
}

func staleDesk(l gateway.DeskLease) error {
	return gateway.Errorf(gateway.ECONFLICT, "the lease on line %d of the desk of room %s (fence %d, holder %s) is not live: released, expired or superseded",
		l.Line, l.RoomID, l.Fence, l.Holder)
}
