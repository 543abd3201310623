package router

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/safeconnection/gateway"
)

// claimed is a device the queue claimed for a waiting verification.
type claimed struct {
	ch    gateway.Channel
	lease gateway.Lease
	dev   gateway.Device
}

// queue serves waiting verifications in arrival order as devices free: on
// every wake-up (a device released or expired, a new waiter) it offers a
// claim to each waiter in turn, oldest first.
type queue struct {
	r       *Router
	mu      sync.Mutex
	waiters []*waiter
	kick    chan struct{}
}

type waiter struct {
	run  *run
	at   time.Time
	done chan claimed
}

func newQueue(r *Router) *queue {
	return &queue{r: r, kick: make(chan struct{}, 1)}
}

func (q *queue) poke() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// wait blocks until the queue has claimed a device for u, or ctx ends.
func (q *queue) wait(ctx context.Context, u *run) (claimed, error) {
	at := u.r.Now()
	if u.v.QueuedAt != nil {
		at = *u.v.QueuedAt
	}
	w := &waiter{run: u, at: at, done: make(chan claimed, 1)}
	q.mu.Lock()
	// Keep arrival order: a verification taken over keeps its place.
	i := len(q.waiters)
	for i > 0 && q.waiters[i-1].at.After(at) {
		i--
	}
	q.waiters = append(q.waiters, nil)
	copy(q.waiters[i+1:], q.waiters[i:])
	q.waiters[i] = w
	q.mu.Unlock()
	q.poke()

wait:
	for {
		select {
		case c := <-w.done:
			return c, nil
		case <-ctx.Done():
			break wait
		case <-u.cancel:
			if v, err := u.r.Record.Verification(ctx, u.v.ID); err == nil && !v.State.Live() {
				u.v.State = v.State
				break wait
			}
		}
	}
	q.mu.Lock()
	for i, x := range q.waiters {
		if x == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			break
		}
	}
	q.mu.Unlock()
	// The queue may have claimed for us just as we gave up.
	select {
	case c := <-w.done:
		u.release(ctx, c.lease, "not used")
	default:
	}
	if ctx.Err() != nil {
		return claimed{}, ctx.Err()
	}
	return claimed{}, context.Canceled
}

// run serves the queue until ctx ends.
func (q *queue) run(ctx context.Context) {
	freed, unsub := q.r.Bus.Subscribe(gateway.TopicDevices)
	defer unsub()
	t := time.NewTicker(q.r.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-freed:
		case <-q.kick:
		case <-t.C:
		}
		q.serve(ctx)
	}
}

func (q *queue) serve(ctx context.Context) {
	q.mu.Lock()
	ws := append([]*waiter(nil), q.waiters...)
	q.mu.Unlock()
	if len(ws) == 0 {
		return
	}
	// A read first: claims are writes, and most wake-ups find nothing for
	// most waiters.
	free, err := q.r.Claims.FreeDevices(ctx, q.r.HeartbeatStale)
	if err != nil {
		if ctx.Err() == nil {
			q.r.Logger.WithError(err).Warn("queue: could not count free devices")
		}
		return
	}
	pass := &servePass{r: q.r}
	for _, w := range ws {
		if ctx.Err() != nil {
			return
		}
		if !anyFree(free, w.run.rooms) {
			continue
		}
		skip, ok := pass.skipFor(ctx, w)
		if !ok {
			continue
		}
		c, ok := w.run.tryClaim(ctx, skip...)
		if !ok {
			continue
		}
		if !q.take(w) {
			w.run.release(ctx, c.lease, "waiter left the queue")
			continue
		}
		free[c.lease.RoomID]--
		if pass.pool != nil {
			pass.pool.claimedNow(c.dev.ID)
		}
		w.done <- c
	}
}

// servePass is what one pass of serve has read, each when first needed.
type servePass struct {
	r      *Router
	public []gateway.Verification // the public's waiting calls, read once when a device is free
	read   bool
	pool   *freePool // the devices, read once when a public caller came first
	pooled bool
}

// skipFor returns the devices w must leave to public callers of its room
// who came first: each one's claim would take a free device it can use,
// and w may take one it cannot. False when w must wait (the devices could
// not be read, so she goes first).
func (p *servePass) skipFor(ctx context.Context, w *waiter) ([]string, bool) {
	if !p.read {
		p.public, p.read = p.r.publicWaiting(ctx), true
	}
	first := firstOf(p.public, w.run.room.ID, w.at)
	if len(first) == 0 {
		return nil, true
	}
	if !p.pooled {
		var err error
		if p.pool, err = p.r.readPool(ctx); err != nil && ctx.Err() == nil {
			p.r.Logger.WithError(err).Warn("queue: could not read the free devices")
		}
		p.pooled = true
	}
	if p.pool == nil {
		return nil, false
	}
	return p.pool.except(p.pool.reserve(p.r, first)), true
}

// take removes w from the queue, served; false when it left already.
func (q *queue) take(w *waiter) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.waiters {
		if x == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// firstOf lists the verifications of vs for the room that joined the queue
// before at.
func firstOf(vs []gateway.Verification, room string, at time.Time) []gateway.Verification {
	var out []gateway.Verification
	for _, v := range vs {
		if v.RoomID == room && arrived(v).Before(at) {
			out = append(out, v)
		}
	}
	return out
}

func anyFree(free map[string]int, rooms []string) bool {
	for _, r := range rooms {
		if free[r] > 0 {
			return true
		}
	}
	return false
}

// Queued returns how many verifications wait in this instance's queue.
func (r *Router) Queued() int {
	r.mu.Lock()
	q := r.queue
	r.mu.Unlock()
	if q == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiters)
}

