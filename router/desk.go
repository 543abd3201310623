package router

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/safeconnection/gateway"
)

// DeskStore leases the lines of the rooms' supervisor desks, so that a desk
// phone rings with no more calls at once than it has lines, across every
// instance sharing the store.
type DeskStore interface {
	// ClaimDesk atomically takes a free line of the room's desk, one of
	// lines (0 to lines-1; a line whose lease expired is free), for holder
	// until ttl from now by the store's clock, with a fence higher than any
	// before on that line. EUNAVAILABLE when every line is held; EINVALID
	// for no room, no holder, lines or ttl not positive.
	ClaimDesk(ctx context.Context, roomID string, lines int, holder string, ttl time.Duration) (gateway.DeskLease, error)
	// RenewDesk extends a live desk lease by ttl from now. ECONFLICT when
	// the lease is not the line's current one (released, expired, or a
	// newer fence).
	RenewDesk(ctx context.Context, l gateway.DeskLease, ttl time.Duration) (gateway.DeskLease, error)
	// ReleaseDesk frees the line. ECONFLICT when the lease is not the
	// line's current live one: a stale holder cannot free a newer claim.
	ReleaseDesk(ctx context.Context, l gateway.DeskLease) error
}

// topicDesks is the bus topic on which a freed desk line is announced;
// payload: the room's ID.
const topicDesks = "desks"

// desks lists the rooms whose supervisor desk the run may ring, in order:
// the local room's, then its neighbours' (nearest first), those with a desk
// number only.
func (u *run) desks() []gateway.Room {
	var out []gateway.Room
	for _, id := range u.rooms {
		room, ok := u.room, id == u.room.ID
		if !ok {
			room, ok = u.r.Rooms.Room(id)
		}
		if ok && room.DeskNumber != "" {
			out = append(out, room)
		}
	}
	return out
}

// deskRoom is the room of a desk attempt (the local room when unknown).
func (u *run) deskRoom(id string) gateway.Room {
	if id == u.room.ID {
		return u.room
	}
	if room, ok := u.r.Rooms.Room(id); ok {
		return room
	}
	return u.room
}

// ringDesk places the PSTN call to the officer bridged to a supervisor desk
// with a free line: the local room's, else a neighbour's. When every line
// is busy the verification waits, queued, for a line (or a PSTN device) to
// free, and fails when the budget is spent. It reports whether the
// verification is settled (connected, stopped, or failed here).
func (u *run) ringDesk(ctx context.Context, number string) bool {
	desks := u.desks()
	if len(desks) == 0 {
		u.note(ctx, "", "pstn: no free device and no supervisor desk number")
		return false
	}
	if u.r.Desks == nil || u.r.DeskCalls <= 0 {
		// No limit on the desk's calls: ring the nearest desk at once.
		return u.deskCall(ctx, number, gateway.DeskLease{RoomID: desks[0].ID, Line: -1})
	}
	dl, err := u.claimDesk(ctx, desks)
	if err == nil {
		return u.deskCall(ctx, number, dl)
	}
	if ctx.Err() != nil {
		return true
	}
	return u.waitDesk(ctx, number, desks)
}

// claimDesk takes a line of the first desk with one free.
func (u *run) claimDesk(ctx context.Context, desks []gateway.Room) (gateway.DeskLease, error) {
	err := error(gateway.Errorf(gateway.EUNAVAILABLE, "no supervisor desk line is free"))
	for _, room := range desks {
		var dl gateway.DeskLease
		dl, err = u.r.Desks.ClaimDesk(ctx, room.ID, u.r.DeskCalls, u.v.ID, u.r.LeaseTTL)
		if err == nil {
			return dl, nil
		}
		if gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
			if ctx.Err() == nil {
				u.log.WithError(err).WithField("room", room.ID).Error("desk line claim failed")
			}
			return gateway.DeskLease{}, err
		}
	}
	return gateway.DeskLease{}, err
}

