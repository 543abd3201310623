package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/safeconnection/gateway"
)

// pendingChange is a device change that waits for the device's call to
// end, as the devices.pending column keeps it.
type pendingChange struct {
	Change gateway.DeviceChange `json:"change"`
	Actor  gateway.Actor        `json:"actor"`
	Reason string               `json:"reason"`
}

// snapshot is a device as the ops record shows it before and after a
// change.
type snapshot struct {
	Name    string                     `json:"name"`
	Number  string                     `json:"number"`
	Handles map[gateway.Channel]string `json:"handles"`
	Status  gateway.DeviceStatus       `json:"status"`
	Version int64                      `json:"version"`
}

func snapshotOf(d gateway.Device) json.RawMessage {
	b, _ := json.Marshal(snapshot{Name: d.Name, Number: d.Number, Handles: d.Handles, Status: d.Status, Version: d.Version})
	return b
}

// pendingQuery reads a device's pending change; prepared at Open, as
// every release runs it.
const pendingQuery = "SELECT pending FROM devices WHERE id = ?"

// pendingOf reads a device's pending change; nil when none.
func pendingOf(ctx context.Context, q querier, id string) (*pendingChange, error) {
	var text sql.NullString
	err := q.QueryRowContext(ctx, pendingQuery, id).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, gateway.Errorf(gateway.ENOTFOUND, "no device %q", id)
	}
	if err != nil || !text.Valid {
		return nil, err
	}
	var p pendingChange
	if err := json.Unmarshal([]byte(text.String), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// insertVersion adds d's current version to its history.
func insertVersion(ctx context.Context, q querier, d gateway.Device, by, reason string, now time.Time) error {
	handles, err := jsonText(d.Handles)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO device_versions (device_id, version, at, by, name, number, handles, status, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (device_id, version) DO UPDATE SET at = excluded.at, by = excluded.by, name = excluded.name,
			number = excluded.number, handles = excluded.handles, status = excluded.status, reason = excluded.reason`,
		d.ID, d.Version, now.UnixNano(), by, d.Name, d.Number, handles, d.Status, reason)
	return err
}

// insertOpsEvent writes ev at now and returns it with its ID.
func insertOpsEvent(ctx context.Context, q querier, ev gateway.OpsEvent, now time.Time) (gateway.OpsEvent, error) {
	if ev.Action == "" {
		return ev, gateway.Errorf(gateway.EINVALID, "an ops event needs an action")
	}
	ev.At = now
	if ev.Before == nil {
		ev.Before = json.RawMessage("null")
	}
	if ev.After == nil {
		ev.After = json.RawMessage("null")
	}
	t, ok := q.(tx)
	logged := !ok || !t.nolog
	var leaf sql.NullInt64
	err := q.QueryRowContext(ctx, `INSERT INTO ops_events (at, actor_id, actor_name, action, room_id, device_id, before, after, reason, leaf)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? THEN (SELECT COALESCE(MAX(idx), -1) + 1 FROM log_leaves) END) RETURNING id, leaf`,
		now.UnixNano(), ev.Actor.ID, ev.Actor.Name, ev.Action, ev.RoomID, ev.DeviceID, string(ev.Before), string(ev.After), ev.Reason, logged).Scan(&ev.ID, &leaf)
	if err != nil {
		return ev, err
	}
	return ev, logOps(ctx, q, ev, leaf)
}

// revokeAgent revokes the device's agent credentials but keep.
func revokeAgent(ctx context.Context, q querier, deviceID, keep string) error {
	_, err := q.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE role = 'agent' AND subject = ? AND id != ? AND revoked = 0`,
		deviceID, keep)
	return err
}

// credentials does to the device's agent credentials what cc says.
func credentials(ctx context.Context, q querier, deviceID string, cc gateway.CredentialChange, keep string) error {
	switch cc {
	case gateway.CredentialRenewed:
		return revokeAgent(ctx, q, deviceID, keep)
	case gateway.CredentialRevoked:
		return revokeAgent(ctx, q, deviceID, "")
	}
	return nil
}

