package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/safeconnection/gateway"
)

// deviceSelect reads devices with their live lease; ?1 is the store's clock.
const deviceSelect = `SELECT d.id, d.room_id, d.name, d.number, d.handles, d.status, d.battery, d.apps,
	d.last_seen, d.last_used, d.version, d.charging,
	c.room_id, c.holder, c.fence, c.claimed_at, c.expires_at
FROM devices d
LEFT JOIN claims c ON c.device_id = d.id AND c.released_at IS NULL AND c.expires_at > ?1`

// scanDevice reads one row of deviceSelect, and any columns after it into
// extra.
func scanDevice(row interface{ Scan(...any) error }, extra ...any) (gateway.Device, error) {
	var (
		d                  gateway.Device
		handles, apps      string
		lastSeen, lastUsed sql.NullInt64
		lRoom, lHolder     sql.NullString
		lFence             sql.NullInt64
		lClaimed, lExpires sql.NullInt64
	)
	err := row.Scan(append([]any{&d.ID, &d.RoomID, &d.Name, &d.Number, &handles, &d.Status, &d.Battery, &apps,
		&lastSeen, &lastUsed, &d.Version, &d.Charging,
		&lRoom, &lHolder, &lFence, &lClaimed, &lExpires}, extra...)...)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal([]byte(handles), &d.Handles); err != nil {
		return d, err
	}
	if len(d.Handles) == 0 {
		d.Handles = nil
	}
	if err := json.Unmarshal([]byte(apps), &d.Apps); err != nil {
		return d, err
	}
	if len(d.Apps) == 0 {
		d.Apps = nil
	}
	d.LastSeen, d.LastUsed = timeOf(lastSeen), timeOf(lastUsed)
	if lFence.Valid {
		d.Lease = &gateway.Lease{
			DeviceID:  d.ID,
			RoomID:    lRoom.String,
			Holder:    lHolder.String,
			Fence:     lFence.Int64,
			ClaimedAt: timeOf(lClaimed),
			ExpiresAt: timeOf(lExpires),
		}
	}
	return d, nil
}

// deviceByID reads one device with its live lease; ?1 is the store's
// clock, ?2 the ID.
const deviceByID = deviceSelect + " WHERE d.id = ?2"

