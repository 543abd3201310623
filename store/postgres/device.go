package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/safeconnection/gateway"
)

// deviceCols are the columns scanDevice reads, from devices d. A lease is
// live while its expiry is ahead of the database's clock.
const deviceCols = deviceLeaseCols + `, (d.lease_holder IS NOT NULL AND d.lease_expires_at > clock_timestamp())`

// claimedCols are deviceCols for a device just claimed: its lease is shown
// even if its TTL has already run out.
const claimedCols = deviceLeaseCols + `, true`

// deviceLeaseCols are deviceCols but the last, which says whether the lease
// is live.
const deviceLeaseCols = `d.id, d.room_id, d.name, d.number, d.handles, d.status, d.battery, d.apps,
	d.last_seen, d.last_used, d.version, d.charging, d.fence, d.lease_holder, d.lease_claimed_at, d.lease_expires_at`

// scanDevice reads one row of deviceCols, and any columns after it into
// extra.
func scanDevice(row pgx.Row, extra ...any) (gateway.Device, error) {
	var (
		d                  gateway.Device
		handles, apps      []byte
		lastSeen, lastUsed *time.Time
		fence              int64
		holder             *string
		claimed, expires   *time.Time
		live               bool
	)
	err := row.Scan(append([]any{&d.ID, &d.RoomID, &d.Name, &d.Number, &handles, &d.Status, &d.Battery, &apps,
		&lastSeen, &lastUsed, &d.Version, &d.Charging, &fence, &holder, &claimed, &expires, &live}, extra...)...)
	if err != nil {
		return gateway.Device{}, err
	}
	if err := json.Unmarshal(handles, &d.Handles); err != nil {
		return gateway.Device{}, err
	}
	if err := json.Unmarshal(apps, &d.Apps); err != nil {
		return gateway.Device{}, err
	}
	if len(d.Handles) == 0 {
		d.Handles = nil
	}
	if len(d.Apps) == 0 {
		d.Apps = nil
	}
	d.LastSeen, d.LastUsed = timeOf(lastSeen), timeOf(lastUsed)
	if live {
		d.Lease = &gateway.Lease{DeviceID: d.ID, RoomID: d.RoomID, Holder: *holder, Fence: fence,
			ClaimedAt: timeOf(claimed), ExpiresAt: timeOf(expires)}
	}
	return d, nil
}

// jsonText marshals v for a jsonb parameter: a nil map or slice is JSON null.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// checkDevice reports what makes d unfit to store: EINVALID.
func (s *Store) checkDevice(op string, d gateway.Device) error {
	if d.ID == "" || d.RoomID == "" {
		return invalid(op, "a device needs an ID and a room")
	}
	if _, err := gateway.ParseDeviceStatus(string(d.Status)); err != nil {
		return &gateway.Error{Op: op, Code: gateway.EINVALID, Message: gateway.ErrorMessage(err), Err: err}
	}
	for c := range d.Handles {
		if s.Channels == nil && !c.Valid() {
			return invalid(op, "a handle names a channel that is not a channel name")
		}
		if _, err := s.Channels.Parse(string(c)); s.Channels != nil && err != nil {
			return &gateway.Error{Op: op, Code: gateway.EINVALID, Message: gateway.ErrorMessage(err), Err: err}
		}
	}
	return nil
}

// CreateDevice adds a device, in service and never seen (battery -1, no
// apps, version 1), and publishes its room on TopicDevices. ECONFLICT if the
// ID exists; EINVALID if the device has no ID or room, or a handle for an
// unknown channel.
func (s *Store) CreateDevice(ctx context.Context, d gateway.Device) (gateway.Device, error) {
	return s.createDevice(ctx, "postgres.CreateDevice", d, nil)
}

// createDevice adds a device with its first version in its history, and ev
// in the ops record when it is not nil, in one transaction.
func (s *Store) createDevice(ctx context.Context, op string, d gateway.Device, ev *gateway.OpsEvent) (gateway.Device, error) {
	d.Status = gateway.DeviceInService
	if err := s.checkDevice(op, d); err != nil {
		return gateway.Device{}, err
	}
	handles, err := jsonText(d.Handles)
	if err != nil {
		return gateway.Device{}, gateway.E(op, gateway.EINTERNAL, err)
	}
	var out gateway.Device
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanDevice(tx.QueryRow(ctx, `INSERT INTO devices AS d (id, room_id, name, number, handles, status, battery, apps, version)
			VALUES ($1, $2, $3, $4, $5::jsonb, 'in_service', -1, '[]', 1)
			RETURNING `+deviceCols, d.ID, d.RoomID, d.Name, d.Number, handles))
		if uniqueViolation(err, "devices_pkey") {
			return conflict(op, "device %q exists", d.ID)
		}
		if err != nil {
			return err
		}
		if ev == nil {
			return insertVersion(ctx, tx, out, "", "")
		}
		if err := insertVersion(ctx, tx, out, ev.Actor.ID, ev.Reason); err != nil {
			return err
		}
		e := *ev
		e.DeviceID, e.RoomID, e.After = out.ID, out.RoomID, snapshotOf(out)
		_, err = insertOpsEvent(ctx, tx, op, e)
		return err
	})
	if err != nil {
		return gateway.Device{}, s.fail(op, err)
	}
	s.publishAfterCommit(ctx, gateway.TopicDevices, out.RoomID)
	return out, nil
}

