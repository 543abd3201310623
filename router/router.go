// Package router is the routing core of the gateway: it picks the local
// operations room from the officer's location, claims a free device there
// under a lease, places the call over the officer's channels in his order
// through the registered adapters, retries what was not placed, falls over
// to the next channel, device or neighbouring room, queues when nothing is
// free, ends on PSTN when every video channel has failed, and writes every
// step to the store before anyone is told.
//
// The router knows no provider by name and imports no adapter and no
// net/http: cmd/gateway registers the adapters the configuration enables.
package router

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/sirupsen/logrus"
)

// What the router needs of the store, by concern: each interface holds only
// the methods the router calls, with the contracts gateway.Store states for
// them. The stores implement gateway.Store, which holds them all.

// Claims is the device pool as the router uses it: devices claimed under
// leases, renewed while a call lasts, released after it, swept when a
// holder died.
type Claims interface {
	// Claim leases the least recently used free device that qualifies.
	// EUNAVAILABLE when none does.
	Claim(ctx context.Context, req gateway.ClaimRequest) (gateway.Lease, gateway.Device, error)
	// Renew extends a live lease. ECONFLICT when it is not the device's
	// current one.
	Renew(ctx context.Context, l gateway.Lease, ttl time.Duration) (gateway.Lease, error)
	// Release ends a lease. ECONFLICT when it is not the device's current
	// one.
	Release(ctx context.Context, l gateway.Lease, reason string) error
	// ExpireLeases frees the leases past their expiry and returns them.
	ExpireLeases(ctx context.Context) ([]gateway.Lease, error)
	// FreeDevices counts routable free devices by room.
	FreeDevices(ctx context.Context, stale time.Duration) (map[string]int, error)
	// Device returns one device: a leg taken over or hung up late needs
	// its handles. ENOTFOUND.
	Device(ctx context.Context, id string) (gateway.Device, error)
}

// Record is the verifications' durable record: the verification, its
// attempts and its events, written before anyone is told.
type Record interface {
	// CreateVerification stores a new verification with its first event,
	// or returns the one an idempotency key already made and false.
	CreateVerification(ctx context.Context, v gateway.Verification, idempotencyKey string, ev gateway.Event) (gateway.Verification, bool, error)
	// Verification returns one verification with its attempts. ENOTFOUND.
	Verification(ctx context.Context, id string) (gateway.Verification, error)
	// Transition changes a verification's state with its event, in one
	// write. ENOTFOUND; ECONFLICT when its state is not one of t.From.
	Transition(ctx context.Context, id string, t gateway.Transition) (gateway.Verification, gateway.Event, error)
	// PutAttempt writes an attempt with its event.
	PutAttempt(ctx context.Context, a gateway.Attempt, ev gateway.Event) (gateway.Event, error)
	// Attempt returns one attempt. ENOTFOUND.
	Attempt(ctx context.Context, id string) (gateway.Attempt, error)
	// AttemptByProviderRef finds the attempt of a provider reference.
	// ENOTFOUND.
	AttemptByProviderRef(ctx context.Context, channel gateway.Channel, ref string) (gateway.Attempt, error)
	// AppendEvent writes an event and returns it with its Seq and At.
	AppendEvent(ctx context.Context, ev gateway.Event) (gateway.Event, error)
	// MessageEvent returns the note that recorded sending a message.
	// ENOTFOUND.
	MessageEvent(ctx context.Context, messageID string) (gateway.Event, error)
	// Events returns a verification's events after Seq after.
	Events(ctx context.Context, verificationID string, after int64, limit int) ([]gateway.Event, error)
}

// Owners is which instance routes a verification, and the take-over of
// those whose instance stopped.
type Owners interface {
	// Own makes instance the owner of a live verification for ttl.
	// ECONFLICT when another instance holds it; ENOTFOUND.
	Own(ctx context.Context, id, instance string, ttl time.Duration) (gateway.Verification, error)
	// Orphans lists the verifications that need a router and have no
	// owner holding them.
	Orphans(ctx context.Context) ([]gateway.Verification, error)
}

