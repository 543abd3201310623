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
	"github.com/sirupsen/logrus"
)

// wireAdapters builds the adapters the configuration enables, each behind
// its provider's circuit breaker, and registers them with the router.
// FaceTime and WhatsApp video calls always go through device agents; Meet
// and Teams do too unless their APIs are configured. Adding a provider is
// one block here.
func (m *Main) wireAdapters(_ context.Context, log logrus.FieldLogger) error {
	cfg := m.Config
	// Device agents also receive the meeting links of the meeting-style
	// adapters.
	joins := agent.New(gateway.ChannelZoom, m.Store)
	var adapters []gateway.Adapter
	// One circuit breaker per provider, shared by its adapters.
	breakers := map[string]*breaker.Breaker{}
	guard := func(provider string, a gateway.Adapter) gateway.Adapter {
		if b := breakers[provider]; b != nil {
			return breaker.Wrap(a, b)
		}
		b := breaker.New(breaker.Settings{
			Provider: provider, ConsecutiveFailures: uint32(cfg.BreakerFailures), Cooldown: cfg.BreakerCooldown,
			OnStateChange: func(provider, from, to string) {
				m.Metrics.BreakerState(provider, to)
				log.WithFields(logrus.Fields{"provider": provider, "from": from, "to": to}).Warn("circuit breaker changed state")
			},
		})
		breakers[provider] = b
		m.Metrics.BreakerState(provider, breaker.StateClosed)
		return breaker.Wrap(a, b)
	}
	client := func(provider string) *httpx.Client {
		c := httpx.NewClient(log.WithField("provider", provider))
		if m.ProviderPolicy != nil {
			c.Policy = *m.ProviderPolicy
		}
		return c
	}
	webhook := func(name string, h http.Handler) { m.Webhooks[name] = h }
	page := func(name string, h http.Handler) { m.Pages[name] = h }

	// Device agents: the channels no server API can place.
	adapters = append(adapters, agent.New(gateway.ChannelFaceTime, m.Store), agent.New(gateway.ChannelWhatsApp, m.Store))

	// Zoom.
	if z := cfg.Zoom; z.Enabled() {
		a := zoom.New(z.AccountID, z.ClientID, z.ClientSecret, z.WebhookSecret)
		a.UserID, a.APIURL, a.OAuthURL = z.UserID, z.APIURL, z.OAuthURL
		a.HTTPClient, a.JoinSender, a.Reporter = client("zoom"), joins, m.Router
		a.Replays = m.Store
		a.Logger = log.WithField("provider", "zoom")
		adapters = append(adapters, guard("zoom", a))
		webhook("zoom", a.Webhook())
	}

	// Google Meet: the API when configured, else the device agent's Meet app.
	if g := cfg.Meet; g.Enabled() {
		a := meet.New(g.ClientID, g.ClientSecret, g.RefreshToken)
		a.APIURL, a.TokenURL = g.APIURL, g.TokenURL
		a.HTTPClient, a.JoinSender = client("meet"), joins
		a.Logger = log.WithField("provider", "meet")
		adapters = append(adapters, guard("meet", a))
	} else {
		adapters = append(adapters, agent.New(gateway.ChannelMeet, m.Store))
	}

	// Microsoft Teams: Graph when configured, else the device agent's app.
	if t := cfg.Teams; t.Enabled() {
		a := teams.New(t.TenantID, t.ClientID, t.ClientSecret, t.UserID)
		a.GraphURL, a.LoginURL = t.GraphURL, t.LoginURL
		a.HTTPClient, a.JoinSender = client("teams"), joins
		a.Logger = log.WithField("provider", "teams")
		adapters = append(adapters, guard("teams", a))
	} else {
		adapters = append(adapters, agent.New(gateway.ChannelTeams, m.Store))
	}

	// Twilio: PSTN, the last resort, and Twilio Video in a browser. Both
	// adapters' callbacks live under /webhooks/twilio/; Video's join links
	// open its page at /join/webrtc/.
	if t := cfg.Twilio; t.Enabled() {
		twilioHooks := http.NewServeMux()
		v := pstn.New(t.AccountSID, t.AuthToken, t.FromNumber, m.PublicURL())
		v.APIURL, v.MaxCall = t.APIURL, cfg.MaxCall
		v.HTTPClient, v.Reporter = client("twilio"), m.Router
		v.Replays = m.Store
		v.Logger = log.WithField("provider", "twilio")
		adapters = append(adapters, guard("twilio", v))
		twilioHooks.Handle(pstn.PathVoice, v.Webhook())
		twilioHooks.Handle(pstn.PathVoice+"/", v.Webhook())
		if err := m.wireInbound(twilioHooks, v); err != nil { // the public's calls to the rooms' numbers
			return err
		}
		if t.VideoEnabled() {
			tv := twiliovideo.New(t.AccountSID, t.AuthToken, t.APIKeySID, t.APIKeySecret, m.PublicURL())
			tv.APIURL, tv.SDKURL, tv.MaxCall = t.VideoURL, t.VideoSDKURL, cfg.MaxCall
			tv.HTTPClient, tv.JoinSender, tv.Reporter = client("twilio"), joins, m.Router
			tv.Replays = m.Store
			tv.Logger = log.WithField("provider", "twilio")
			adapters = append(adapters, guard("twilio", tv))
			twilioHooks.Handle(twiliovideo.PathCallback, tv.Webhook())
			page("webrtc", tv.JoinPage())
		}
		webhook("twilio", twilioHooks)
	}

	// WhatsApp Cloud API: messages (join links, receipts), not calls.
	if w := cfg.WhatsApp; w.Enabled() {
		s := whatsapp.New(w.Token, w.PhoneNumberID, w.AppSecret, w.VerifyToken)
		s.APIURL, s.APIVersion = w.APIURL, w.APIVersion
		s.HTTPClient = client("whatsapp")
		s.Logger = log.WithField("provider", "whatsapp")
		s.OnStatus = func(ctx context.Context, st whatsapp.MessageStatus) error {
			return m.Router.Report(ctx, gateway.Report{
				Channel: gateway.ChannelWhatsApp, MessageID: st.MessageID, Status: gateway.ReportStatus(st.Status), Detail: st.Reason(),
			})
		}
		m.WhatsApp = s
		m.Router.Links = s
		m.Router.MessageRef = s.LogID // the record keeps no WhatsApp message ID, which holds a number
		webhook("whatsapp", s.Webhook())
	}

	for _, a := range adapters {
		if err := m.Router.Register(a); err != nil {
			return err
		}
	}
	return nil
}
