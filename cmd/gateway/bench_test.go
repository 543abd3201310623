package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/httpapi"
	simagent "github.com/safeconnection/gateway/mocks/agent"
)

// benchGateway is the whole gateway (Main) on loopback with a real SQLite
// file, its production timings, a pool of handsets each run by a simulated
// device agent that answers at once, and an officer's and a supervisor's
// credential.
type benchGateway struct {
	m                   *Main
	logs                *logtest.Hook
	client              *http.Client
	officer, supervisor string
	agents              map[string]*simagent.Agent // by device ID
}

// newBenchGateway opens the gateway and starts perRoom FaceTime handsets in
// each room, each with its agent, and waits for every agent's first
// heartbeat.
func newBenchGateway(tb testing.TB, perRoom int) *benchGateway {
	return newBenchGatewayWith(tb, perRoom, benchOptions{})
}

// benchOptions vary the benchmark gateway.
type benchOptions struct {
	env       []string          // more settings
	configure func(*Main)       // called before Open
	apps      []gateway.Channel // the handsets' apps; default FaceTime
}

// newBenchGatewayWith is newBenchGateway with options.
func newBenchGatewayWith(tb testing.TB, perRoom int, opt benchOptions) *benchGateway {
	tb.Helper()
	ctx := context.Background()
	cfg, err := config.LoadDemo(append([]string{
		"GATEWAY_ADDR=127.0.0.1:0",
		"GATEWAY_DATA_DIR=" + tb.TempDir(),
		"GATEWAY_INSTANCE=bench",
		"GATEWAY_LOG_LEVEL=warn",
		"GATEWAY_SQLITE_SYNCHRONOUS=" + benchSync(),
	}, opt.env...), providers.Sections()...)
	if err != nil {
		tb.Fatalf("configuration: %v", err)
	}
	m := NewMain(cfg, false)
	if opt.configure != nil {
		opt.configure(m)
	}
	apps := opt.apps
	if len(apps) == 0 {
		apps = []gateway.Channel{gateway.Channel("facetime")}
	}
	if err := m.Open(ctx); err != nil {
		m.Close()
		tb.Fatalf("open gateway: %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close gateway: %v", err)
		}
	})
	g := &benchGateway{m: m, logs: logtest.NewLocal(m.Logger), client: benchClient(tb), agents: map[string]*simagent.Agent{}}
	m.Logger.SetOutput(io.Discard)

	for _, p := range roomPlaces {
		if room, _, err := m.Rooms.Locate(p.loc); err != nil || room.ID != p.room {
			tb.Fatalf("point %v is in room %q (%v), want %s", p.loc, room.ID, err, p.room)
		}
	}
	g.officer = g.token(tb, gateway.RoleOfficer, "officer app 1", "")
	g.supervisor = g.token(tb, gateway.RoleSupervisor, "PS 1", "")

	actx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	tb.Cleanup(func() { stop(); wg.Wait() }) // before the gateway closes
	n := 0
	for _, room := range m.Rooms.Rooms() {
		for k := 1; k <= perRoom; k++ {
			n++
			id := fmt.Sprintf("%s-%d", room.ID, k)
			handles := map[gateway.Channel]string{}
			for _, app := range apps {
				handles[app] = strings.ToLower(id) + "@ops.example"
			}
			dev := gateway.Device{ID: id, RoomID: room.ID, Name: id, Number: fmt.Sprintf("+447700900%03d", n), Handles: handles}
			if _, err := m.Store.CreateDevice(ctx, dev); err != nil {
				tb.Fatal(err)
			}
			a := simagent.New(m.URL(), g.token(tb, gateway.RoleAgent, "agent "+id, id))
			a.HTTPClient = benchClient(tb)
			quiet := logrus.New()
			quiet.Out = io.Discard
			a.Logger = quiet
			a.Apps = apps
			g.agents[id] = a
			wg.Go(func() {
				if err := a.Run(actx); err != nil {
					tb.Errorf("agent of %s: %v", id, err)
				}
			})
		}
	}
	for id := range g.agents {
		if !benchEventually(15*time.Second, func() bool {
			d, err := m.Store.Device(ctx, id)
			return err == nil && !d.LastSeen.IsZero()
		}) {
			tb.Fatalf("no heartbeat from the agent of %s", id)
		}
	}
	return g
}

// benchClient returns an HTTP client with a transport of its own, whose
// connections are closed before the gateway closes.
func benchClient(tb testing.TB) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func (g *benchGateway) token(tb testing.TB, role gateway.Role, name, subject string) string {
	tb.Helper()
	secret, hash := gateway.NewSecret()
	if err := g.m.Store.CreateToken(context.Background(), testIdentity(gateway.Token{ID: gateway.NewID("t_"), Role: role, Name: name, Subject: subject, Hash: hash})); err != nil {
		tb.Fatal(err)
	}
	return secret
}

// benchEventually polls cond every half millisecond until it holds or the
// time is up, and reports whether it held.
func benchEventually(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(500 * time.Microsecond)
	}
	return true
}

func (g *benchGateway) do(ctx context.Context, method, path, secret string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, g.m.URL()+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return g.client.Do(req)
}

// connect posts a verification request from the i-th room's point as the
// officer app, follows its event stream until it reports "connected", and
// returns the verification's ID, the device that connected and the time
// from sending the request to reading that event.
func (g *benchGateway) connect(i int) (id, device string, took time.Duration, err error) {
	return g.connectOn(i, gateway.Channel("facetime"))
}

