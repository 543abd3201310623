package zoom

import (
	"context"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/handle"
	fakezoom "github.com/safeconnection/gateway/mocks/zoom"
	"github.com/safeconnection/gateway/provider"
)

// Channel is the zoom channel.
const Channel gateway.Channel = "zoom"

// Config is the Zoom section of the configuration, GATEWAY_ZOOM_*. The
// fields tagged credential enable it.
type Config struct {
	AccountID     string `envconfig:"ACCOUNT_ID" desc:"Zoom Server-to-Server OAuth account ID" credential:"true"`
	ClientID      string `envconfig:"CLIENT_ID" desc:"Zoom OAuth client ID" credential:"true"`
	ClientSecret  string `envconfig:"CLIENT_SECRET" desc:"Zoom OAuth client secret" credential:"true" secret:"true"`
	WebhookSecret string `envconfig:"WEBHOOK_SECRET" desc:"Zoom webhook secret token, to check x-zm-signature" credential:"true" secret:"true"`
	UserID        string `envconfig:"USER_ID" desc:"Zoom user who hosts the meetings"`
	APIURL        string `envconfig:"API_URL" desc:"Zoom REST API base URL" check:"url"`
	OAuthURL      string `envconfig:"OAUTH_URL" desc:"Zoom OAuth base URL" check:"url"`
}

// Enabled reports whether any of Zoom's credentials is set; the section
// requires all of them then.
func (c Config) Enabled() bool { return config.AnyCredential(c) }

// Section is the Zoom section, with the real Zoom's URLs by default.
var Section = config.NewSection("ZOOM",
	"Zoom: meetings through a Server-to-Server OAuth app. Enabled by GATEWAY_ZOOM_ACCOUNT_ID, GATEWAY_ZOOM_CLIENT_ID, GATEWAY_ZOOM_CLIENT_SECRET and GATEWAY_ZOOM_WEBHOOK_SECRET",
	Config{UserID: DefaultUserID, APIURL: DefaultAPIURL, OAuthURL: DefaultOAuthURL},
	func(c Config, p config.Checker) {
		if c.Enabled() && c.UserID == "" {
			p.Add("USER_ID", "empty: give the hosting user, or me")
		}
	})

// Descriptor describes Zoom to the gateway.
var Descriptor = provider.Provider{
	Name: Provider,
	Channels: []gateway.ChannelInfo{{
		Channel: Channel, Title: "Zoom", Reports: gateway.ReportsWebhook, CheckHandle: handle.UserName,
	}},
	Section: Section,
	Wire: func(_ context.Context, cfg config.Config, w *provider.Wiring) error {
		z := Section.Get(cfg)
		if !z.Enabled() {
			return nil
		}
		a := New(z.AccountID, z.ClientID, z.ClientSecret, z.WebhookSecret)
		a.UserID, a.APIURL, a.OAuthURL = z.UserID, z.APIURL, z.OAuthURL
		a.HTTPClient, a.JoinSender, a.Reporter = w.Client(Provider), w.Joins, w.Reporter
		a.Replays = w.Replays
		a.Logger = w.Logger.WithField("provider", Provider)
		w.Webhook(Provider, "", a.Webhook())
		return w.Register(w.Guard(Provider, a))
	},
	Fake:     fake,
	DemoApps: map[gateway.Channel][]int{Channel: {2}},
}

// fake starts the demo's Zoom: the host (the ops-room handset) and the
// officer join after a moment; it signs its webhooks with the demo secret.
func fake(_ context.Context, cfg *config.Config, d provider.Demo) error {
	z := Config{AccountID: "demo-account", ClientID: "demo-client", ClientSecret: "demo-secret",
		WebhookSecret: "demo-webhook-secret", UserID: DefaultUserID}
	f := fakezoom.New(z.AccountID, z.ClientID, z.ClientSecret, z.WebhookSecret)
	f.SetWebhookURL(d.PublicURL + "/webhooks/zoom/")
	f.SetJoins(time.Second, 2*time.Second)
	u, err := d.Serve(f, f.Close)
	if err != nil {
		return err
	}
	z.APIURL, z.OAuthURL = u, u
	Section.Set(cfg, z)
	return nil
}
