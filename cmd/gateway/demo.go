package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
	simagent "github.com/safeconnection/gateway/mocks/agent"
	fakemeet "github.com/safeconnection/gateway/mocks/meet"
	faketeams "github.com/safeconnection/gateway/mocks/teams"
	faketwilio "github.com/safeconnection/gateway/mocks/twilio"
	fakewhatsapp "github.com/safeconnection/gateway/mocks/whatsapp"
	fakezoom "github.com/safeconnection/gateway/mocks/zoom"
)

// demo is what -demo adds: fake providers, a simulated device pool in every
// room with its device agents, and a credential for each role.
type demo struct {
	m         *Main
	providers []func()
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	// Agents are the simulated device agents by device ID.
	agents map[string]*simagent.Agent
	// faults serves the fakes and the fault control endpoint.
	faults *demoFaults
}

func newDemo(m *Main) *demo {
	return &demo{m: m, agents: map[string]*simagent.Agent{}, faults: newDemoFaults()}
}

// demoDevice is a simulated handset: three per room, with different apps.
type demoDevice struct {
	suffix string
	apps   []gateway.Channel
}

var demoDevices = []demoDevice{
	{"1", []gateway.Channel{gateway.ChannelFaceTime, gateway.ChannelWhatsApp}},
	{"2", []gateway.Channel{gateway.ChannelWhatsApp, gateway.ChannelZoom, gateway.ChannelMeet, gateway.ChannelTeams}},
	{"3", []gateway.Channel{gateway.ChannelFaceTime, gateway.ChannelTeams, gateway.ChannelWebRTC}},
}

// startProviders starts the fake provider servers on loopback and points
// the configuration at them.
func (d *demo) startProviders(ctx context.Context) error {
	m := d.m
	public := m.PublicURL()
	// Each fake is served by the fault control (faults.go), under the
	// name POST /demo/faults/{name} knows it by.
	serve := func(name string, h http.Handler) (string, error) {
		u, stop, err := d.faults.serve(name, h)
		if err != nil {
			return "", fmt.Errorf("demo provider %s: %w", name, err)
		}
		d.providers = append(d.providers, stop)
		return u, nil
	}

	// Zoom: the host (the ops-room handset) and the officer join after a
	// moment; the fake signs its webhooks with the demo secret.
	zf := fakezoom.New("demo-account", "demo-client", "demo-secret", "demo-webhook-secret")
	zf.SetWebhookURL(public + "/webhooks/zoom/")
	zf.SetJoins(time.Second, 2*time.Second)
	zu, err := serve("zoom", zf)
	if err != nil {
		return err
	}
	d.providers = append(d.providers, zf.Close)
	m.Config.Zoom = config.Zoom{AccountID: "demo-account", ClientID: "demo-client", ClientSecret: "demo-secret",
		WebhookSecret: "demo-webhook-secret", UserID: "me", APIURL: zu, OAuthURL: zu}

	mf := fakemeet.New("demo-client", "demo-secret", "demo-refresh")
	mu, err := serve("meet", mf)
	if err != nil {
		return err
	}
	d.providers = append(d.providers, mf.Close)
	m.Config.Meet = config.Meet{ClientID: "demo-client", ClientSecret: "demo-secret", RefreshToken: "demo-refresh", APIURL: mu, TokenURL: mu + "/token"}

	tf := faketeams.New("demo-tenant", "demo-client", "demo-secret", "demo-organizer")
	tu, err := serve("teams", tf)
	if err != nil {
		return err
	}
	d.providers = append(d.providers, tf.Close)
	m.Config.Teams = config.Teams{TenantID: "demo-tenant", ClientID: "demo-client", ClientSecret: "demo-secret", UserID: "demo-organizer", GraphURL: tu, LoginURL: tu}

	// Twilio: the officer's phone and the ops room pick up after a moment.
	const sid, token = "AC00000000000000000000000000000001", "demotwilioauthtoken"
	twf := faketwilio.New(sid, token)
	twf.APIKeySID, twf.APIKeySecret = "SK00000000000000000000000000000001", "demo-api-key-secret"
	twu, err := serve("twilio", twf)
	if err != nil {
		return err
	}
	if err := twf.SetWebhookURL(public); err != nil {
		return err
	}
	d.providers = append(d.providers, twf.Close)
	// Join links open the gateway's page, which loads the fake's SDK: a
	// browser joins the fake's room as it would Twilio's.
	m.Config.Twilio = config.Twilio{AccountSID: sid, AuthToken: token, FromNumber: "+442079460000",
		APIKeySID: twf.APIKeySID, APIKeySecret: twf.APIKeySecret, APIURL: twu, VideoURL: twu,
		VideoSDKURL: twu + faketwilio.SDKPath}

	wf := fakewhatsapp.New("demo-token", "100000000000001", "demo-app-secret")
	wf.SetWebhookURL(public + "/webhooks/whatsapp/")
	wu, err := serve("whatsapp", wf)
	if err != nil {
		return err
	}
	d.providers = append(d.providers, wf.Close)
	m.Config.WhatsApp = config.WhatsApp{PhoneNumberID: "100000000000001", Token: "demo-token", AppSecret: "demo-app-secret",
		VerifyToken: "demo-verify", APIURL: wu, APIVersion: "v23.0"}
	return nil
}

