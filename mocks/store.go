package mocks

import (
	"context"
	"time"

	"github.com/safeconnection/gateway"
)

// Fakes of the store as the router sees it, one per concern (they satisfy
// router.Claims, router.Record, router.Owners and gateway.Bus; the router's
// tests hold the guards of its interfaces, as this package imports no
// router). A test sets only the functions the case should reach; any other
// call panics.

// Claims is a fake of the device pool's claims.
type Claims struct {
	ClaimFn        func(ctx context.Context, req gateway.ClaimRequest) (gateway.Lease, gateway.Device, error)
	RenewFn        func(ctx context.Context, l gateway.Lease, ttl time.Duration) (gateway.Lease, error)
	ReleaseFn      func(ctx context.Context, l gateway.Lease, reason string) error
	ExpireLeasesFn func(ctx context.Context) ([]gateway.Lease, error)
	FreeDevicesFn  func(ctx context.Context, stale time.Duration) (map[string]int, error)
	DeviceFn       func(ctx context.Context, id string) (gateway.Device, error)
}

// Claim calls ClaimFn.
func (c *Claims) Claim(ctx context.Context, req gateway.ClaimRequest) (gateway.Lease, gateway.Device, error) {
	if c.ClaimFn == nil {
		panic("mocks.Claims: ClaimFn not set")
	}
	return c.ClaimFn(ctx, req)
}

// Renew calls RenewFn.
func (c *Claims) Renew(ctx context.Context, l gateway.Lease, ttl time.Duration) (gateway.Lease, error) {
	if c.RenewFn == nil {
		panic("mocks.Claims: RenewFn not set")
	}
	return c.RenewFn(ctx, l, ttl)
}

// Release calls ReleaseFn.
func (c *Claims) Release(ctx context.Context, l gateway.Lease, reason string) error {
	if c.ReleaseFn == nil {
		panic("mocks.Claims: ReleaseFn not set")
	}
	return c.ReleaseFn(ctx, l, reason)
}

// ExpireLeases calls ExpireLeasesFn.
func (c *Claims) ExpireLeases(ctx context.Context) ([]gateway.Lease, error) {
	if c.ExpireLeasesFn == nil {
		panic("mocks.Claims: ExpireLeasesFn not set")
	}
	return c.ExpireLeasesFn(ctx)
}

// FreeDevices calls FreeDevicesFn.
func (c *Claims) FreeDevices(ctx context.Context, stale time.Duration) (map[string]int, error) {
	if c.FreeDevicesFn == nil {
		panic("mocks.Claims: FreeDevicesFn not set")
	}
	return c.FreeDevicesFn(ctx, stale)
}

// Device calls DeviceFn.
func (c *Claims) Device(ctx context.Context, id string) (gateway.Device, error) {
	if c.DeviceFn == nil {
		panic("mocks.Claims: DeviceFn not set")
	}
	return c.DeviceFn(ctx, id)
}

// Record is a fake of the verifications' record.
type Record struct {
	CreateVerificationFn   func(ctx context.Context, v gateway.Verification, idempotencyKey string, ev gateway.Event) (gateway.Verification, bool, error)
	VerificationFn         func(ctx context.Context, id string) (gateway.Verification, error)
	TransitionFn           func(ctx context.Context, id string, t gateway.Transition) (gateway.Verification, gateway.Event, error)
	PutAttemptFn           func(ctx context.Context, a gateway.Attempt, ev gateway.Event) (gateway.Event, error)
	AttemptFn              func(ctx context.Context, id string) (gateway.Attempt, error)
	AttemptByProviderRefFn func(ctx context.Context, channel gateway.Channel, ref string) (gateway.Attempt, error)
	AppendEventFn          func(ctx context.Context, ev gateway.Event) (gateway.Event, error)
	MessageEventFn         func(ctx context.Context, messageID string) (gateway.Event, error)
	EventsFn               func(ctx context.Context, verificationID string, after int64, limit int) ([]gateway.Event, error)
}

// CreateVerification calls CreateVerificationFn.
func (r *Record) CreateVerification(ctx context.Context, v gateway.Verification, idempotencyKey string, ev gateway.Event) (gateway.Verification, bool, error) {
	if r.CreateVerificationFn == nil {
		panic("mocks.Record: CreateVerificationFn not set")
	}
	return r.CreateVerificationFn(ctx, v, idempotencyKey, ev)
}