// Device returns one device with its live lease, if any. ENOTFOUND.
func (s *Store) Device(ctx context.Context, id string) (gateway.Device, error) {
	const op = "postgres.Device"
	d, err := scanDevice(s.pool.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices d WHERE d.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Device{}, notFound(op, "device", id)
	}
	return d, s.fail(op, err)
}

// Devices lists devices with their live leases, ordered by room and ID; an
// empty room lists every room. Retired devices only when withRetired.
func (s *Store) Devices(ctx context.Context, room string, withRetired bool) ([]gateway.Device, error) {
	const op = "postgres.Devices"
	rows, err := s.pool.Query(ctx, `SELECT `+deviceCols+` FROM devices d
		WHERE ($1 = '' OR d.room_id = $1) AND ($2 OR d.status <> 'retired')
		ORDER BY d.room_id, d.id`, room, withRetired)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.Device, error) { return scanDevice(r) })
	return out, s.fail(op, err)
}

// UpdateDevice reads the device, applies fn and writes back its room, name,
// number, handles and status in one transaction, bumping Version. The lease,
// heartbeat and last use are not fn's to change. When the device comes into
// service or moves room while in service, it publishes the room on
// TopicDevices. ENOTFOUND; ECONFLICT when the device is retired; EINVALID
// when fn leaves no room, an unknown status or a handle for an unknown
// channel; fn's error as is.
func (s *Store) UpdateDevice(ctx context.Context, id string, fn func(*gateway.Device) error) (gateway.Device, error) {
	const op = "postgres.UpdateDevice"
	var before, out gateway.Device
	err := s.tx(ctx, func(tx pgx.Tx) error {
		d, err := scanDevice(tx.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices d WHERE d.id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(op, "device", id)
		}
		if err != nil {
			return err
		}
		if d.Status == gateway.DeviceRetired {
			return conflict(op, "device %q is retired", id)
		}
		before = d
		if err := fn(&d); err != nil {
			return fnError{err}
		}
		d.ID = id
		if err := s.checkDevice(op, d); err != nil {
			return err
		}
		handles, err := jsonText(d.Handles)
		if err != nil {
			return err
		}
		out, err = scanDevice(tx.QueryRow(ctx, `UPDATE devices d SET room_id = $2, name = $3, number = $4,
			handles = $5::jsonb, status = $6, version = d.version + 1
			WHERE d.id = $1 RETURNING `+deviceCols, id, d.RoomID, d.Name, d.Number, handles, string(d.Status)))
		if err != nil {
			return err
		}
		return insertVersion(ctx, tx, out, "", "")
	})
	if err != nil {
		return gateway.Device{}, s.fail(op, err)
	}
	if out.Status == gateway.DeviceInService && (before.Status != gateway.DeviceInService || before.RoomID != out.RoomID) {
		s.publishAfterCommit(ctx, gateway.TopicDevices, out.RoomID)
	}
	return out, nil
}

// Heartbeat records the agent's battery and working apps, not charging,
// with LastSeen the database's clock. ENOTFOUND.
func (s *Store) Heartbeat(ctx context.Context, id string, battery int, apps []gateway.Channel) (gateway.Device, error) {
	return s.RecordHeartbeat(ctx, id, gateway.HeartbeatReport{Battery: battery, Apps: apps})
}