func (d *demo) stopProviders() {
	for _, stop := range d.providers {
		stop()
	}
	d.providers = nil
}

// start seeds the device pool and the credentials, starts a simulated agent
// for every device and writes demo-tokens.json.
func (d *demo) start(ctx context.Context) error {
	m := d.m
	st := m.Store
	// Credentials from an earlier demo run are revoked: the file holds the
	// only valid ones.
	old, err := st.Tokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range old {
		if strings.HasPrefix(t.Name, "demo ") && !t.Revoked {
			if err := st.RevokeToken(ctx, t.ID); err != nil {
				return err
			}
		}
	}
	tokens := map[string]string{}
	for _, role := range []gateway.Role{gateway.RoleOfficer, gateway.RoleSupervisor, gateway.RoleOps} {
		secret, hash := gateway.NewSecret()
		if err := st.CreateToken(ctx, gateway.Token{ID: gateway.NewID("t_"), Role: role, Name: "demo " + string(role), Hash: hash}); err != nil {
			return err
		}
		tokens[string(role)] = secret
	}

	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	n := 0
	for _, room := range m.Rooms.Rooms() {
		for _, dd := range demoDevices {
			n++
			id := room.ID + "-" + dd.suffix
			number := fmt.Sprintf("+447700900%03d", n)
			handles := map[gateway.Channel]string{}
			for _, c := range dd.apps {
				switch c {
				case gateway.ChannelWhatsApp, gateway.ChannelFaceTime:
					handles[c] = number
				default:
					handles[c] = strings.ToLower(id) + "@ops.demo.invalid"
				}
			}
			dev := gateway.Device{ID: id, RoomID: room.ID, Name: room.Name + " handset " + dd.suffix, Number: number, Handles: handles}
			if _, err := st.Device(ctx, id); gateway.ErrorCode(err) == gateway.ENOTFOUND {
				if _, err := st.CreateDevice(ctx, dev); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			secret, hash := gateway.NewSecret()
			if err := st.CreateToken(ctx, gateway.Token{ID: gateway.NewID("t_"), Role: gateway.RoleAgent, Name: "demo agent " + id, Subject: id, Hash: hash}); err != nil {
				return err
			}
			a := simagent.New(m.URL(), secret)
			a.Apps = dd.apps
			a.Logger = m.Logger.WithField("device", id)
			// A supervisor answers after a moment, as in an ops room.
			a.Script = func(gateway.Order) simagent.Behaviour {
				return simagent.Behaviour{AnswerAfter: 1500 * time.Millisecond}
			}
			d.agents[id] = a
			d.wg.Add(1)
			go func() { defer d.wg.Done(); a.Run(actx) }()
		}
	}

	path := filepath.Join(m.Config.DataDir, "demo-tokens.json")
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(tokens, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write demo tokens: %w", err)
	}
	abs, _ := filepath.Abs(path)
	fmt.Fprintf(m.Out, "Safe Connection gateway demo listening on %s\n%d simulated devices in %d London ops rooms.\nTokens for each role (officer, supervisor, ops) are in %s\n",
		m.URL(), n, len(m.Rooms.Rooms()), abs)
	return nil
}

func (d *demo) stopAgents() {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
}
