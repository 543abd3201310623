// Package provider is how an adapter package describes its provider to the
// gateway, once (as a caddy module describes itself): the channels it
// serves, its section of the configuration, how to build its adapters from
// it, and the fake the demo runs in its place. cmd/gateway lists the
// providers, one line each, and does the rest from their descriptors: the
// configuration's sections and -h text, the channel registry that httpapi
// and the router ask, the wiring, the demo's fakes and the demo handsets'
// apps.
//
// It imports the domain, config and httpx, never a provider, the router,
// the HTTP layer or a store.
package provider

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/config"
)

// Provider describes a provider, as its adapter package declares it. Two
// descriptors with one Name (Twilio's PSTN and Video) are one provider: they
// share its section, its fake and its circuit breaker.
type Provider struct {
	// Name names the provider in logs, metrics and its circuit breaker, and
	// the demo's fault control (POST /demo/faults/{name}): "zoom",
	// "twilio".
	Name string
	// Channels describes the channels the package serves, in the order the
	// router prefers them among the gateway's.
	Channels []gateway.ChannelInfo
	// Section is its part of the configuration; nil for none.
	Section config.Part
	// Wire builds the adapters cfg enables and hands them, their webhooks
	// and their pages to w. A provider whose section is off serves its
	// channels through the device agents (w.Agent) or not at all.
	Wire func(ctx context.Context, cfg config.Config, w *Wiring) error
	// Fake, for the demo, starts a fake of the provider's API on loopback
	// through d and points the provider's section in cfg at it; nil for
	// none. It runs once for a Name.
	Fake func(ctx context.Context, cfg *config.Config, d Demo) error
	// DemoApps says which of the demo's handsets in each room (1, 2 or 3)
	// have the app of each of its channels.
	DemoApps map[gateway.Channel][]int
}

// LinkSender sends a meeting's join link by message to an officer who
// asked for it.
type LinkSender interface {
	// SendJoinLink sends the link to an E.164 number and returns the
	// message's ID.
	SendJoinLink(ctx context.Context, toE164, reference, joinURL string) (string, error)
}

// Wiring is what cmd/gateway gives a provider's Wire: the things every
// provider uses, and where to hand what it builds. Its fields are set by
// cmd/gateway (or a test); a copy works as the original.
type Wiring struct {
	// Reporter takes the reports of provider webhooks: the router.
	Reporter gateway.Reporter
	// Joins delivers meeting links to ops-room devices.
	Joins gateway.JoinSender
	// Replays recognises webhooks delivered before, on every instance
	// sharing the store: the store.
	Replays gateway.ReplayStore
	// PublicURL is the URL providers reach the gateway at, without a
	// trailing slash: callbacks and signatures are built on it.
	PublicURL string
	// MaxCall is the longest a connected call may last.
	MaxCall time.Duration
	// Logger logs for the provider; Wire adds the provider's name.
	Logger logrus.FieldLogger
	// Client returns a new HTTP client for the provider named.
	Client func(provider string) *httpx.Client
	// Guard puts an adapter behind the named provider's circuit breaker,
	// one per name.
	Guard func(provider string, a gateway.Adapter) gateway.Adapter
	// Agent returns an adapter that places calls on channel c through the
	// device agents.
	Agent func(c gateway.Channel) gateway.Adapter
	// Register hands an adapter to the router. ECONFLICT for a channel
	// served twice.
	Register func(a gateway.Adapter) error
	// Webhook serves h for the provider's webhooks under /webhooks/{name}/:
	// at pattern (an http.ServeMux pattern, the full path), or at every path
	// there when pattern is "".
	Webhook func(name, pattern string, h http.Handler)
	// Page serves h, a page people open in a browser, at /join/{name}/.
	Page func(name string, h http.Handler)
	// Links, when set, sends join links by message to officers who asked.
	Links func(l LinkSender)
	// Receipts takes a sender of receipts by message, by the way the
	// public asks for one: "sms" or "whatsapp".
	Receipts func(via string, s ReceiptSender)
	// Force is the police force's name, as messages to the public name it.
	Force string
	// Inbound takes the steps of the public's calls to the rooms'
	// published numbers: the router.
	Inbound gateway.InboundService
	// CallerKey keys the hashes by which a caller's number is kept.
	CallerKey []byte
}

// ReceiptSender sends a verification's receipt by message.
type ReceiptSender interface {
	// SendReceipt sends the reference and the receipt's link to the E.164
	// number toE164 and returns the message's ID. EINVALID for a number it
	// cannot send to; otherwise a *gateway.CallError.
	SendReceipt(ctx context.Context, toE164, reference, link string) (string, error)
}

// Demo is what the demo gives a provider's Fake.
type Demo struct {
	// PublicURL is the gateway's URL, where the fake posts its webhooks.
	PublicURL string
	// Serve serves the fake h on loopback, under the demo's fault control,
	// and returns its base URL. When the demo ends it stops serving h, then
	// calls closeFake (when not nil).
	Serve func(h http.Handler, closeFake func()) (string, error)
}

// List is the providers a gateway runs, in order: cmd/gateway's one list.
type List []Provider

// Sections returns the providers' sections in order, each once.
func (l List) Sections() []config.Part {
	var out []config.Part
	for _, p := range l {
		if p.Section != nil && !slices.Contains(out, p.Section) {
			out = append(out, p.Section)
		}
	}
	return out
}

// Registry returns the registry of every channel the providers serve, in
// the list's order. EINVALID or ECONFLICT as gateway.NewRegistry.
func (l List) Registry() (*gateway.Registry, error) {
	var infos []gateway.ChannelInfo
	for _, p := range l {
		infos = append(infos, p.Channels...)
	}
	return gateway.NewRegistry(infos...)
}

// Fakes returns the providers with a fake, the first of each Name.
func (l List) Fakes() List {
	var out List
	for _, p := range l {
		if p.Fake != nil && !slices.ContainsFunc(out, func(q Provider) bool { return q.Name == p.Name }) {
			out = append(out, p)
		}
	}
	return out
}

// DemoApps returns the channels whose app demo handset n (1, 2 or 3) has,
// in the registry's order.
func (l List) DemoApps(n int) []gateway.Channel {
	var out []gateway.Channel
	for _, p := range l {
		for _, in := range p.Channels {
			if slices.Contains(p.DemoApps[in.Channel], n) {
				out = append(out, in.Channel)
			}
		}
	}
	return out
}
