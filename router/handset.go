package router

import (
	"context"
	"fmt"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/sirupsen/logrus"
)

// A member of the public who video-calls a room's handset directly (its
// WhatsApp number, its FaceTime address) is reported by the handset's
// device agent: RingIn records her call as a verification of origin public
// with one attempt on that handset, and claims the handset for it, so that
// the router sends it nothing else while the call lasts. The claim lasts
// LeaseTTL and is renewed by each sign of life of the agent (its
// heartbeats, HandsetAlive, and its reports on the call); the agent's
// report of the end releases it, and an agent gone silent lets it lapse
// (the sweeper frees the handset; a call never answered is ended by
// inboundLapsed). Her verification is held by InboundOwner, as her PSTN
// calls are: while it rings, as long as the claim; once answered, MaxCall.

// claimByName is the store's claim of one named device (the stores'
// ClaimStore.ClaimDevice).
type claimByName interface {
	ClaimDevice(ctx context.Context, c gateway.DeviceClaim) (gateway.Lease, gateway.Device, error)
}

// keyedRecord finds a verification by its requester's idempotency key (the
// stores' VerificationStore.VerificationByKey).
type keyedRecord interface {
	VerificationByKey(ctx context.Context, requestedBy, key string) (gateway.Verification, error)
}

// MaxCallID bounds a HandsetCall's CallID.
const MaxCallID = 128

// RingIn records a call from the public ringing on a handset (see
// gateway.HandsetService): a retry of the same CallID returns what the
// first made and false; otherwise the handset is claimed, then the
// verification created and moved to dialling with its attempt. ENOTFOUND
// for no such device; EINVALID for no CallID or a channel the handset
// lacks; ECONFLICT when the handset is in another call or not in service;
// EUNAVAILABLE when the store cannot claim a device by name.
func (r *Router) RingIn(ctx context.Context, call gateway.HandsetCall) (gateway.Verification, bool, error) {
	const op = "router.RingIn"
	claims, ok1 := r.Claims.(claimByName)
	keyed, ok2 := r.Record.(keyedRecord)
	switch {
	case !ok1 || !ok2:
		return gateway.Verification{}, false, gateway.Errorf(gateway.EUNAVAILABLE, "this gateway's store cannot take calls rung in on a handset")
	case call.CallID == "" || len(call.CallID) > MaxCallID:
		return gateway.Verification{}, false, gateway.Errorf(gateway.EINVALID, "a call rung in needs its agent's call_id (1 to %d characters)", MaxCallID)
	case call.Channel == gateway.ChannelPSTN || !call.Channel.Valid():
		return gateway.Verification{}, false, gateway.Errorf(gateway.EINVALID, "a call rung in on a handset is a video app's, not %.32q", call.Channel)
	}
	requester := gateway.HandsetRequester + call.DeviceID
	again := func() (gateway.Verification, bool) {
		v, err := keyed.VerificationByKey(ctx, requester, call.CallID)
		return v, err == nil
	}
	if v, ok := again(); ok {
		return v, false, nil
	}
	id := gateway.NewID("v_")
	lease, dev, err := claims.ClaimDevice(ctx, gateway.DeviceClaim{DeviceID: call.DeviceID, Channel: call.Channel, Holder: id, TTL: r.LeaseTTL})
	if err != nil {
		if v, ok := again(); ok && gateway.ErrorCode(err) == gateway.ECONFLICT {
			return v, false, nil // the same call, reported twice at once
		}
		return gateway.Verification{}, false, gateway.E(op, gateway.ErrorCode(err), err)
	}
	v, created, err := r.recordRingIn(ctx, call, lease, dev)
	if err != nil {
		return gateway.Verification{}, false, gateway.E(op, gateway.ErrorCode(err), err)
	}
	return v, created, nil
}

