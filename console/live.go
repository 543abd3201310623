package console

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
)

// A room's open boards share one hub: it listens on the bus, reads the
// board once per change (however many consoles have it open), renders it
// once for each role and hands the frame to every stream, which keeps only
// the newest: a slow browser skips frames, it never holds the others up.

// frame is one rendering of a board.
type frame struct {
	supervisor string // with every check and the outcome buttons
	handler    string // with those of checks asked for by radio or 999
	other      string
}

// hub is the shared reader of one room's board.
type hub struct {
	c    *Console
	room gateway.Room

	mu     sync.Mutex
	subs   map[chan *frame]struct{}
	cancel context.CancelFunc
}

// join subscribes a stream to the room's hub, starting it when it is the
// first; leave undoes it, stopping the hub with its last stream.
func (c *Console) join(room gateway.Room) (ch chan *frame, leave func()) {
	c.hubsMu.Lock()
	defer c.hubsMu.Unlock()
	if c.hubs == nil {
		c.hubs = map[string]*hub{}
	}
	h := c.hubs[room.ID]
	if h == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h = &hub{c: c, room: room, subs: map[chan *frame]struct{}{}, cancel: cancel}
		c.hubs[room.ID] = h
		go h.run(ctx)
	}
	ch = make(chan *frame, 1)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		c.hubsMu.Lock()
		defer c.hubsMu.Unlock()
		h.mu.Lock()
		delete(h.subs, ch)
		empty := len(h.subs) == 0
		h.mu.Unlock()
		if empty && c.hubs[room.ID] == h {
			h.cancel()
			delete(c.hubs, room.ID)
		}
	}
}

// run reads and renders the board on every wake-up that may concern it,
// and every Refresh, until the last stream leaves.
func (h *hub) run(ctx context.Context) {
	events, unsubEvents := h.c.Store.Subscribe(gateway.TopicEvents)
	defer unsubEvents()
	devices, unsubDevices := h.c.Store.Subscribe(gateway.TopicDevices)
	defer unsubDevices()
	tick := time.NewTicker(h.c.refresh())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
		case room := <-devices:
			if room != h.room.ID {
				continue
			}
		case <-tick.C:
		}
		// Wake-ups that came meanwhile are read by this one read.
		for drained := false; !drained; {
			select {
			case <-events:
			case <-devices:
			default:
				drained = true
			}
		}
		f, err := h.c.frame(ctx, h.room)
		if err != nil {
			if ctx.Err() == nil {
				h.c.logger().WithField("room", h.room.ID).WithError(err).Warn("console: board not read")
			}
			continue
		}
		h.send(f)
	}
}

// send hands f to every stream, replacing a frame it has not taken yet.
func (h *hub) send(f *frame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case <-ch:
		default:
		}
		ch <- f
	}
}

// frame reads and renders the room's board.
func (c *Console) frame(ctx context.Context, room gateway.Room) (*frame, error) {
	b, err := c.board(ctx, room)
	if err != nil {
		return nil, err
	}
	f := &frame{}
	if f.supervisor, err = fragment(b, gateway.RoleSupervisor); err != nil {
		return nil, err
	}
	if f.other, err = fragment(b, gateway.RoleOps); err != nil {
		return nil, err
	}
	// A 999 call handler's is one of the others unless the board shows
	// checks of both kinds.
	spoken := 0
	for _, v := range b.Live {
		if v.Origin.Spoken() {
			spoken++
		}
	}
	switch spoken {
	case 0:
		f.handler = f.other
	case len(b.Live):
		f.handler = f.supervisor
	default:
		if f.handler, err = fragment(b, gateway.RoleHandler); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// boardEvents is GET /console/rooms/{room}/events: the board's live part
// as server-sent events ("board", whose data is the part's HTML), at once
// and on every change; comment lines as heartbeats; "end" when the session
// ends (expired, or its credential revoked), and the stream closes.
func (c *Console) boardEvents(w http.ResponseWriter, r *http.Request, s session) error {
	room, err := c.room(r)
	if err != nil {
		return err
	}
	ch, leave := c.join(room)
	defer leave()
	first, err := c.frame(r.Context(), room)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	headers(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	role := s.Token.Role
	write := func(f *frame) error {
		html := f.other
		switch role {
		case gateway.RoleSupervisor:
			html = f.supervisor
		case gateway.RoleHandler:
			html = f.handler
		}
		c.extendWrite(rc)
		var b strings.Builder
		b.WriteString("event: board\n")
		for _, line := range strings.Split(html, "\n") {
			b.WriteString("data: ")
			b.WriteString(strings.TrimRight(line, "\r"))
			b.WriteString("\n")
		}
		b.WriteString("\n")
		if _, err := w.Write([]byte(b.String())); err != nil {
			return err
		}
		return rc.Flush()
	}
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return nil
	}
	if err := write(first); err != nil {
		return nil
	}
	beat := time.NewTicker(c.heartbeat())
	defer beat.Stop()
	ends := time.NewTimer(time.Until(s.Expires))
	defer ends.Stop()
	end := func(why string) error {
		c.extendWrite(rc)
		_, _ = w.Write([]byte("event: end\ndata: " + why + "\n\n"))
		_ = rc.Flush()
		return nil
	}
	for {
		select {
		case <-r.Context().Done():
			return nil
		case f := <-ch:
			if err := write(f); err != nil {
				return nil
			}
		case <-ends.C:
			return end("the session has ended")
		case <-beat.C:
			if _, err := c.readSession(r); err != nil {
				if gateway.ErrorCode(err) == gateway.EUNAUTHORIZED {
					return end("signed out")
				}
				c.logger().WithFields(logrus.Fields{"room": room.ID}).WithError(err).Warn("console: session not checked")
			}
			c.extendWrite(rc)
			if _, err := w.Write([]byte(": heartbeat\n\n")); err != nil {
				return nil
			}
			if rc.Flush() != nil {
				return nil
			}
		}
	}
}

// extendWrite moves the connection's write deadline on, for a stream.
func (c *Console) extendWrite(rc *http.ResponseController) {
	if c.WriteTimeout > 0 {
		_ = rc.SetWriteDeadline(time.Now().Add(c.WriteTimeout))
	} else {
		_ = rc.SetWriteDeadline(time.Time{})
	}
}
