package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/openapitest"
	"github.com/safeconnection/gateway/mocks/agent"
	"github.com/safeconnection/gateway/provider"
)

// The places of the tests: Trafalgar Square in Westminster (room AW) and
// Brixton in Lambeth (room AS, a neighbour of AW).
var (
	trafalgar = gateway.Location{Lat: 51.5080, Lon: -0.1281}
	brixton   = gateway.Location{Lat: 51.4613, Lon: -0.1156}
)

// Numbers in Ofcom's drama range: the officer's mobile and the ops-room
// handsets' SIMs.
const (
	officerNumber = "+447700900123"
	officerEmail  = "pc1234@met.example"
)

// roomPlaces are a point in the area of each of the Met's twelve rooms.
var roomPlaces = []struct {
	room string
	loc  gateway.Location
}{
	{"AW", gateway.Location{Lat: 51.5080, Lon: -0.1281}}, // Trafalgar Square, Westminster
	{"AS", gateway.Location{Lat: 51.4613, Lon: -0.1156}}, // Brixton, Lambeth
	{"CE", gateway.Location{Lat: 51.5450, Lon: -0.0553}}, // Mare Street, Hackney
	{"CN", gateway.Location{Lat: 51.5390, Lon: -0.1426}}, // Camden Town
	{"EA", gateway.Location{Lat: 51.5751, Lon: 0.1832}},  // Romford, Havering
	{"NA", gateway.Location{Lat: 51.6523, Lon: -0.0807}}, // Enfield Town
	{"NE", gateway.Location{Lat: 51.5416, Lon: -0.0022}}, // Stratford, Newham
	{"NW", gateway.Location{Lat: 51.5806, Lon: -0.3420}}, // Harrow
	{"SN", gateway.Location{Lat: 51.3762, Lon: -0.0982}}, // Croydon
	{"SE", gateway.Location{Lat: 51.4820, Lon: -0.0090}}, // Greenwich
	{"SW", gateway.Location{Lat: 51.4123, Lon: -0.3007}}, // Kingston upon Thames
	{"WA", gateway.Location{Lat: 51.5150, Lon: -0.3017}}, // Ealing Broadway
}

// waitFor is how long a test waits for the gateway to reach a state: a
// generous bound, never an assertion of speed.
const waitFor = 15 * time.Second

// logBuffer collects the gateway's log for a test, shown when it fails.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// tail returns the last n bytes of the log, from a line's start.
func (l *logBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// rig is a whole gateway (cmd/gateway's Main) on loopback, with a real SQLite
// file in a temporary directory and a credential for each role.
type rig struct {
	m   *Main
	log *logBuffer
	// client is the rig's own HTTP client: its connections are closed
	// before the gateway, whose shutdown would otherwise wait for an
	// unused one.
	client *http.Client
	// Bearer secrets of the ops desk, the officer app and a supervisor
	// (whose credential is named "PS 42").
	ops, officer, supervisor string
}

// testEnv is the environment of every test gateway: any loopback port, a
// temporary data directory, short timings and quick retries. Later entries
// of extra override it.
func testEnv(tb testing.TB, extra ...string) []string {
	tb.Helper()
	env := []string{
		"GATEWAY_ADDR=127.0.0.1:0",
		"GATEWAY_DATA_DIR=" + tb.TempDir(),
		"GATEWAY_RING_TIMEOUT=3s",
		"GATEWAY_BUDGET=10s",
		"GATEWAY_RETRY_MIN=20ms",
		"GATEWAY_RETRY_MAX=100ms",
		"GATEWAY_LOG_LEVEL=warn",
	}
	return append(env, extra...)
}

// startGateway loads the configuration from env as the demo does (no public
// URL needed), lets configure point provider sections at fakes, opens the
// gateway and creates the credentials. The gateway is closed when the test
// ends; its log is shown if the test failed.
func startGateway(tb testing.TB, env []string, configure func(*config.Config)) *rig {
	tb.Helper()
	return startGatewayWith(tb, providers, env, configure)
}

// startGatewayWith is startGateway running the providers of list.
func startGatewayWith(tb testing.TB, list provider.List, env []string, configure func(*config.Config)) *rig {
	tb.Helper()
	cfg, err := config.LoadDemo(env, list.Sections()...)
	if err != nil {
		tb.Fatalf("configuration: %v", err)
	}
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GATEWAY_DATA_DIR=") }) {
		tb.Fatal("a test gateway needs a GATEWAY_DATA_DIR of its own (testEnv gives one): the default is the checkout's ./data")
	}
	m := NewMain(cfg, false)
	m.Providers = list
	if configure != nil {
		configure(&m.Config)
	}
	logs := &logBuffer{}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("log of gateway %s:\n%s", m.Config.Instance, logs.tail(16<<10))
		}
	})
	// As in Run, the context given to Open lives as long as the gateway.
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	if err := m.Open(ctx); err != nil {
		m.Close()
		tb.Fatalf("open gateway: %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close gateway: %v", err)
		}
	})
	m.Logger.SetOutput(logs)
	m.Logger.SetLevel(logrus.InfoLevel)
	g := &rig{m: m, log: logs, client: newClient(tb)}
	g.ops = g.token(tb, gateway.RoleOps, "ops desk")
	g.officer = g.token(tb, gateway.RoleOfficer, "officer app 7")
	g.supervisor = g.token(tb, gateway.RoleSupervisor, "PS 42")
	return g
}

