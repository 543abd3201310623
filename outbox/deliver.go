package outbox

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
)

// Observer hears what each try of a message came to: "delivered", "retry"
// or "dead".
type Observer interface {
	OutboxTried(result string)
}

// Deliverer delivers the outbox: it claims due entries under a lease,
// sends each, and settles the try, so instances sharing a store never send
// one entry at once, and an instance killed mid-delivery leaves its
// entries to be claimed again once their leases lapse (at least once,
// with the same id).
type Deliverer struct {
	Store  gateway.Store
	Sender *Sender
	// Routes are the senders of entries by type (gateway.OutboxMisconduct
	// to professional standards, say); an entry of another type goes to
	// Sender.
	Routes   map[string]*Sender
	Schedule Schedule
	// Instance names this deliverer's leases.
	Instance string
	// Lease is how long a claim holds its entries. Default a minute.
	Lease time.Duration
	// SendLimit bounds one send with its quick retries; a claimed entry
	// is sent only while its lease has SendLimit left, so no entry is
	// still being sent when its lease lapses and another instance may
	// take it. Default half the lease.
	SendLimit time.Duration
	// Batch is how many entries one claim takes. Default 20.
	Batch int
	// Every is how often it looks for due entries. Default a second.
	Every    time.Duration
	Log      logrus.FieldLogger
	Observer Observer // may be nil
}

func (d *Deliverer) defaults() {
	if d.Lease <= 0 {
		d.Lease = time.Minute
	}
	if d.SendLimit <= 0 || d.SendLimit > d.Lease {
		d.SendLimit = d.Lease / 2
	}
	if d.Batch <= 0 {
		d.Batch = 20
	}
	if d.Every <= 0 {
		d.Every = time.Second
	}
	if d.Log == nil {
		d.Log = logrus.New()
	}
}

// Run delivers until ctx is done.
func (d *Deliverer) Run(ctx context.Context) {
	d.defaults()
	t := time.NewTicker(d.Every)
	defer t.Stop()
	for {
		for {
			n, err := d.DeliverDue(ctx)
			if err != nil && ctx.Err() == nil {
				d.Log.WithError(err).Warn("outbox: delivery stopped; it goes on at the next look")
			}
			if err != nil || n < d.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DeliverDue claims one batch of due entries, tries them in order, and
// returns how many it claimed. It stops early when a try fails (the
// receiver is down: the rest wait for their leases to lapse) or when the
// leases have too little time left for another send.
func (d *Deliverer) DeliverDue(ctx context.Context) (int, error) {
	d.defaults()
	claimed := time.Now()
	es, err := d.Store.ClaimOutbox(ctx, d.Instance, d.Lease, d.Batch)
	if err != nil {
		return 0, err
	}
	for _, e := range es {
		if time.Since(claimed)+d.SendLimit > d.Lease {
			break
		}
		ok, err := d.deliver(ctx, e)
		if err != nil {
			return len(es), err
		}
		if !ok {
			break
		}
	}
	return len(es), nil
}

// deliver tries one entry and settles the try; false when the receiver
// did not take it.
func (d *Deliverer) deliver(ctx context.Context, e gateway.OutboxEntry) (bool, error) {
	send, cancel := context.WithTimeout(ctx, d.SendLimit)
	sender := d.Sender
	if r := d.Routes[e.Type]; r != nil {
		sender = r
	}
	res, sendErr := sender.Send(send, Message{ID: e.ID, Type: e.Type, Body: e.Body})
	cancel()
	if ctx.Err() != nil {
		return false, ctx.Err() // shutting down: the lease lapses and the entry is tried again
	}
	now, err := d.Store.Now(ctx)
	if err != nil {
		return false, err
	}
	try := gateway.OutboxTry{State: gateway.OutboxDelivered}
	result := "delivered"
	if sendErr != nil {
		try.Error = sendErr.Error()
		next, ok := d.Schedule.Next(e.Since, now, e.Attempts+1)
		switch {
		case res == Gone || !ok:
			try.State, result = gateway.OutboxDead, "dead"
		default:
			try.State, try.NextAt, result = gateway.OutboxPending, next, "retry"
		}
	}
	ev := gateway.OpsEvent{Actor: gateway.Actor{ID: gateway.GatewayActorID, Name: "the gateway's outbox"},
		Action: gateway.OpsOutboxDead, Reason: "not delivered: " + try.Error}
	if _, err := d.Store.SettleOutbox(ctx, e.ID, d.Instance, try, ev); err != nil {
		return false, err
	}
	log := d.Log.WithFields(logrus.Fields{"outbox": e.ID, "type": e.Type, "verification": e.VerificationID, "attempts": e.Attempts + 1})
	switch result {
	case "dead":
		log.WithField("error", try.Error).Error("outbox: given up; ops can replay it")
	case "retry":
		log.WithField("error", try.Error).WithField("next", try.NextAt.Format(time.RFC3339)).Warn("outbox: not delivered; will try again")
	default:
		log.Debug("outbox: delivered")
	}
	if d.Observer != nil {
		d.Observer.OutboxTried(result)
	}
	return sendErr == nil, nil
}
