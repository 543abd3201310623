package rooms

import (
	"context"
	"slices"
	"time"

	"github.com/safeconnection/gateway"
)

// Check reports what is wrong with r as the new published details of the
// room with its ID, beside the other rooms as they are now: EINVALID for a
// number or desk number that is not a valid E.164 number, a number that is
// another room's, a neighbour that is not a room, is listed twice or is the
// room itself, or a handle on a channel whose name is not one; ENOTFOUND
// for a room that is not in the set. Every problem is named.
func (s *Set) Check(r gateway.Room) error { return s.checkIn(s.tab(), r) }

// checkIn is Check against the rooms of t.
func (s *Set) checkIn(t *table, r gateway.Room) error {
	const op = "rooms.Check"
	i, ok := s.byID[r.ID]
	if !ok {
		return &gateway.Error{Op: op, Code: gateway.ENOTFOUND, Message: "no operations room " + quote(r.ID)}
	}
	var p problems
	if msg := checkE164(r.Number); msg != "" {
		p.add("number %s", msg)
	} else if other, dup := t.byNumber[r.Number]; dup && other != i {
		p.add("number %s is room %q's number", r.Number, t.rooms[other].ID)
	}
	if msg := checkE164(r.DeskNumber); msg != "" {
		p.add("desk_number %s", msg)
	}
	seen := map[string]bool{}
	for _, n := range r.Neighbours {
		switch _, ok := s.byID[n]; {
		case n == r.ID:
			p.add("room %q cannot be its own neighbour", r.ID)
		case !ok:
			p.add("neighbour %s is not an operations room", quote(n))
		case seen[n]:
			p.add("neighbour %q is listed twice", n)
		}
		seen[n] = true
	}
	for c := range r.Handles {
		if !c.Valid() {
			p.add("handles: %s is not a channel name", quote(string(c)))
		}
	}
	return p.err(op)
}

// quote is s quoted and cut short, for an error naming outside input.
func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + s + `"`
}

// Override puts the overrides' published details (number, desk number,
// handles, neighbours) over the rooms file's, for every room that has one,
// all at once; a room without one is as the file has it. An override of a
// room that is not in the set, or that Check refuses beside the others, is
// skipped and returned in the error (EINVALID), the others applied.
func (s *Set) Override(os []gateway.RoomOverride) error {
	const op = "rooms.Override"
	byRoom := make(map[string]gateway.RoomOverride, len(os))
	var p problems
	for _, o := range os {
		if _, ok := s.byID[o.RoomID]; !ok {
			p.add("override of %s: no such room", quote(o.RoomID))
			continue
		}
		byRoom[o.RoomID] = o
	}
	rooms := make([]gateway.Room, len(s.rooms))
	for i, r := range s.rooms {
		rooms[i] = cloneRoom(r)
		if o, ok := byRoom[r.ID]; ok {
			rooms[i] = o.On(rooms[i])
		}
	}
	// Check each overridden room beside the others; a refused one goes
	// back to the file's.
	for {
		next := &table{rooms: rooms, byNumber: numbers(rooms)}
		bad := -1
		for i, r := range rooms {
			if _, ok := byRoom[r.ID]; !ok {
				continue
			}
			if err := s.checkIn(next, r); err != nil {
				p.add("override of %q: %s", r.ID, gateway.ErrorMessage(err))
				bad = i
				break
			}
		}
		if bad < 0 {
			s.cur.Store(next)
			return p.err(op)
		}
		delete(byRoom, rooms[bad].ID)
		rooms[bad] = cloneRoom(s.rooms[bad])
	}
}

// numbers indexes rooms by published number; of two rooms with one number
// the first keeps it (Check refuses the second).
func numbers(rooms []gateway.Room) map[string]int {
	out := make(map[string]int, len(rooms))
	for i, r := range rooms {
		if _, dup := out[r.Number]; !dup {
			out[r.Number] = i
		}
	}
	return out
}

// Overrides returns the published details of every room as they are now,
// as overrides: what Override would take to give the rooms as they are.
func (s *Set) Overrides() []gateway.RoomOverride {
	t := s.tab()
	out := make([]gateway.RoomOverride, len(t.rooms))
	for i, r := range t.rooms {
		out[i] = gateway.OverrideOf(r)
	}
	return slices.Clip(out)
}

// OverrideSource is where the room overrides are kept (the store).
type OverrideSource interface {
	// RoomOverrides lists the stored room overrides.
	RoomOverrides(ctx context.Context) ([]gateway.RoomOverride, error)
}

// Refresh reads the overrides from src and puts them over the rooms file
// (Override). An override Override refuses is skipped and named in the
// error; a read that fails changes nothing.
func (s *Set) Refresh(ctx context.Context, src OverrideSource) error {
	os, err := src.RoomOverrides(ctx)
	if err != nil {
		return err
	}
	return s.Override(os)
}

// Follow keeps the set up to date with src until ctx ends: it reads the
// overrides again on every wake-up on gateway.TopicRooms (from any
// instance sharing the store) and every interval (a wake-up may be
// missed; zero: wake-ups only), and hands each error to report.
func (s *Set) Follow(ctx context.Context, src OverrideSource, bus gateway.Bus, every time.Duration, report func(error)) {
	wake, end := bus.Subscribe(gateway.TopicRooms)
	defer end()
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-wake:
			if !ok {
				return
			}
		case <-tick:
		}
		if err := s.Refresh(ctx, src); err != nil && ctx.Err() == nil && report != nil {
			report(err)
		}
	}
}
