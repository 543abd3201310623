package router

import (
	"context"
	"time"

	"github.com/safeconnection/gateway"
)

// Assessor gives what the supervisor is shown of the officer behind a
// verification: his duty-roster entry and the warning signs, as a JSON
// document the record keeps as it was (gateway.EventCheck), and a summary
// for the event's message. The officer never sees either.
type Assessor interface {
	Assess(ctx context.Context, v gateway.Verification, borough string) (doc, summary string, err error)
}

// AssessTimeout bounds an assessment.
const AssessTimeout = 10 * time.Second

// assessLater records the assessment of a new verification in the
// background, so that its call is placed at once: the supervisor reads it
// when the call connects, seconds later.
func (r *Router) assessLater(v gateway.Verification, borough string) {
	if r.Assessor == nil {
		return
	}
	r.mu.Lock()
	if r.ctx == nil || r.ctx.Err() != nil {
		r.mu.Unlock()
		return
	}
	ctx := r.ctx
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(ctx, AssessTimeout)
		defer cancel()
		if err := r.assess(ctx, v, borough); err != nil {
			r.Logger.WithField("verification", v.ID).WithError(err).Warn("the warning signs could not be assessed")
		}
	}()
}

// assess records v's assessment now.
func (r *Router) assess(ctx context.Context, v gateway.Verification, borough string) error {
	doc, summary, err := r.Assessor.Assess(ctx, v, borough)
	if err != nil {
		return err
	}
	_, err = r.Record.AppendEvent(context.WithoutCancel(ctx), gateway.Event{
		VerificationID: v.ID, Type: gateway.EventCheck, Message: summary,
		Data: map[string]string{gateway.DataAssessment: doc}, Instance: r.Instance,
	})
	return err
}

// CorrectGrounds records a supervisor's correction of the stated grounds
// for the stop of verification id (by names the supervisor): the officer's
// statement stays in the record beside it. ENOTFOUND; EINVALID without
// grounds.
func (r *Router) CorrectGrounds(ctx context.Context, id, grounds, by string) (gateway.Event, error) {
	const op = "router.CorrectGrounds"
	if grounds == "" || by == "" {
		return gateway.Event{}, gateway.Errorf(gateway.EINVALID, "the corrected grounds and the supervisor are required")
	}
	if _, err := r.Record.Verification(ctx, id); err != nil {
		return gateway.Event{}, gateway.E(op, gateway.ErrorCode(err), err)
	}
	ev, err := r.Record.AppendEvent(context.WithoutCancel(ctx), gateway.Event{
		VerificationID: id, Type: gateway.EventNote, Message: "the grounds for the stop corrected by " + by,
		Data: map[string]string{gateway.DataGrounds: grounds, gateway.DataCorrectedBy: by}, Instance: r.Instance,
	})
	if err != nil {
		return gateway.Event{}, gateway.E(op, gateway.ErrorCode(err), err)
	}
	return ev, nil
}
