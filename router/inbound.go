package router

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/sirupsen/logrus"
)

// A member of the public who calls a room's published number is served by
// the telephone provider's webhooks, one step at a time, not by a run: each
// webhook (her call arriving, a device's phone answering or not, her wait
// asking again) calls Inbound, InboundLeg, InboundDialed or InboundWait,
// which read the record, decide the next step and write it before the
// provider is told. Her verification (origin public) is held by
// InboundOwner until her call is expected to ask again, so that no
// instance's sweeper takes it for an orphaned officer's request; a call
// that stops asking (she hung up) lapses, and the sweeper ends it
// (inboundLapsed).

// InboundOwner is the owner of a public call's verification while her call
// is live: the provider's webhooks, on whichever instance they arrive.
const InboundOwner = "public-line"

// numberRooms is a Locator that also finds a room by its published number
// (rooms.Set).
type numberRooms interface {
	ByNumber(e164 string) (gateway.Room, bool)
}

// Inbound starts the verification of a call from the public to a room's
// published number and returns its first step: a free device of the room,
// or of its neighbours in order, to ring; else her place in the queue. The
// same call again (a provider's retry, by CallSID) starts nothing new and
// returns the step its verification is at. ENOTFOUND when no room
// publishes the number.
func (r *Router) Inbound(ctx context.Context, call gateway.InboundCall) (gateway.InboundStep, error) {
	const op = "router.Inbound"
	var room gateway.Room
	ok := false
	if nr, is := r.Rooms.(numberRooms); is {
		room, ok = nr.ByNumber(call.To)
	}
	if !ok {
		return gateway.InboundStep{}, gateway.Errorf(gateway.ENOTFOUND, "no operations room publishes the number called")
	}
	if call.CallSID == "" {
		return gateway.InboundStep{}, gateway.Errorf(gateway.EINVALID, "a call needs its provider's ID")
	}
	now := r.Now()
	until := now.Add(r.OwnerTTL)
	v := gateway.Verification{
		ID:          gateway.NewID("v_"),
		Reference:   gateway.NewReference(),
		State:       gateway.StateRouting,
		Origin:      gateway.OriginPublic,
		Caller:      call.Caller,
		CallerHash:  call.CallerHash,
		RoomID:      room.ID,
		RequestedBy: "public:" + room.ID,
		CreatedAt:   now,
		UpdatedAt:   now,
		Deadline:    now.Add(r.Budget),
		Owner:       InboundOwner,
		OwnerUntil:  &until,
	}
	ev := gateway.Event{Type: gateway.EventState, Instance: r.Instance,
		Message: "a member of the public called the published number of " + room.Name,
		Data:    map[string]string{"room": room.ID, "origin": string(gateway.OriginPublic)}}
	got, created, err := r.Record.CreateVerification(ctx, v, call.CallSID, ev)
	if err != nil {
		return gateway.InboundStep{}, gateway.E(op, gateway.ErrorCode(err), err)
	}
	u := r.inboundRun(got)
	if !created {
		return u.resumeStep(ctx)
	}
	u.log.Info("public call received")
	s, err := u.serve(ctx, nil, false)
	s.Greet = true
	return s, err
}

// InboundWait is her wait asking again: the call's next step, served in
// arrival order with the room's other waiting verifications, officers'
// and the public's. A wait must ask again within 3 OwnerTTLs, or her call
// counts as ended. ENOTFOUND.
func (r *Router) InboundWait(ctx context.Context, id string) (gateway.InboundStep, error) {
	u, err := r.inboundLoad(ctx, id)
	if err != nil {
		return gateway.InboundStep{}, err
	}
	if u.v.State == gateway.StateDialling {
		return u.resumeStep(ctx)
	}
	return u.serve(ctx, u.tried(), true)
}

// InboundLeg records what the provider says of the leg to a device, by its
// call status: in-progress (answered) connects the verification on PSTN
// with that device, which holds it until the call ends (MaxCall at most);
// completed after that ends the call and frees the device. Other statuses
// are the <Dial>'s to report (InboundDialed). ENOTFOUND for an unknown
// verification or attempt.
func (r *Router) InboundLeg(ctx context.Context, id, attemptID, status string) error {
	u, err := r.inboundLoad(ctx, id)
	if err != nil {
		return err
	}
	a, ok := u.attemptByID(attemptID)
	if !ok {
		return gateway.Errorf(gateway.ENOTFOUND, "no attempt %.70q of verification %s", attemptID, id)
	}
	switch status {
	case "in-progress", "answered":
		u.inboundConnect(ctx, a)
	case "completed":
		if a.Result == gateway.ResultConnected {
			u.callEnded(ctx, a)
		}
	}
	return nil
}

