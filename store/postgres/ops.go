package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

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

// pendingOf reads a device's pending change; nil when none. ENOTFOUND.
func pendingOf(ctx context.Context, tx pgx.Tx, op, id string) (*pendingChange, error) {
	var text []byte
	err := tx.QueryRow(ctx, "SELECT pending FROM devices WHERE id = $1", id).Scan(&text)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(op, "device", id)
	}
	if err != nil || text == nil {
		return nil, err
	}
	var p pendingChange
	if err := json.Unmarshal(text, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// lockDevice reads a device with its live lease, locked for the
// transaction. ENOTFOUND.
func lockDevice(ctx context.Context, tx pgx.Tx, op, id string) (gateway.Device, error) {
	d, err := scanDevice(tx.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices d WHERE d.id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, notFound(op, "device", id)
	}
	return d, err
}

// insertVersion adds d's current version to its history.
func insertVersion(ctx context.Context, tx pgx.Tx, d gateway.Device, by, reason string) error {
	handles, err := jsonText(d.Handles)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO device_versions (device_id, version, at, by, name, number, handles, status, reason)
		VALUES ($1, $2, clock_timestamp(), $3, $4, $5, $6::jsonb, $7, $8)
		ON CONFLICT (device_id, version) DO UPDATE SET at = excluded.at, by = excluded.by, name = excluded.name,
			number = excluded.number, handles = excluded.handles, status = excluded.status, reason = excluded.reason`,
		d.ID, d.Version, by, d.Name, d.Number, handles, string(d.Status), reason)
	return err
}

// insertOpsEvent writes ev and returns it with its ID and At.
func insertOpsEvent(ctx context.Context, tx pgx.Tx, op string, ev gateway.OpsEvent) (gateway.OpsEvent, error) {
	if ev.Action == "" {
		return ev, invalid(op, "an ops event needs an action")
	}
	if ev.Before == nil {
		ev.Before = json.RawMessage("null")
	}
	if ev.After == nil {
		ev.After = json.RawMessage("null")
	}
	err := tx.QueryRow(ctx, `INSERT INTO ops_events (at, actor_id, actor_name, action, room_id, device_id, before, after, reason)
		VALUES (clock_timestamp(), $1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8) RETURNING id, at`,
		ev.Actor.ID, ev.Actor.Name, ev.Action, ev.RoomID, ev.DeviceID, string(ev.Before), string(ev.After), ev.Reason).Scan(&ev.ID, &ev.At)
	ev.At = ev.At.UTC()
	if err != nil {
		return ev, err
	}
	return ev, logOps(ctx, tx, ev)
}

// credentials does to the device's agent credentials what cc says,
// sparing keep.
func credentials(ctx context.Context, tx pgx.Tx, deviceID string, cc gateway.CredentialChange, keep string) error {
	switch cc {
	case gateway.CredentialRenewed:
	case gateway.CredentialRevoked:
		keep = ""
	default:
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE tokens SET revoked = true WHERE role = 'agent' AND subject = $1 AND id <> $2 AND NOT revoked`,
		deviceID, keep)
	return err
}

// writeDevice writes d's name, number, handles and status, bumping its
// version, adds the version to its history, and returns it as stored.
func (s *Store) writeDevice(ctx context.Context, tx pgx.Tx, op string, d gateway.Device, by, reason string) (gateway.Device, error) {
	if err := s.checkDevice(op, d); err != nil {
		return d, err
	}
	handles, err := jsonText(d.Handles)
	if err != nil {
		return d, err
	}
	out, err := scanDevice(tx.QueryRow(ctx, `UPDATE devices d SET name = $2, number = $3, handles = $4::jsonb, status = $5,
		version = d.version + 1 WHERE d.id = $1 RETURNING `+deviceCols, d.ID, d.Name, d.Number, handles, string(d.Status)))
	if err != nil {
		return out, err
	}
	return out, insertVersion(ctx, tx, out, by, reason)
}

// AddDevice adds a device as CreateDevice does, with its first version in
// its history and ev in the ops record, in one transaction.
func (s *Store) AddDevice(ctx context.Context, d gateway.Device, ev gateway.OpsEvent) (gateway.Device, error) {
	return s.createDevice(ctx, "postgres.AddDevice", d, &ev)
}