// newClient returns an HTTP client with a transport of its own, whose
// connections are closed when the test ends (before the gateway closes, if
// the gateway was started first). Every exchange through it is checked
// against the API's description.
func newClient(tb testing.TB) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: openapitest.Transport(tb, tr)}
}

// token creates a credential in the gateway's store and returns its secret.
func (g *rig) token(tb testing.TB, role gateway.Role, name string) string {
	tb.Helper()
	secret, hash := gateway.NewSecret()
	if err := g.m.Store.CreateToken(context.Background(), testIdentity(gateway.Token{ID: gateway.NewID("t_"), Role: role, Name: name, Hash: hash})); err != nil {
		tb.Fatal(err)
	}
	return secret
}

// logger returns a logger that writes to the test's log buffer.
func (g *rig) logger(fields logrus.Fields) logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(g.log)
	l.SetFormatter(&logrus.JSONFormatter{})
	return l.WithFields(fields)
}

// send makes one request to the gateway as a client would and returns the
// status and body.
func (g *rig) send(tb testing.TB, method, path, secret string, body []byte, header http.Header) (int, []byte) {
	tb.Helper()
	a := g.exchange(tb, method, path, secret, body, header)
	return a.status, a.body
}

// answer is an HTTP answer with its headers.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// exchange makes one request to the gateway as a client would and returns
// the whole answer.
func (g *rig) exchange(tb testing.TB, method, path, secret string, body []byte, header http.Header) answer {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.m.URL()+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// call sends a JSON request (in: nil for none), requires the status and
// decodes the answer into out (nil: ignore it).
func (g *rig) call(tb testing.TB, method, path, secret string, in any, want int, out any) {
	tb.Helper()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			tb.Fatal(err)
		}
	}
	status, b := g.send(tb, method, path, secret, body, nil)
	if status != want {
		tb.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			tb.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// device is a handset registered through the ops API.
type device struct {
	ID      string
	Room    string
	Number  string
	Handles map[gateway.Channel]string
	secret  string // the agent's credential
}

// apps lists the channels the device has handles for, in the providers'
// order, then those of providers the gateway under test adds.
func (d device) apps() []gateway.Channel {
	channels, err := providers.Registry()
	if err != nil {
		panic(err) // the gateway's own list
	}
	var out, more []gateway.Channel
	for _, c := range channels.Channels() {
		if d.Handles[c] != "" {
			out = append(out, c)
		}
	}
	// A channel of a provider the gateway under test adds: its app too.
	for c, h := range d.Handles {
		if h != "" && c != gateway.ChannelPSTN && !slices.Contains(out, c) {
			more = append(more, c)
		}
	}
	slices.Sort(more)
	return append(out, more...)
}

// addDevice registers a handset in a room through the ops API, as ops staff
// do, and keeps the agent credential it returns.
func (g *rig) addDevice(tb testing.TB, room, number string, handles map[gateway.Channel]string) device {
	tb.Helper()
	hs := map[string]string{}
	for c, h := range handles {
		hs[string(c)] = h
	}
	body := map[string]any{"room": room, "name": room + " handset " + number[len(number)-3:], "number": number, "handles": hs}
	var reply httpapi.DeviceReply
	g.call(tb, "POST", "/v1/devices", g.ops, body, http.StatusCreated, &reply)
	if reply.Credential == nil || reply.Credential.Secret == "" {
		tb.Fatalf("device %s created without an agent credential", reply.Device.ID)
	}
	return device{ID: reply.Device.ID, Room: room, Number: number, Handles: handles, secret: reply.Credential.Secret}
}

// facetimeWhatsApp are the handles of a handset with FaceTime and WhatsApp on
// its number.
func facetimeWhatsApp(number string) map[gateway.Channel]string {
	return map[gateway.Channel]string{gateway.Channel("facetime"): number, gateway.Channel("whatsapp"): number}
}

// always returns a script that behaves as b for every order.
func always(b agent.Behaviour) func(gateway.Order) agent.Behaviour {
	return func(gateway.Order) agent.Behaviour { return b }
}

// startAgent runs the simulated device agent of d until the test ends and
// waits until the gateway has its first heartbeat. A nil script answers at
// once.
func (g *rig) startAgent(tb testing.TB, d device, script func(gateway.Order) agent.Behaviour) *agent.Agent {
	tb.Helper()
	a := agent.New(g.m.URL(), d.secret)
	a.HTTPClient = newClient(tb)
	a.Logger = g.logger(logrus.Fields{"device": d.ID})
	a.Apps = d.apps()
	a.HeartbeatEvery = 200 * time.Millisecond
	a.PollWait = time.Second
	a.RetryEvery = 50 * time.Millisecond
	if script != nil {
		a.Script = script
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("agent of %s: %v", d.ID, err)
		}
	})
	eventually(tb, "a heartbeat from the agent of "+d.ID, func() bool {
		dev, err := g.m.Store.Device(context.Background(), d.ID)
		return err == nil && !dev.LastSeen.IsZero()
	})
	return a
}