// InboundDialed is the end of a <Dial> to a device, with the provider's
// DialCallStatus: completed or answered, the call was bridged and has ended
// (the device is freed; the verification stays connected for the
// supervisor's outcome); no-answer, busy, failed or canceled, the attempt
// ends so and the next free device not yet tried is rung, else she waits.
// hungUp says her own call has ended (she hung up while it rang): nothing
// more is tried. ENOTFOUND; EINVALID for an unknown status.
func (r *Router) InboundDialed(ctx context.Context, id, attemptID, dialStatus string, hungUp bool) (gateway.InboundStep, error) {
	u, err := r.inboundLoad(ctx, id)
	if err != nil {
		return gateway.InboundStep{}, err
	}
	a, ok := u.attemptByID(attemptID)
	if !ok {
		return gateway.InboundStep{}, gateway.Errorf(gateway.ENOTFOUND, "no attempt %.70q of verification %s", attemptID, id)
	}
	var result gateway.AttemptResult
	var detail string
	switch dialStatus {
	case "completed", "answered":
		if a.Open() {
			// The answer's own callback was lost or is late: the dial's
			// end says the call was bridged.
			u.inboundConnect(ctx, a)
			a, _ = u.attemptByID(attemptID)
		}
		u.callEnded(ctx, a)
		return u.step(gateway.StepEnd), nil
	case "no-answer":
		result, detail = gateway.ResultNoAnswer, "the operations room's phone was not answered"
	case "busy":
		result, detail = gateway.ResultRejected, "the operations room's line was busy or declined"
	case "failed":
		result, detail = gateway.ResultFailed, "the call to the operations room failed"
	case "canceled":
		result, detail = gateway.ResultCancelled, "the call to the operations room was cancelled"
	default:
		return gateway.InboundStep{}, gateway.Errorf(gateway.EINVALID, "unknown DialCallStatus %.20q", dialStatus)
	}
	if !a.Open() {
		// Told already (a replay, or a retry): the call is where it is.
		return u.resumeStep(ctx)
	}
	u.end(ctx, &a, result, detail)
	u.replaceAttempt(a)
	if l := u.v.Lease; l != nil && l.DeviceID == a.DeviceID {
		u.release(ctx, *l, string(result))
		u.v.Lease = nil
	}
	if hungUp {
		u.failPublic(ctx, "the caller hung up before anyone answered")
		return u.step(gateway.StepEnd), nil
	}
	return u.serve(ctx, u.tried(), false)
}

// inboundLoad reads a public verification and makes a run of it for one
// step. ENOTFOUND, also for an officer's verification.
func (r *Router) inboundLoad(ctx context.Context, id string) (*run, error) {
	v, err := r.Record.Verification(ctx, id)
	if err != nil {
		return nil, err
	}
	if v.Origin != gateway.OriginPublic {
		return nil, gateway.Errorf(gateway.ENOTFOUND, "no public call %s", id)
	}
	return r.inboundRun(v), nil
}

// inboundRun is a run of a public verification for one step: it is never
// driven, only used for what a run records.
func (r *Router) inboundRun(v gateway.Verification) *run {
	room, ok := r.Rooms.Room(v.RoomID)
	if !ok {
		room = gateway.Room{ID: v.RoomID}
	}
	return &run{
		r: r, v: v, room: room, seq: len(v.Attempts),
		rooms: append([]string{room.ID}, room.Neighbours...),
		log:   r.Logger.WithFields(logrus.Fields{"verification": v.ID, "origin": gateway.OriginPublic, "room": room.ID}),
	}
}

func (u *run) step(k gateway.StepKind) gateway.InboundStep {
	return gateway.InboundStep{Kind: k, Verification: u.v, Room: u.room}
}

func (u *run) attemptByID(id string) (gateway.Attempt, bool) {
	for _, a := range u.v.Attempts {
		if a.ID == id {
			return a, true
		}
	}
	return gateway.Attempt{}, false
}