// writeDevice writes d's name, number, handles and status, bumping its
// version, adds the version to its history, and returns it as stored.
func writeDevice(ctx context.Context, q querier, d gateway.Device, by, reason string, now time.Time) (gateway.Device, error) {
	if err := checkDevice(d); err != nil {
		return d, err
	}
	handles, err := jsonText(d.Handles)
	if err != nil {
		return d, err
	}
	if _, err := q.ExecContext(ctx, `UPDATE devices SET name = ?, number = ?, handles = ?, status = ?, version = version + 1
		WHERE id = ?`, d.Name, d.Number, handles, d.Status, d.ID); err != nil {
		return d, err
	}
	out, err := device(ctx, q, d.ID, now)
	if err != nil {
		return out, err
	}
	return out, insertVersion(ctx, q, out, by, reason, now)
}

// AddDevice adds a device as CreateDevice does, with its first version in
// its history and ev in the ops record, in one transaction.
func (s *Store) AddDevice(ctx context.Context, d gateway.Device, ev gateway.OpsEvent) (gateway.Device, error) {
	return s.createDevice(ctx, "sqlite.AddDevice", d, &ev)
}

// ChangeDevice makes c to the device as gateway.Device.Plan decides, with
// ev, in one transaction. ENOTFOUND; Plan's errors.
func (s *Store) ChangeDevice(ctx context.Context, id string, c gateway.DeviceChange, ev gateway.OpsEvent) (gateway.DeviceOutcome, error) {
	const op = "sqlite.ChangeDevice"
	var (
		out    gateway.DeviceOutcome
		before gateway.Device
	)
	err := s.write(ctx, func(tx tx, now time.Time) error {
		d, err := device(ctx, tx, id, now)
		if err != nil {
			return err
		}
		before = d
		p, err := pendingOf(ctx, tx, id)
		if err != nil {
			return err
		}
		var waiting *gateway.DeviceChange
		if p != nil {
			waiting = &p.Change
		}
		plan, err := d.Plan(c, waiting, d.Lease != nil)
		if err != nil {
			return err
		}
		ev.DeviceID, ev.RoomID, ev.Before = id, d.RoomID, snapshotOf(d)
		out = gateway.DeviceOutcome{Device: plan.Device, Pending: plan.Pending}
		if plan.Pending != nil {
			text, err := json.Marshal(pendingChange{Change: *plan.Pending, Actor: ev.Actor, Reason: ev.Reason})
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE devices SET pending = ? WHERE id = ?", string(text), id); err != nil {
				return err
			}
			ev.After, _ = json.Marshal(map[string]any{"pending": plan.Pending.Changes()})
		} else {
			if _, err := tx.ExecContext(ctx, "UPDATE devices SET pending = NULL WHERE id = ?", id); err != nil {
				return err
			}
			if plan.Applied {
				if out.Device, err = writeDevice(ctx, tx, plan.Device, ev.Actor.ID, ev.Reason, now); err != nil {
					return err
				}
			}
			keep := c.KeepCredential
			if waiting != nil && !c.RotateCredential {
				keep = waiting.KeepCredential
			}
			if err := credentials(ctx, tx, id, plan.Credentials, keep); err != nil {
				return err
			}
			ev.After = snapshotOf(out.Device)
		}
		_, err = insertOpsEvent(ctx, tx, ev, now)
		return err
	})
	if err != nil {
		return gateway.DeviceOutcome{}, fail(op, err)
	}
	if out.Device.Status == gateway.DeviceInService && before.Status != gateway.DeviceInService {
		s.notify(ctx, gateway.TopicDevices, out.Device.RoomID)
	}
	return out, nil
}