// device reads one device with its live lease. ENOTFOUND.
func device(ctx context.Context, q querier, id string, now time.Time) (gateway.Device, error) {
	d, err := scanDevice(q.QueryRowContext(ctx, deviceByID, now.UnixNano(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, gateway.Errorf(gateway.ENOTFOUND, "no device %q", id)
	}
	return d, err
}

// checkDevice reports what makes d unfit to store: EINVALID.
func checkDevice(d gateway.Device) error {
	if d.ID == "" {
		return gateway.Errorf(gateway.EINVALID, "a device needs an ID")
	}
	if d.RoomID == "" {
		return gateway.Errorf(gateway.EINVALID, "device %s needs a room", d.ID)
	}
	if _, err := gateway.ParseDeviceStatus(string(d.Status)); err != nil {
		return err
	}
	for c := range d.Handles {
		if !c.Valid() {
			return gateway.Errorf(gateway.EINVALID, "device %s: %.40q is not a channel name", d.ID, c)
		}
	}
	return nil
}

// CreateDevice adds a device, in service and never seen (battery unknown, no
// apps). ECONFLICT if the ID exists, EINVALID without an ID or room.
func (s *Store) CreateDevice(ctx context.Context, d gateway.Device) (gateway.Device, error) {
	return s.createDevice(ctx, "sqlite.CreateDevice", d, nil)
}

// createDevice adds a device with its first version in its history, and ev
// in the ops record when it is not nil.
func (s *Store) createDevice(ctx context.Context, op string, d gateway.Device, ev *gateway.OpsEvent) (gateway.Device, error) {
	d.Status = gateway.DeviceInService
	if err := checkDevice(d); err != nil {
		return gateway.Device{}, fail(op, err)
	}
	handles, err := jsonText(d.Handles)
	if err != nil {
		return gateway.Device{}, fail(op, err)
	}
	var out gateway.Device
	err = s.write(ctx, func(tx tx, now time.Time) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO devices (id, room_id, name, number, handles, status, battery, apps, version)
			VALUES (?, ?, ?, ?, ?, ?, -1, '[]', 1)`,
			d.ID, d.RoomID, d.Name, d.Number, handles, d.Status)
		if isUnique(err) {
			return gateway.Errorf(gateway.ECONFLICT, "device %s exists", d.ID)
		}
		if err != nil {
			return err
		}
		if out, err = device(ctx, tx, d.ID, now); err != nil {
			return err
		}
		if ev == nil {
			return insertVersion(ctx, tx, out, "", "", now)
		}
		if err := insertVersion(ctx, tx, out, ev.Actor.ID, ev.Reason, now); err != nil {
			return err
		}
		e := *ev
		e.DeviceID, e.RoomID, e.After = out.ID, out.RoomID, snapshotOf(out)
		_, err = insertOpsEvent(ctx, tx, e, now)
		return err
	})
	if err != nil {
		return gateway.Device{}, fail(op, err)
	}
	s.notify(ctx, gateway.TopicDevices, out.RoomID)
	return out, nil
}

// Device returns one device with its live lease, if any. ENOTFOUND.
func (s *Store) Device(ctx context.Context, id string) (gateway.Device, error) {
	d, err := device(ctx, s.reads(), id, s.now())
	if err != nil {
		return gateway.Device{}, fail("sqlite.Device", err)
	}
	return d, nil
}

// Devices lists devices with their live leases, ordered by room and ID; an
// empty room lists every room. Retired devices only when asked.
func (s *Store) Devices(ctx context.Context, room string, withRetired bool) ([]gateway.Device, error) {
	rows, err := s.rdb.QueryContext(ctx, deviceSelect+`
		WHERE (?2 = '' OR d.room_id = ?2) AND (?3 OR d.status != 'retired')
		ORDER BY d.room_id, d.id`, s.now().UnixNano(), room, withRetired)
	if err != nil {
		return nil, fail("sqlite.Devices", err)
	}
	defer rows.Close()
	var out []gateway.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fail("sqlite.Devices", err)
		}
		out = append(out, d)
	}
	return out, fail("sqlite.Devices", rows.Err())
}

// UpdateDevice reads the device, applies fn and writes back its room, name,
// number, handles and status in one transaction, bumping Version. The rest
// (heartbeat, last use, lease) is the store's to keep: a live lease is never
// touched. ENOTFOUND; ECONFLICT when the device is retired; EINVALID when fn
// leaves it without a room or with an unknown status or channel; fn's error
// as is.
func (s *Store) UpdateDevice(ctx context.Context, id string, fn func(*gateway.Device) error) (gateway.Device, error) {
	const op = "sqlite.UpdateDevice"
	var before, out gateway.Device
	err := s.write(ctx, func(tx tx, now time.Time) error {
		d, err := device(ctx, tx, id, now)
		if err != nil {
			return err
		}
		if d.Status == gateway.DeviceRetired {
			return gateway.Errorf(gateway.ECONFLICT, "device %s is retired", id)
		}
		before = d
		if err := fn(&d); err != nil {
			return fnError{err}
		}
		d.ID = id
		if err := checkDevice(d); err != nil {
			return err
		}
		handles, err := jsonText(d.Handles)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET room_id = ?, name = ?, number = ?, handles = ?, status = ?,
			version = version + 1 WHERE id = ?`,
			d.RoomID, d.Name, d.Number, handles, d.Status, id); err != nil {
			return err
		}
		if out, err = device(ctx, tx, id, now); err != nil {
			return err
		}
		return insertVersion(ctx, tx, out, "", "", now)
	})
	if err != nil {
		return gateway.Device{}, fail(op, err)
	}
	if out.Status == gateway.DeviceInService && (before.Status != gateway.DeviceInService || before.RoomID != out.RoomID) {
		s.notify(ctx, gateway.TopicDevices, out.RoomID)
	}
	return out, nil
}

// heartbeat records a device's battery, charging, apps and last heartbeat.
const heartbeat = "UPDATE devices SET battery = ?, charging = ?, apps = ?, last_seen = ? WHERE id = ?"