// replaceAttempt puts a, as written, in place of its older copy in u.v.
func (u *run) replaceAttempt(a gateway.Attempt) {
	for i := range u.v.Attempts {
		if u.v.Attempts[i].ID == a.ID {
			u.v.Attempts[i] = a
		}
	}
}

// tried lists the devices her call has rung.
func (u *run) tried() []string {
	var out []string
	for _, a := range u.v.Attempts {
		if a.DeviceID != "" && !slices.Contains(out, a.DeviceID) {
			out = append(out, a.DeviceID)
		}
	}
	return out
}

// resumeStep is the step a public call is at, for a webhook that asks
// again: the device ringing, or what its state says.
func (u *run) resumeStep(ctx context.Context) (gateway.InboundStep, error) {
	if u.v.State == gateway.StateDialling {
		for _, a := range u.v.Attempts {
			if a.Open() && u.v.Lease != nil && u.v.Lease.DeviceID == a.DeviceID {
				dev, err := u.r.Claims.Device(ctx, a.DeviceID)
				if err != nil {
					return gateway.InboundStep{}, err
				}
				s := u.step(gateway.StepDial)
				s.AttemptID, s.Number, s.Timeout = a.ID, dev.Number, u.ringTimeout()
				return s, nil
			}
		}
	}
	return u.serve(ctx, u.tried(), true)
}

// ringTimeout is how long a device may ring: RingTimeout, within what is
// left of the budget.
func (u *run) ringTimeout() time.Duration {
	return max(min(u.r.RingTimeout, u.v.Deadline.Sub(u.r.Now())), time.Second)
}

// serve is the step of a public call that is not ringing a device: the
// end when it is over; the 999 message when the budget is spent; else a
// claim on a free device (not one of exclude; any, when retry and those
// are all that is free) that no verification for the room that arrived
// before hers and still waits could take (see freePool), to ring; else her
// place in the queue.
func (u *run) serve(ctx context.Context, exclude []string, retry bool) (gateway.InboundStep, error) {
	r := u.r
	switch {
	case u.v.State == gateway.StateFailed:
		return u.step(gateway.StepGiveUp), nil
	case !u.v.State.Live():
		return u.step(gateway.StepEnd), nil
	case !r.Now().Before(u.v.Deadline):
		u.failPublic(ctx, "no one in the operations room was free within the time budget")
		return u.step(gateway.StepGiveUp), nil
	}
	ahead, err := u.ahead(ctx)
	if err != nil {
		return gateway.InboundStep{}, err
	}
	// Those ahead of her go first for the free devices their claims can
	// take; she may take one none of them can use.
	claim, skip := len(ahead) == 0, []string(nil)
	if !claim {
		p, err := r.readPool(ctx)
		if err != nil {
			return gateway.InboundStep{}, err
		}
		if p != nil {
			claim, skip = true, p.except(p.reserve(r, ahead))
		}
	}
	if claim {
		ring := u.ringTimeout()
		req := gateway.ClaimRequest{RoomIDs: u.rooms, Channel: gateway.ChannelPSTN, Holder: u.v.ID,
			TTL: ring + r.LeaseTTL, Stale: r.HeartbeatStale, Exclude: slices.Concat(exclude, skip), BatteryFloor: r.BatteryFloor}
		lease, dev, err := r.Claims.Claim(ctx, req)
		if gateway.ErrorCode(err) == gateway.EUNAVAILABLE && retry && len(exclude) > 0 {
			req.Exclude = skip
			lease, dev, err = r.Claims.Claim(ctx, req)
		}
		switch {
		case err == nil:
			return u.dial(ctx, lease, dev, ring)
		case gateway.ErrorCode(err) != gateway.EUNAVAILABLE:
			return gateway.InboundStep{}, err
		}
	}
	if err := u.wait(ctx, 3*r.OwnerTTL); err != nil {
		return gateway.InboundStep{}, err
	}
	s := u.step(gateway.StepWait)
	s.Position = len(ahead) + 1
	return s, nil
}