// Store is all the router needs of the store, as New takes it.
type Store interface {
	Claims
	Record
	Owners
	gateway.Bus
}

// Locator finds rooms.
type Locator interface {
	// Locate returns the room covering loc and the borough it fell in.
	// EOUTSIDE when no room covers it; EINVALID for impossible coordinates.
	Locate(loc gateway.Location) (gateway.Room, string, error)
	// Room returns a room by ID.
	Room(id string) (gateway.Room, bool)
}

// Observer is told what happens, for metrics. Its methods must not block.
type Observer interface {
	// AttemptEnded is called when an attempt ends, with how long it ran.
	AttemptEnded(ch gateway.Channel, result gateway.AttemptResult, d time.Duration)
	// Connected is called when a verification connects, with the time from
	// the request.
	Connected(ch gateway.Channel, sinceRequest time.Duration)
	// Finished is called when a verification reaches a final state, with
	// the verification as it ended.
	Finished(v gateway.Verification)
}

// LinkSender sends a meeting's join link by message.
type LinkSender interface {
	// SendJoinLink sends the link to an E.164 number and returns the
	// message's ID.
	SendJoinLink(ctx context.Context, toE164, reference, joinURL string) (string, error)
}

// Router routes verifications. Build it with New, set its fields, Register
// adapters, then Open it; Close stops it.
type Router struct {
	// Claims, Record, Owners and Bus are the store, by concern; New sets
	// them all from one store.
	Claims   Claims
	Record   Record
	Owners   Owners
	Bus      gateway.Bus
	Rooms    Locator
	Logger   logrus.FieldLogger
	Now      func() time.Time
	Observer Observer
	// Instance names this gateway among others sharing the store.
	Instance string

	// RingTimeout bounds one attempt: placing it and waiting for an answer.
	RingTimeout time.Duration
	// Budget bounds a whole verification, queueing included.
	Budget time.Duration
	// LeaseTTL is how long a device claim lasts unless renewed.
	LeaseTTL time.Duration
	// HeartbeatStale: a device not heard from for this long is not routable.
	HeartbeatStale time.Duration
	// BatteryFloor: a device under this battery percentage, not charging,
	// is not routable (with HeartbeatStale, the claims' health policy).
	// Zero does not look at the battery.
	BatteryFloor int
	// MaxCall bounds how long a connected call holds its device.
	MaxCall time.Duration
	// OwnerTTL is how long this instance's hold on a verification lasts
	// unless renewed; another instance takes over after it lapses.
	OwnerTTL time.Duration
	// SweepInterval is how often expired leases are freed and orphaned
	// verifications taken over.
	SweepInterval time.Duration
	// PollInterval is how often a wait re-reads the store when no wake-up
	// came (a missed notification must not lose an event).
	PollInterval time.Duration
	// ReportGrace is how long a report naming a provider reference that no
	// attempt has yet waits for one to record it (see Report).
	ReportGrace time.Duration
	// Policy is the rules of an attempt that a deployment may change: when
	// to retry what was not placed, how long to back off, where to fail
	// over. Default: DefaultPolicy(200ms, 3s).
	Policy Policy
	// Ranker reorders the officer's channels by their recent record; nil
	// keeps his order.
	Ranker *Ranker
	// Desks leases the supervisor desks' lines; New sets it to the store
	// when the store is one. Nil puts no limit on a desk's calls.
	Desks DeskStore
	// DeskCalls is how many PSTN calls a room's supervisor desk takes at
	// once (its lines, default 1); beyond them a call rings a neighbouring
	// room's desk or waits for a line. Zero or less: no limit.
	DeskCalls int
	// Links sends join links to the contacts that asked for them
	// (gateway.Contact.Links); nil sends none.
	Links LinkSender
	// MessageRef is what the record keeps of a messaging service's ID of a
	// message sent (gateway.DataMessage), and what a later status of the
	// message is found by: a WhatsApp message ID holds the recipient's
	// number, so a gateway that sends by WhatsApp keeps a keyed hash of it
	// (the WhatsApp sender's LogID). The same on every instance. Nil keeps
	// the ID.
	MessageRef func(messageID string) string
	// Receipts sends receipts by message, by the way she asked for
	// (ViaSMS, ViaWhatsApp); a way with no sender is not configured.
	// ReceiptURL starts a receipt's link, the reference following: the
	// gateway's public URL and "/receipt/". See SendReceipt.
	Receipts   map[string]ReceiptSender
	ReceiptURL string
	// Assessor gives what the supervisor is shown of the officer behind an
	// officer's verification; nil records none.
	Assessor Assessor
	// Channels describes the channels this gateway serves (cmd/gateway
	// builds it from the providers it wires). Register refuses an adapter
	// for a channel it lacks; nil accepts any well-formed channel name and
	// treats no channel's handle as a phone number.
	Channels *gateway.Registry

	mu       sync.Mutex
	adapters map[gateway.Channel]gateway.Adapter
	running  map[string]context.CancelFunc // verification ID -> its run
	queue    *queue
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New returns a router over the store and rooms with the default timings:
// ring 20 s, budget 60 s, lease 30 s, heartbeat stale after 90 s, one call
// at a time to a supervisor desk.
func New(store Store, rooms Locator) *Router {
	r := &Router{
		Claims:         store,
		Record:         store,
		Owners:         store,
		Bus:            store,
		Rooms:          rooms,
		Logger:         logrus.StandardLogger(),
		Now:            time.Now,
		Observer:       nopObserver{},
		Instance:       "gateway",
		RingTimeout:    20 * time.Second,
		Budget:         60 * time.Second,
		LeaseTTL:       30 * time.Second,
		HeartbeatStale: 90 * time.Second,
		BatteryFloor:   gateway.DefaultBatteryFloor,
		MaxCall:        30 * time.Minute,
		OwnerTTL:       10 * time.Second,
		SweepInterval:  2 * time.Second,
		PollInterval:   time.Second,
		ReportGrace:    2 * time.Second,
		Policy:         DefaultPolicy(200*time.Millisecond, 3*time.Second),
		DeskCalls:      1,
		adapters:       map[gateway.Channel]gateway.Adapter{},
		running:        map[string]context.CancelFunc{},
	}
	r.Desks, _ = store.(DeskStore)
	return r
}

// Register adds the adapter for its channel. It refuses a second adapter for
// a channel, and registration after Open.
func (r *Router) Register(a gateway.Adapter) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx != nil {
		return gateway.Errorf(gateway.ECONFLICT, "router already open: register adapters before Open")
	}
	ch := a.Channel()
	if r.Channels != nil {
		if _, err := r.Channels.Parse(string(ch)); err != nil {
			return err
		}
	} else if !ch.Valid() {
		return gateway.Errorf(gateway.EINVALID, "%.40q is not a channel name", ch)
	}
	if _, dup := r.adapters[ch]; dup {
		return gateway.Errorf(gateway.ECONFLICT, "an adapter for channel %s is already registered", ch)
	}
	r.adapters[ch] = a
	return nil
}