// Heartbeat records that the device's agent is alive, with its battery and
// working apps, not charging; LastSeen is the store's clock. ENOTFOUND.
func (s *Store) Heartbeat(ctx context.Context, id string, battery int, apps []gateway.Channel) (gateway.Device, error) {
	return s.RecordHeartbeat(ctx, id, gateway.HeartbeatReport{Battery: battery, Apps: apps})
}

// RecordHeartbeat records that the device's agent is alive, with its
// battery, charging and working apps; LastSeen is the store's clock.
// ENOTFOUND.
func (s *Store) RecordHeartbeat(ctx context.Context, id string, hb gateway.HeartbeatReport) (gateway.Device, error) {
	const op = "sqlite.Heartbeat"
	apps := hb.Apps
	if apps == nil {
		apps = []gateway.Channel{}
	}
	appsText, err := jsonText(apps)
	if err != nil {
		return gateway.Device{}, fail(op, err)
	}
	var out gateway.Device
	err = s.write(ctx, func(tx tx, now time.Time) error {
		res, err := tx.ExecContext(ctx, heartbeat,
			hb.Battery, hb.Charging, appsText, now.UnixNano(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return gateway.Errorf(gateway.ENOTFOUND, "no device %q", id)
		}
		out, err = device(ctx, tx, id, now)
		return err
	})
	if err != nil {
		return gateway.Device{}, fail(op, err)
	}
	return out, nil
}

// Claim takes, in one transaction, the least recently used device that is in
// service and free and that the request's health policy says serves the
// channel (fresh, the app signed in, battery above the floor or charging),
// trying the rooms in order,
// and leases it to the holder with the device's next fence. A lease that has
// expired but not been swept counts as free; the claim records it as
// expired. EUNAVAILABLE when no device qualifies; EINVALID for a request
// without rooms, holder or TTL.
func (s *Store) Claim(ctx context.Context, req gateway.ClaimRequest) (gateway.Lease, gateway.Device, error) {
	const op = "sqlite.Claim"
	switch {
	case len(req.RoomIDs) == 0:
		return gateway.Lease{}, gateway.Device{}, fail(op, gateway.Errorf(gateway.EINVALID, "a claim needs at least one room"))
	case req.Holder == "":
		return gateway.Lease{}, gateway.Device{}, fail(op, gateway.Errorf(gateway.EINVALID, "a claim needs a holder"))
	case req.TTL <= 0:
		return gateway.Lease{}, gateway.Device{}, fail(op, gateway.Errorf(gateway.EINVALID, "a claim needs a positive TTL"))
	}
	var (
		lease gateway.Lease
		out   gateway.Device
	)
	err := s.write(ctx, func(tx tx, now time.Time) error {
		d, expired, err := pick(ctx, tx, req, now)
		if err != nil {
			return err
		}
		if expired.Valid {
			if _, err := tx.ExecContext(ctx, expireClaim, expired.Int64); err != nil {
				return err
			}
		}
		var fence int64
		if err := tx.QueryRowContext(ctx, bumpFence, now.UnixNano(), d.ID).Scan(&fence); err != nil {
			return err
		}
		lease = gateway.Lease{
			DeviceID:  d.ID,
			RoomID:    d.RoomID,
			Holder:    req.Holder,
			Fence:     fence,
			ClaimedAt: now,
			ExpiresAt: now.Add(req.TTL),
		}
		if _, err := tx.ExecContext(ctx, insertClaim,
			lease.DeviceID, lease.RoomID, lease.Fence, lease.Holder, lease.ClaimedAt.UnixNano(), lease.ExpiresAt.UnixNano()); err != nil {
			return err
		}
		d.LastUsed = now
		d.Lease = &lease
		out = d
		return nil
	})
	if err != nil {
		return gateway.Lease{}, gateway.Device{}, fail(op, err)
	}
	return lease, out, nil
}

// The statements of claims and releases, prepared at Open.
const (
	// pickQuery lists the candidates of room ?1, least recently used (never
	// used first of all): in service, and no open claim or one expired by
	// ?2. The device's health (heartbeat, apps, battery) for the channel and
	// the exclusions are checked in Go.
	pickQuery = `SELECT d.id, d.room_id, d.name, d.number, d.handles, d.status, d.battery, d.apps,
		d.last_seen, d.last_used, d.version, d.charging,
		NULL, NULL, NULL, NULL, NULL, c.id
	FROM devices d
	LEFT JOIN claims c ON c.device_id = d.id AND c.released_at IS NULL
	WHERE d.room_id = ?1 AND d.status = 'in_service'
		AND (c.id IS NULL OR c.expires_at <= ?2)
		AND d.pending IS NULL
	ORDER BY d.last_used, d.id`
	expireClaim = "UPDATE claims SET released_at = expires_at, reason = 'expired' WHERE id = ?"
	bumpFence   = "UPDATE devices SET fence = fence + 1, last_used = ? WHERE id = ? RETURNING fence"
	insertClaim = `INSERT INTO claims (device_id, room_id, fence, holder, claimed_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`
	renewClaim = `UPDATE claims SET expires_at = ?1
		WHERE device_id = ?2 AND fence = ?3 AND holder = ?4 AND released_at IS NULL AND expires_at > ?5
		RETURNING room_id, claimed_at`
	releaseClaim = `UPDATE claims SET released_at = ?1, reason = ?2
		WHERE device_id = ?3 AND fence = ?4 AND holder = ?5 AND released_at IS NULL AND expires_at > ?1
		RETURNING room_id`
)

// pick finds the device a claim takes, and the ID of its expired, unswept
// claim if it has one. EUNAVAILABLE.
func pick(ctx context.Context, q querier, req gateway.ClaimRequest, now time.Time) (gateway.Device, sql.NullInt64, error) {
	health := req.Health()
	for _, room := range req.RoomIDs {
		rows, err := q.QueryContext(ctx, pickQuery, room, now.UnixNano())
		if err != nil {
			return gateway.Device{}, sql.NullInt64{}, err
		}
		for rows.Next() {
			var expired sql.NullInt64
			d, err := scanDevice(rows, &expired)
			if err != nil {
				rows.Close()
				return gateway.Device{}, sql.NullInt64{}, err
			}
			if !slices.Contains(req.Exclude, d.ID) && health.Serves(d, req.Channel, now) {
				rows.Close()
				return d, expired, nil
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return gateway.Device{}, sql.NullInt64{}, err
		}
	}
	return gateway.Device{}, sql.NullInt64{}, gateway.Errorf(gateway.EUNAVAILABLE,
		"no free %s device in %v", req.Channel, req.RoomIDs)
}

// Renew extends a live lease by ttl from now. ECONFLICT when the lease is not
// the device's current live one (released, expired, or a newer fence);
// EINVALID for a ttl that is not positive.
func (s *Store) Renew(ctx context.Context, l gateway.Lease, ttl time.Duration) (gateway.Lease, error) {
	const op = "sqlite.Renew"
	if ttl <= 0 {
		return gateway.Lease{}, fail(op, gateway.Errorf(gateway.EINVALID, "a renewal needs a positive TTL"))
	}
	err := s.write(ctx, func(tx tx, now time.Time) error {
		var claimed int64
		err := tx.QueryRowContext(ctx, renewClaim,
			now.Add(ttl).UnixNano(), l.DeviceID, l.Fence, l.Holder, now.UnixNano()).Scan(&l.RoomID, &claimed)
		if errors.Is(err, sql.ErrNoRows) {
			return staleLease(l)
		}
		l.ClaimedAt, l.ExpiresAt = time.Unix(0, claimed).UTC(), now.Add(ttl)
		return err
	})
	if err != nil {
		return gateway.Lease{}, fail(op, err)
	}
	return l, nil
}

// Release ends a live lease, recording reason ("released" when empty).
// ECONFLICT when it is not the device's current live one: a stale holder
// cannot release a newer claim.
func (s *Store) Release(ctx context.Context, l gateway.Lease, reason string) error {
	const op = "sqlite.Release"
	if reason == "" {
		reason = "released"
	}
	var room string
	err := s.write(ctx, func(tx tx, now time.Time) error {
		err := tx.QueryRowContext(ctx, releaseClaim,
			now.UnixNano(), reason, l.DeviceID, l.Fence, l.Holder).Scan(&room)
		if errors.Is(err, sql.ErrNoRows) {
			return staleLease(l)
		}
		if err != nil {
			return err
		}
		_, err = applyPending(ctx, tx, l.DeviceID, now)
		return err
	})
	if err != nil {
		return fail(op, err)
	}
	s.notify(ctx, gateway.TopicDevices, room)
	return nil
}

// staleLease is the ECONFLICT for a lease that is not live.
func staleLease(l gateway.Lease) error {
	return gateway.Errorf(gateway.ECONFLICT, "the lease on device %s (fence %d, holder %s) is not live: released, expired or superseded",
		l.DeviceID, l.Fence, l.Holder)
}

// ExpireLeases frees every lease whose expiry has passed by the store's
// clock, recording each as expired at its expiry, and returns them.
func (s *Store) ExpireLeases(ctx context.Context) ([]gateway.Lease, error) {
	const op = "sqlite.ExpireLeases"
	var out []gateway.Lease
	err := s.write(ctx, func(tx tx, now time.Time) error {
		out = nil
		rows, err := tx.QueryContext(ctx, `UPDATE claims SET released_at = expires_at, reason = 'expired'
			WHERE released_at IS NULL AND expires_at <= ?
			RETURNING device_id, room_id, holder, fence, claimed_at, expires_at`, now.UnixNano())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				l                gateway.Lease
				claimed, expires int64
			)
			if err := rows.Scan(&l.DeviceID, &l.RoomID, &l.Holder, &l.Fence, &claimed, &expires); err != nil {
				return err
			}
			l.ClaimedAt, l.ExpiresAt = time.Unix(0, claimed).UTC(), time.Unix(0, expires).UTC()
			out = append(out, l)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		for _, l := range out {
			if _, err := applyPending(ctx, tx, l.DeviceID, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fail(op, err)
	}
	slices.SortFunc(out, func(a, b gateway.Lease) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	rooms := map[string]bool{}
	for _, l := range out {
		if !rooms[l.RoomID] {
			rooms[l.RoomID] = true
			s.notify(ctx, gateway.TopicDevices, l.RoomID)
		}
	}
	return out, nil
}

// ClaimHistory lists claims oldest first; an empty device ID lists all.
func (s *Store) ClaimHistory(ctx context.Context, deviceID string) ([]gateway.ClaimRecord, error) {
	const op = "sqlite.ClaimHistory"
	rows, err := s.rdb.QueryContext(ctx, `SELECT device_id, fence, holder, claimed_at, released_at, reason
		FROM claims WHERE (?1 = '' OR device_id = ?1) ORDER BY claimed_at, id`, deviceID)
	if err != nil {
		return nil, fail(op, err)
	}
	defer rows.Close()
	var out []gateway.ClaimRecord
	for rows.Next() {
		var (
			r        gateway.ClaimRecord
			claimed  int64
			released sql.NullInt64
		)
		if err := rows.Scan(&r.DeviceID, &r.Fence, &r.Holder, &claimed, &released, &r.Reason); err != nil {
			return nil, fail(op, err)
		}
		r.ClaimedAt, r.ReleasedAt = time.Unix(0, claimed).UTC(), timePtr(released)
		out = append(out, r)
	}
	return out, fail(op, rows.Err())
}

// FreeDevices counts routable free devices by room: in service, no live
// lease, heartbeat within stale (zero skips that check). Every room with a
// device that is not retired is in the map, with 0 when none is free.
func (s *Store) FreeDevices(ctx context.Context, stale time.Duration) (map[string]int, error) {
	const op = "sqlite.FreeDevices"
	now := s.now()
	var cutoff any
	if stale > 0 {
		cutoff = now.Add(-stale).UnixNano()
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT d.room_id, COALESCE(SUM(
			d.status = 'in_service' AND (?1 IS NULL OR d.last_seen >= ?1)
			AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.device_id = d.id AND c.released_at IS NULL AND c.expires_at > ?2)
		), 0)
		FROM devices d WHERE d.status != 'retired' GROUP BY d.room_id`, cutoff, now.UnixNano())
	if err != nil {
		return nil, fail(op, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			room string
			n    int
		)
		if err := rows.Scan(&room, &n); err != nil {
			return nil, fail(op, err)
		}
		out[room] = n
	}
	return out, fail(op, rows.Err())
}