// dial records the attempt on a claimed device, with the move to dialling
// and her call held until the ring ends, and returns the step ringing it.
func (u *run) dial(ctx context.Context, lease gateway.Lease, dev gateway.Device, ring time.Duration) (gateway.InboundStep, error) {
	r := u.r
	u.seq++
	a := gateway.Attempt{ID: gateway.NewID("a_"), VerificationID: u.v.ID, Seq: u.seq, Channel: gateway.ChannelPSTN,
		RoomID: lease.RoomID, DeviceID: dev.ID, StartedAt: r.Now(), Tries: 1}
	until := r.Now().Add(ring + r.OwnerTTL)
	v, _, err := r.Record.Transition(ctx, u.v.ID, gateway.Transition{
		From:         []gateway.State{gateway.StateRouting, gateway.StateQueued, gateway.StateDialling},
		To:           gateway.StateDialling,
		Attempt:      &a,
		AttemptEvent: u.attemptEvent(a, fmt.Sprintf("attempt %d: pstn via device %s in room %s", a.Seq, dev.ID, lease.RoomID)),
		Set:          func(v *gateway.Verification) { v.Owner, v.OwnerUntil = InboundOwner, &until },
		Event: gateway.Event{Type: gateway.EventState, AttemptID: a.ID, Instance: r.Instance,
			Message: "dialling pstn: ringing the operations room for the caller"},
	})
	if err != nil {
		u.release(ctx, lease, "not used")
		if gateway.ErrorCode(err) != gateway.ECONFLICT {
			return gateway.InboundStep{}, err
		}
		// Ended meanwhile (the sweeper found her call gone).
		if v, err = r.Record.Verification(ctx, u.v.ID); err != nil {
			return gateway.InboundStep{}, err
		}
		u.v = v
		return u.serve(ctx, nil, false)
	}
	u.v = v
	s := u.step(gateway.StepDial)
	s.AttemptID, s.Number, s.Timeout = a.ID, dev.Number, ring
	return s, nil
}

// wait puts her call in the room's queue (keeping her place when she has
// one) and holds it for hold, by when it asks again.
func (u *run) wait(ctx context.Context, hold time.Duration) error {
	r := u.r
	until := r.Now().Add(hold)
	t := gateway.Transition{
		From: []gateway.State{gateway.StateRouting, gateway.StateQueued, gateway.StateDialling},
		To:   gateway.StateQueued,
		Set: func(v *gateway.Verification) {
			if v.QueuedAt == nil {
				now := r.Now()
				v.QueuedAt = &now
			}
			v.Owner, v.OwnerUntil = InboundOwner, &until
		},
		Event: gateway.Event{Type: gateway.EventState, Instance: r.Instance,
			Message: "no free device in the room or its neighbours: the caller waits"},
	}
	if u.v.State == gateway.StateQueued {
		// Already waiting: renew the hold alone, without an event.
		v, err := r.Owners.Own(ctx, u.v.ID, InboundOwner, hold)
		if err == nil {
			u.v = v
		}
		return err
	}
	v, _, err := r.Record.Transition(ctx, u.v.ID, t)
	if err != nil {
		return err
	}
	u.v = v
	return nil
}

// ahead lists the verifications of her room that arrived before her and
// still wait: officers' in the queue, and public callers whose calls are
// live.
func (u *run) ahead(ctx context.Context) ([]gateway.Verification, error) {
	vs, err := u.r.queued(ctx, u.v.RoomID)
	if err != nil {
		return nil, err
	}
	at := u.r.Now()
	if u.v.QueuedAt != nil {
		at = *u.v.QueuedAt
	}
	now := u.r.Now()
	var out []gateway.Verification
	for _, v := range vs {
		if v.ID != u.v.ID && stillWaiting(v, now) && arrived(v).Before(at) {
			out = append(out, v)
		}
	}
	return out, nil
}

// lister lists verifications (the stores' VerificationStore.Verifications).
type lister interface {
	Verifications(ctx context.Context, f gateway.VerificationFilter) ([]gateway.Verification, error)
}

// queued lists the queued verifications of a room ("": of every room),
// oldest first; none when the record cannot list (a test's fake): the
// public's calls are then not ordered with the officers'.
func (r *Router) queued(ctx context.Context, room string) ([]gateway.Verification, error) {
	l, ok := r.Record.(lister)
	if !ok {
		return nil, nil
	}
	return l.Verifications(ctx, gateway.VerificationFilter{States: []gateway.State{gateway.StateQueued}, RoomID: room})
}

