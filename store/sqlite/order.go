package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/safeconnection/gateway"
)

const orderCols = `id, device_id, verification_id, attempt_id, kind, channel, handle, join_url, reference, status,
	created_at, expires_at`

func scanOrder(row interface{ Scan(...any) error }) (gateway.Order, error) {
	var (
		o       gateway.Order
		created int64
		expires sql.NullInt64
	)
	err := row.Scan(&o.ID, &o.DeviceID, &o.VerificationID, &o.AttemptID, &o.Kind, &o.Channel, &o.Handle, &o.JoinURL,
		&o.Reference, &o.Status, &created, &expires)
	o.CreatedAt, o.ExpiresAt = time.Unix(0, created).UTC(), timeOf(expires)
	return o, err
}

// The statements of orders.
const (
	insertOrder   = `INSERT INTO orders (` + orderCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	pendingOrders = `SELECT ` + orderCols + ` FROM orders
		WHERE device_id = ? AND status = 'pending' AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY created_at, rowid`
	deliverOrder   = "UPDATE orders SET status = 'delivered' WHERE id = ?"
	orderByID      = `SELECT ` + orderCols + ` FROM orders WHERE id = ?`
	setOrderStatus = "UPDATE orders SET status = ? WHERE id = ?"
)

// PutOrder stores a new pending order, whatever its Status, and publishes
// its ID on TopicOrders for its device. CreatedAt defaults to the store's
// clock; an order without ExpiresAt does not expire. ECONFLICT if the ID
// exists; EINVALID without an ID, device or kind.
func (s *Store) PutOrder(ctx context.Context, o gateway.Order) error {
	const op = "sqlite.PutOrder"
	if o.ID == "" || o.DeviceID == "" || o.Kind == "" {
		return fail(op, gateway.Errorf(gateway.EINVALID, "an order needs an ID, a device and a kind"))
	}
	err := s.write(ctx, func(tx tx, now time.Time) error {
		if o.CreatedAt.IsZero() {
			o.CreatedAt = now
		}
		_, err := tx.ExecContext(ctx, insertOrder,
			o.ID, o.DeviceID, o.VerificationID, o.AttemptID, o.Kind, o.Channel, o.Handle, o.JoinURL, o.Reference,
			gateway.OrderPending, o.CreatedAt.UnixNano(), ns(o.ExpiresAt))
		if isUnique(err) {
			return gateway.Errorf(gateway.ECONFLICT, "order %s exists", o.ID)
		}
		return err
	})
	if err != nil {
		return fail(op, err)
	}
	s.notify(ctx, gateway.TopicOrders+o.DeviceID, o.ID)
	return nil
}

// TakeOrders returns the device's pending, unexpired orders oldest first and
// marks them delivered, in one transaction: each is taken once.
func (s *Store) TakeOrders(ctx context.Context, deviceID string) ([]gateway.Order, error) {
	const op = "sqlite.TakeOrders"
	var out []gateway.Order
	err := s.write(ctx, func(tx tx, now time.Time) error {
		out = nil
		rows, err := tx.QueryContext(ctx, pendingOrders, deviceID, now.UnixNano())
		if err != nil {
			return err
		}
		for rows.Next() {
			o, err := scanOrder(rows)
			if err != nil {
				rows.Close()
				return err
			}
			o.Status = gateway.OrderDelivered
			out = append(out, o)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, o := range out {
			if _, err := tx.ExecContext(ctx, deliverOrder, o.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fail(op, err)
	}
	return out, nil
}

// Order returns one order. ENOTFOUND.
func (s *Store) Order(ctx context.Context, id string) (gateway.Order, error) {
	o, err := scanOrder(s.reads().QueryRowContext(ctx, orderByID, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = gateway.Errorf(gateway.ENOTFOUND, "no order %q", id)
	}
	return o, fail("sqlite.Order", err)
}

// SetOrderStatus moves an order on. ENOTFOUND; EINVALID for an unknown
// status.
func (s *Store) SetOrderStatus(ctx context.Context, id string, st gateway.OrderStatus) error {
	const op = "sqlite.SetOrderStatus"
	switch st {
	case gateway.OrderPending, gateway.OrderDelivered, gateway.OrderDone, gateway.OrderCancelled:
	default:
		return fail(op, gateway.Errorf(gateway.EINVALID, "unknown order status %q", st))
	}
	err := s.write(ctx, func(tx tx, _ time.Time) error {
		res, err := tx.ExecContext(ctx, setOrderStatus, st, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return gateway.Errorf(gateway.ENOTFOUND, "no order %q", id)
		}
		return nil
	})
	return fail(op, err)
}
