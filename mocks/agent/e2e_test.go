package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	agentadapter "github.com/safeconnection/gateway/adapters/agent"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/mocks/agent"
	"github.com/safeconnection/gateway/rooms"
	"github.com/safeconnection/gateway/router"
	"github.com/safeconnection/gateway/store/sqlite"
)

// gatewayRig is the real thing on a loopback server: SQLite store, router
// with the device-agent adapter for FaceTime, and the HTTP API.
type gatewayRig struct {
	url                   string
	store                 *sqlite.Store
	ops, officer, superv  string
	deviceID, agentSecret string
}

func newGateway(t *testing.T) *gatewayRig {
	t.Helper()
	ctx := context.Background()
	quiet := logrus.New()
	quiet.Out = io.Discard
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rooms.Default()
	if err != nil {
		t.Fatal(err)
	}
	rt := router.New(st, rs)
	rt.Logger = quiet
	rt.RingTimeout = 5 * time.Second
	rt.Budget = 20 * time.Second
	rt.PollInterval = 50 * time.Millisecond
	rt.Policy.RetryMin, rt.Policy.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	if err := rt.Register(agentadapter.New(gateway.Channel("facetime"), st)); err != nil {
		t.Fatal(err)
	}
	if err := rt.Open(ctx); err != nil {
		t.Fatal(err)
	}
	s := httpapi.NewServer(rt, st)
	s.Logger = quiet
	s.Channels = httpapitest.Channels()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		rt.Close()
		st.Close()
	})
	g := &gatewayRig{url: srv.URL, store: st}
	mint := func(role gateway.Role) string {
		secret, hash := gateway.NewSecret()
		tok := gateway.Token{ID: gateway.NewID("t_"), Role: role, Name: "PS 42", Hash: hash}
		switch role {
		case gateway.RoleOfficer:
			tok.Officer = &gateway.OfficerIdentity{Force: "Metropolitan Police", Collar: "PC 1234", Warrant: "W998877"}
		case gateway.RoleSupervisor:
			tok.Supervisor = &gateway.SupervisorIdentity{Rank: "PS", Number: "42"}
		}
		if err := st.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	g.ops, g.officer, g.superv = mint(gateway.RoleOps), mint(gateway.RoleOfficer), mint(gateway.RoleSupervisor)

	// Ops register the Westminster handset and get its agent credential.
	var reply httpapi.DeviceReply
	g.call(t, "POST", "/v1/devices", g.ops, `{"room":"AW","name":"AW handset 1","number":"+447911123456",`+
		`"handles":{"facetime":"aw1@met.example"}}`, http.StatusCreated, &reply)
	g.deviceID, g.agentSecret = reply.Device.ID, reply.Credential.Secret
	return g
}

func (g *gatewayRig) call(t *testing.T, method, path, secret, body string, status int, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, g.url+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+secret)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// startAgent runs the simulated agent of the rig's handset and waits for
// its first heartbeat.
func (g *gatewayRig) startAgent(t *testing.T, script func(gateway.Order) agent.Behaviour) *agent.Agent {
	t.Helper()
	a := agent.New(g.url, g.agentSecret)
	quiet := logrus.New()
	quiet.Out = io.Discard
	a.Logger = quiet
	a.HeartbeatEvery = 100 * time.Millisecond
	a.PollWait = 2 * time.Second
	a.Apps = []gateway.Channel{gateway.Channel("facetime")}
	if script != nil {
		a.Script = script
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := g.store.Device(context.Background(), g.deviceID)
		if err == nil && !d.LastSeen.IsZero() {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat from the agent")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitState polls the verification until it reaches the state.
func (g *gatewayRig) waitState(t *testing.T, id string, want gateway.State) httpapi.VerificationView {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var v httpapi.VerificationView
		g.call(t, "GET", "/v1/verifications/"+id, g.officer, "", http.StatusOK, &v)
		if v.State == want {
			return v
		}
		if v.State.Terminal() || time.Now().After(deadline) {
			t.Fatalf("verification %s is %s (%s), want %s; attempts %+v", id, v.State, v.Reason, want, v.Attempts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const westminsterRequest = `{"officer":{"collar":"PC 1234","warrant":"W-998877"},` +
	`"location":{"lat":51.4995,"lon":-0.1357},"contacts":[{"channel":"facetime","handle":"pc1234@met.example"}]}`

func TestEndToEndOfficerToSupervisor(t *testing.T) {
	tests := []struct {
		name   string
		script agent.Behaviour
		tries  int // the connected attempt's tries
	}{
		{"answered at once", agent.Behaviour{}, 1},
		{"answered after ringing", agent.Behaviour{AnswerAfter: 300 * time.Millisecond}, 1},
		{"not placed once, then answered", agent.Behaviour{NotPlaced: 1}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t)
			a := g.startAgent(t, func(gateway.Order) agent.Behaviour { return tt.script })

			var v httpapi.VerificationView
			g.call(t, "POST", "/v1/verifications", g.officer, westminsterRequest, http.StatusCreated, &v)
			if v.Room != "AW" {
				t.Errorf("room = %q, want AW (Westminster)", v.Room)
			}
			v = g.waitState(t, v.ID, gateway.StateConnected)
			if v.Channel != gateway.Channel("facetime") || v.Device != g.deviceID {
				t.Errorf("connected on %s with %s, want facetime with %s", v.Channel, v.Device, g.deviceID)
			}
			last := v.Attempts[len(v.Attempts)-1]
			if last.Result != gateway.ResultConnected || last.Tries != tt.tries {
				t.Errorf("connected attempt = %+v, want %d tries", last, tt.tries)
			}
			if got := a.Orders(); len(got) != tt.tries || got[0].Handle != "pc1234@met.example" {
				t.Errorf("agent got orders %+v, want %d dial orders to the officer", got, tt.tries)
			}

			g.call(t, "POST", "/v1/verifications/"+v.ID+"/outcome", g.superv,
				`{"outcome":"verified","note":"warrant card seen"}`, http.StatusOK, &v)
			if v.State != gateway.StateVerified || v.Outcome == nil || v.Outcome.Supervisor != "PS 42" {
				t.Errorf("after the outcome: %+v", v)
			}
		})
	}
}
