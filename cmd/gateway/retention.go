package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
)

// retentionBatch is how many verifications one transaction of the
// retention job erases.
const retentionBatch = 100

// wireRetention starts the retention job unless GATEWAY_RETENTION_PERSONAL
// is 0.
func (m *Main) wireRetention() {
	period := m.Config.RetentionPersonal
	if period <= 0 {
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(m.Config.RetentionInterval)
		defer t.Stop()
		for {
			if _, err := retain(ctx, m.Store, period, m.Logger); err != nil && ctx.Err() == nil {
				m.Logger.WithError(err).Warn("retention: the run stopped; the next one goes on")
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	m.closers = append(m.closers, func() error { stop(); <-done; return nil })
}

// retain erases, batch by batch, the personal fields of every verification
// closed for longer than period and not on legal hold, and returns how many
// it erased. A run that erased something writes an entry of the ops record
// (the gateway its actor) with the count and the cutoff, naming no one; a
// run that erased nothing writes none. Runs on several instances at once
// erase each verification once.
func retain(ctx context.Context, st gateway.Store, period time.Duration, log logrus.FieldLogger) (int, error) {
	now, err := st.Now(ctx)
	if err != nil {
		return 0, err
	}
	cutoff := now.Add(-period).UTC()
	n := 0
	for {
		ids, err := st.EraseClosed(ctx, cutoff, retentionBatch)
		n += len(ids)
		if err != nil {
			return n, retentionEntry(ctx, st, n, cutoff, period, err)
		}
		if len(ids) < retentionBatch {
			break
		}
	}
	if err := retentionEntry(ctx, st, n, cutoff, period, nil); err != nil {
		return n, err
	}
	if n > 0 {
		log.WithField("erased", n).WithField("cutoff", cutoff.Format(time.RFC3339)).Info("retention: personal fields erased")
	}
	return n, nil
}

// retentionEntry writes the run's entry of the ops record when it erased
// something, and returns runErr.
func retentionEntry(ctx context.Context, st gateway.Store, n int, cutoff time.Time, period time.Duration, runErr error) error {
	if n == 0 {
		return runErr
	}
	after, err := json.Marshal(struct {
		Erased int       `json:"erased"`
		Cutoff time.Time `json:"cutoff"`
	}{n, cutoff})
	if err != nil {
		return err
	}
	_, err = st.AppendOpsEvent(ctx, gateway.OpsEvent{
		Actor:  gateway.Actor{ID: gateway.GatewayActorID, Name: "the gateway's retention job"},
		Action: gateway.OpsRetentionRun, After: after,
		Reason: fmt.Sprintf("closed for longer than %s and not on legal hold", period),
	})
	if runErr != nil {
		return runErr
	}
	return err
}