// Served lists the channels with a registered adapter, in the registry's
// order (by name without one), PSTN last.
func (r *Router) Served() []gateway.Channel {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []gateway.Channel
	for c := range r.adapters {
		out = append(out, c)
	}
	if r.Channels != nil {
		return r.Channels.Sorted(out)
	}
	slices.SortFunc(out, func(a, b gateway.Channel) int {
		if (a == gateway.ChannelPSTN) != (b == gateway.ChannelPSTN) {
			if a == gateway.ChannelPSTN {
				return 1
			}
			return -1
		}
		return strings.Compare(string(a), string(b))
	})
	return out
}

func (r *Router) adapter(c gateway.Channel) gateway.Adapter {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.adapters[c]
}

// Open starts the router's background work: the lease sweeper, take-over of
// orphaned verifications (those of a stopped instance, or of this one before
// a restart) and the queue.
func (r *Router) Open(ctx context.Context) error {
	r.mu.Lock()
	if r.ctx != nil {
		r.mu.Unlock()
		return gateway.Errorf(gateway.ECONFLICT, "router already open")
	}
	r.ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	r.queue = newQueue(r)
	r.mu.Unlock()

	r.wg.Add(2)
	go func() { defer r.wg.Done(); r.queue.run(r.ctx) }()
	go func() { defer r.wg.Done(); r.sweepLoop(r.ctx) }()
	return nil
}

