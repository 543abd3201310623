package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/safeconnection/gateway"
	simagent "github.com/safeconnection/gateway/mocks/agent"
	faketwilio "github.com/safeconnection/gateway/mocks/twilio"
	"github.com/safeconnection/gateway/provider"
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
	// twilio is the fake Twilio, which places the public's calls.
	twilio *faketwilio.Fake
	// actx lives as long as the simulated agents, and the calls they ring in.
	actx context.Context
	// incident is the base URL of the fake incident system, "" when the
	// configured one is used.
	incident string
}

func newDemo(m *Main) *demo {
	return &demo{m: m, agents: map[string]*simagent.Agent{}, faults: newDemoFaults()}
}

// demoHandsets is how many simulated handsets each room has; the
// providers' DemoApps say which have which apps.
const demoHandsets = 3

// startProviders starts the providers' fakes on loopback and points the
// configuration at them.
func (d *demo) startProviders(ctx context.Context) error {
	m := d.m
	for _, p := range m.Providers.Fakes() {
		// Each fake is served by the fault control (faults.go), under the
		// name POST /demo/faults/{name} knows it by.
		fd := provider.Demo{
			PublicURL: m.PublicURL(),
			Serve: func(h http.Handler, closeFake func()) (string, error) {
				u, stop, err := d.faults.serve(p.Name, h)
				if err != nil {
					return "", fmt.Errorf("demo provider %s: %w", p.Name, err)
				}
				d.providers = append(d.providers, stop)
				if f, ok := h.(*faketwilio.Fake); ok {
					// The fake Twilio also places the public's calls to
					// the rooms' numbers (POST /demo/call-room/{room}).
					d.twilio = f
					demoVoiceURL(f, m.PublicURL())
				}
				if closeFake != nil {
					d.providers = append(d.providers, closeFake)
				}
				return u, nil
			},
		}
		if err := p.Fake(ctx, &m.Config, fd); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) stopProviders() {
	for _, stop := range d.providers {
		stop()
	}
	d.providers = nil
}

// start seeds the device pool and the credentials, starts a simulated agent
// for every device and writes demo-tokens.json. The credentials for people
// in demo-tokens.json are kept from an earlier run on the same store while
// they still verify (so that earlier verifications stay readable); devices
// taken out of service in an earlier run are put back in service.
func (d *demo) start(ctx context.Context) error {
	m := d.m
	st := m.Store
	path := filepath.Join(m.Config.DataDir, "demo-tokens.json")
	tokens, kept, err := demoCredentials(ctx, st, path)
	if err != nil {
		return err
	}

	channels := m.Router.Channels
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	d.actx = actx
	n := 0
	var restored, retired []string
	for _, room := range m.Rooms.Rooms() {
		for k := 1; k <= demoHandsets; k++ {
			n++
			suffix := strconv.Itoa(k)
			id := room.ID + "-" + suffix
			number := fmt.Sprintf("+447700900%03d", n)
			apps := m.Providers.DemoApps(k)
			handles := map[gateway.Channel]string{}
			for _, c := range apps {
				if channels.PhoneHandle(c) {
					handles[c] = number
				} else {
					handles[c] = strings.ToLower(id) + "@ops.demo.invalid"
				}
			}
			dev := gateway.Device{ID: id, RoomID: room.ID, Name: room.Name + " handset " + suffix, Number: number, Handles: handles}
			old, err := st.Device(ctx, id)
			switch {
			case gateway.ErrorCode(err) == gateway.ENOTFOUND:
				if _, err := st.CreateDevice(ctx, dev); err != nil {
					return err
				}
			case err != nil:
				return err
			case old.Status == gateway.DeviceOutOfService || goingOut(ctx, st, id):
				// Back in service, or, if it is still in a call of the last
				// run, when that call ends: a change that waited for it goes.
				in := gateway.DeviceInService
				if _, err := st.ChangeDevice(ctx, id, gateway.DeviceChange{Status: &in}, gateway.OpsEvent{
					Actor: gateway.Actor{Name: "demo"}, Action: gateway.OpsDeviceReturn, Reason: "the demo started again",
				}); err != nil {
					return err
				}
				restored = append(restored, id)
			case old.Status == gateway.DeviceRetired:
				retired = append(retired, id)
			}
			secret, hash := gateway.NewSecret()
			if err := st.CreateToken(ctx, gateway.Token{ID: gateway.NewID("t_"), Role: gateway.RoleAgent, Name: "demo agent " + id, Subject: id, Hash: hash}); err != nil {
				return err
			}
			a := simagent.New(m.URL(), secret)
			a.Apps = apps
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
	if len(restored) > 0 {
		m.Logger.WithField("devices", restored).Info("demo devices taken out of service in an earlier run are back in service")
	}
	if len(retired) > 0 {
		m.Logger.WithField("devices", retired).Info("demo devices retired in an earlier run stay retired")
	}

	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(tokens, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write demo tokens: %w", err)
	}
	abs, _ := filepath.Abs(path)
	dir, _ := filepath.Abs(m.Config.DataDir)
	fmt.Fprintf(m.Out, "Safe Connection gateway demo listening on %s\n%d simulated devices in %d London ops rooms; the demo's store is in %s.\n",
		m.URL(), n, len(m.Rooms.Rooms()), dir)
	if kept {
		fmt.Fprintf(m.Out, "Tokens for each role (officer, supervisor, handler, ops) are in %s, kept from the last run: earlier verifications stay readable.\n", abs)
	} else {
		fmt.Fprintf(m.Out, "Tokens for each role (officer, supervisor, handler, ops) are in %s\n", abs)
	}
	fmt.Fprintf(m.Out, "The supervisor console is at %s/console: sign in as a supervisor with %s, as a 999 call handler with %s, or as ops staff with %s\n",
		m.URL(), tokens[string(gateway.RoleSupervisor)], tokens[string(gateway.RoleHandler)], tokens[string(gateway.RoleOps)])
	if m.demo.incident != "" {
		fmt.Fprintf(m.Out, "Closed verifications and flags go to a fake incident system: what it received is at %s/fake/incident/received\n", m.demo.incident)
	}
	if len(restored) > 0 {
		fmt.Fprintf(m.Out, "%d devices taken out of service in an earlier run are back in service (%s).\n", len(restored), strings.Join(restored, ", "))
	}
	fmt.Fprintf(m.Out, "Next, in another terminal, the README's walk-through (\"A walk-through with curl\") begins:\n"+
		"  GW=%s\n  OFFICER=$(sed -n 's/.*\"officer\": \"\\(.*\\)\".*/\\1/p' %s)\n"+
		"Faults to try are under \"Trying faults\" (POST $GW/demo/faults/zoom -d '{\"mode\":\"refuse\"}').\n",
		m.URL(), shellQuote(abs))
	return nil
}

// demoCredentials returns the secrets of the demo's credentials for people
// by role: those in the tokens file at path when every one still verifies
// against the store (kept), else new ones, the old ones revoked. The
// agents' credentials from an earlier run are revoked: each run gives its
// agents new ones.
func demoCredentials(ctx context.Context, st gateway.Store, path string) (tokens map[string]string, kept bool, err error) {
	roles := []gateway.Role{gateway.RoleOfficer, gateway.RoleSupervisor, gateway.RoleHandler, gateway.RoleOps}
	var saved map[string]string
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &saved) // a damaged file is replaced
	}
	keep := map[string]bool{}
	kept = len(saved) > 0
	for _, role := range roles {
		secret := saved[string(role)]
		if secret == "" {
			kept = false
			break
		}
		t, err := st.TokenByHash(ctx, gateway.HashSecret(secret))
		if err != nil && gateway.ErrorCode(err) != gateway.ENOTFOUND {
			return nil, false, err
		}
		if err != nil || t.Role != role || t.Name != "demo "+string(role) ||
			role == gateway.RoleOfficer && t.Officer == nil || role.Staff() && t.Supervisor == nil {
			kept = false
			break
		}
		keep[t.ID] = true
	}
	if !kept {
		keep = map[string]bool{}
	}
	old, err := st.Tokens(ctx)
	if err != nil {
		return nil, false, err
	}
	for _, t := range old {
		if strings.HasPrefix(t.Name, "demo ") && t.ID != demoMarkID && !t.Revoked && !keep[t.ID] {
			if err := st.RevokeToken(ctx, t.ID); err != nil {
				return nil, false, err
			}
		}
	}
	tokens = map[string]string{}
	if kept {
		for _, role := range roles {
			tokens[string(role)] = saved[string(role)]
		}
		return tokens, true, nil
	}
	for _, role := range roles {
		secret, hash := gateway.NewSecret()
		if err := st.CreateToken(ctx, demoIdentity(gateway.Token{ID: gateway.NewID("t_"), Role: role, Name: "demo " + string(role), Hash: hash})); err != nil {
			return nil, false, err
		}
		tokens[string(role)] = secret
	}
	return tokens, false, nil
}

// shellQuote quotes a path for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (d *demo) stopAgents() {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
}

