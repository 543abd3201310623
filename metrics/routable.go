package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/safeconnection/gateway"
)

// DevicePool is the part of the store Routable reads: the devices, and the
// clock their heartbeats are judged by.
type DevicePool interface {
	// Devices lists the devices of a room, or of all rooms when room is
	// empty; retired ones only when asked.
	Devices(ctx context.Context, room string, withRetired bool) ([]gateway.Device, error)
	// Now is the store's clock.
	Now(ctx context.Context) (time.Time, error)
}

// Routable counts, for every room and every channel the gateway has
// enabled, the devices its health policy says can serve that channel now
// (busy or free: a call in progress ends; an unhealthy handset waits for
// someone). A count of 0 is a warning: officers of that room cannot be
// connected on that channel. It reads the pool at most once per MaxAge.
// Set the fields, then use it; it is safe for concurrent use.
type Routable struct {
	// Pool is the device pool. Required.
	Pool DevicePool
	// Rooms lists the IDs of the rooms to count, every one reported even
	// with no device.
	Rooms func() []string
	// Channels lists the channels the gateway has enabled, in the order to
	// report them.
	Channels func() []gateway.Channel
	// Policy judges each device: the one the claims use.
	Policy gateway.HealthPolicy
	// MaxAge is how long one read of the pool answers for. Zero: every call
	// reads.
	MaxAge time.Duration
	// Now is the clock MaxAge is measured by. Default: time.Now.
	Now func() time.Time

	mu   sync.Mutex
	read time.Time
	last []gateway.RoomHealth
}

// RoomHealth returns each room's routable devices per channel, rooms in the
// order Rooms gives them, with the channels no device of the room can serve
// now in Missing. The answer may be up to MaxAge old; callers must not
// change it.
func (r *Routable) RoomHealth(ctx context.Context) ([]gateway.RoomHealth, error) {
	clock := r.Now
	if clock == nil {
		clock = time.Now
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last != nil && r.MaxAge > 0 && clock().Sub(r.read) < r.MaxAge {
		return r.last, nil
	}
	devices, err := r.Pool.Devices(ctx, "", false)
	if err != nil {
		return nil, err
	}
	now, err := r.Pool.Now(ctx)
	if err != nil {
		return nil, err
	}
	var (
		rooms    []string
		channels []gateway.Channel
	)
	if r.Rooms != nil {
		rooms = r.Rooms()
	}
	if r.Channels != nil {
		channels = r.Channels()
	}
	r.last, r.read = r.Policy.PoolHealth(rooms, channels, devices, now), clock()
	return r.last, nil
}

// Warnings lists, of every room, the channels no device can serve now:
// RoomHealth with the rooms that lack none left out.
func (r *Routable) Warnings(ctx context.Context) ([]gateway.RoomHealth, error) {
	all, err := r.RoomHealth(ctx)
	if err != nil {
		return nil, err
	}
	var out []gateway.RoomHealth
	for _, h := range all {
		if len(h.Missing) > 0 {
			out = append(out, h)
		}
	}
	return out, nil
}

// routableDesc describes gateway_room_routable_devices.
var routableDesc = prometheus.NewDesc("gateway_room_routable_devices",
	"Devices that can serve the channel in the room now (in service, fresh heartbeat, the app signed in, battery above the floor or charging); 0 is a warning.",
	[]string{"room", "channel"}, nil)

// collectRoutable sends one gauge per room and channel, or an invalid
// metric when the pool cannot be read.
func (r *Routable) collectRoutable(ctx context.Context, ch chan<- prometheus.Metric) {
	rooms, err := r.RoomHealth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(routableDesc, err)
		return
	}
	for _, h := range rooms {
		for c, n := range h.Routable {
			ch <- prometheus.MustNewConstMetric(routableDesc, prometheus.GaugeValue, float64(n), h.RoomID, string(c))
		}
	}
}