// Close stops every run without ending its verification: leases and holds
// lapse, and this instance after a restart, or another one, takes over.
func (r *Router) Close() error {
	r.mu.Lock()
	cancel := r.cancel
	r.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	r.wg.Wait()
	return nil
}

// Request starts a verification and returns it at once, in routing; the call
// is placed in the background. A request with an idempotency key already used
// by the same officer app returns the first verification and false, and
// places nothing; EIDEMPOTENCY when it came with another request (another
// Fingerprint). EINVALID for no contacts; EOUTSIDE for a location no room
// covers; EUNAVAILABLE when no adapter serves any of the contacts' channels.
func (r *Router) Request(ctx context.Context, req gateway.Request) (gateway.Verification, bool, error) {
	const op = "router.Request"
	if len(req.Contacts) == 0 {
		return gateway.Verification{}, false, gateway.Errorf(gateway.EINVALID, "at least one contact is required")
	}
	served := false
	for _, c := range req.Contacts {
		if r.adapter(c.Channel) != nil {
			served = true
		}
	}
	if !served {
		return gateway.Verification{}, false, gateway.Errorf(gateway.EUNAVAILABLE,
			"none of the contact channels is available at this gateway (available: %v); the officer must use 999", r.Served())
	}
	room, borough, err := r.Rooms.Locate(req.Location)
	if err != nil {
		return gateway.Verification{}, false, err
	}
	now := r.Now()
	v := gateway.Verification{
		ID:          gateway.NewID("v_"),
		Reference:   gateway.NewReference(),
		State:       gateway.StateRouting,
		Officer:     req.Officer,
		Location:    req.Location,
		Contacts:    req.Contacts,
		RoomID:      room.ID,
		RequestedBy: req.RequestedBy,
		Fingerprint: req.Fingerprint,
		CreatedAt:   now,
		UpdatedAt:   now,
		Deadline:    now.Add(r.Budget),
	}
	if r.Instance != "" {
		// Held from the start, so that no other instance's sweeper sees a
		// fresh verification as orphaned before this one's run owns it.
		until := now.Add(r.OwnerTTL)
		v.Owner, v.OwnerUntil = r.Instance, &until
	}
	ev := gateway.Event{
		Type:     gateway.EventState,
		Message:  fmt.Sprintf("requested by %s in %s: routed to %s", req.Officer.Collar, borough, room.Name),
		Data:     map[string]string{"room": room.ID, "borough": borough},
		Instance: r.Instance,
	}
	if req.Grounds != "" {
		ev.Data[gateway.DataGrounds] = req.Grounds
	}
	got, created, err := r.Record.CreateVerification(ctx, v, req.IdempotencyKey, ev)
	if err != nil {
		return gateway.Verification{}, false, gateway.E(op, gateway.ErrorCode(err), err)
	}
	if created {
		r.start(got.ID, false)
		r.assessLater(got, borough)
	}
	return got, created, nil
}

// start runs a verification in the background if this instance can own it;
// takeover says it was found orphaned (its owner stopped).
func (r *Router) start(id string, takeover bool) {
	r.mu.Lock()
	if r.ctx == nil || r.ctx.Err() != nil {
		r.mu.Unlock()
		return // not open: the sweeper of an open instance takes it over
	}
	if _, ok := r.running[id]; ok {
		r.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	r.running[id] = cancel
	r.wg.Add(1)
	r.mu.Unlock()

	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.running, id)
			r.mu.Unlock()
			cancel()
		}()
		r.run(ctx, id, takeover)
	}()
}

