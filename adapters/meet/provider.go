package meet

import (
	"context"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/handle"
	fakemeet "github.com/safeconnection/gateway/mocks/meet"
	"github.com/safeconnection/gateway/provider"
)

// Channel is the meet channel.
const Channel gateway.Channel = "meet"

// Config is the Google Meet section of the configuration, GATEWAY_MEET_*.
// The fields tagged credential enable it.
type Config struct {
	ClientID     string `envconfig:"CLIENT_ID" desc:"Google OAuth client ID" credential:"true"`
	ClientSecret string `envconfig:"CLIENT_SECRET" desc:"Google OAuth client secret" credential:"true" secret:"true"`
	RefreshToken string `envconfig:"REFRESH_TOKEN" desc:"Google OAuth refresh token of the account that owns the meeting spaces" credential:"true" secret:"true"`
	APIURL       string `envconfig:"API_URL" desc:"Google Meet REST API base URL" check:"url"`
	TokenURL     string `envconfig:"TOKEN_URL" desc:"Google OAuth token endpoint" check:"url"`
}

// Enabled reports whether any of Meet's credentials is set; the section
// requires all of them then.
func (c Config) Enabled() bool { return config.AnyCredential(c) }

// Section is the Google Meet section, with Google's URLs by default.
var Section = config.NewSection("MEET",
	"Meet: Google Meet spaces through the Meet REST API. Enabled by GATEWAY_MEET_CLIENT_ID, GATEWAY_MEET_CLIENT_SECRET and GATEWAY_MEET_REFRESH_TOKEN; without them Meet calls go through the device agent",
	Config{APIURL: DefaultAPIURL, TokenURL: DefaultTokenURL}, nil)

// Descriptor describes Google Meet to the gateway: the API when it is
// configured, else the device agent's Meet app. With no provider webhooks,
// both ends report joining.
var Descriptor = provider.Provider{
	Name: Provider,
	Channels: []gateway.ChannelInfo{{
		Channel: Channel, Title: "Google Meet", Reports: gateway.ReportsBothEnds, CheckHandle: handle.UserName,
	}},
	Section: Section,
	Wire: func(_ context.Context, cfg config.Config, w *provider.Wiring) error {
		g := Section.Get(cfg)
		if !g.Enabled() {
			return w.Register(w.Agent(Channel))
		}
		a := New(g.ClientID, g.ClientSecret, g.RefreshToken)
		a.APIURL, a.TokenURL = g.APIURL, g.TokenURL
		a.HTTPClient, a.JoinSender = w.Client(Provider), w.Joins
		a.Logger = w.Logger.WithField("provider", Provider)
		return w.Register(w.Guard(Provider, a))
	},
	Fake:     fake,
	DemoApps: map[gateway.Channel][]int{Channel: {2}},
}

// fake starts the demo's Google Meet.
func fake(_ context.Context, cfg *config.Config, d provider.Demo) error {
	g := Config{ClientID: "demo-client", ClientSecret: "demo-secret", RefreshToken: "demo-refresh"}
	f := fakemeet.New(g.ClientID, g.ClientSecret, g.RefreshToken)
	u, err := d.Serve(f, f.Close)
	if err != nil {
		return err
	}
	g.APIURL, g.TokenURL = u, u+"/token"
	Section.Set(cfg, g)
	return nil
}
