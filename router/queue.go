package router

import (
	"context"
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
	for _, w := range ws {
		if ctx.Err() != nil {
			return
		}
		if !anyFree(free, w.run.rooms) {
			continue
		}
		c, ok := w.run.tryClaim(ctx)
		if !ok {
			continue
		}
		q.mu.Lock()
		still := false
		for i, x := range q.waiters {
			if x == w {
				q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
				still = true
				break
			}
		}
		q.mu.Unlock()
		if !still {
			w.run.release(ctx, c.lease, "waiter left the queue")
			continue
		}
		free[c.lease.RoomID]--
		w.done <- c
	}
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
