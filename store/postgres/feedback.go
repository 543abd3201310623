package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safeconnection/gateway"
)

// AddFeedback keeps her feedback with its event and, for a misconduct
// report when the store delivers to an incident system, its outbox entry,
// in one transaction (gateway.FeedbackStore).
func (s *Store) AddFeedback(ctx context.Context, f gateway.Feedback, ev gateway.Event) (gateway.Feedback, error) {
	const op = "postgres.AddFeedback"
	if f.VerificationID == "" || ev.VerificationID != f.VerificationID {
		return gateway.Feedback{}, invalid(op, "feedback and its event need its verification")
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM verifications WHERE id = $1 FOR SHARE`, f.VerificationID).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(op, "verification", f.VerificationID)
		}
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `INSERT INTO feedback (verification_id, treated, explained, misconduct, report, at)
			VALUES ($1, $2, $3, $4, $5, clock_timestamp()) ON CONFLICT (verification_id) DO NOTHING RETURNING at`,
			f.VerificationID, f.Treated, f.Explained, f.Misconduct, f.Report).Scan(&f.At)
		if errors.Is(err, pgx.ErrNoRows) {
			return gateway.Errorf(gateway.ECONFLICT, "verification %s has feedback already", f.VerificationID)
		}
		if err != nil {
			return err
		}
		f.At = f.At.UTC()
		if ev.State == "" {
			ev.State = gateway.State(state)
		}
		if ev, err = s.insertEvent(ctx, tx, ev, nil); err != nil {
			return err
		}
		if !f.Misconduct || !s.Outbox {
			return nil
		}
		v, err := loadVerification(ctx, tx, op, f.VerificationID)
		if err != nil {
			return err
		}
		e, err := gateway.MisconductMessage(v, f, f.At)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO outbox (id, verification_id, type, body, state, next_at, since, created_at, updated_at)
			VALUES ($1, $2, $3, $4::jsonb, $5, $6, $6, $6, $6) ON CONFLICT (verification_id, type) DO NOTHING`,
			e.ID, e.VerificationID, e.Type, string(e.Body), string(e.State), f.At)
		return err
	})
	if err != nil {
		return gateway.Feedback{}, s.fail(op, err)
	}
	s.publishEvent(ctx, ev)
	return f, nil
}

// FeedbackSince returns the feedback given since, oldest first
// (gateway.FeedbackStore).
func (s *Store) FeedbackSince(ctx context.Context, since time.Time) ([]gateway.Feedback, error) {
	const op = "postgres.FeedbackSince"
	rows, err := s.pool.Query(ctx, `SELECT verification_id, treated, explained, misconduct, report, at FROM feedback
		WHERE at >= $1 ORDER BY at, verification_id`, since)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var out []gateway.Feedback
	for rows.Next() {
		var f gateway.Feedback
		if err := rows.Scan(&f.VerificationID, &f.Treated, &f.Explained, &f.Misconduct, &f.Report, &f.At); err != nil {
			return nil, s.fail(op, err)
		}
		f.At = f.At.UTC()
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}