// eventually polls cond until it holds, failing the test after waitFor.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// contact is one entry of an officer's request.
type contact struct {
	Channel gateway.Channel `json:"channel"`
	Handle  string          `json:"handle"`
}

// verificationRequest is the officer app's request body.
func verificationRequest(loc gateway.Location, contacts ...contact) map[string]any {
	return map[string]any{
		"officer":  map[string]string{"collar": "PC 1234", "warrant": "W-998877"},
		"location": map[string]float64{"lat": loc.Lat, "lon": loc.Lon},
		"contacts": contacts,
	}
}

// request asks for a verification as the officer app does and returns the
// gateway's first answer.
func (g *rig) request(tb testing.TB, loc gateway.Location, contacts ...contact) httpapi.VerificationView {
	tb.Helper()
	var v httpapi.VerificationView
	g.call(tb, "POST", "/v1/verifications", g.officer, verificationRequest(loc, contacts...), http.StatusCreated, &v)
	if v.ID == "" || v.State != gateway.StateRouting {
		tb.Fatalf("new verification %+v, want an ID in state routing", v)
	}
	return v
}

// verification reads a verification through the API with the secret.
func (g *rig) verification(tb testing.TB, secret, id string) httpapi.VerificationView {
	tb.Helper()
	var v httpapi.VerificationView
	g.call(tb, "GET", "/v1/verifications/"+id, secret, nil, http.StatusOK, &v)
	return v
}