// RecordHeartbeat records the agent's battery, charging and working apps,
// with LastSeen the database's clock. ENOTFOUND.
func (s *Store) RecordHeartbeat(ctx context.Context, id string, hb gateway.HeartbeatReport) (gateway.Device, error) {
	const op = "postgres.Heartbeat"
	apps := hb.Apps
	if apps == nil {
		apps = []gateway.Channel{}
	}
	a, err := jsonText(apps)
	if err != nil {
		return gateway.Device{}, gateway.E(op, gateway.EINTERNAL, err)
	}
	d, err := scanDevice(s.pool.QueryRow(ctx, `UPDATE devices d SET battery = $2, apps = $3::jsonb, charging = $4,
		last_seen = clock_timestamp()
		WHERE d.id = $1 RETURNING `+deviceCols, id, hb.Battery, a, hb.Charging))
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Device{}, notFound(op, "device", id)
	}
	return d, s.fail(op, err)
}

// candidatesSQL lists, without locking, the devices a claim may take before
// their health is judged: in service, in one of the rooms $1, supporting
// channel $2, free (no lease, or one expired), not excluded ($3), in the
// claim's order: room, least recently used, ID. The last column is the
// database's clock, which their heartbeats are judged by.
const candidatesSQL = `SELECT ` + deviceCols + `, clock_timestamp()
	FROM devices d
	WHERE d.room_id = ANY ($1::text[])
	  AND d.status = 'in_service'
	  AND (CASE WHEN $2 = 'pstn' THEN d.number <> '' ELSE coalesce(d.handles ->> $2, '') <> '' END)
	  AND (d.lease_holder IS NULL OR d.lease_expires_at <= clock_timestamp())
	  AND NOT (d.id = ANY ($3::text[]))
	ORDER BY array_position($1::text[], d.room_id), d.last_used ASC NULLS FIRST, d.id`

// claimSQL claims a device in one statement. pick takes the eligible device
// of the first room in $1's order that has one, least recently used first,
// among the healthy candidates $3 (device IDs) whose last heartbeat is still
// the one judged ($7, in step; NULL for never seen),
// and locks it, skipping devices that other transactions hold; its clock is
// read after the row qualified, so a claim never starts before the release
// or expiry that freed the device. expired closes a lease taken over after
// it expired unswept; claimed sets the new lease with the next fence; history
// records it.
const claimSQL = `WITH pick AS (
		SELECT d.id, d.fence, d.lease_holder, d.lease_expires_at, clock_timestamp() AS now
		FROM devices d
		WHERE d.room_id = ANY ($1::text[])
		  AND d.status = 'in_service'
		  AND (CASE WHEN $2 = 'pstn' THEN d.number <> '' ELSE coalesce(d.handles ->> $2, '') <> '' END)
		  AND (d.lease_holder IS NULL OR d.lease_expires_at <= clock_timestamp())
		  AND EXISTS (SELECT 1 FROM unnest($3::text[], $7::timestamptz[]) AS h(id, seen)
			WHERE h.id = d.id AND h.seen IS NOT DISTINCT FROM d.last_seen)
		  AND NOT (d.id = ANY ($4::text[]))
		  AND d.pending IS NULL
		ORDER BY array_position($1::text[], d.room_id), d.last_used ASC NULLS FIRST, d.id
		LIMIT 1
		FOR UPDATE SKIP LOCKED
	), expired AS (
		UPDATE claims c SET released_at = pick.lease_expires_at, reason = 'expired'
		FROM pick
		WHERE pick.lease_holder IS NOT NULL AND c.device_id = pick.id AND c.fence = pick.fence AND c.released_at IS NULL
	), claimed AS (
		UPDATE devices d SET fence = d.fence + 1, lease_holder = $5, lease_claimed_at = pick.now,
			lease_expires_at = pick.now + $6::bigint * interval '1 microsecond', last_used = pick.now
		FROM pick WHERE d.id = pick.id
		RETURNING ` + claimedCols + `
	), history AS (
		INSERT INTO claims (device_id, fence, holder, claimed_at)
		SELECT id, fence, lease_holder, lease_claimed_at FROM claimed
	)
	SELECT * FROM claimed`

