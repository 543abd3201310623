package teams

import (
	"context"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/handle"
	faketeams "github.com/safeconnection/gateway/mocks/teams"
	"github.com/safeconnection/gateway/provider"
)

// Channel is the teams channel.
const Channel gateway.Channel = "teams"

// Config is the Microsoft Teams section of the configuration,
// GATEWAY_TEAMS_*. The fields tagged credential enable it.
type Config struct {
	TenantID     string `envconfig:"TENANT_ID" desc:"Microsoft Entra tenant ID" credential:"true"`
	ClientID     string `envconfig:"CLIENT_ID" desc:"Microsoft Entra application (client) ID" credential:"true"`
	ClientSecret string `envconfig:"CLIENT_SECRET" desc:"Microsoft Entra client secret" credential:"true" secret:"true"`
	UserID       string `envconfig:"USER_ID" desc:"ID or user principal name of the user who organises the meetings" credential:"true"`
	GraphURL     string `envconfig:"GRAPH_URL" desc:"Microsoft Graph base URL" check:"url"`
	LoginURL     string `envconfig:"LOGIN_URL" desc:"Microsoft identity platform base URL" check:"url"`
}

// Enabled reports whether any of Teams's credentials is set; the section
// requires all of them then.
func (c Config) Enabled() bool { return config.AnyCredential(c) }

// Section is the Microsoft Teams section, with Microsoft's URLs by default.
var Section = config.NewSection("TEAMS",
	"Teams: Microsoft Teams online meetings through Microsoft Graph. Enabled by GATEWAY_TEAMS_TENANT_ID, GATEWAY_TEAMS_CLIENT_ID, GATEWAY_TEAMS_CLIENT_SECRET and GATEWAY_TEAMS_USER_ID; without them Teams calls go through the device agent",
	Config{GraphURL: DefaultGraphURL, LoginURL: DefaultLoginURL}, nil)

// Descriptor describes Microsoft Teams to the gateway: Graph when it is
// configured, else the device agent's Teams app. With no provider
// webhooks, both ends report joining.
var Descriptor = provider.Provider{
	Name: Provider,
	Channels: []gateway.ChannelInfo{{
		Channel: Channel, Title: "Microsoft Teams", Reports: gateway.ReportsBothEnds, CheckHandle: handle.UserName,
	}},
	Section: Section,
	Wire: func(_ context.Context, cfg config.Config, w *provider.Wiring) error {
		t := Section.Get(cfg)
		if !t.Enabled() {
			return w.Register(w.Agent(Channel))
		}
		a := New(t.TenantID, t.ClientID, t.ClientSecret, t.UserID)
		a.GraphURL, a.LoginURL = t.GraphURL, t.LoginURL
		a.HTTPClient, a.JoinSender = w.Client(Provider), w.Joins
		a.Logger = w.Logger.WithField("provider", Provider)
		return w.Register(w.Guard(Provider, a))
	},
	Fake:     fake,
	DemoApps: map[gateway.Channel][]int{Channel: {2, 3}},
}

// fake starts the demo's Microsoft Graph.
func fake(_ context.Context, cfg *config.Config, d provider.Demo) error {
	t := Config{TenantID: "demo-tenant", ClientID: "demo-client", ClientSecret: "demo-secret", UserID: "demo-organizer"}
	f := faketeams.New(t.TenantID, t.ClientID, t.ClientSecret, t.UserID)
	u, err := d.Serve(f, f.Close)
	if err != nil {
		return err
	}
	t.GraphURL, t.LoginURL = u, u
	Section.Set(cfg, t)
	return nil
}
