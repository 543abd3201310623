package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/safeconnection/gateway"
)

// DeviceView is a device as the ops API shows it: the domain's device, with
// null for what is not known (a battery never reported, a device never seen
// or never used) and empty lists and maps rather than null.
type DeviceView struct {
	ID       string                     `json:"id"`
	RoomID   string                     `json:"room"`
	Name     string                     `json:"name"`
	Number   string                     `json:"number"`
	Handles  map[gateway.Channel]string `json:"handles"`
	Status   gateway.DeviceStatus       `json:"status"`
	Battery  *int                       `json:"battery"` // percent; null: unknown
	Apps     []gateway.Channel          `json:"apps"`
	LastSeen *time.Time                 `json:"last_seen"` // null: never
	LastUsed *time.Time                 `json:"last_used"` // null: never
	Version  int64                      `json:"version"`
	Lease    *gateway.Lease             `json:"lease,omitempty"`
	Charging bool                       `json:"charging"`
	// Health is what the device can be offered for now and why not the
	// rest (see gateway.HealthPolicy).
	Health HealthView `json:"health"`
}

// HealthView is a device's health as the ops API shows it.
type HealthView struct {
	Routable []gateway.Channel `json:"routable"`
	Problems []ProblemView     `json:"problems"`
}

// ProblemView is one reason a device cannot serve some channels: its
// stable code, the reason in words, and the one channel it takes away
// (absent: all of them).
type ProblemView struct {
	Code    gateway.HealthCode `json:"code"`
	Reason  string             `json:"reason"`
	Channel gateway.Channel    `json:"channel,omitempty"`
}

// NewHealthView returns the API's view of h, with empty lists rather than
// null.
func NewHealthView(h gateway.Health) HealthView {
	v := HealthView{Routable: h.Routable, Problems: make([]ProblemView, 0, len(h.Problems))}
	if v.Routable == nil {
		v.Routable = []gateway.Channel{}
	}
	for _, p := range h.Problems {
		v.Problems = append(v.Problems, ProblemView{Code: p.Code, Reason: p.Reason, Channel: p.Channel})
	}
	return v
}

// deviceView is NewDeviceView with the device's health at now by the
// server's policy.
func (s *Server) deviceView(d gateway.Device, now time.Time) DeviceView {
	v := NewDeviceView(d)
	v.Health = NewHealthView(s.Health.Check(d, now))
	return v
}

// storeNow is the store's clock, which heartbeats are judged by, or the
// server's when the device store keeps none or does not answer.
func (s *Server) storeNow(ctx context.Context) time.Time {
	if c, ok := s.Devices.(interface {
		Now(context.Context) (time.Time, error)
	}); ok {
		if t, err := c.Now(ctx); err == nil {
			return t
		}
	}
	return s.now()
}

// NewDeviceView returns the API's view of d.
func NewDeviceView(d gateway.Device) DeviceView {
	v := DeviceView{
		ID: d.ID, RoomID: d.RoomID, Name: d.Name, Number: d.Number, Handles: d.Handles,
		Status: d.Status, Apps: d.Apps, Version: d.Version, Lease: d.Lease, Charging: d.Charging,
		LastSeen: timeOrNull(d.LastSeen), LastUsed: timeOrNull(d.LastUsed),
	}
	if v.Handles == nil {
		v.Handles = map[gateway.Channel]string{}
	}
	if v.Apps == nil {
		v.Apps = []gateway.Channel{}
	}
	v.Health = HealthView{Routable: []gateway.Channel{}, Problems: []ProblemView{}}
	if d.Battery >= 0 {
		b := d.Battery
		v.Battery = &b
	}
	return v
}

// timeOrNull is nil for the zero time, which means never.
func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// EventData is an event's data as the API shows it. The record keeps every
// value as a string; the values that are counts (numericData) are sent as
// JSON numbers, as they are numbers in the record's other views. Decoding
// takes numbers or strings, so a client reads back what was sent.
type EventData map[string]string

// numericData are the event data keys whose values are whole numbers.
var numericData = map[string]bool{"tries": true}

// MarshalJSON writes the counts as numbers.
func (d EventData) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(d))
	for k, v := range d {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && numericData[k] && strconv.FormatInt(n, 10) == v {
			out[k] = n
			continue
		}
		out[k] = v
	}
	return marshalCompact(out)
}

// UnmarshalJSON reads strings and numbers alike into strings.
func (d *EventData) UnmarshalJSON(b []byte) error {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if in == nil {
		*d = nil
		return nil
	}
	out := make(EventData, len(in))
	for k, raw := range in {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			out[k] = s
			continue
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return err
		}
		out[k] = n.String()
	}
	*d = out
	return nil
}

// marshalCompact is marshal without its trailing newline.
func marshalCompact(v any) ([]byte, error) {
	b, err := marshal(v)
	return bytes.TrimSuffix(b, []byte("\n")), err
}
