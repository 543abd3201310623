package main

import (
	"context"
	"net/http"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/agent"
	"github.com/safeconnection/gateway/adapters/breaker"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/meet"
	"github.com/safeconnection/gateway/adapters/pstn"
	"github.com/safeconnection/gateway/adapters/teams"
	"github.com/safeconnection/gateway/adapters/twiliovideo"
	"github.com/safeconnection/gateway/adapters/whatsapp"
	"github.com/safeconnection/gateway/adapters/zoom"
	"github.com/safeconnection/gateway/provider"
	"github.com/safeconnection/gateway/router"
	"github.com/sirupsen/logrus"
)

// providers are the providers the gateway runs, one line each, in the order
// the router prefers their channels: video channels first, PSTN, the last
// resort, last. Adding a provider is its adapter package (with its
// descriptor) and its fake in mocks, and one line here.
var providers = provider.List{
	agent.Descriptor,       // FaceTime, through the device agents
	whatsapp.Descriptor,    // WhatsApp video calls (device agents) and messages (Cloud API)
	zoom.Descriptor,        // Zoom meetings
	meet.Descriptor,        // Google Meet, by API or device agent
	teams.Descriptor,       // Microsoft Teams, by Graph or device agent
	twiliovideo.Descriptor, // Twilio Video in a browser (webrtc)
	pstn.Descriptor,        // telephone calls through Twilio
}

// wireAdapters builds the adapters the configuration enables, each behind
// its provider's circuit breaker, and registers them with the router: each
// provider's Wire does, given what every provider uses.
func (m *Main) wireAdapters(ctx context.Context, log logrus.FieldLogger) error {
	w := m.wiring(log)
	key, err := callerKey(m.Config)
	if err != nil {
		return err
	}
	w.CallerKey = key
	for _, p := range m.Providers {
		if err := p.Wire(ctx, m.Config, w); err != nil {
			return err
		}
	}
	return nil
}

// wiring returns what the providers' Wire functions are given: the router
// as reporter and registry of adapters, one circuit breaker and an HTTP
// client per provider, device agents, and the handler maps.
func (m *Main) wiring(log logrus.FieldLogger) *provider.Wiring {
	cfg := m.Config
	// One circuit breaker per provider, shared by its adapters.
	breakers := map[string]*breaker.Breaker{}
	guard := func(name string, a gateway.Adapter) gateway.Adapter {
		if b := breakers[name]; b != nil {
			return breaker.Wrap(a, b)
		}
		b := breaker.New(breaker.Settings{
			Provider: name, ConsecutiveFailures: uint32(cfg.BreakerFailures), Cooldown: cfg.BreakerCooldown,
			OnStateChange: func(provider, from, to string) {
				m.Metrics.BreakerState(provider, to)
				log.WithFields(logrus.Fields{"provider": provider, "from": from, "to": to}).Warn("circuit breaker changed state")
			},
		})
		breakers[name] = b
		m.Metrics.BreakerState(name, breaker.StateClosed)
		return breaker.Wrap(a, b)
	}
	// Providers whose webhooks share a name (Twilio's PSTN and Video) share
	// a mux under it.
	muxes := map[string]*http.ServeMux{}
	m.Router.Receipts = map[string]router.ReceiptSender{}
	return &provider.Wiring{
		Reporter: m.Router,
		// Device agents also receive the meeting links of the
		// meeting-style adapters; a join order names the leg's channel.
		Joins:     agent.New("", m.Store),
		Replays:   m.Store,
		PublicURL: m.PublicURL(),
		MaxCall:   cfg.MaxCall,
		Logger:    log,
		Client: func(name string) *httpx.Client {
			return httpx.NewClient(log.WithField("provider", name))
		},
		Guard:    guard,
		Agent:    func(c gateway.Channel) gateway.Adapter { return agent.New(c, m.Store) },
		Register: m.Router.Register,
		Webhook: func(name, pattern string, h http.Handler) {
			if pattern == "" {
				m.Webhooks[name] = h
				return
			}
			if muxes[name] == nil {
				muxes[name] = http.NewServeMux()
				m.Webhooks[name] = muxes[name]
			}
			muxes[name].Handle(pattern, h)
		},
		Page: func(name string, h http.Handler) { m.Pages[name] = h },
		Links: func(l provider.LinkSender) {
			m.Router.Links = l
			// The record keeps what the sender logs of a message's ID
			// (WhatsApp's holds the recipient's number), not the ID.
			if h, ok := l.(interface{ LogID(string) string }); ok {
				m.Router.MessageRef = h.LogID
			}
		},
		Receipts: func(via string, s provider.ReceiptSender) { m.Router.Receipts[via] = s },
		Force:    cfg.ForceName,
		Inbound:  m.Router,
	}
}