// applyPending makes the device's waiting change, if any, now that its
// call has ended: a new version, its credentials, and an OpsDeviceApplied
// event. It reports whether the device came into service.
func applyPending(ctx context.Context, q querier, id string, now time.Time) (bool, error) {
	p, err := pendingOf(ctx, q, id)
	if err != nil || p == nil {
		return false, err
	}
	if _, err := q.ExecContext(ctx, "UPDATE devices SET pending = NULL WHERE id = ?", id); err != nil {
		return false, err
	}
	d, err := device(ctx, q, id, now)
	if err != nil {
		return false, err
	}
	plan, err := d.Plan(p.Change, nil, false)
	if err != nil {
		return false, nil // no longer possible (retired meanwhile): dropped
	}
	next := d
	if plan.Applied {
		if next, err = writeDevice(ctx, q, plan.Device, p.Actor.ID, p.Reason, now); err != nil {
			return false, err
		}
	}
	if err := credentials(ctx, q, id, plan.Credentials, p.Change.KeepCredential); err != nil {
		return false, err
	}
	_, err = insertOpsEvent(ctx, q, gateway.OpsEvent{Actor: p.Actor, Action: gateway.OpsDeviceApplied, RoomID: d.RoomID,
		DeviceID: id, Before: snapshotOf(d), After: snapshotOf(next), Reason: p.Reason}, now)
	return next.Status == gateway.DeviceInService && d.Status != gateway.DeviceInService, err
}

// PendingChange returns the device's change that waits for its call to
// end, nil if none. ENOTFOUND.
func (s *Store) PendingChange(ctx context.Context, id string) (*gateway.DeviceChange, error) {
	p, err := pendingOf(ctx, s.rdb, id)
	if err != nil || p == nil {
		return nil, fail("sqlite.PendingChange", err)
	}
	return &p.Change, nil
}

