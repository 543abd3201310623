package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/safeconnection/gateway"
)

// orderCols are the columns scanOrder reads.
const orderCols = `id, device_id, verification_id, attempt_id, kind, channel, handle, join_url, reference, status,
	created_at, expires_at`

// scanOrder reads one row of orderCols.
func scanOrder(row pgx.Row) (gateway.Order, error) {
	var o gateway.Order
	var expires *time.Time
	err := row.Scan(&o.ID, &o.DeviceID, &o.VerificationID, &o.AttemptID, &o.Kind, &o.Channel, &o.Handle, &o.JoinURL,
		&o.Reference, &o.Status, &o.CreatedAt, &expires)
	o.CreatedAt, o.ExpiresAt = o.CreatedAt.UTC(), timeOf(expires)
	return o, err
}

// PutOrder stores a new pending order, whatever its Status, and publishes its
// ID on TopicOrders for its device. CreatedAt defaults to the database's
// clock; an order without ExpiresAt does not expire. ECONFLICT if the ID
// exists; EINVALID without an ID, device or kind.
func (s *Store) PutOrder(ctx context.Context, o gateway.Order) error {
	const op = "postgres.PutOrder"
	if o.ID == "" || o.DeviceID == "" || o.Kind == "" {
		return invalid(op, "an order needs an ID, a device and a kind")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO orders (id, device_id, verification_id, attempt_id, kind, channel, handle,
			join_url, reference, status, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', coalesce($10, clock_timestamp()), $11)`,
		o.ID, o.DeviceID, o.VerificationID, o.AttemptID, string(o.Kind), string(o.Channel), o.Handle, o.JoinURL,
		o.Reference, timePtr(o.CreatedAt), timePtr(o.ExpiresAt))
	if uniqueViolation(err, "orders_pkey") {
		return conflict(op, "order %q exists", o.ID)
	}
	if err != nil {
		return s.fail(op, err)
	}
	s.publishAfterCommit(ctx, gateway.TopicOrders+o.DeviceID, o.ID)
	return nil
}

// TakeOrders returns the device's pending, unexpired orders oldest first and
// marks them delivered, in one statement; two agents polling at once never
// take the same order.
func (s *Store) TakeOrders(ctx context.Context, deviceID string) ([]gateway.Order, error) {
	const op = "postgres.TakeOrders"
	rows, err := s.pool.Query(ctx, `WITH taken AS (
			UPDATE orders SET status = 'delivered'
			WHERE id IN (
				SELECT id FROM orders
				WHERE device_id = $1 AND status = 'pending' AND (expires_at IS NULL OR expires_at > clock_timestamp())
				ORDER BY n FOR UPDATE SKIP LOCKED)
			RETURNING n, `+orderCols+`)
		SELECT `+orderCols+` FROM taken ORDER BY created_at, n`, deviceID)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.Order, error) { return scanOrder(r) })
	return out, s.fail(op, err)
}

// Order returns one order. ENOTFOUND.
func (s *Store) Order(ctx context.Context, id string) (gateway.Order, error) {
	const op = "postgres.Order"
	o, err := scanOrder(s.pool.QueryRow(ctx, `SELECT `+orderCols+` FROM orders WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Order{}, notFound(op, "order", id)
	}
	return o, s.fail(op, err)
}

// SetOrderStatus moves an order on. ENOTFOUND; EINVALID for an unknown
// status.
func (s *Store) SetOrderStatus(ctx context.Context, id string, st gateway.OrderStatus) error {
	const op = "postgres.SetOrderStatus"
	switch st {
	case gateway.OrderPending, gateway.OrderDelivered, gateway.OrderDone, gateway.OrderCancelled:
	default:
		return invalid(op, "unknown order status %q", st)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE orders SET status = $2 WHERE id = $1`, id, string(st))
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(op, "order", id)
	}
	return nil
}