// goingOut reports whether the device is to go out of service when its
// call in progress ends.
func goingOut(ctx context.Context, st gateway.Store, id string) bool {
	p, err := st.PendingChange(ctx, id)
	return err == nil && p != nil && p.Status != nil && *p.Status == gateway.DeviceOutOfService
}

// The demo's officer, supervisor and 999 call handler: the officer app's
// credential is PC 1234's (warrant W998877), the supervisor's is PS 42's
// of room AW, the call handler's is call handler 3012's, of the force's
// 999 call centre (every room).
var (
	demoOfficer    = gateway.OfficerIdentity{Force: "Metropolitan Police", Collar: "PC 1234", Warrant: "W998877"}
	demoSupervisor = gateway.SupervisorIdentity{Rank: "PS", Number: "42", Rooms: []string{"AW"}}
	demoHandler    = gateway.SupervisorIdentity{Rank: "Call handler", Number: "3012", Rooms: []string{}}
)

// demoIdentity gives an officer, supervisor or call handler credential
// the demo's officer, supervisor or call handler.
func demoIdentity(t gateway.Token) gateway.Token {
	switch t.Role {
	case gateway.RoleOfficer:
		o := demoOfficer
		t.Officer = &o
	case gateway.RoleSupervisor, gateway.RoleHandler:
		s := demoSupervisor
		if t.Role == gateway.RoleHandler {
			s = demoHandler
		}
		s.Rooms = append([]string{}, s.Rooms...)
		t.Supervisor = &s
	}
	return t
}