// ChangeDevice makes c to the device as gateway.Device.Plan decides, with
// ev, in one transaction. ENOTFOUND; Plan's errors.
func (s *Store) ChangeDevice(ctx context.Context, id string, c gateway.DeviceChange, ev gateway.OpsEvent) (gateway.DeviceOutcome, error) {
	const op = "postgres.ChangeDevice"
	var (
		out    gateway.DeviceOutcome
		before gateway.Device
	)
	err := s.tx(ctx, func(tx pgx.Tx) error {
		d, err := lockDevice(ctx, tx, op, id)
		if err != nil {
			return err
		}
		before = d
		p, err := pendingOf(ctx, tx, op, id)
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
		e := ev
		e.DeviceID, e.RoomID, e.Before = id, d.RoomID, snapshotOf(d)
		out = gateway.DeviceOutcome{Device: plan.Device, Pending: plan.Pending}
		if plan.Pending != nil {
			text, err := json.Marshal(pendingChange{Change: *plan.Pending, Actor: ev.Actor, Reason: ev.Reason})
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "UPDATE devices SET pending = $2::jsonb WHERE id = $1", id, string(text)); err != nil {
				return err
			}
			e.After, _ = json.Marshal(map[string]any{"pending": plan.Pending.Changes()})
		} else {
			if _, err := tx.Exec(ctx, "UPDATE devices SET pending = NULL WHERE id = $1", id); err != nil {
				return err
			}
			if plan.Applied {
				if out.Device, err = s.writeDevice(ctx, tx, op, plan.Device, ev.Actor.ID, ev.Reason); err != nil {
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
			e.After = snapshotOf(out.Device)
		}
		_, err = insertOpsEvent(ctx, tx, op, e)
		return err
	})
	if err != nil {
		return gateway.DeviceOutcome{}, s.fail(op, err)
	}
	if out.Device.Status == gateway.DeviceInService && before.Status != gateway.DeviceInService {
		s.publishAfterCommit(ctx, gateway.TopicDevices, out.Device.RoomID)
	}
	return out, nil
}

// applyPending makes the device's waiting change, if any, now that its
// call has ended: a new version, its credentials, and an OpsDeviceApplied
// event.
func (s *Store) applyPending(ctx context.Context, tx pgx.Tx, op, id string) error {
	p, err := pendingOf(ctx, tx, op, id)
	if err != nil || p == nil {
		return err
	}
	if _, err := tx.Exec(ctx, "UPDATE devices SET pending = NULL WHERE id = $1", id); err != nil {
		return err
	}
	d, err := lockDevice(ctx, tx, op, id)
	if err != nil {
		return err
	}
	plan, err := d.Plan(p.Change, nil, false)
	if err != nil {
		return nil // no longer possible (retired meanwhile): dropped
	}
	next := d
	if plan.Applied {
		if next, err = s.writeDevice(ctx, tx, op, plan.Device, p.Actor.ID, p.Reason); err != nil {
			return err
		}
	}
	if err := credentials(ctx, tx, id, plan.Credentials, p.Change.KeepCredential); err != nil {
		return err
	}
	_, err = insertOpsEvent(ctx, tx, op, gateway.OpsEvent{Actor: p.Actor, Action: gateway.OpsDeviceApplied, RoomID: d.RoomID,
		DeviceID: id, Before: snapshotOf(d), After: snapshotOf(next), Reason: p.Reason})
	return err
}

// PendingChange returns the device's change that waits for its call to
// end, nil if none. ENOTFOUND.
func (s *Store) PendingChange(ctx context.Context, id string) (*gateway.DeviceChange, error) {
	const op = "postgres.PendingChange"
	var p *pendingChange
	err := s.tx(ctx, func(tx pgx.Tx) (err error) {
		p, err = pendingOf(ctx, tx, op, id)
		return err
	})
	if err != nil || p == nil {
		return nil, s.fail(op, err)
	}
	return &p.Change, nil
}

// DeviceHistory lists every version of the device, oldest first.
// ENOTFOUND.
func (s *Store) DeviceHistory(ctx context.Context, id string) ([]gateway.DeviceVersion, error) {
	const op = "postgres.DeviceHistory"
	if _, err := s.Device(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT version, at, by, name, number, handles, status, reason
		FROM device_versions WHERE device_id = $1 ORDER BY version`, id)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.DeviceVersion, error) {
		var (
			v       gateway.DeviceVersion
			handles []byte
		)
		if err := r.Scan(&v.Version, &v.At, &v.By, &v.Name, &v.Number, &handles, &v.Status, &v.Reason); err != nil {
			return v, err
		}
		v.At = v.At.UTC()
		return v, json.Unmarshal(handles, &v.Handles)
	})
	return out, s.fail(op, err)
}

// RoomOverrides lists the stored room overrides, by room ID.
func (s *Store) RoomOverrides(ctx context.Context) ([]gateway.RoomOverride, error) {
	const op = "postgres.RoomOverrides"
	rows, err := s.pool.Query(ctx, `SELECT room_id, number, desk_number, handles, neighbours, updated_at
		FROM room_overrides ORDER BY room_id`)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.RoomOverride, error) {
		var (
			o                   gateway.RoomOverride
			handles, neighbours []byte
		)
		if err := r.Scan(&o.RoomID, &o.Number, &o.DeskNumber, &handles, &neighbours, &o.UpdatedAt); err != nil {
			return o, err
		}
		o.UpdatedAt = o.UpdatedAt.UTC()
		if err := json.Unmarshal(handles, &o.Handles); err != nil {
			return o, err
		}
		return o, json.Unmarshal(neighbours, &o.Neighbours)
	})
	return out, s.fail(op, err)
}

// PutRoomOverride stores o with ev in one transaction and publishes
// TopicRooms to every instance. EINVALID without a room ID.
func (s *Store) PutRoomOverride(ctx context.Context, o gateway.RoomOverride, ev gateway.OpsEvent) (gateway.RoomOverride, error) {
	const op = "postgres.PutRoomOverride"
	if o.RoomID == "" {
		return o, invalid(op, "a room override needs a room")
	}
	if o.Neighbours == nil {
		o.Neighbours = []string{}
	}
	if o.Handles == nil {
		o.Handles = map[gateway.Channel]string{}
	}
	handles, err := jsonText(o.Handles)
	if err != nil {
		return o, gateway.E(op, gateway.EINTERNAL, err)
	}
	neighbours, err := jsonText(o.Neighbours)
	if err != nil {
		return o, gateway.E(op, gateway.EINTERNAL, err)
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO room_overrides (room_id, number, desk_number, handles, neighbours, updated_at)
			VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, clock_timestamp())
			ON CONFLICT (room_id) DO UPDATE SET number = excluded.number, desk_number = excluded.desk_number,
				handles = excluded.handles, neighbours = excluded.neighbours, updated_at = excluded.updated_at
			RETURNING updated_at`, o.RoomID, o.Number, o.DeskNumber, handles, neighbours).Scan(&o.UpdatedAt); err != nil {
			return err
		}
		o.UpdatedAt = o.UpdatedAt.UTC()
		e := ev
		e.RoomID = o.RoomID
		if e.After == nil {
			e.After, _ = json.Marshal(o)
		}
		_, err := insertOpsEvent(ctx, tx, op, e)
		return err
	})
	if err != nil {
		return gateway.RoomOverride{}, s.fail(op, err)
	}
	s.publishAfterCommit(ctx, gateway.TopicRooms, o.RoomID)
	return o, nil
}

