package gateway

import (
	"fmt"
	"slices"
	"time"
)

// HealthCode names a reason a device cannot serve some or all of its
// channels. The codes are stable: the console and scripts match on them.
// Append only.
type HealthCode string

// The health codes. Append only.
const (
	HealthStale        HealthCode = "stale_heartbeat" // no heartbeat within the policy's Stale: serves nothing
	HealthNeverSeen    HealthCode = "never_seen"      // its agent has never sent a heartbeat: serves nothing
	HealthAppMissing   HealthCode = "app_missing"     // an app it has a handle for is not signed in: not that channel
	HealthBatteryLow   HealthCode = "battery_low"     // under the floor and not charging: serves nothing
	HealthOutOfService HealthCode = "out_of_service"  // ops staff took it out of service (or retired it): serves nothing
)

// DefaultHeartbeatStale is how old a heartbeat may be before its device
// serves nothing.
const DefaultHeartbeatStale = 90 * time.Second

// DefaultBatteryFloor is the battery percentage under which a handset that
// is not charging is not routed to.
const DefaultBatteryFloor = 15

// HealthProblem is one reason a device cannot serve some channels: all of
// them, or Channel alone.
type HealthProblem struct {
	Code    HealthCode `json:"code"`
	Reason  string     `json:"reason"`            // for people: what is wrong and what fixes it
	Channel Channel    `json:"channel,omitempty"` // the one channel it takes away; empty: every channel
}

// Health is what a device can do now: the channels it can be offered for,
// and the problems that take the others away.
type Health struct {
	Routable []Channel       `json:"routable"`
	Problems []HealthProblem `json:"problems"`
}

// Serves reports whether the device can be offered for channel c.
func (h Health) Serves(c Channel) bool { return slices.Contains(h.Routable, c) }

// HealthPolicy decides, from a device's last heartbeat, which channels it
// can serve. It is the one place that decision is made: the stores' claims,
// the device views and the routable-device metric all ask it.
type HealthPolicy struct {
	// Stale: a heartbeat older than this (or none at all) leaves the device
	// serving nothing. Zero does not look at heartbeat age.
	Stale time.Duration
	// BatteryFloor: a battery under this percentage, not charging, leaves
	// the device serving nothing. Zero (or an unknown battery) does not look
	// at the battery; a battery at the floor still serves.
	BatteryFloor int
}

// Check judges device d at now (the store's clock). Rules: out of service
// or retired, a stale heartbeat, never seen (when Stale is set), or a
// battery under the floor and not charging: it serves nothing. Otherwise it
// serves every channel it supports (Device.Channels) whose app its agent
// last reported signed in; PSTN needs no app, it is the handset's number.
// The apps are not checked on a device never seen: it has reported none.
func (p HealthPolicy) Check(d Device, now time.Time) Health {
	h := Health{Routable: []Channel{}, Problems: []HealthProblem{}}
	whole := func(code HealthCode, format string, args ...any) {
		h.Problems = append(h.Problems, HealthProblem{Code: code, Reason: fmt.Sprintf(format, args...)})
	}
	if d.Status != DeviceInService {
		whole(HealthOutOfService, "the device is %s", d.Status)
	}
	seen := !d.LastSeen.IsZero()
	switch age := now.Sub(d.LastSeen); {
	case p.Stale > 0 && !seen:
		whole(HealthNeverSeen, "its agent has never sent a heartbeat")
	case p.Stale > 0 && age > p.Stale:
		whole(HealthStale, "last heartbeat %s ago (more than %s)", age.Round(time.Second), p.Stale)
	}
	if p.BatteryFloor > 0 && seen && d.Battery >= 0 && d.Battery < p.BatteryFloor && !d.Charging {
		whole(HealthBatteryLow, "battery %d%%, under the %d%% floor, and not charging", d.Battery, p.BatteryFloor)
	}
	serveAll := len(h.Problems) == 0
	for _, c := range d.Channels() {
		if seen && c != ChannelPSTN && !HasChannel(d.Apps, c) {
			h.Problems = append(h.Problems, HealthProblem{Code: HealthAppMissing, Channel: c,
				Reason: fmt.Sprintf("the %s app is not signed in", c)})
			continue
		}
		if serveAll {
			h.Routable = append(h.Routable, c)
		}
	}
	return h
}

// Serves reports whether the policy lets device d be offered for channel c
// at now: Check(d, now).Serves(c).
func (p HealthPolicy) Serves(d Device, c Channel, now time.Time) bool {
	return p.Check(d, now).Serves(c)
}

// RoomHealth is one room's routable devices per channel.
type RoomHealth struct {
	RoomID   string          `json:"room"`
	Routable map[Channel]int `json:"routable"` // devices that can serve each enabled channel now
	Missing  []Channel       `json:"missing"`  // the enabled channels no device of the room can serve now: a warning
}

// PoolHealth counts, for every room and every channel, the devices of
// devices that the policy says can serve it at now. Every room and channel
// given is in the answer (0 when none can: it is then listed in Missing);
// devices of other rooms, and their channels not given, are left out.
func (p HealthPolicy) PoolHealth(rooms []string, channels []Channel, devices []Device, now time.Time) []RoomHealth {
	out := make([]RoomHealth, len(rooms))
	at := make(map[string]int, len(rooms))
	for i, r := range rooms {
		out[i] = RoomHealth{RoomID: r, Routable: make(map[Channel]int, len(channels)), Missing: []Channel{}}
		for _, c := range channels {
			out[i].Routable[c] = 0
		}
		at[r] = i
	}
	for _, d := range devices {
		i, ok := at[d.RoomID]
		if !ok {
			continue
		}
		for _, c := range p.Check(d, now).Routable {
			if _, on := out[i].Routable[c]; on {
				out[i].Routable[c]++
			}
		}
	}
	for i := range out {
		for _, c := range channels {
			if out[i].Routable[c] == 0 {
				out[i].Missing = append(out[i].Missing, c)
			}
		}
	}
	return out
}