// recordRingIn creates the verification of a call rung in on dev, claimed
// under lease, and moves it to dialling with its attempt; on an error, or
// when the CallID made one meanwhile (returned, false), the claim is
// released.
func (r *Router) recordRingIn(ctx context.Context, call gateway.HandsetCall, lease gateway.Lease, dev gateway.Device) (gateway.Verification, bool, error) {
	id := lease.Holder
	room, ok := r.Rooms.Room(dev.RoomID)
	if !ok {
		room = gateway.Room{ID: dev.RoomID, Name: dev.RoomID}
	}
	now := r.Now()
	until := now.Add(r.LeaseTTL)
	v := gateway.Verification{
		ID:          id,
		Reference:   gateway.NewReference(),
		State:       gateway.StateRouting,
		Origin:      gateway.OriginPublic,
		Caller:      call.Caller,
		CallerHash:  call.CallerHash,
		RoomID:      room.ID,
		RequestedBy: gateway.HandsetRequester + call.DeviceID,
		CreatedAt:   now,
		UpdatedAt:   now,
		Deadline:    now.Add(r.Budget),
		Owner:       InboundOwner,
		OwnerUntil:  &until,
	}
	ev := gateway.Event{Type: gateway.EventState, Instance: r.Instance,
		Message: fmt.Sprintf("a member of the public called %s's %s directly", room.Name, call.Channel),
		Data:    map[string]string{"room": room.ID, "origin": string(gateway.OriginPublic), "device": dev.ID, "channel": string(call.Channel)}}
	got, created, err := r.Record.CreateVerification(ctx, v, call.CallID, ev)
	u := r.inboundRun(got)
	if err != nil || !created {
		u.release(ctx, lease, "not used")
		return got, false, err
	}
	a := gateway.Attempt{ID: gateway.NewID("a_"), VerificationID: id, Seq: 1, Channel: call.Channel,
		RoomID: room.ID, DeviceID: dev.ID, StartedAt: now, Tries: 1}
	got, _, err = r.Record.Transition(ctx, id, gateway.Transition{
		From:         []gateway.State{gateway.StateRouting},
		To:           gateway.StateDialling,
		Attempt:      &a,
		AttemptEvent: u.attemptEvent(a, fmt.Sprintf("attempt 1: %s via device %s in room %s", call.Channel, dev.ID, room.ID)),
		Event: gateway.Event{Type: gateway.EventState, AttemptID: a.ID, Instance: r.Instance,
			Message: fmt.Sprintf("dialling %s: her call is ringing on the handset", call.Channel)},
	})
	if err != nil {
		// Her verification stays in routing, its hold lapses, and the
		// sweeper ends it; the handset goes back to the pool now.
		u.release(ctx, lease, "not recorded")
		return gateway.Verification{}, false, err
	}
	u.log.WithFields(logrus.Fields{"device": dev.ID, "channel": call.Channel}).Info("public call rang in on a handset")
	return got, true, nil
}

// handsetRun loads the verification of a call rung in on the device and
// makes a run of it, with the call's attempt. ENOTFOUND when id is not
// one.
func (r *Router) handsetRun(ctx context.Context, deviceID, id string) (*run, gateway.Attempt, error) {
	v, err := r.Record.Verification(ctx, id)
	if gateway.ErrorCode(err) == gateway.ENOTFOUND || (err == nil && (v.Origin != gateway.OriginPublic ||
		v.RequestedBy != gateway.HandsetRequester+deviceID || len(v.Attempts) == 0)) {
		return nil, gateway.Attempt{}, gateway.Errorf(gateway.ENOTFOUND, "no call %.70q rung in on this handset", id)
	}
	if err != nil {
		return nil, gateway.Attempt{}, err
	}
	return r.inboundRun(v), v.Attempts[len(v.Attempts)-1], nil
}

// HandsetReport records the agent's report on a call it rang in (see
// gateway.HandsetService), then acts on it. ENOTFOUND; EINVALID for a
// status other than ringing, answered, ended, no_answer, rejected or
// failed.
func (r *Router) HandsetReport(ctx context.Context, deviceID, id string, status gateway.ReportStatus, detail string) (gateway.Verification, error) {
	switch status {
	case gateway.ReportRinging, gateway.ReportAnswered, gateway.ReportEnded,
		gateway.ReportNoAnswer, gateway.ReportRejected, gateway.ReportFailed:
	default:
		return gateway.Verification{}, gateway.Errorf(gateway.EINVALID,
			"a call rung in is reported ringing, answered, ended, no_answer, rejected or failed, not %.20q", status)
	}
	u, a, err := r.handsetRun(ctx, deviceID, id)
	if err != nil {
		return gateway.Verification{}, err
	}
	rep := gateway.Report{AttemptID: a.ID, Channel: a.Channel, Status: status, Party: gateway.PartyDevice, Detail: detail}
	if _, err := r.Record.AppendEvent(ctx, gateway.Event{VerificationID: id, Type: gateway.EventReport, AttemptID: a.ID,
		Message: fmt.Sprintf("%s reported %s (device)", a.Channel, status), Report: &rep, Instance: r.Instance}); err != nil {
		return gateway.Verification{}, err
	}
	switch status {
	case gateway.ReportRinging:
		u.keepHandset(ctx, a)
	case gateway.ReportAnswered:
		u.handsetConnect(ctx, a)
	case gateway.ReportEnded:
		if a.Open() {
			u.handsetEnd(ctx, a, gateway.ResultCancelled, "her call ended before the handset answered it")
		} else if a.Result == gateway.ResultConnected {
			u.callEnded(ctx, a)
		}
	case gateway.ReportNoAnswer:
		u.handsetEnd(ctx, a, gateway.ResultNoAnswer, "no one answered her call on the handset")
	case gateway.ReportRejected:
		u.handsetEnd(ctx, a, gateway.ResultRejected, "her call was declined on the handset")
	case gateway.ReportFailed:
		u.handsetEnd(ctx, a, gateway.ResultFailed, "her call failed on the handset")
	}
	return r.Record.Verification(ctx, id)
}