// arrived is when a queued verification joined the queue.
func arrived(v gateway.Verification) time.Time {
	if v.QueuedAt != nil {
		return *v.QueuedAt
	}
	return v.CreatedAt
}

// stillWaiting reports whether a queued verification still waits: an
// officer's does until its run ends it; a public caller's while her call
// keeps asking (its hold is live).
func stillWaiting(v gateway.Verification, now time.Time) bool {
	if v.Origin != gateway.OriginPublic {
		return true
	}
	return v.OwnerUntil != nil && v.OwnerUntil.After(now)
}

// publicWaiting lists the public callers still waiting, of every room: the
// officers' queue lets one who came first take a free device her call can
// use.
func (r *Router) publicWaiting(ctx context.Context) []gateway.Verification {
	vs, err := r.queued(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			r.Logger.WithError(err).Warn("queue: could not read the public callers waiting")
		}
		return nil
	}
	now := r.Now()
	return slices.DeleteFunc(vs, func(v gateway.Verification) bool {
		return v.Origin != gateway.OriginPublic || !stillWaiting(v, now)
	})
}

// inboundConnect records that the device answered her call: the attempt
// ends connected with the move to connected on PSTN with that device, and
// the device and her call are held for MaxCall, until the call's end frees
// them.
func (u *run) inboundConnect(ctx context.Context, a gateway.Attempt) {
	r := u.r
	if !a.Open() || u.v.State != gateway.StateDialling {
		return
	}
	summary := u.close(&a, gateway.ResultConnected, "")
	until := r.Now().Add(r.MaxCall)
	t := u.connection(a, summary, func(v *gateway.Verification) { v.Owner, v.OwnerUntil = InboundOwner, &until })
	t.Event.Message = "connected on pstn: the operations room answered the caller"
	v, _, err := r.Record.Transition(ctx, u.v.ID, t)
	if err != nil {
		u.transitionFailed(ctx, err)
		return
	}
	u.v = v
	u.counted(a)
	if l := v.Lease; l != nil && l.DeviceID == a.DeviceID {
		if _, err := r.Claims.Renew(ctx, *l, r.MaxCall); err != nil {
			u.log.WithError(err).Warn("could not hold the device for the call")
		}
	}
	r.Observer.Connected(gateway.ChannelPSTN, r.Now().Sub(v.CreatedAt))
	u.log.WithField("device", a.DeviceID).Info("public call connected")
}

// callEnded frees the device of her connected call once the call has
// ended; the verification stays connected for the supervisor's outcome.
func (u *run) callEnded(ctx context.Context, a gateway.Attempt) {
	l := u.v.Lease
	if l == nil || l.DeviceID != a.DeviceID {
		return // freed already
	}
	u.note(ctx, a.ID, "call ended")
	u.release(ctx, *l, "call ended")
	u.v.Lease = nil
}

// failPublic ends a public call's verification unconnected: why is the
// record's reason (the caller is told by the provider's step, not by
// Advice999, which is the officer's).
func (u *run) failPublic(ctx context.Context, why string) {
	r := u.r
	v, _, err := r.Record.Transition(ctx, u.v.ID, u.failure(why, why))
	if err != nil {
		u.transitionFailed(ctx, err)
		if v, err = r.Record.Verification(ctx, u.v.ID); err == nil {
			u.v = v
		}
		return
	}
	u.v = v
	u.log.WithField("reason", why).Warn("public call failed")
	r.Observer.Finished(v)
}

// inboundLapsed ends a public call that stopped asking (the sweeper found
// its hold lapsed): she hung up, or the provider lost her call. A ringing
// attempt ends unknown, and the device is freed; a connected call's device
// is freed.
func (r *Router) inboundLapsed(ctx context.Context, v gateway.Verification) {
	u := r.inboundRun(v)
	for _, a := range v.Attempts {
		if a.Open() {
			u.end(ctx, &a, gateway.ResultUnknown, "the caller's call stopped asking")
		}
	}
	if v.Lease != nil {
		u.release(ctx, *v.Lease, "the caller's call ended")
	}
	if v.State.Live() {
		u.failPublic(ctx, "the caller's call ended before anyone answered")
	}
}

// Interface guards
var _ gateway.InboundService = (*Router)(nil)
