package gateway

import (
	"slices"
	"strings"
)

// ChannelInfo describes a channel: everything the rest of the gateway needs
// to know about it, declared once by the adapter package that serves it (as
// a caddy module describes itself). cmd/gateway lists the descriptors of the
// providers it wires into a Registry; httpapi, router and config ask the
// registry, never a switch over channel names.
type ChannelInfo struct {
	// Channel is the channel's name as stored and as the officer app sends
	// it: lower-case letters and digits (see Channel.Valid).
	Channel Channel
	// Title names it for people: "Zoom", "Google Meet".
	Title string
	// PhoneHandle says the officer's handle on this channel is an E.164
	// number (WhatsApp, FaceTime by number), so that the PSTN last resort
	// may ring it when he gave no pstn contact.
	PhoneHandle bool
	// Reports says how the gateway learns that a call connected.
	Reports ReportSource
	// Links says the gateway can send meeting links by message to a
	// contact on this channel who asks for them (WhatsApp).
	Links bool
	// CheckHandle checks an officer's or a device's handle on the channel
	// and returns it normalised. It returns EINVALID with a message that
	// does not repeat the handle. Nil accepts any non-empty handle.
	CheckHandle func(handle string) (string, error)
}

// ReportSource is how the gateway learns what became of a call on a channel.
type ReportSource string

// The report sources.
const (
	// ReportsWebhook: the provider posts signed webhooks (Zoom, Twilio).
	ReportsWebhook ReportSource = "webhook"
	// ReportsBothEnds: no provider webhook; the officer app and the device
	// agent each say when they joined (Meet, Teams).
	ReportsBothEnds ReportSource = "both_ends"
	// ReportsAgent: the device agent places the call and reports on it.
	ReportsAgent ReportSource = "agent"
)

// Valid reports whether c is a well-formed channel name: 1 to 32 lower-case
// ASCII letters, digits, '-' or '_', starting with a letter. It says nothing
// of whether any adapter serves it (ask a Registry).
func (c Channel) Valid() bool {
	if len(c) == 0 || len(c) > 32 || c[0] < 'a' || c[0] > 'z' {
		return false
	}
	for _, r := range []byte(c) {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

// Registry is the set of channels a gateway serves, in the order given
// (video channels first, PSTN, the last resort, last). Build it with
// NewRegistry; it does not change after.
type Registry struct {
	infos []ChannelInfo
}

// NewRegistry returns a registry of the channels described. EINVALID for a
// malformed channel name; ECONFLICT for a channel described twice.
func NewRegistry(infos ...ChannelInfo) (*Registry, error) {
	reg := &Registry{}
	for _, in := range infos {
		if !in.Channel.Valid() {
			return nil, Errorf(EINVALID, "channel name %q is not 1 to 32 lower-case letters, digits, - or _", in.Channel)
		}
		if _, dup := reg.Info(in.Channel); dup {
			return nil, Errorf(ECONFLICT, "channel %s is described twice", in.Channel)
		}
		if in.Title == "" {
			in.Title = string(in.Channel)
		}
		reg.infos = append(reg.infos, in)
	}
	return reg, nil
}

// Info returns the description of channel c, and false when the registry
// does not have it.
func (reg *Registry) Info(c Channel) (ChannelInfo, bool) {
	if reg == nil {
		return ChannelInfo{}, false
	}
	for _, in := range reg.infos {
		if in.Channel == c {
			return in, true
		}
	}
	return ChannelInfo{}, false
}

// Channels lists the registry's channels in its order.
func (reg *Registry) Channels() []Channel {
	if reg == nil {
		return nil
	}
	out := make([]Channel, len(reg.infos))
	for i, in := range reg.infos {
		out[i] = in.Channel
	}
	return out
}

// Parse returns the channel named s, or EINVALID naming the known ones.
func (reg *Registry) Parse(s string) (Channel, error) {
	c := Channel(s)
	if _, ok := reg.Info(c); ok {
		return c, nil
	}
	names := make([]string, 0, len(reg.Channels()))
	for _, k := range reg.Channels() {
		names = append(names, string(k))
	}
	return "", Errorf(EINVALID, "unknown channel %.40q (known: %s)", s, strings.Join(names, ", "))
}

// CheckHandle checks a handle on channel c with the channel's own check and
// returns it normalised. EINVALID for an unknown channel or a bad handle.
func (reg *Registry) CheckHandle(c Channel, h string) (string, error) {
	in, ok := reg.Info(c)
	if !ok {
		return "", Errorf(EINVALID, "unknown channel %.40q", c)
	}
	h = strings.TrimSpace(h)
	if h == "" {
		return "", Errorf(EINVALID, "is required")
	}
	if in.CheckHandle == nil {
		return h, nil
	}
	return in.CheckHandle(h)
}

// PhoneHandle reports whether the officer's handle on c is a phone number.
func (reg *Registry) PhoneHandle(c Channel) bool {
	in, ok := reg.Info(c)
	return ok && in.PhoneHandle
}

// Sorted returns cs in the registry's order, dropping channels it lacks
// and duplicates.
func (reg *Registry) Sorted(cs []Channel) []Channel {
	var out []Channel
	for _, c := range reg.Channels() {
		if slices.Contains(cs, c) {
			out = append(out, c)
		}
	}
	return out
}