// waitState polls the verification (as the supervisor, who may see every
// one) until it reaches the state; it fails at once if it settles in
// another.
func (g *rig) waitState(tb testing.TB, id string, want gateway.State) httpapi.VerificationView {
	tb.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		v := g.verification(tb, g.supervisor, id)
		if v.State == want {
			return v
		}
		if v.State.Terminal() || time.Now().After(deadline) {
			tb.Fatalf("verification %s is %s (reason %q), want %s; attempts %+v", id, v.State, v.Reason, want, v.Attempts)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// outcome records the supervisor's outcome of a connected verification.
func (g *rig) outcome(tb testing.TB, id string, result gateway.OutcomeResult) httpapi.VerificationView {
	tb.Helper()
	var v httpapi.VerificationView
	g.call(tb, "POST", "/v1/verifications/"+id+"/outcome", g.supervisor,
		map[string]string{"outcome": string(result), "note": "warrant card seen"}, http.StatusOK, &v)
	return v
}

// waitFree waits until the device holds no lease: its call has ended.
func (g *rig) waitFree(tb testing.TB, deviceID string) {
	tb.Helper()
	eventually(tb, "device "+deviceID+" to be free", func() bool {
		d, err := g.m.Store.Device(context.Background(), deviceID)
		return err == nil && d.Lease == nil
	})
}

// openEvents opens the verification's event stream as the officer app
// and requires a 200 text/event-stream answer; the stream is closed when
// the test ends.
func (g *rig) openEvents(tb testing.TB, ctx context.Context, id string) *http.Response {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", g.m.URL()+"/v1/verifications/"+id+"/events", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+g.officer)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := g.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		tb.Fatalf("event stream: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp
}

// events returns the verification's record from the store.
func (g *rig) events(tb testing.TB, id string) []gateway.Event {
	tb.Helper()
	evs, err := g.m.Store.Events(context.Background(), id, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return evs
}

// attempts summarises a view's attempts as "channel:result" for messages
// and comparisons.
func attempts(v httpapi.VerificationView) []string {
	out := make([]string, len(v.Attempts))
	for i, a := range v.Attempts {
		out[i] = string(a.Channel) + ":" + string(a.Result)
	}
	return out
}

// metric returns the value of the sample whose name and labels are exactly
// series (`name{label="value",...}`) in the Prometheus text exposition, and
// whether it is there.
func metric(exposition, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(exposition))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || name != series {
			continue
		}
		f, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		return f, err == nil
	}
	return 0, false
}

// settingNames lists every GATEWAY_ variable of config.Config (or of a
// section) as envconfig names them: the prefix, a nested section's tag, then
// the field's tag.
func settingNames(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() { // the providers' sections, listed by the caller
			continue
		}
		name := prefix + "_" + strings.ToUpper(f.Tag.Get("envconfig"))
		if f.Type.Kind() == reflect.Struct {
			out = append(out, settingNames(f.Type, name)...)
			continue
		}
		out = append(out, name)
	}
	return out
}

func TestRunHelpListsEverySetting(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), []string{"-h"}, nil, &stdout, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Run -h = %v, want flag.ErrHelp", err)
	}
	names := settingNames(reflect.TypeFor[config.Config](), config.Prefix)
	for _, s := range providers.Sections() {
		names = append(names, settingNames(s.Type(), config.Prefix+"_"+s.Key())...)
	}
	if len(names) < 20 {
		t.Fatalf("found only %d settings in config.Config: %v", len(names), names)
	}
	for _, name := range names {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("gateway -h does not list %s", name)
		}
	}
	if !strings.Contains(stderr.String(), "-demo") {
		t.Errorf("gateway -h does not describe the -demo flag")
	}
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    []string // the variables the error must name, and only they
	}{
		{"no public URL without -demo", nil, nil, []string{"GATEWAY_PUBLIC_URL"}},
		{"unknown variable", nil, []string{"GATEWAY_PUBLIC_URL=https://gateway.example.org", "GATEWAY_FAVOURITE_COLOUR=blue"},
			[]string{"GATEWAY_FAVOURITE_COLOUR"}},
		{"mistyped variable with -demo", []string{"-demo"}, []string{"GATEWAY_RING_TIMOUT=5s"}, []string{"GATEWAY_RING_TIMOUT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			environ := append([]string{"GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DATA_DIR=" + t.TempDir()}, tt.environ...)
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := Run(ctx, tt.args, environ, &stdout, &stderr)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Run = %v, want a *config.Error", err)
			}
			if got := ce.Vars(); !slices.Equal(got, tt.want) {
				t.Errorf("the error names %v, want %v", got, tt.want)
			}
			for _, v := range tt.want {
				if !strings.Contains(err.Error(), v) {
					t.Errorf("error %q does not name %s", err, v)
				}
			}
		})
	}
}

// testIdentity gives an officer credential the demo's officer (PC 1234,
// warrant W998877) and a supervisor credential PS 42 of every room.
func testIdentity(t gateway.Token) gateway.Token {
	t = demoIdentity(t)
	if t.Supervisor != nil {
		t.Supervisor.Rooms = nil
	}
	return t
}
