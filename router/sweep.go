package router

import (
	"context"
	"time"
)

// sweepLoop frees expired leases and takes over orphaned verifications,
// at once and then every SweepInterval.
func (r *Router) sweepLoop(ctx context.Context) {
	t := time.NewTicker(r.SweepInterval)
	defer t.Stop()
	for {
		r.Sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep runs one pass of the sweeper: expired leases are freed (their
// devices go back to the pool) and verifications whose owner's hold lapsed
// are taken over by this instance.
func (r *Router) Sweep(ctx context.Context) {
	expired, err := r.Claims.ExpireLeases(ctx)
	if err != nil && ctx.Err() == nil {
		r.Logger.WithError(err).Error("could not sweep expired leases")
	}
	for _, l := range expired {
		r.Logger.WithFields(map[string]any{"device": l.DeviceID, "verification": l.Holder, "fence": l.Fence}).
			Warn("device lease expired without release: device returned to the pool")
	}
	orphans, err := r.Owners.Orphans(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.Logger.WithError(err).Error("could not look for orphaned verifications")
		}
		return
	}
	for _, v := range orphans {
		r.start(v.ID, true)
	}
}
