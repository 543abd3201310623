// Package httpapitest runs the gateway's HTTP API on a loopback server for
// tests: a real httpapi.Server over a real SQLite store in the test's
// temporary directory, with a fake router whose functions the test sets,
// and helpers to mint credentials and devices. Every exchange with it is
// checked against the API's OpenAPI description (openapitest.Handler).
package httpapitest

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/agent"
	"github.com/safeconnection/gateway/adapters/meet"
	"github.com/safeconnection/gateway/adapters/pstn"
	"github.com/safeconnection/gateway/adapters/teams"
	"github.com/safeconnection/gateway/adapters/twiliovideo"
	"github.com/safeconnection/gateway/adapters/whatsapp"
	"github.com/safeconnection/gateway/adapters/zoom"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/openapitest"
	"github.com/safeconnection/gateway/mocks"
	"github.com/safeconnection/gateway/provider"
	"github.com/safeconnection/gateway/store/sqlite"
)

// Env is a running API: its server, store, fake router and log.
type Env struct {
	// Server is the API under test; options passed to New have set it up.
	Server *httpapi.Server
	// Router is the fake routing core; set its functions before the calls
	// that need them. Reports are accepted (nil) unless ReportFn is set.
	Router *mocks.Router
	// Store is the store behind the API; a test writes to it to set the
	// scene (verifications, events, orders).
	Store *sqlite.Store
	// HTTP is the loopback server; URL its base URL.
	HTTP *httptest.Server
	URL  string
	// Log holds every entry the server logged.
	Log *logtest.Hook
	// Contract checks every exchange with the server against the API's
	// description; a test whose stand-in webhooks speak no contract
	// leaves their paths out with Contract.Uncheck.
	Contract *openapitest.Checked
}

// New starts an API on a loopback server, closed when the test ends.
// Each option may change the server before it starts.
func New(t testing.TB, opts ...func(*httpapi.Server)) *Env {
	t.Helper()
	// The store writes the outbox, as a gateway with an incident system's
	// does, so that the outbox routes have something to show.
	st := sqlite.New(filepath.Join(t.TempDir(), "g.db"))
	st.Outbox = true
	if err := st.Open(context.Background()); err != nil {
		t.Fatalf("open store: %v", err)
	}
	logger := logrus.New()
	logger.Out = io.Discard
	logger.Level = logrus.DebugLevel
	hook := logtest.NewLocal(logger)
	r := &mocks.Router{ReportFn: func(context.Context, gateway.Report) error { return nil }}
	s := httpapi.NewServer(r, st)
	s.Logger = logger
	s.Channels = Channels()
	for _, o := range opts {
		o(s)
	}
	checked := openapitest.Handler(t, s.Handler())
	srv := httptest.NewServer(checked)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		st.Close()
	})
	return &Env{Server: s, Router: r, Store: st, HTTP: srv, URL: srv.URL, Log: hook, Contract: checked}
}

// Channels returns the registry of the gateway's channels as their adapter
// packages describe them, in the gateway's order.
func Channels() *gateway.Registry {
	reg, err := provider.List{agent.Descriptor, whatsapp.Descriptor, zoom.Descriptor, meet.Descriptor,
		teams.Descriptor, twiliovideo.Descriptor, pstn.Descriptor}.Registry()
	if err != nil {
		panic(err) // a fixed list
	}
	return reg
}

// The identities Token gives officer and supervisor credentials.
var (
	Officer    = gateway.OfficerIdentity{Force: "Metropolitan Police", Collar: "PC 1234", Warrant: "W998877"}
	Supervisor = gateway.SupervisorIdentity{Rank: "PS", Number: "42"}
	// Handler is the 999 call handler a handler credential is issued to.
	Handler = gateway.SupervisorIdentity{Rank: "Call handler", Number: "3012"}
)

// Token stores a credential with the role (and, for an agent, the device
// it speaks for) and returns it with its secret. An officer's belongs to
// Officer, a supervisor's to Supervisor and a 999 call handler's to
// Handler (every room).
func (e *Env) Token(t testing.TB, role gateway.Role, subject string) (gateway.Token, string) {
	t.Helper()
	secret, hash := gateway.NewSecret()
	tok := gateway.Token{ID: gateway.NewID("t_"), Role: role, Name: string(role) + " " + t.Name(), Subject: subject, Hash: hash}
	switch role {
	case gateway.RoleOfficer:
		o := Officer
		tok.Officer = &o
	case gateway.RoleSupervisor:
		s := Supervisor
		tok.Supervisor = &s
	case gateway.RoleHandler:
		s := Handler
		tok.Supervisor = &s
	}
	if err := e.Store.CreateToken(context.Background(), tok); err != nil {
		t.Fatalf("create token: %v", err)
	}
	return tok, secret
}

// Device stores an in-service device in the room with a FaceTime and a
// WhatsApp handle, and returns it with its agent's secret.
func (e *Env) Device(t testing.TB, room string) (gateway.Device, string) {
	t.Helper()
	d, err := e.Store.CreateDevice(context.Background(), gateway.Device{
		ID:     gateway.NewID("d_"),
		RoomID: room,
		Name:   "handset",
		Number: "+447700900001",
		Handles: map[gateway.Channel]string{
			gateway.Channel("facetime"): "ops-handset@example.org",
			gateway.Channel("whatsapp"): "+447700900001",
		},
		Battery: -1,
	})
	if err != nil {
		t.Fatalf("create device: %v", err)
	}
	_, secret := e.Token(t, gateway.RoleAgent, d.ID)
	return d, secret
}