// Claim takes the least recently used free, in-service device that the
// request's health policy says serves the channel (fresh, the app signed in,
// battery above the floor or charging), trying the rooms in order, and
// leases it to the holder with the next fence. It reads the candidates,
// judges them with the policy against the database's clock, and claims the
// first healthy one in one statement, provided its heartbeat is still the
// one judged; it reads again when another transaction took them all or a
// heartbeat came between. A lease that has expired but was not
// swept counts as free: it is recorded as expired, at its expiry, in the
// history when taken over. EUNAVAILABLE when no device qualifies; EINVALID
// for a request without rooms, holder or a positive TTL.
func (s *Store) Claim(ctx context.Context, req gateway.ClaimRequest) (gateway.Lease, gateway.Device, error) {
	const op = "postgres.Claim"
	if len(req.RoomIDs) == 0 {
		return gateway.Lease{}, gateway.Device{}, invalid(op, "a claim needs at least one room")
	}
	if req.Holder == "" {
		return gateway.Lease{}, gateway.Device{}, invalid(op, "a claim needs a holder")
	}
	if req.TTL <= 0 {
		return gateway.Lease{}, gateway.Device{}, invalid(op, "a claim needs a positive TTL")
	}
	exclude := req.Exclude
	if exclude == nil {
		exclude = []string{}
	}
	for range claimReads {
		ids, seen, err := s.healthyCandidates(ctx, req, exclude)
		if err != nil {
			return gateway.Lease{}, gateway.Device{}, s.fail(op, err)
		}
		if len(ids) == 0 {
			break
		}
		dev, err := scanDevice(s.pool.QueryRow(ctx, claimSQL, req.RoomIDs, string(req.Channel), ids,
			exclude, req.Holder, micros(req.TTL), seen))
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return gateway.Lease{}, gateway.Device{}, s.fail(op, err)
		}
		return *dev.Lease, dev, nil
	}
	return gateway.Lease{}, gateway.Device{}, &gateway.Error{Op: op, Code: gateway.EUNAVAILABLE,
		Message: fmt.Sprintf("no free %s device in %v", req.Channel, req.RoomIDs)}
}

// claimReads is how many times a claim reads its candidates before it gives
// up: a read finds healthy ones that other claims or heartbeats then change.
const claimReads = 3

// healthyCandidates lists, in the claim's order, the free candidates that
// the request's health policy says serve the channel now, and the last
// heartbeat each was judged on (nil for never seen).
func (s *Store) healthyCandidates(ctx context.Context, req gateway.ClaimRequest, exclude []string) ([]string, []*time.Time, error) {
	rows, err := s.pool.Query(ctx, candidatesSQL, req.RoomIDs, string(req.Channel), exclude)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	health := req.Health()
	ids, seen := []string{}, []*time.Time{}
	for rows.Next() {
		var now time.Time
		d, err := scanDevice(rows, &now)
		if err != nil {
			return nil, nil, err
		}
		if !health.Serves(d, req.Channel, now.UTC()) {
			continue
		}
		ids = append(ids, d.ID)
		if d.LastSeen.IsZero() {
			seen = append(seen, nil)
		} else {
			at := d.LastSeen
			seen = append(seen, &at)
		}
	}
	return ids, seen, rows.Err()
}

// leaseCols are the columns scanLease reads, from a devices row.
const leaseCols = `id, room_id, lease_holder, fence, lease_claimed_at, lease_expires_at`

// scanLease reads one row of leaseCols.
func scanLease(row pgx.Row) (gateway.Lease, error) {
	var l gateway.Lease
	err := row.Scan(&l.DeviceID, &l.RoomID, &l.Holder, &l.Fence, &l.ClaimedAt, &l.ExpiresAt)
	l.ClaimedAt, l.ExpiresAt = l.ClaimedAt.UTC(), l.ExpiresAt.UTC()
	return l, err
}

// Renew extends a live lease by ttl from the database's clock. ECONFLICT
// when the lease is not the device's current live one; EINVALID for a ttl
// that is not positive.
func (s *Store) Renew(ctx context.Context, l gateway.Lease, ttl time.Duration) (gateway.Lease, error) {
	const op = "postgres.Renew"
	if ttl <= 0 {
		return gateway.Lease{}, invalid(op, "a renewal needs a positive TTL")
	}
	out, err := scanLease(s.pool.QueryRow(ctx, `UPDATE devices
		SET lease_expires_at = clock_timestamp() + $4::bigint * interval '1 microsecond'
		WHERE id = $1 AND fence = $2 AND lease_holder = $3 AND lease_expires_at > clock_timestamp()
		RETURNING `+leaseCols, l.DeviceID, l.Fence, l.Holder, micros(ttl)))
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Lease{}, conflict(op, "lease on device %q with fence %d is not current", l.DeviceID, l.Fence)
	}
	return out, s.fail(op, err)
}