// AppendOpsEvent writes an entry of the ops record on its own. EINVALID
// without an action.
func (s *Store) AppendOpsEvent(ctx context.Context, ev gateway.OpsEvent) (gateway.OpsEvent, error) {
	const op = "postgres.AppendOpsEvent"
	err := s.tx(ctx, func(tx pgx.Tx) (err error) {
		ev, err = insertOpsEvent(ctx, tx, op, ev)
		return err
	})
	return ev, s.fail(op, err)
}

// OpsEvents lists the ops record, oldest first.
func (s *Store) OpsEvents(ctx context.Context, f gateway.OpsEventFilter) ([]gateway.OpsEvent, error) {
	const op = "postgres.OpsEvents"
	var limit *int
	if f.Limit > 0 {
		limit = &f.Limit
	}
	var since, until *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	if !f.Until.IsZero() {
		until = &f.Until
	}
	out, err := opsEvents(ctx, s.pool, f.RoomID, f.DeviceID, since, until, limit)
	return out, s.fail(op, err)
}

// opsEvents reads the ops record as OpsEvents does, on q.
func opsEvents(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, room, device string, since, until *time.Time, limit *int) ([]gateway.OpsEvent, error) {
	rows, err := q.Query(ctx, `SELECT id, at, actor_id, actor_name, action, room_id, device_id,
			coalesce(before, 'null'::jsonb), coalesce(after, 'null'::jsonb), reason
		FROM ops_events
		WHERE ($1 = '' OR room_id = $1) AND ($2 = '' OR device_id = $2)
			AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)
		ORDER BY id LIMIT $5`, room, device, since, until, limit)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.OpsEvent, error) {
		var (
			ev            gateway.OpsEvent
			before, after []byte
		)
		err := r.Scan(&ev.ID, &ev.At, &ev.Actor.ID, &ev.Actor.Name, &ev.Action, &ev.RoomID, &ev.DeviceID, &before, &after, &ev.Reason)
		ev.At, ev.Before, ev.After = ev.At.UTC(), before, after
		return ev, err
	})
	if out == nil && err == nil {
		out = []gateway.OpsEvent{}
	}
	return out, err
}