// Verification calls VerificationFn.
func (r *Record) Verification(ctx context.Context, id string) (gateway.Verification, error) {
	if r.VerificationFn == nil {
		panic("mocks.Record: VerificationFn not set")
	}
	return r.VerificationFn(ctx, id)
}

// Transition calls TransitionFn.
func (r *Record) Transition(ctx context.Context, id string, t gateway.Transition) (gateway.Verification, gateway.Event, error) {
	if r.TransitionFn == nil {
		panic("mocks.Record: TransitionFn not set")
	}
	return r.TransitionFn(ctx, id, t)
}

// PutAttempt calls PutAttemptFn.
func (r *Record) PutAttempt(ctx context.Context, a gateway.Attempt, ev gateway.Event) (gateway.Event, error) {
	if r.PutAttemptFn == nil {
		panic("mocks.Record: PutAttemptFn not set")
	}
	return r.PutAttemptFn(ctx, a, ev)
}

// Attempt calls AttemptFn.
func (r *Record) Attempt(ctx context.Context, id string) (gateway.Attempt, error) {
	if r.AttemptFn == nil {
		panic("mocks.Record: AttemptFn not set")
	}
	return r.AttemptFn(ctx, id)
}

// AttemptByProviderRef calls AttemptByProviderRefFn.
func (r *Record) AttemptByProviderRef(ctx context.Context, channel gateway.Channel, ref string) (gateway.Attempt, error) {
	if r.AttemptByProviderRefFn == nil {
		panic("mocks.Record: AttemptByProviderRefFn not set")
	}
	return r.AttemptByProviderRefFn(ctx, channel, ref)
}

// AppendEvent calls AppendEventFn.
func (r *Record) AppendEvent(ctx context.Context, ev gateway.Event) (gateway.Event, error) {
	if r.AppendEventFn == nil {
		panic("mocks.Record: AppendEventFn not set")
	}
	return r.AppendEventFn(ctx, ev)
}

// MessageEvent calls MessageEventFn.
func (r *Record) MessageEvent(ctx context.Context, messageID string) (gateway.Event, error) {
	if r.MessageEventFn == nil {
		panic("mocks.Record: MessageEventFn not set")
	}
	return r.MessageEventFn(ctx, messageID)
}

// Events calls EventsFn.
func (r *Record) Events(ctx context.Context, verificationID string, after int64, limit int) ([]gateway.Event, error) {
	if r.EventsFn == nil {
		panic("mocks.Record: EventsFn not set")
	}
	return r.EventsFn(ctx, verificationID, after, limit)
}

// Owners is a fake of the verifications' ownership between instances.
type Owners struct {
	OwnFn     func(ctx context.Context, id, instance string, ttl time.Duration) (gateway.Verification, error)
	OrphansFn func(ctx context.Context) ([]gateway.Verification, error)
}

// Own calls OwnFn.
func (o *Owners) Own(ctx context.Context, id, instance string, ttl time.Duration) (gateway.Verification, error) {
	if o.OwnFn == nil {
		panic("mocks.Owners: OwnFn not set")
	}
	return o.OwnFn(ctx, id, instance, ttl)
}

// Orphans calls OrphansFn.
func (o *Owners) Orphans(ctx context.Context) ([]gateway.Verification, error) {
	if o.OrphansFn == nil {
		panic("mocks.Owners: OrphansFn not set")
	}
	return o.OrphansFn(ctx)
}

// Bus is a fake gateway.Bus.
type Bus struct {
	PublishFn   func(ctx context.Context, topic, payload string) error
	SubscribeFn func(topic string) (<-chan string, func())
}

// Publish calls PublishFn.
func (b *Bus) Publish(ctx context.Context, topic, payload string) error {
	if b.PublishFn == nil {
		panic("mocks.Bus: PublishFn not set")
	}
	return b.PublishFn(ctx, topic, payload)
}

// Subscribe calls SubscribeFn.
func (b *Bus) Subscribe(topic string) (<-chan string, func()) {
	if b.SubscribeFn == nil {
		panic("mocks.Bus: SubscribeFn not set")
	}
	return b.SubscribeFn(topic)
}

// Interface guards
var (
	_ gateway.Bus = (*Bus)(nil)
)
