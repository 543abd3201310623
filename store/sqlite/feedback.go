package sqlite

import (
	"context"
	"time"

	"github.com/safeconnection/gateway"
)

// AddFeedback keeps her feedback with its event and, for a misconduct
// report when the store delivers to an incident system, its outbox entry,
// in one transaction (gateway.FeedbackStore).
func (s *Store) AddFeedback(ctx context.Context, f gateway.Feedback, ev gateway.Event) (gateway.Feedback, error) {
	const op = "sqlite.AddFeedback"
	if f.VerificationID == "" || ev.VerificationID != f.VerificationID {
		return gateway.Feedback{}, fail(op, gateway.Errorf(gateway.EINVALID, "feedback and its event need its verification"))
	}
	err := s.write(ctx, func(tx tx, now time.Time) error {
		v, err := loadVerification(ctx, tx, now, f.VerificationID)
		if err != nil {
			return err
		}
		f.At = now
		_, err = tx.ExecContext(ctx, `INSERT INTO feedback (verification_id, treated, explained, misconduct, report, at)
			VALUES (?, ?, ?, ?, ?, ?)`, f.VerificationID, f.Treated, f.Explained, f.Misconduct, f.Report, now.UnixNano())
		if isUnique(err) {
			return gateway.Errorf(gateway.ECONFLICT, "verification %s has feedback already", f.VerificationID)
		}
		if err != nil {
			return err
		}
		if ev.State == "" {
			ev.State = v.State
		}
		if ev, err = insertEvent(ctx, tx, ev, now); err != nil {
			return err
		}
		if !f.Misconduct || !tx.outbox {
			return nil
		}
		e, err := gateway.MisconductMessage(v, f, now)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, insertOutbox, e.ID, e.VerificationID, e.Type, string(e.Body), e.State,
			now.UnixNano(), now.UnixNano(), now.UnixNano(), now.UnixNano())
		return err
	})
	if err != nil {
		return gateway.Feedback{}, fail(op, err)
	}
	s.publishEvent(ctx, ev)
	return f, nil
}

// FeedbackSince returns the feedback given since, oldest first
// (gateway.FeedbackStore).
func (s *Store) FeedbackSince(ctx context.Context, since time.Time) ([]gateway.Feedback, error) {
	const op = "sqlite.FeedbackSince"
	rows, err := s.rdb.QueryContext(ctx, `SELECT verification_id, treated, explained, misconduct, report, at FROM feedback
		WHERE at >= ? ORDER BY at, verification_id`, since.UnixNano())
	if err != nil {
		return nil, fail(op, err)
	}
	defer rows.Close()
	var out []gateway.Feedback
	for rows.Next() {
		var (
			f  gateway.Feedback
			at int64
		)
		if err := rows.Scan(&f.VerificationID, &f.Treated, &f.Explained, &f.Misconduct, &f.Report, &at); err != nil {
			return nil, fail(op, err)
		}
		f.At = time.Unix(0, at).UTC()
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(op, err)
	}
	return out, nil
}