// DeviceHistory lists every version of the device, oldest first.
// ENOTFOUND.
func (s *Store) DeviceHistory(ctx context.Context, id string) ([]gateway.DeviceVersion, error) {
	const op = "sqlite.DeviceHistory"
	var out []gateway.DeviceVersion
	err := s.read(ctx, func(tx tx, now time.Time) error {
		if _, err := device(ctx, tx, id, now); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT version, at, by, name, number, handles, status, reason
			FROM device_versions WHERE device_id = ? ORDER BY version`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				v       gateway.DeviceVersion
				at      int64
				handles string
			)
			if err := rows.Scan(&v.Version, &at, &v.By, &v.Name, &v.Number, &handles, &v.Status, &v.Reason); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(handles), &v.Handles); err != nil {
				return err
			}
			v.At = time.Unix(0, at).UTC()
			out = append(out, v)
		}
		return rows.Err()
	})
	return out, fail(op, err)
}

// RoomOverrides lists the stored room overrides, by room ID.
func (s *Store) RoomOverrides(ctx context.Context) ([]gateway.RoomOverride, error) {
	const op = "sqlite.RoomOverrides"
	rows, err := s.rdb.QueryContext(ctx, `SELECT room_id, number, desk_number, handles, neighbours, updated_at
		FROM room_overrides ORDER BY room_id`)
	if err != nil {
		return nil, fail(op, err)
	}
	defer rows.Close()
	var out []gateway.RoomOverride
	for rows.Next() {
		var (
			o                   gateway.RoomOverride
			handles, neighbours string
			at                  int64
		)
		if err := rows.Scan(&o.RoomID, &o.Number, &o.DeskNumber, &handles, &neighbours, &at); err != nil {
			return nil, fail(op, err)
		}
		if err := json.Unmarshal([]byte(handles), &o.Handles); err != nil {
			return nil, fail(op, err)
		}
		if err := json.Unmarshal([]byte(neighbours), &o.Neighbours); err != nil {
			return nil, fail(op, err)
		}
		o.UpdatedAt = time.Unix(0, at).UTC()
		out = append(out, o)
	}
	return out, fail(op, rows.Err())
}

// PutRoomOverride stores o with ev in one transaction and publishes
// TopicRooms. EINVALID without a room ID.
func (s *Store) PutRoomOverride(ctx context.Context, o gateway.RoomOverride, ev gateway.OpsEvent) (gateway.RoomOverride, error) {
	const op = "sqlite.PutRoomOverride"
	if o.RoomID == "" {
		return o, fail(op, gateway.Errorf(gateway.EINVALID, "a room override needs a room"))
	}
	if o.Neighbours == nil {
		o.Neighbours = []string{}
	}
	if o.Handles == nil {
		o.Handles = map[gateway.Channel]string{}
	}
	handles, err := jsonText(o.Handles)
	if err != nil {
		return o, fail(op, err)
	}
	neighbours, err := jsonText(o.Neighbours)
	if err != nil {
		return o, fail(op, err)
	}
	err = s.write(ctx, func(tx tx, now time.Time) error {
		o.UpdatedAt = now
		if _, err := tx.ExecContext(ctx, `INSERT INTO room_overrides (room_id, number, desk_number, handles, neighbours, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (room_id) DO UPDATE SET number = excluded.number, desk_number = excluded.desk_number,
				handles = excluded.handles, neighbours = excluded.neighbours, updated_at = excluded.updated_at`,
			o.RoomID, o.Number, o.DeskNumber, handles, neighbours, now.UnixNano()); err != nil {
			return err
		}
		ev.RoomID = o.RoomID
		if ev.After == nil {
			ev.After, _ = json.Marshal(o)
		}
		_, err := insertOpsEvent(ctx, tx, ev, now)
		return err
	})
	if err != nil {
		return gateway.RoomOverride{}, fail(op, err)
	}
	s.notify(ctx, gateway.TopicRooms, o.RoomID)
	return o, nil
}

// AppendOpsEvent writes an entry of the ops record on its own. EINVALID
// without an action.
func (s *Store) AppendOpsEvent(ctx context.Context, ev gateway.OpsEvent) (gateway.OpsEvent, error) {
	err := s.write(ctx, func(tx tx, now time.Time) (err error) {
		ev, err = insertOpsEvent(ctx, tx, ev, now)
		return err
	})
	return ev, fail("sqlite.AppendOpsEvent", err)
}

// OpsEvents lists the ops record, oldest first.
func (s *Store) OpsEvents(ctx context.Context, f gateway.OpsEventFilter) ([]gateway.OpsEvent, error) {
	const op = "sqlite.OpsEvents"
	out, err := opsEvents(ctx, s.rdb, f)
	return out, fail(op, err)
}

// opsEvents reads the ops record as OpsEvents does, on q.
func opsEvents(ctx context.Context, q querier, f gateway.OpsEventFilter) ([]gateway.OpsEvent, error) {
	limit := -1
	if f.Limit > 0 {
		limit = f.Limit
	}
	until := int64(1<<63 - 1)
	if !f.Until.IsZero() {
		until = f.Until.UnixNano()
	}
	rows, err := q.QueryContext(ctx, `SELECT id, at, actor_id, actor_name, action, room_id, device_id, before, after, reason
		FROM ops_events
		WHERE (?1 = '' OR room_id = ?1) AND (?2 = '' OR device_id = ?2) AND at >= ?3 AND at < ?4
		ORDER BY id LIMIT ?5`, f.RoomID, f.DeviceID, sinceNanos(f.Since), until, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []gateway.OpsEvent{}
	for rows.Next() {
		var (
			ev            gateway.OpsEvent
			at            int64
			before, after string
		)
		if err := rows.Scan(&ev.ID, &at, &ev.Actor.ID, &ev.Actor.Name, &ev.Action, &ev.RoomID, &ev.DeviceID,
			&before, &after, &ev.Reason); err != nil {
			return nil, err
		}
		ev.At, ev.Before, ev.After = time.Unix(0, at).UTC(), json.RawMessage(before), json.RawMessage(after)
		out = append(out, ev)
	}
	return out, rows.Err()
}