// Release ends a live lease and records the reason ("released" when empty)
// in the history, in one statement that also notifies the other instances of
// the device's room on TopicDevices when it commits; this instance's
// subscribers hear of it after. ECONFLICT when the lease is not the device's
// current live one.
func (s *Store) Release(ctx context.Context, l gateway.Lease, reason string) error {
	const op = "postgres.Release"
	if reason == "" {
		reason = "released"
	}
	var room string
	var notified bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `WITH freed AS (
			UPDATE devices SET lease_holder = NULL, lease_claimed_at = NULL, lease_expires_at = NULL
			WHERE id = $1 AND fence = $2 AND lease_holder = $3 AND lease_expires_at > clock_timestamp()
			RETURNING id, fence, room_id, clock_timestamp() AS at
		), history AS (
			UPDATE claims c SET released_at = freed.at, reason = $4
			FROM freed WHERE c.device_id = freed.id AND c.fence = freed.fence AND c.released_at IS NULL
		)
		SELECT room_id, pg_notify($5, $6 || room_id)::text IS NOT NULL FROM freed`,
			l.DeviceID, l.Fence, l.Holder, reason, s.channel, s.notifyPrefix(gateway.TopicDevices)).Scan(&room, &notified)
		if errors.Is(err, pgx.ErrNoRows) {
			return conflict(op, "lease on device %q with fence %d is not current", l.DeviceID, l.Fence)
		}
		if err != nil {
			return err
		}
		return s.applyPending(ctx, tx, op, l.DeviceID)
	})
	if err != nil {
		return s.fail(op, err)
	}
	s.bus.Publish(ctx, gateway.TopicDevices, room)
	return nil
}

// ExpireLeases frees every lease whose expiry has passed by the database's
// clock, records them as expired (at their expiry) in the history, returns
// them, and publishes each room concerned on TopicDevices.
func (s *Store) ExpireLeases(ctx context.Context) ([]gateway.Lease, error) {
	const op = "postgres.ExpireLeases"
	var out []gateway.Lease
	err := s.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH gone AS (
			SELECT `+leaseCols+` FROM devices
			WHERE lease_holder IS NOT NULL AND lease_expires_at <= clock_timestamp()
			FOR UPDATE SKIP LOCKED
		), freed AS (
			UPDATE devices d SET lease_holder = NULL, lease_claimed_at = NULL, lease_expires_at = NULL
			FROM gone WHERE d.id = gone.id
			RETURNING gone.*
		), history AS (
			UPDATE claims c SET released_at = freed.lease_expires_at, reason = 'expired'
			FROM freed WHERE c.device_id = freed.id AND c.fence = freed.fence AND c.released_at IS NULL
		)
		SELECT `+leaseCols+` FROM freed ORDER BY lease_expires_at, id`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.Lease, error) { return scanLease(r) })
		if err != nil {
			return err
		}
		for _, l := range out {
			if err := s.applyPending(ctx, tx, op, l.DeviceID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(op, err)
	}
	var rooms []string
	for _, l := range out {
		if !slices.Contains(rooms, l.RoomID) {
			rooms = append(rooms, l.RoomID)
			s.publishAfterCommit(ctx, gateway.TopicDevices, l.RoomID)
		}
	}
	return out, nil
}

// ClaimHistory lists claims oldest first; an empty device ID lists all.
func (s *Store) ClaimHistory(ctx context.Context, deviceID string) ([]gateway.ClaimRecord, error) {
	const op = "postgres.ClaimHistory"
	rows, err := s.pool.Query(ctx, `SELECT device_id, fence, holder, claimed_at, released_at, reason FROM claims
		WHERE $1 = '' OR device_id = $1 ORDER BY claimed_at, id`, deviceID)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.ClaimRecord, error) {
		var c gateway.ClaimRecord
		err := r.Scan(&c.DeviceID, &c.Fence, &c.Holder, &c.ClaimedAt, &c.ReleasedAt, &c.Reason)
		c.ClaimedAt, c.ReleasedAt = c.ClaimedAt.UTC(), utcPtr(c.ReleasedAt)
		return c, err
	})
	return out, s.fail(op, err)
}

// FreeDevices counts routable free devices by room: in service, no live
// lease, heartbeat within stale (zero stale skips that check). Every room
// with a device that is not retired is in the map, with 0 when none is free.
func (s *Store) FreeDevices(ctx context.Context, stale time.Duration) (map[string]int, error) {
	const op = "postgres.FreeDevices"
	rows, err := s.pool.Query(ctx, `SELECT room_id, count(*) FILTER (WHERE status = 'in_service'
			AND (lease_holder IS NULL OR lease_expires_at <= clock_timestamp())
			AND ($1::bigint <= 0 OR last_seen >= clock_timestamp() - $1::bigint * interval '1 microsecond'))
		FROM devices WHERE status <> 'retired'
		GROUP BY room_id`, micros(stale))
	if err != nil {
		return nil, s.fail(op, err)
	}
	out := map[string]int{}
	var room string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&room, &n}, func() error { out[room] = n; return nil })
	if err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}