// Cancel withdraws a verification at the officer's request: the leg being
// placed is hung up and the device released. ENOTFOUND; ECONFLICT when it has
// already ended.
func (r *Router) Cancel(ctx context.Context, id, by string) (gateway.Verification, error) {
	v, _, err := r.Record.Transition(ctx, id, gateway.Transition{
		From: []gateway.State{gateway.StateRouting, gateway.StateQueued, gateway.StateDialling, gateway.StateConnected},
		To:   gateway.StateCancelled,
		Set:  func(v *gateway.Verification) { v.Reason = "cancelled by the officer" },
		Event: gateway.Event{Type: gateway.EventState, Message: "cancelled by " + by,
			Instance: r.Instance},
	})
	if err != nil {
		return v, r.ended(ctx, id, err, "cancelled")
	}
	r.Observer.Finished(v)
	r.wake(ctx, id)
	return v, nil
}

// RecordOutcome records the supervisor's judgement of a connected
// verification and ends the call's hold on the device. ENOTFOUND; EINVALID
// for an unknown outcome or no supervisor; ECONFLICT unless connected.
func (r *Router) RecordOutcome(ctx context.Context, id string, o gateway.Outcome) (gateway.Verification, error) {
	var to gateway.State
	switch o.Result {
	case gateway.OutcomeVerified:
		to = gateway.StateVerified
	case gateway.OutcomeRefused:
		to = gateway.StateRefused
	default:
		return gateway.Verification{}, gateway.Errorf(gateway.EINVALID, "outcome must be verified or refused, not %q", o.Result)
	}
	if o.Supervisor == "" {
		return gateway.Verification{}, gateway.Errorf(gateway.EINVALID, "the supervisor's collar number is required")
	}
	o.At = r.Now()
	v, _, err := r.Record.Transition(ctx, id, gateway.Transition{
		From: []gateway.State{gateway.StateConnected},
		To:   to,
		Set:  func(v *gateway.Verification) { v.Outcome = &o },
		Event: gateway.Event{Type: gateway.EventOutcome, Message: fmt.Sprintf("%s by %s", o.Result, o.Supervisor),
			Data: map[string]string{"outcome": string(o.Result), "supervisor": o.Supervisor}, Instance: r.Instance},
	})
	if err != nil {
		return v, r.ended(ctx, id, err, "given an outcome")
	}
	r.Observer.Finished(v)
	r.wake(ctx, id)
	return v, nil
}

// ended turns a state conflict into a message an officer or supervisor can
// act on.
func (r *Router) ended(ctx context.Context, id string, err error, what string) error {
	if gateway.ErrorCode(err) != gateway.ECONFLICT {
		return err
	}
	v, rerr := r.Record.Verification(ctx, id)
	if rerr != nil {
		return err
	}
	if v.State == gateway.StateConnected || v.State.Live() {
		return &gateway.Error{Code: gateway.ECONFLICT, Message: fmt.Sprintf("this verification is %s: it cannot be %s until its call connects", v.State, what), Err: err}
	}
	return &gateway.Error{Code: gateway.ECONFLICT, Message: fmt.Sprintf("this verification is already %s: it cannot be %s", v.State, what), Err: err}
}

// wake tells the run of a verification, on whichever instance, to look at
// its state again.
func (r *Router) wake(ctx context.Context, id string) {
	if err := r.Bus.Publish(ctx, gateway.TopicCancel+id, id); err != nil {
		r.Logger.WithError(err).WithField("verification", id).Warn("could not publish wake-up; the run will notice on its next poll")
	}
}

type nopObserver struct{}

func (nopObserver) AttemptEnded(gateway.Channel, gateway.AttemptResult, time.Duration) {}
func (nopObserver) Connected(gateway.Channel, time.Duration)                           {}
func (nopObserver) Finished(gateway.Verification)                                      {}

// messageRef is what the record keeps of a message's ID (see MessageRef).
func (r *Router) messageRef(id string) string {
	if r.MessageRef == nil || id == "" {
		return id
	}
	return r.MessageRef(id)
}