// HandsetAlive renews the claim of the call rung in on d, if its live
// lease is one's: a heartbeat of its agent. Nothing for any other lease.
func (r *Router) HandsetAlive(ctx context.Context, d gateway.Device) error {
	if d.Lease == nil {
		return nil
	}
	u, a, err := r.handsetRun(ctx, d.ID, d.Lease.Holder)
	if gateway.ErrorCode(err) == gateway.ENOTFOUND {
		return nil // an officer's call, or a PSTN call: its holder renews it
	}
	if err != nil {
		return err
	}
	u.keepHandset(ctx, a)
	return nil
}

// keepHandset renews the handset's claim by LeaseTTL, and, while her call
// rings, her verification's hold with it; a call answered longer than
// MaxCall ago is not renewed, so that its claim lapses.
func (u *run) keepHandset(ctx context.Context, a gateway.Attempt) {
	r := u.r
	l := u.v.Lease
	if l == nil || l.DeviceID != a.DeviceID || !r.Now().Before(a.StartedAt.Add(r.MaxCall)) {
		return
	}
	if _, err := r.Claims.Renew(ctx, *l, r.LeaseTTL); err != nil {
		if gateway.ErrorCode(err) != gateway.ECONFLICT {
			u.log.WithError(err).WithField("device", l.DeviceID).Warn("could not renew the handset's claim")
		}
		return
	}
	if u.v.State == gateway.StateDialling {
		if _, err := r.Owners.Own(ctx, u.v.ID, InboundOwner, r.LeaseTTL); err != nil {
			u.log.WithError(err).Warn("could not renew the hold on her call")
		}
	}
}

// handsetConnect records that the handset answered her call: the attempt
// ends connected with the move to connected on its channel and handset,
// her verification is held for MaxCall, and the claim renewed.
func (u *run) handsetConnect(ctx context.Context, a gateway.Attempt) {
	r := u.r
	if !a.Open() || u.v.State != gateway.StateDialling {
		return // told already, or ended meanwhile
	}
	summary := u.close(&a, gateway.ResultConnected, "")
	until := r.Now().Add(r.MaxCall)
	t := u.connection(a, summary, func(v *gateway.Verification) { v.Owner, v.OwnerUntil = InboundOwner, &until })
	t.Event.Message = fmt.Sprintf("connected on %s: the handset answered her call", a.Channel)
	v, _, err := r.Record.Transition(ctx, u.v.ID, t)
	if err != nil {
		u.transitionFailed(ctx, err)
		return
	}
	u.v = v
	r.Observer.AttemptEnded(a.Channel, a.Result, a.EndedAt.Sub(a.StartedAt))
	r.Observer.Connected(a.Channel, r.Now().Sub(v.CreatedAt))
	u.keepHandset(ctx, a)
	u.log.WithFields(logrus.Fields{"device": a.DeviceID, "channel": a.Channel}).Info("public call connected on a handset")
}

// handsetEnd ends her call that was never answered: the attempt ends with
// result, the handset is freed, and her verification fails with why.
func (u *run) handsetEnd(ctx context.Context, a gateway.Attempt, result gateway.AttemptResult, why string) {
	if !a.Open() {
		return // told already
	}
	summary := u.close(&a, result, why)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	u.putAttempt(wctx, a, summary)
	u.r.Observer.AttemptEnded(a.Channel, a.Result, a.EndedAt.Sub(a.StartedAt))
	if l := u.v.Lease; l != nil && l.DeviceID == a.DeviceID {
		u.release(ctx, *l, string(result))
		u.v.Lease = nil
	}
	u.failPublic(ctx, why)
}

// Interface guards
var _ gateway.HandsetService = (*Router)(nil)