// connectOn is connect with the officer's contacts on the channels, in
// order.
func (g *benchGateway) connectOn(i int, channels ...gateway.Channel) (id, device string, took time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p := roomPlaces[i%len(roomPlaces)]
	var contacts []map[string]string
	for _, ch := range channels {
		contacts = append(contacts, map[string]string{"channel": string(ch), "handle": fmt.Sprintf("pc%d@met.example", i)})
	}
	body, _ := json.Marshal(map[string]any{
		"location": p.loc,
		"contacts": contacts,
	})
	start := time.Now()
	resp, err := g.do(ctx, "POST", "/v1/verifications", g.officer, body)
	if err != nil {
		return "", "", 0, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", "", 0, fmt.Errorf("POST /v1/verifications: %s: %s", resp.Status, b)
	}
	var v httpapi.VerificationView
	if err := json.Unmarshal(b, &v); err != nil {
		return "", "", 0, err
	}

	resp, err = g.do(ctx, "GET", "/v1/verifications/"+v.ID+"/events", g.officer, nil)
	if err != nil {
		return v.ID, "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v.ID, "", 0, fmt.Errorf("GET events: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev httpapi.EventView
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return v.ID, "", 0, fmt.Errorf("event %q: %w", data, err)
		}
		if ev.Type == gateway.EventState && ev.State == gateway.StateConnected {
			return v.ID, ev.Data["device"], time.Since(start), nil
		}
		if ev.State.Terminal() {
			return v.ID, "", 0, fmt.Errorf("verification %s ended %s: %s", v.ID, ev.State, ev.Message)
		}
	}
	return v.ID, "", 0, fmt.Errorf("event stream of %s ended before connected: %v", v.ID, sc.Err())
}

// close records the supervisor's outcome and waits until the handset is
// released and its agent has reported the call ended, so that the next
// request meets a quiet gateway.
func (g *benchGateway) close(id, device string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := g.do(ctx, "POST", "/v1/verifications/"+id+"/outcome", g.supervisor, []byte(`{"outcome":"verified"}`))
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST outcome: %s: %s", resp.Status, b)
	}
	if !benchEventually(10*time.Second, func() bool {
		v, err := g.m.Store.Verification(ctx, id)
		return err == nil && v.Lease == nil
	}) {
		return fmt.Errorf("the device of %s was not released after the outcome", id)
	}
	a := g.agents[device]
	if a == nil {
		return fmt.Errorf("verification %s connected on unknown device %q", id, device)
	}
	if !benchEventually(10*time.Second, func() bool {
		var dial string
		for _, o := range a.Orders() {
			if o.VerificationID == id && o.Kind == gateway.OrderDial {
				dial = o.ID
			}
		}
		return slices.ContainsFunc(a.Reports(), func(r simagent.Report) bool {
			return r.OrderID == dial && r.Status == gateway.ReportEnded
		})
	}) {
		return fmt.Errorf("the agent of %s did not report the call of %s ended", device, id)
	}
	return nil
}

// check fails tb if the gateway logged an error.
func (g *benchGateway) check(tb testing.TB) {
	tb.Helper()
	warnings := 0
	for _, e := range g.logs.AllEntries() {
		switch {
		case e.Level <= logrus.ErrorLevel:
			tb.Errorf("gateway logged an error: %s %v", e.Message, e.Data)
		case e.Level == logrus.WarnLevel:
			warnings++
		}
	}
	if warnings > 0 {
		tb.Logf("gateway logged %d warnings", warnings)
	}
}

// benchPercentiles reports the median and 99th percentile of lat in
// milliseconds.
func benchPercentiles(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(percentile(lat, 0.50), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
}

// percentile returns the p-th percentile (0 < p ≤ 1) of lat in
// milliseconds: the smallest value at or above that share of them.
func percentile(lat []time.Duration, p float64) float64 {
	s := slices.Clone(lat)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.999999) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i]) / float64(time.Millisecond)
}

// BenchmarkRoutingOverhead measures, through the whole gateway, the time
// from an officer app's POST /v1/verifications to reading "connected" on
// the verification's event stream (GET .../events, opened as soon as the
// POST answers), one verification at a time. The gateway runs as
// `gateway` does (Main, production timings) on 127.0.0.1:0 with a SQLite
// file; 24 FaceTime handsets, two per room, are each run by a simulated
// device agent over the HTTP agent protocol that answers at once. Requests
// go round the twelve rooms.
//
// The path measured: HTTP request, authentication, room, claim, the dial
// order, the agent's long poll answering with it, the agent's dialling,
// ringing and answered reports over HTTP, the router's transition, and the
// event stream's wake-up and read. Each verification is then closed with
// the supervisor's outcome, and the next request waits until its handset
// is released and its agent has reported the call ended; that is outside
// the measured time (ns/op covers it).
func BenchmarkRoutingOverhead(b *testing.B) {
	b.Run("agent", func(b *testing.B) {
		g := newBenchGateway(b, 2)
		var lat []time.Duration
		i := 0
		for b.Loop() {
			id, device, d, err := g.connect(i)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, d)
			if err := g.close(id, device); err != nil {
				b.Fatal(err)
			}
			i++
		}
		benchPercentiles(b, lat)
		g.check(b)
	})
}