// waitDesk queues the verification until a desk line or a PSTN device
// frees, then rings it; when the budget is spent first, it fails. Claims
// are writes: a waiter tries a desk when one of its desks is announced
// freed, a device when one of its rooms has one free, and both on a slow
// poll (a lease that
// expired is announced by no one, and a wake-up from another instance can
// be lost).
func (u *run) waitDesk(ctx context.Context, number string, desks []gateway.Room) bool {
	r := u.r
	freed, unsub := r.Bus.Subscribe(topicDesks)
	defer unsub()
	devices, unsubDevices := r.Bus.Subscribe(gateway.TopicDevices)
	defer unsubDevices()
	if !u.queued(ctx, "every supervisor desk line is busy: queued for the first to free") {
		return true
	}
	qctx, cancel := context.WithDeadline(ctx, u.v.Deadline)
	defer cancel()
	poll := time.NewTicker(max(r.PollInterval, r.LeaseTTL/3))
	defer poll.Stop()
	for {
		tryDesk, tryDevice := false, false
		select {
		case <-qctx.Done():
			if ctx.Err() != nil || u.ended(ctx) {
				return true
			}
			u.fail(ctx, "the time budget was spent while every supervisor desk line was busy")
			return true
		case <-u.cancel:
			if u.ended(ctx) {
				return true
			}
		case room := <-freed:
			tryDesk = slices.ContainsFunc(desks, func(d gateway.Room) bool { return d.ID == room })
		case <-devices:
			tryDevice = true
		case <-poll.C:
			tryDesk, tryDevice = true, true
		}
		if tryDevice {
			// A read first, as the queue does: most wake-ups free nothing here.
			free, err := r.Claims.FreeDevices(qctx, r.HeartbeatStale)
			tryDevice = err == nil && anyFree(free, u.rooms)
		}
		if tryDevice {
			if lease, dev, err := u.claim(qctx, gateway.ChannelPSTN); err == nil {
				return u.pstnDevice(ctx, number, lease, dev)
			}
		}
		if tryDesk {
			if dl, err := u.claimDesk(qctx, desks); err == nil {
				return u.deskCall(ctx, number, dl)
			}
		}
	}
}

// deskCall rings the desk of dl's room, holding its line (none when
// dl.Line < 0: no limit) until the call ends.
func (u *run) deskCall(ctx context.Context, number string, dl gateway.DeskLease) bool {
	u.desk = &dl
	defer func() { u.desk = nil }()
	stop := func() {}
	if dl.Line >= 0 {
		stop = u.keepDesk(ctx, dl)
	}
	res := u.attempt(ctx, gateway.ChannelPSTN, nil, gateway.Device{}, number, nil)
	stop()
	if dl.Line >= 0 && ctx.Err() == nil {
		// When this instance stops instead, the call may still be up:
		// the line stays held until its lease expires.
		u.releaseDesk(ctx, dl)
	}
	return res == connected || res == stopped
}

// keepDesk renews a desk lease every third of LeaseTTL until stopped.
func (u *run) keepDesk(ctx context.Context, dl gateway.DeskLease) (stop func()) {
	return u.keep(ctx, func(ctx context.Context) error {
		_, err := u.r.Desks.RenewDesk(ctx, dl, u.r.LeaseTTL)
		if err != nil && ctx.Err() == nil {
			u.log.WithError(err).WithField("room", dl.RoomID).Warn("could not renew desk line lease")
		}
		return err
	})
}

// releaseDesk frees a desk line and tells the waiting verifications, on
// every instance.
func (u *run) releaseDesk(ctx context.Context, dl gateway.DeskLease) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := u.r.Desks.ReleaseDesk(rctx, dl); err != nil {
		if gateway.ErrorCode(err) != gateway.ECONFLICT {
			u.log.WithError(err).WithField("room", dl.RoomID).Error("could not release desk line; its lease will expire")
		}
		return
	}
	if err := u.r.Bus.Publish(rctx, topicDesks, dl.RoomID); err != nil {
		u.log.WithError(err).Warn("could not announce a freed desk line; waiters will notice on their next poll")
	}
}

// deskData is what the attempt's events record of the desk it rang.
func deskData(dl *gateway.DeskLease) map[string]string {
	if dl == nil {
		return nil
	}
	d := map[string]string{"desk": dl.RoomID}
	if dl.Line >= 0 {
		d["desk_line"] = strconv.Itoa(dl.Line)
	}
	return d
}

// deskWhere names the desk an attempt rings, for its events.
func (u *run) deskWhere(roomID string) string {
	where := "the supervisor desk of " + u.deskRoom(roomID).Name
	if u.desk != nil && u.desk.Line >= 0 && u.r.DeskCalls > 1 {
		where += fmt.Sprintf(" (line %d of %d)", u.desk.Line+1, u.r.DeskCalls)
	}
	return where
}