// Who a free device is for. The officers' queue (each instance's own) and
// the public's calls (driven by the provider's webhooks, on any instance)
// share the room's devices in arrival order. An earlier waiter goes first
// only for a device its own claim could take: a free device it cannot use
// (no handle for his channels, no number for her call, a battery under the
// floor) goes to a later waiter that can. The decision is made on a read
// of the pool: each earlier waiter, oldest first, is given the free device
// its claim would take, and a later waiter's claim excludes those devices
// and every device not free in that read. The claim itself stays atomic in
// the store: a race lost to another instance means waiting again.

// devicePool lists devices with their live leases (the stores'
// DeviceStore.Devices).
type devicePool interface {
	Devices(ctx context.Context, room string, withRetired bool) ([]gateway.Device, error)
}

// freePool is a read of the device pool: the free devices, least recently
// used first (the order of a claim), and every device listed.
type freePool struct {
	health gateway.HealthPolicy
	now    time.Time
	all    []string
	free   []gateway.Device
}

// readPool reads the pool; nil when the store cannot list devices (a
// test's fake): who goes first is then decided by arrival alone.
func (r *Router) readPool(ctx context.Context) (*freePool, error) {
	l, ok := r.Claims.(devicePool)
	if !ok {
		return nil, nil
	}
	ds, err := l.Devices(ctx, "", false)
	if err != nil {
		return nil, err
	}
	p := &freePool{health: gateway.HealthPolicy{Stale: r.HeartbeatStale, BatteryFloor: r.BatteryFloor}, now: r.Now()}
	for _, d := range ds {
		p.all = append(p.all, d.ID)
		if d.Lease == nil && d.Status == gateway.DeviceInService {
			p.free = append(p.free, d)
		}
	}
	slices.SortStableFunc(p.free, func(a, b gateway.Device) int {
		if c := a.LastUsed.Compare(b.LastUsed); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return p, nil
}

// want is what a waiting verification's claim asks for: its rooms in
// order and its channels in order, each with the devices it would not
// take.
type want struct {
	rooms   []string
	chans   []gateway.Channel
	exclude map[gateway.Channel][]string
}

// wantOf is what the claim of a waiting verification, as recorded, would
// ask for. A public caller's: a device's number (PSTN). An officer's: his
// video channels that an adapter serves and that his attempts have not
// done with (an attempt that ended other than not placed ends its channel;
// one not placed rules out its device), in his order; PSTN when none is
// left (he waits for a device's number or a desk). The record does not
// hold all a run knows: where it errs, it errs towards the earlier waiter.
func (r *Router) wantOf(v gateway.Verification) want {
	w := want{rooms: []string{v.RoomID}, exclude: map[gateway.Channel][]string{}}
	if room, ok := r.Rooms.Room(v.RoomID); ok {
		w.rooms = append(w.rooms, room.Neighbours...)
	}
	if v.Origin == gateway.OriginPublic {
		w.chans = []gateway.Channel{gateway.ChannelPSTN}
		return w
	}
	done := map[gateway.Channel]bool{}
	for _, a := range v.Attempts {
		switch {
		case a.Open():
		case a.Result == gateway.ResultNotPlaced:
			w.exclude[a.Channel] = append(w.exclude[a.Channel], a.DeviceID)
		default:
			done[a.Channel] = true
		}
	}
	for _, c := range v.Contacts {
		if c.Channel == gateway.ChannelPSTN || done[c.Channel] || r.adapter(c.Channel) == nil || slices.Contains(w.chans, c.Channel) {
			continue
		}
		w.chans = append(w.chans, c.Channel)
	}
	if r.Ranker != nil {
		w.chans = r.Ranker.Order(w.chans)
	}
	if len(w.chans) == 0 {
		w.chans = []gateway.Channel{gateway.ChannelPSTN}
	}
	return w
}

// take is the free device, not in taken, that a claim for w would take;
// "" when there is none.
func (p *freePool) take(w want, taken map[string]bool) string {
	for _, ch := range w.chans {
		for _, room := range w.rooms {
			for _, d := range p.free {
				if d.RoomID == room && !taken[d.ID] && !slices.Contains(w.exclude[ch], d.ID) && p.health.Serves(d, ch, p.now) {
					return d.ID
				}
			}
		}
	}
	return ""
}

// reserve gives each of the waiters, oldest first, the free device its
// claim would take, and returns the devices given.
func (p *freePool) reserve(r *Router, waiters []gateway.Verification) map[string]bool {
	waiters = slices.Clone(waiters)
	slices.SortStableFunc(waiters, func(a, b gateway.Verification) int { return arrived(a).Compare(arrived(b)) })
	taken := map[string]bool{}
	for _, v := range waiters {
		if id := p.take(r.wantOf(v), taken); id != "" {
			taken[id] = true
		}
	}
	return taken
}

// except lists every device of the read but the free ones not taken: a
// claim that excludes them takes only a device the read left for it.
func (p *freePool) except(taken map[string]bool) []string {
	free := make(map[string]bool, len(p.free))
	for _, d := range p.free {
		free[d.ID] = true
	}
	return slices.DeleteFunc(slices.Clone(p.all), func(id string) bool { return !taken[id] && free[id] })
}

// claimedNow takes a device claimed since the read out of the free ones.
func (p *freePool) claimedNow(id string) {
	p.free = slices.DeleteFunc(p.free, func(d gateway.Device) bool { return d.ID == id })
}
