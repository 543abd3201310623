package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/zoom"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/httpapi"
	simagent "github.com/safeconnection/gateway/mocks/agent"
	fakezoom "github.com/safeconnection/gateway/mocks/zoom"
	"github.com/safeconnection/gateway/store/postgres"
	"github.com/safeconnection/gateway/store/postgres/pgtest"
	"github.com/safeconnection/gateway/store/storetest"
)

// The tests in this file run the gateway as several instances on one
// PostgreSQL database: a shared store, events and wake-ups between the
// instances through LISTEN/NOTIFY, and take-over of the verifications of an
// instance that died.

// The fake Zoom account of the multi-instance tests.
const (
	multiZoomAccount, multiZoomClient, multiZoomSecret, multiZoomWebhookSecret = "zoom-account-7", "zoom-client-7", "zoom-client-secret-7", "zoom-webhook-secret-7"
)

// multiSupervisor is the name of the supervisor's credential: the outcome
// records it.
const multiSupervisor = "PS 42"

// multiQuiet is a logger that drops everything.
func multiQuiet() logrus.FieldLogger {
	l := logrus.New()
	l.Out = io.Discard
	return l
}

// multiEventually polls cond every 20 ms until it holds, failing the test
// after limit: a generous bound, never an assertion of speed.
func multiEventually(tb testing.TB, what string, limit time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// multiClient returns an HTTP client with a transport of its own, whose idle
// connections are closed when the test ends.
func multiClient(tb testing.TB) *http.Client {
	tb.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// multiToken stores a credential and returns its secret.
func multiToken(tb testing.TB, st gateway.TokenStore, role gateway.Role, name, subject string) string {
	tb.Helper()
	secret, hash := gateway.NewSecret()
	t := testIdentity(gateway.Token{ID: gateway.NewID("t_"), Role: role, Name: name, Subject: subject, Hash: hash})
	if err := st.CreateToken(context.Background(), t); err != nil {
		tb.Fatalf("create %s credential: %v", role, err)
	}
	return secret
}

// multiInstance is one gateway (cmd/gateway's Main) on loopback.
type multiInstance struct {
	name string
	m    *Main
	log  *logBuffer
}

// multiStart opens a gateway configured from env as the demo loads it (no
// public URL needed), after configure has had its say. It is closed when
// the test ends, and its log shown if the test failed.
func multiStart(tb testing.TB, env []string, configure func(*config.Config)) *multiInstance {
	tb.Helper()
	cfg, err := config.LoadDemo(env, providers.Sections()...)
	if err != nil {
		tb.Fatalf("configuration: %v", err)
	}
	m := NewMain(cfg, false)
	if configure != nil {
		configure(&m.Config)
	}
	in := &multiInstance{name: cfg.Instance, m: m, log: &logBuffer{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Open(ctx); err != nil {
		m.Close()
		tb.Fatalf("open gateway %s: %v", in.name, err)
	}
	m.Logger.SetOutput(in.log)
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close gateway %s: %v", in.name, err)
		}
		if tb.Failed() {
			tb.Logf("log of %s:\n%s", in.name, in.log.tail(12<<10))
		}
	})
	return in
}

// multiOptions shape a multiCluster.
type multiOptions struct {
	// Store is the PostgreSQL URL the instances share; empty for a SQLite
	// file of the first instance's own (one instance only).
	Store string
	// Stores, when set, is each instance's way to the same database (one
	// through a proxy, say), in place of Store.
	Stores    []string
	Instances int
	// PerRoom handsets in each of the twelve rooms, each with FaceTime and
	// WhatsApp, each run by a simulated device agent that talks to one
	// instance, the instances taken in turn.
	PerRoom int
	// Zoom gives every instance a fake Zoom of its own that posts its
	// webhooks to the next instance, and makes the first handset of each
	// room a Zoom one (Zoom only).
	Zoom bool
	// Env are settings after the defaults (timings, say).
	Env []string
	// Script is what the agents do with orders; nil answers at once.
	Script func(gateway.Order) simagent.Behaviour
}

// multiCluster is a set of gateway instances on one store with the
// credentials of an officer app and a supervisor, and a pool of handsets
// each run by a simulated device agent.
type multiCluster struct {
	inst                []*multiInstance
	store               gateway.Store // the first instance's
	client              *http.Client
	officer, supervisor string
	devices             map[string]*multiDevice
	zoom                []*fakezoom.Fake // by instance whose adapter uses it
}

// multiDevice is a handset of the cluster.
type multiDevice struct {
	id, room string
	via      int // the instance its agent talks to
	agent    *simagent.Agent
}

func newMultiCluster(tb testing.TB, o multiOptions) *multiCluster {
	tb.Helper()
	c := &multiCluster{devices: map[string]*multiDevice{}}
	var zcfg []zoom.Config
	if o.Zoom {
		for range o.Instances {
			f := fakezoom.New(multiZoomAccount, multiZoomClient, multiZoomSecret, multiZoomWebhookSecret)
			srv := httptest.NewServer(f)
			tb.Cleanup(func() {
				f.Close()
				srv.Close()
			})
			c.zoom = append(c.zoom, f)
			zcfg = append(zcfg, zoom.Config{AccountID: multiZoomAccount, ClientID: multiZoomClient, ClientSecret: multiZoomSecret,
				WebhookSecret: multiZoomWebhookSecret, UserID: "me", APIURL: srv.URL, OAuthURL: srv.URL})
		}
	}
	for i := range o.Instances {
		env := []string{
			"GATEWAY_ADDR=127.0.0.1:0",
			"GATEWAY_DATA_DIR=" + tb.TempDir(),
			fmt.Sprintf("GATEWAY_INSTANCE=multi-%c", 'a'+i),
			"GATEWAY_LOG_LEVEL=warn",
			"GATEWAY_RETRY_MIN=20ms",
			"GATEWAY_RETRY_MAX=100ms",
			// The test's officer apps share one credential, each
			// following its own verification's events.
			"GATEWAY_MAX_STREAMS=10000",
		}
		store := o.Store
		if i < len(o.Stores) {
			store = o.Stores[i]
		}
		if store != "" {
			env = append(env, "GATEWAY_STORE="+store)
		}
		env = append(env, o.Env...)
		c.inst = append(c.inst, multiStart(tb, env, func(cfg *config.Config) {
			if o.Zoom {
				zoom.Section.Set(cfg, zcfg[i])
			}
		}))
	}
	for i, f := range c.zoom {
		f.SetWebhookURL(c.inst[(i+1)%len(c.inst)].m.URL() + "/webhooks/zoom/")
	}
	c.store = c.inst[0].m.Store
	c.client = multiClient(tb)
	c.officer = multiToken(tb, c.store, gateway.RoleOfficer, "officer app 7", "")
	c.supervisor = multiToken(tb, c.store, gateway.RoleSupervisor, multiSupervisor, "")

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() { stop(); wg.Wait() }) // before the gateways close
	n := 0
	for _, room := range c.inst[0].m.Rooms.Rooms() {
		for k := 1; k <= o.PerRoom; k++ {
			id := fmt.Sprintf("%s-%d", room.ID, k)
			number := fmt.Sprintf("+447700900%03d", 100+n)
			handles := map[gateway.Channel]string{
				gateway.Channel("facetime"): strings.ToLower(id) + "@ops.met.example",
				gateway.Channel("whatsapp"): number,
			}
			if o.Zoom && k == 1 {
				handles = map[gateway.Channel]string{gateway.Channel("zoom"): strings.ToLower(id) + "@ops.met.example"}
			}
			dev := gateway.Device{ID: id, RoomID: room.ID, Name: room.ID + " handset " + fmt.Sprint(k), Number: number, Handles: handles}
			if _, err := c.store.CreateDevice(ctx, dev); err != nil {
				tb.Fatalf("create device %s: %v", id, err)
			}
			d := &multiDevice{id: id, room: room.ID, via: n % len(c.inst)}
			a := simagent.New(c.inst[d.via].m.URL(), multiToken(tb, c.store, gateway.RoleAgent, "agent "+id, id))
			a.HTTPClient = multiClient(tb)
			a.Logger = multiQuiet()
			a.Apps = dev.Channels()
			a.HeartbeatEvery = 5 * time.Second
			a.PollWait = 5 * time.Second
			a.RetryEvery = 50 * time.Millisecond
			if o.Script != nil {
				a.Script = o.Script
			}
			d.agent = a
			c.devices[id] = d
			wg.Go(func() {
				if err := a.Run(ctx); err != nil {
					tb.Errorf("agent of %s: %v", id, err)
				}
			})
			n++
		}
	}
	multiEventually(tb, "a heartbeat from every agent", 30*time.Second, func() bool {
		ds, err := c.store.Devices(context.Background(), "", false)
		if err != nil || len(ds) != len(c.devices) {
			return false
		}
		for _, d := range ds {
			if d.LastSeen.IsZero() {
				return false
			}
		}
		return true
	})
	return c
}

// call sends a JSON request (in nil for none) to instance i and decodes a
// 2xx answer into out (nil: ignore it). A status other than want is an
// error.
func (c *multiCluster) call(ctx context.Context, i int, method, path, secret string, in any, want int, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.inst[i].m.URL()+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s on %s: %w", method, path, c.inst[i].name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s on %s: %w", method, path, c.inst[i].name, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s on %s: status %d, want %d: %.300s", method, path, c.inst[i].name, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s on %s: %w: %.300s", method, path, c.inst[i].name, err, b)
		}
	}
	return nil
}

// multiRequest is the officer app's request for a verification at loc.
// The officer is the credential's (PC 1234): label, which once was the
// stated collar number, only tells the requests apart in a failure.
func multiRequest(label string, loc gateway.Location, contacts []gateway.Contact) map[string]any {
	return map[string]any{
		"location": map[string]float64{"lat": loc.Lat, "lon": loc.Lon},
		"contacts": contacts,
	}
}

// awaitConnected follows the verification's event stream on instance i
// until it reports the verification connected, and returns that event.
func (c *multiCluster) awaitConnected(ctx context.Context, i int, id string) (httpapi.EventView, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.inst[i].m.URL()+"/v1/verifications/"+id+"/events", nil)
	if err != nil {
		return httpapi.EventView{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.supervisor)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.client.Do(req)
	if err != nil {
		return httpapi.EventView{}, fmt.Errorf("event stream of %s on %s: %w", id, c.inst[i].name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httpapi.EventView{}, fmt.Errorf("event stream of %s on %s: status %d", id, c.inst[i].name, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev httpapi.EventView
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return ev, fmt.Errorf("event %q: %w", data, err)
		}
		if ev.Type == gateway.EventState && ev.State == gateway.StateConnected {
			return ev, nil
		}
		if ev.State.Terminal() {
			return ev, fmt.Errorf("verification %s ended %s before it connected: %s", id, ev.State, ev.Message)
		}
	}
	return httpapi.EventView{}, fmt.Errorf("event stream of %s on %s ended before connected: %v", id, c.inst[i].name, sc.Err())
}

// multiResult is one verification driven through the cluster.
type multiResult struct {
	id      string
	device  string
	channel gateway.Channel
	took    time.Duration // from sending the request to reading "connected"
}

// verify asks for a verification through instance via, follows its events
// through instance watch until it connects, then records the supervisor's
// outcome through instance closer and checks that it is verified.
func (c *multiCluster) verify(ctx context.Context, collar string, loc gateway.Location, contacts []gateway.Contact, via, watch, closer int) (multiResult, error) {
	start := time.Now()
	var v httpapi.VerificationView
	if err := c.call(ctx, via, "POST", "/v1/verifications", c.officer, multiRequest(collar, loc, contacts), http.StatusCreated, &v); err != nil {
		return multiResult{}, err
	}
	res := multiResult{id: v.ID}
	ev, err := c.awaitConnected(ctx, watch, v.ID)
	if err != nil {
		return res, err
	}
	res.took = time.Since(start)
	res.device, res.channel = ev.Data["device"], gateway.Channel(ev.Data["channel"])
	if err := c.call(ctx, closer, "POST", "/v1/verifications/"+v.ID+"/outcome", c.supervisor,
		map[string]string{"outcome": string(gateway.OutcomeVerified), "note": "warrant card seen"}, http.StatusOK, &v); err != nil {
		return res, err
	}
	if v.State != gateway.StateVerified || v.Outcome == nil || v.Outcome.Supervisor != multiSupervisor {
		return res, fmt.Errorf("verification %s after the outcome: state %s, outcome %+v; want verified by %s", v.ID, v.State, v.Outcome, multiSupervisor)
	}
	return res, nil
}

// waitIdle waits until no device holds a lease: every call has ended.
func (c *multiCluster) waitIdle(tb testing.TB) {
	tb.Helper()
	multiEventually(tb, "every device to be released", 30*time.Second, func() bool {
		ds, err := c.store.Devices(context.Background(), "", false)
		if err != nil {
			return false
		}
		for _, d := range ds {
			if d.Lease != nil {
				return false
			}
		}
		return true
	})
}

// multiCheckClaims checks the store's whole claim history: no device was
// ever held by two claims at once, and every claim has ended.
func multiCheckClaims(tb testing.TB, st gateway.ClaimStore) []gateway.ClaimRecord {
	tb.Helper()
	h, err := st.ClaimHistory(context.Background(), "")
	if err != nil {
		tb.Fatal(err)
	}
	storetest.CheckHistory(tb, h)
	for _, r := range h {
		if r.ReleasedAt == nil {
			tb.Errorf("claim %d of %s by %s was never released", r.Fence, r.DeviceID, r.Holder)
		}
	}
	return h
}

// multiRecord is a verification's record, read to tell which instance did
// what.
type multiRecord struct {
	events []gateway.Event
}

// multiRecordOf reads the record of verification id.
func multiRecordOf(tb testing.TB, st gateway.VerificationStore, id string) multiRecord {
	tb.Helper()
	evs, err := st.Events(context.Background(), id, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return multiRecord{events: evs}
}

// placedBy returns the instance that started the attempt.
func (r multiRecord) placedBy(attempt string) string {
	for _, ev := range r.events {
		if ev.Type == gateway.EventAttempt && ev.AttemptID == attempt {
			return ev.Instance
		}
	}
	return ""
}

// reportedThrough returns the instances that took reports on the attempt
// with the given status.
func (r multiRecord) reportedThrough(attempt string, status gateway.ReportStatus) []string {
	var out []string
	for _, ev := range r.events {
		if ev.Type == gateway.EventReport && ev.AttemptID == attempt && ev.Report != nil && ev.Report.Status == status && !slices.Contains(out, ev.Instance) {
			out = append(out, ev.Instance)
		}
	}
	return out
}

// takeOvers returns the take-over notes.
func (r multiRecord) takeOvers() []gateway.Event {
	var out []gateway.Event
	for _, ev := range r.events {
		if ev.Type == gateway.EventNote && strings.HasPrefix(ev.Message, "taken over by ") {
			out = append(out, ev)
		}
	}
	return out
}

// connected returns the event that records the verification connected.
func (r multiRecord) connected() (gateway.Event, bool) {
	for _, ev := range r.events {
		if ev.Type == gateway.EventState && ev.State == gateway.StateConnected {
			return ev, true
		}
	}
	return gateway.Event{}, false
}

// TestMultiInstanceSharedStore runs two gateways on one PostgreSQL schema
// and puts 500 verifications through them at once: requests alternate
// between the instances' officer APIs, each one's events are followed on
// the other instance, and the outcomes are recorded through either.
// Half the handsets' agents talk to one instance and half to the other, so
// dial orders placed by one instance's router are taken and reported
// through the other's agent API; each instance's Zoom posts its webhooks
// to the other. Every verification must connect and be verified, and no
// device may ever be held by two claims at once; the records must show legs
// placed by one instance and answered through the other, both ways.
func TestMultiInstanceSharedStore(t *testing.T) {
	n := 500
	if testing.Short() {
		n = 100
	}
	c := newMultiCluster(t, multiOptions{
		Store: pgtest.URL(t), Instances: 2, PerRoom: 3, Zoom: true,
		// The budget covers the queue: 500 requests at once for 36
		// handsets, served as the supervisor closes each call.
		Env: []string{"GATEWAY_RING_TIMEOUT=10s", "GATEWAY_BUDGET=100s"},
		// The handset's agent opens a Zoom meeting and waits: Zoom's
		// webhooks, posted to the other instance, say who joined.
		Script: func(o gateway.Order) simagent.Behaviour {
			return simagent.Behaviour{NeverAnswer: o.Kind == gateway.OrderJoin}
		},
	})

	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Second)
	defer cancel()
	results := make([]multiResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	started := time.Now()
	for i := range n {
		p := roomPlaces[i%len(roomPlaces)]
		handle := fmt.Sprintf("+447700900%03d", i%1000)
		var contacts []gateway.Contact
		switch i % 5 {
		case 0:
			contacts = []gateway.Contact{{Channel: gateway.Channel("zoom"), Handle: fmt.Sprintf("pc%d@met.example", i)}, {Channel: gateway.Channel("facetime"), Handle: handle}}
		case 1, 3:
			contacts = []gateway.Contact{{Channel: gateway.Channel("whatsapp"), Handle: handle}, {Channel: gateway.Channel("facetime"), Handle: handle}}
		default:
			contacts = []gateway.Contact{{Channel: gateway.Channel("facetime"), Handle: handle}, {Channel: gateway.Channel("whatsapp"), Handle: handle}}
		}
		via := i % 2
		wg.Go(func() {
			results[i], errs[i] = c.verify(ctx, fmt.Sprintf("PC %d", i), p.loc, contacts, via, 1-via, (i/2)%2)
		})
	}
	wg.Wait()
	elapsed := time.Since(started)
	failed := 0
	for i, err := range errs {
		if err != nil {
			if failed++; failed <= 10 {
				t.Errorf("verification %d (%s): %v", i, results[i].id, err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d verifications did not complete", failed, n)
	}

	all, err := c.store.Verifications(context.Background(), gateway.VerificationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Errorf("the store holds %d verifications, want %d", len(all), n)
	}
	for _, v := range all {
		if v.State != gateway.StateVerified || v.Outcome == nil || v.Outcome.Supervisor != multiSupervisor {
			t.Errorf("verification %s: state %s, outcome %+v; want verified by %s", v.ID, v.State, v.Outcome, multiSupervisor)
		}
	}

	c.waitIdle(t)
	history := multiCheckClaims(t, c.store)
	held := map[string]map[string]bool{} // verification -> devices it claimed
	for _, r := range history {
		if held[r.Holder] == nil {
			held[r.Holder] = map[string]bool{}
		}
		held[r.Holder][r.DeviceID] = true
	}

	// Who did what, from each verification's record.
	agentOf := func(device string) string { return c.inst[c.devices[device].via].name }
	crossed := map[string]int{} // "placer>reporter" for agent legs answered through the other instance
	zoomCross, zoomConnected := 0, 0
	takenOver := 0
	for _, r := range results {
		rec := multiRecordOf(t, c.store, r.id)
		if !held[r.id][r.device] {
			t.Errorf("verification %s connected on %s, which it never claimed", r.id, r.device)
		}
		ev, ok := rec.connected()
		if !ok {
			t.Errorf("verification %s: no connected event in its record", r.id)
			continue
		}
		placer := rec.placedBy(ev.AttemptID)
		if placer != ev.Instance {
			t.Errorf("verification %s: attempt %s placed by %q but connected by %q", r.id, ev.AttemptID, placer, ev.Instance)
		}
		takenOver += len(rec.takeOvers())
		switch r.channel {
		case gateway.Channel("zoom"):
			zoomConnected++
			// The officer's join is known only from Zoom's webhook, which
			// the other instance took.
			for _, through := range rec.reportedThrough(ev.AttemptID, gateway.ReportJoined) {
				if through != placer {
					zoomCross++
					break
				}
			}
		default:
			through := rec.reportedThrough(ev.AttemptID, gateway.ReportAnswered)
			if len(through) != 1 || through[0] != agentOf(r.device) {
				t.Errorf("verification %s: answer on %s reported through %v, want through %s, whose agent API the handset uses", r.id, r.device, through, agentOf(r.device))
				continue
			}
			if through[0] != placer {
				crossed[placer+">"+through[0]]++
			}
		}
	}
	took := make([]time.Duration, len(results))
	for i, r := range results {
		took[i] = r.took
	}
	slices.Sort(took)
	t.Logf("%d verifications in %s (request to connected: median %s, longest %s), %d claims; agent legs placed by one instance and answered through the other: %v; %d connected on Zoom, %d of them on the other instance's webhook",
		n, elapsed.Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond),
		len(history), crossed, zoomConnected, zoomCross)
	for _, k := range []string{"multi-a>multi-b", "multi-b>multi-a"} {
		if crossed[k] == 0 {
			t.Errorf("no dial order placed by %s was answered through %s's agent API", strings.Split(k, ">")[0], strings.Split(k, ">")[1])
		}
	}
	// A fifth of the officers put Zoom first. One may fall to FaceTime when
	// every Zoom handset of his room is busy, but most must connect on
	// Zoom: a webhook that outruns the meeting's creation must not be lost.
	if zoomFirst := n / 5; zoomConnected < zoomFirst/2 || zoomCross != zoomConnected {
		t.Errorf("%d of %d verifications with Zoom first connected on Zoom, %d of them on a webhook taken by the other instance; want at least half, and all", zoomConnected, zoomFirst, zoomCross)
	}
	for i, f := range c.zoom {
		for _, d := range f.Deliveries() {
			if d.Status != http.StatusNoContent {
				t.Errorf("Zoom of %s: webhook %s to %s answered %d (%v), want 204", c.inst[i].name, d.Event, c.inst[(i+1)%2].name, d.Status, d.Err)
			}
		}
	}
	// Taking over a verification whose owner is alive is checked, where it
	// can be provoked at will, by TestMultiInstanceNoTakeOverWhileOwnerAlive.
	if takenOver > 0 {
		t.Logf("%d verifications taken over while both instances ran", takenOver)
	}
}

// TestMultiInstanceNoTakeOverWhileOwnerAlive asks one of two live gateways
// for verifications while the other sweeps for orphans every 10 ms: no
// verification may be taken over, since its owner never stopped. A new
// verification must be owned from the moment it is stored, or the other
// instance's sweeper finds it without an owner and takes it, recording a
// take-over that never happened.
func TestMultiInstanceNoTakeOverWhileOwnerAlive(t *testing.T) {
	const n = 60
	// No handsets: every verification waits in the queue, owned by the
	// instance that took the request.
	c := newMultiCluster(t, multiOptions{Store: pgtest.URL(t), Instances: 2,
		Env: []string{"GATEWAY_SWEEP_INTERVAL=10ms", "GATEWAY_BUDGET=60s"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		p := roomPlaces[i%len(roomPlaces)]
		wg.Go(func() {
			var v httpapi.VerificationView
			errs[i] = c.call(ctx, 0, "POST", "/v1/verifications", c.officer, multiRequest(fmt.Sprintf("PC %d", i), p.loc,
				[]gateway.Contact{{Channel: gateway.Channel("facetime"), Handle: fmt.Sprintf("+447700900%03d", i)}}), http.StatusCreated, &v)
			ids[i] = v.ID
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	multiEventually(t, "every verification to be queued", 20*time.Second, func() bool {
		vs, err := c.store.Verifications(ctx, gateway.VerificationFilter{States: []gateway.State{gateway.StateQueued}})
		return err == nil && len(vs) == n
	})
	stolen := 0
	for _, id := range ids {
		v, err := c.store.Verification(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		notes := multiRecordOf(t, c.store, id).takeOvers()
		if v.Owner != c.inst[0].name || len(notes) > 0 {
			if stolen++; stolen <= 5 {
				t.Errorf("verification %s requested from %s: owner %q, take-over notes %+v", id, c.inst[0].name, v.Owner, notes)
			}
		}
	}
	if stolen > 0 {
		t.Errorf("%d of %d verifications were taken over while the instance that owned them was alive", stolen, n)
	}
}

// multiFailover is an HTTP transport that sends each request to the first
// of its hosts that answers, as a load balancer in front of the gateway's
// instances would: a refused connection or a dropped one goes to the next.
type multiFailover struct {
	hosts []string // host:port, in order of preference
	base  http.RoundTripper
}

// RoundTrip sends req to each host in turn until one answers.
func (f *multiFailover) RoundTrip(req *http.Request) (*http.Response, error) {
	var last error
	for i, h := range f.hosts {
		r := req.Clone(req.Context())
		r.URL.Host, r.Host = h, h
		if req.Body != nil && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = body
		} else if i > 0 && req.Body != nil {
			return nil, last // the body is spent: cannot try elsewhere
		}
		resp, err := f.base.RoundTrip(r)
		if err == nil {
			return resp, nil
		}
		if req.Context().Err() != nil {
			return nil, err
		}
		last = err
	}
	return nil, last
}

// multiProcess is a gateway running as its own process, built from this
// package.
type multiProcess struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{} // closed when the process has exited
	err  error         // how it exited, once done
}

// multiBuild builds the gateway command into a directory that lasts as long
// as the test, with the race detector when the test has it, and returns the
// binary's path.
func multiBuild(tb testing.TB) string {
	tb.Helper()
	bin, err := buildGateway(tb)
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

// buildGateway builds the gateway command as multiBuild does, returning
// the error instead of failing the test.
func buildGateway(tb testing.TB) (string, error) {
	tb.Helper()
	bin := tb.TempDir() + "/gateway"
	args := []string{"build", "-o", bin}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				args = append(args, "-race") // reuses the test's compiled packages
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// multiFreeAddr returns a loopback address with a port free at the time.
func multiFreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// multiSpawn starts the gateway binary with the settings (and only them:
// the test's own GATEWAY_ variables would be refused as unknown) on a free
// loopback port, and waits until it is ready. The process is stopped when
// the test ends, with SIGTERM, and must then exit cleanly.
func multiSpawn(tb testing.TB, bin, name string, settings []string) *multiProcess {
	tb.Helper()
	return multiSpawnArgs(tb, bin, name, nil, settings)
}

// multiSpawnArgs is multiSpawn with the command's arguments (-demo, say).
// Settings override the defaults: GATEWAY_DATA_DIR names a directory to
// keep across a restart.
func multiSpawnArgs(tb testing.TB, bin, name string, args, settings []string) *multiProcess {
	tb.Helper()
	addr := multiFreeAddr(tb)
	p := &multiProcess{name: name, url: "http://" + addr, log: &logBuffer{}, done: make(chan struct{})}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"GATEWAY_ADDR=" + addr, "GATEWAY_PUBLIC_URL=" + p.url, "GATEWAY_INSTANCE=" + name,
		"GATEWAY_DATA_DIR=" + tb.TempDir(), "GATEWAY_LOG_LEVEL=info"}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(env, settings...) // later entries win
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(os.Interrupt)
			select {
			case <-p.done:
				if p.err != nil {
					tb.Errorf("%s did not stop cleanly: %v", name, p.err)
				}
			case <-time.After(20 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
				tb.Errorf("%s did not stop within 20s of SIGINT", name)
			}
		}
		if tb.Failed() {
			tb.Logf("log of %s:\n%s", name, p.log.tail(16<<10))
		}
	})
	client := multiClient(tb)
	multiEventually(tb, name+" to be ready", 30*time.Second, func() bool {
		select {
		case <-p.done:
			tb.Fatalf("%s exited at start: %v\n%s", name, p.err, p.log.tail(4<<10))
		default:
		}
		resp, err := client.Get(p.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// call sends a JSON request to the process and decodes the answer into out.
func (p *multiProcess) call(tb testing.TB, client *http.Client, method, path, secret string, in any, want int, out any) {
	tb.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			tb.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s on %s: %v", method, path, p.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		tb.Fatalf("%s %s on %s: status %d, want %d: %.300s", method, path, p.name, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			tb.Fatalf("%s %s on %s: %v: %.300s", method, path, p.name, err, b)
		}
	}
}

// TestMultiInstanceTakeOver runs two gateway processes on one PostgreSQL
// schema, asks the first for a verification in each of the twelve rooms and,
// while their handsets ring, kills it (SIGKILL: no clean stop). The second
// must take every one of them over and connect it within its budget,
// waiting on the legs that were ringing rather than placing them again.
//
// Each room has one handset with FaceTime and WhatsApp, whose agent talks
// to the gateway through a failover transport (half prefer the first
// instance, half the second). The handsets behave by room, in turn: answer
// FaceTime 1 to 2.5 s after the order (before or just after the take-over),
// answer it after 5 s (after the take-over, while the second instance waits
// on the leg), or never answer FaceTime, so that the second instance lets
// the ring time pass and then places WhatsApp, answered at once.
func TestMultiInstanceTakeOver(t *testing.T) {
	dbURL := pgtest.URL(t)
	bin := multiBuild(t)
	ctx := context.Background()
	st, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	officer := multiToken(t, st, gateway.RoleOfficer, "officer app 7", "")
	supervisor := multiToken(t, st, gateway.RoleSupervisor, multiSupervisor, "")

	const (
		ownerTTL    = 2 * time.Second
		ringTimeout = 8 * time.Second
		budget      = 40 * time.Second
	)
	settings := []string{
		"GATEWAY_STORE=" + dbURL,
		"GATEWAY_OWNER_TTL=" + ownerTTL.String(),
		"GATEWAY_SWEEP_INTERVAL=200ms",
		// A lease outlives a lapsed hold, so the device is still the
		// verification's when the survivor takes it over.
		"GATEWAY_LEASE_TTL=9s",
		"GATEWAY_RING_TIMEOUT=" + ringTimeout.String(),
		"GATEWAY_BUDGET=" + budget.String(),
		"GATEWAY_RETRY_MIN=20ms",
		"GATEWAY_RETRY_MAX=100ms",
	}
	a := multiSpawn(t, bin, "multi-a", settings)
	b := multiSpawn(t, bin, "multi-b", settings)
	hostA, hostB := strings.TrimPrefix(a.url, "http://"), strings.TrimPrefix(b.url, "http://")

	type kind int
	const (
		answerSoon    kind = iota // FaceTime answered 1–2.5 s after the order
		answerLate                // FaceTime answered after 5 s
		neverFaceTime             // FaceTime rings out; WhatsApp answered at once
	)
	behaviour := map[string]kind{} // by device
	agents := map[string]*simagent.Agent{}
	actx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() }) // before the gateways stop
	for i, p := range roomPlaces {
		id := p.room + "-1"
		number := fmt.Sprintf("+447700900%03d", 200+i)
		dev := gateway.Device{ID: id, RoomID: p.room, Name: p.room + " handset 1", Number: number,
			Handles: map[gateway.Channel]string{gateway.Channel("facetime"): number, gateway.Channel("whatsapp"): number}}
		if _, err := st.CreateDevice(ctx, dev); err != nil {
			t.Fatal(err)
		}
		k := kind(i % 3)
		behaviour[id] = k
		hosts := []string{hostA, hostB}
		if i%2 == 1 {
			hosts = []string{hostB, hostA}
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		t.Cleanup(tr.CloseIdleConnections)
		ag := simagent.New("http://"+hosts[0], multiToken(t, st, gateway.RoleAgent, "agent "+id, id))
		ag.HTTPClient = &http.Client{Transport: &multiFailover{hosts: hosts, base: tr}}
		ag.Logger = multiQuiet()
		ag.Apps = dev.Channels()
		ag.HeartbeatEvery = 500 * time.Millisecond
		ag.PollWait = time.Second
		ag.RetryEvery = 50 * time.Millisecond
		soon := time.Second + time.Duration(i%4)*500*time.Millisecond
		ag.Script = func(o gateway.Order) simagent.Behaviour {
			switch {
			case o.Channel == gateway.Channel("whatsapp"):
				return simagent.Behaviour{}
			case k == answerSoon:
				return simagent.Behaviour{AnswerAfter: soon}
			case k == answerLate:
				return simagent.Behaviour{AnswerAfter: 5 * time.Second}
			}
			return simagent.Behaviour{NeverAnswer: true}
		}
		agents[id] = ag
		wg.Go(func() {
			if err := ag.Run(actx); err != nil {
				t.Errorf("agent of %s: %v", id, err)
			}
		})
	}
	multiEventually(t, "a heartbeat from every agent", 20*time.Second, func() bool {
		ds, err := st.Devices(ctx, "", false)
		if err != nil {
			return false
		}
		for _, d := range ds {
			if d.LastSeen.IsZero() {
				return false
			}
		}
		return len(ds) == len(roomPlaces)
	})

	// Every request goes to the first instance.
	client := multiClient(t)
	ids := make([]string, len(roomPlaces))
	for i, p := range roomPlaces {
		var v httpapi.VerificationView
		a.call(t, client, "POST", "/v1/verifications", officer,
			multiRequest(fmt.Sprintf("PC %d", 100+i), p.loc, []gateway.Contact{
				{Channel: gateway.Channel("facetime"), Handle: fmt.Sprintf("+447700900%03d", 300+i)},
				{Channel: gateway.Channel("whatsapp"), Handle: fmt.Sprintf("+447700900%03d", 300+i)}}),
			http.StatusCreated, &v)
		if v.Room != p.room {
			t.Fatalf("request from %v routed to room %q, want %s", p.loc, v.Room, p.room)
		}
		ids[i] = v.ID
	}
	multiEventually(t, "every handset to have its FaceTime dial order", 20*time.Second, func() bool {
		for _, ag := range agents {
			if len(ag.Orders()) == 0 {
				return false
			}
		}
		return true
	})

	killed := time.Now()
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.done
	client.CloseIdleConnections()

	// The survivor connects each one; the supervisor records the outcome
	// through it.
	deadline := time.Now().Add(budget + 10*time.Second)
	for i, id := range ids {
		for {
			var v httpapi.VerificationView
			b.call(t, client, "GET", "/v1/verifications/"+id, supervisor, nil, http.StatusOK, &v)
			if v.State == gateway.StateConnected {
				break
			}
			if v.State.Terminal() || time.Now().After(deadline) {
				t.Fatalf("verification %d (%s) is %s (%s) after the kill, want connected; attempts %+v", i, id, v.State, v.Reason, v.Attempts)
			}
			time.Sleep(50 * time.Millisecond)
		}
		var v httpapi.VerificationView
		b.call(t, client, "POST", "/v1/verifications/"+id+"/outcome", supervisor,
			map[string]string{"outcome": string(gateway.OutcomeVerified)}, http.StatusOK, &v)
		if v.State != gateway.StateVerified {
			t.Errorf("verification %s after the outcome through %s: %s, want verified", id, b.name, v.State)
		}
	}

	// Every dial order, by attempt, from every handset.
	dials := map[string]int{}
	for _, ag := range agents {
		for _, o := range ag.Orders() {
			if o.Kind == gateway.OrderDial {
				dials[o.AttemptID]++
			}
		}
	}
	var firstNote, lastNote time.Duration
	connectedAfter := map[kind][]time.Duration{} // from the kill, by behaviour
	for i, id := range ids {
		v, err := st.Verification(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		rec := multiRecordOf(t, st, id)
		// Take-overs before the kill are the fault that
		// TestMultiInstanceNoTakeOverWhileOwnerAlive pins down; here the
		// record must show the survivor's.
		byB := false
		for _, note := range rec.takeOvers() {
			mine := note.Instance == b.name && strings.HasPrefix(note.Message, "taken over by "+b.name)
			byB = byB || mine
			if d := note.At.Sub(killed); d >= 0 {
				if !mine {
					t.Errorf("verification %s: %q recorded by %q after the kill", id, note.Message, note.Instance)
				}
				if firstNote == 0 || d < firstNote {
					firstNote = d
				}
				lastNote = max(lastNote, d)
			}
		}
		conn, ok := rec.connected()
		if !ok {
			t.Errorf("verification %s: no connected event", id)
			continue
		}
		// One answered soon may have connected before the kill (on a
		// slow machine); its outcome can then be recorded before the
		// survivor needs to take it over.
		if !byB && conn.At.After(killed) {
			t.Errorf("verification %d (%s): no \"taken over by %s\" in its record %+v", i, id, b.name, rec.takeOvers())
		}
		if conn.At.After(v.Deadline) {
			t.Errorf("verification %s connected at %v, after its deadline %v", id, conn.At, v.Deadline)
		}
		k := behaviour[roomPlaces[i].room+"-1"]
		switch {
		case conn.At.After(killed) && conn.Instance != b.name:
			t.Errorf("verification %s connected after the kill by %q, want %s", id, conn.Instance, b.name)
		case conn.At.After(killed):
			connectedAfter[k] = append(connectedAfter[k], conn.At.Sub(killed))
		case k != answerSoon:
			// The premise of the test is that the leg was still
			// ringing at the kill; on a machine slow enough to take
			// more than 5 s to place every order it was not, and
			// this one proves nothing about the take-over (the
			// check after the loop asks that some did).
			t.Logf("verification %s connected at %v, before the kill at %v: its leg was not still ringing", id, conn.At, killed)
		}

		var got []string
		for _, at := range v.Attempts {
			got = append(got, string(at.Channel)+":"+string(at.Result))
			if n := dials[at.ID]; n != 1 {
				t.Errorf("verification %s: attempt %d on %s got %d dial orders, want 1 (a ringing leg is waited on, not placed again)", id, at.Seq, at.Channel, n)
			}
		}
		want := []string{"facetime:connected"}
		if k == neverFaceTime {
			want = []string{"facetime:no_answer", "whatsapp:connected"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("verification %d (%s) in %s: attempts %v, want %v", i, id, roomPlaces[i].room, got, want)
		}
	}
	if len(connectedAfter[answerLate])+len(connectedAfter[neverFaceTime]) == 0 {
		t.Errorf("no verification whose leg was still ringing at the kill connected after it: the take-over was not tried")
	}
	span := func(ds []time.Duration) string {
		if len(ds) == 0 {
			return "none"
		}
		slices.Sort(ds)
		return fmt.Sprintf("%s–%s", ds[0].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
	}
	t.Logf("from the kill (owner hold %s, ring timeout %s): take-over notes %s–%s; connected on %s: answered by then %s, answered 5 s after the order %s, FaceTime rung out then WhatsApp %s",
		ownerTTL, ringTimeout, firstNote.Round(time.Millisecond), lastNote.Round(time.Millisecond), b.name,
		span(connectedAfter[answerSoon]), span(connectedAfter[answerLate]), span(connectedAfter[neverFaceTime]))

	multiEventually(t, "every device to be released", 20*time.Second, func() bool {
		ds, err := st.Devices(ctx, "", false)
		if err != nil {
			return false
		}
		return !slices.ContainsFunc(ds, func(d gateway.Device) bool { return d.Lease != nil })
	})
	multiCheckClaims(t, st)
}

// multiProxy is a TCP proxy to the database that can refuse new
// connections, drop every connection, and start again on the same address:
// a database that goes away and comes back.
type multiProxy struct {
	addr, target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool // true for the proxy's connections to the database
	wg    sync.WaitGroup
}

// start listens (again) on the proxy's address; the first start picks a
// free port.
func (p *multiProxy) start(tb testing.TB) {
	tb.Helper()
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	if p.conns == nil {
		p.conns = map[net.Conn]bool{}
	}
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.serve(c) })
		}
	})
}

func (p *multiProxy) serve(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // refused meanwhile
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = false, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// refuse closes the listener: new connections are refused, those open go
// on.
func (p *multiProxy) refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
}

// stop closes the listener and every connection through the proxy.
func (p *multiProxy) stop() {
	p.refuse()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// upstreamPorts returns the local ports of the proxy's open connections to
// the database: the client ports the database sees.
func (p *multiProxy) upstreamPorts() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for c, up := range p.conns {
		if a, ok := c.LocalAddr().(*net.TCPAddr); ok && up {
			out = append(out, a.Port)
		}
	}
	return out
}

// TestMultiInstanceReadyz runs two gateways on one PostgreSQL schema, the
// first reaching the database through a proxy, and cuts the proxy: the
// first instance's /readyz must answer 503 while its store is unreachable
// and 200 again once it is back; the second's stays 200 throughout.
func TestMultiInstanceReadyz(t *testing.T) {
	dbURL := pgtest.URL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &multiProxy{target: u.Host}
	proxy.start(t)
	t.Cleanup(proxy.stop) // after the gateways close
	viaProxy := *u
	viaProxy.Host = proxy.addr

	env := func(name, store string) []string {
		return []string{"GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DATA_DIR=" + t.TempDir(), "GATEWAY_INSTANCE=" + name,
			"GATEWAY_LOG_LEVEL=warn", "GATEWAY_STORE=" + store}
	}
	a := multiStart(t, env("multi-a", viaProxy.String()), nil)
	b := multiStart(t, env("multi-b", dbURL), nil)
	client := multiClient(t)
	readyz := func(in *multiInstance) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", in.m.URL()+"/readyz", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET /readyz on %s: %v", in.name, err)
		}
		defer resp.Body.Close()
		var body struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error.Code
	}

	steps := []struct {
		name     string
		act      func()
		want     map[*multiInstance]int
		wantCode string // the first instance's error code, when not ready
	}{
		{"both stores reachable", func() {}, map[*multiInstance]int{a: http.StatusOK, b: http.StatusOK}, ""},
		{"first instance's database gone", proxy.stop, map[*multiInstance]int{a: http.StatusServiceUnavailable, b: http.StatusOK}, gateway.EUNAVAILABLE},
		{"database back", func() { proxy.start(t) }, map[*multiInstance]int{a: http.StatusOK, b: http.StatusOK}, ""},
	}
	for _, step := range steps {
		step.act()
		// The pool may hold a connection that has not yet noticed.
		var status int
		var code string
		multiEventually(t, step.name+": "+a.name+" to answer /readyz "+fmt.Sprint(step.want[a]), 15*time.Second, func() bool {
			status, code = readyz(a)
			return status == step.want[a]
		})
		if code != step.wantCode {
			t.Errorf("%s: %s's /readyz error code %q, want %q", step.name, a.name, code, step.wantCode)
		}
		if status, _ := readyz(b); status != step.want[b] {
			t.Errorf("%s: %s's /readyz answered %d, want %d", step.name, b.name, status, step.want[b])
		}
	}
}

// TestMultiInstanceLogsBusLoss cuts a gateway off its PostgreSQL database
// and brings it back: while its bus listener is down the other instances'
// wake-ups do not reach it, which operators must see in its log, and
// again when the listener is back.
func TestMultiInstanceLogsBusLoss(t *testing.T) {
	dbURL := pgtest.URL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &multiProxy{target: u.Host}
	proxy.start(t)
	t.Cleanup(proxy.stop) // after the gateway closes
	u.Host = proxy.addr
	in := multiStart(t, []string{"GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DATA_DIR=" + t.TempDir(), "GATEWAY_INSTANCE=multi-a",
		"GATEWAY_LOG_LEVEL=warn", "GATEWAY_STORE=" + u.String()}, nil)
	in.m.Logger.SetLevel(logrus.InfoLevel)

	for _, step := range []struct {
		name string
		act  func()
		want string // a line of the log
	}{
		{"database gone", proxy.stop, "bus listener lost its connection"},
		{"database back", func() { proxy.start(t) }, "bus listener reconnected"},
	} {
		step.act()
		multiEventually(t, step.name+": "+in.name+" to log "+strconv.Quote(step.want), 15*time.Second, func() bool {
			return strings.Contains(in.log.tail(1<<20), step.want)
		})
	}
}

// TestMultiInstanceCancelMissedWakeUp has the officer cancel, through the
// second of two gateways, a verification that the first is dialling, while
// the first instance's bus listener is down so that the wake-up never
// reaches it. A bus message only says "look in the store": the first
// instance must still find the cancellation by reading, and must not go
// on to ring the officer on his next app for a verification he cancelled.
//
// The first instance reaches the database through a proxy with a warm
// pool of four connections; the proxy then refuses new connections, and
// the listener's connection is ended on the database's side, so that it
// cannot come back while the pool goes on working.
func TestMultiInstanceCancelMissedWakeUp(t *testing.T) {
	dbURL := pgtest.URL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &multiProxy{target: u.Host}
	proxy.start(t)
	t.Cleanup(proxy.stop) // after the gateways close
	viaProxy := *u
	viaProxy.Host = proxy.addr
	q := viaProxy.Query()
	q.Set("pool_min_conns", "4")
	q.Set("pool_max_conns", "4")
	viaProxy.RawQuery = q.Encode()

	const ring = 3 * time.Second
	c := newMultiCluster(t, multiOptions{Stores: []string{viaProxy.String(), dbURL}, Instances: 2, PerRoom: 1,
		// A slow sweeper: no take-over muddles who runs the verification.
		Env: []string{"GATEWAY_RING_TIMEOUT=" + ring.String(), "GATEWAY_BUDGET=30s", "GATEWAY_SWEEP_INTERVAL=20s"},
		Script: func(o gateway.Order) simagent.Behaviour {
			return simagent.Behaviour{NeverAnswer: o.Channel == gateway.Channel("facetime")}
		}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	multiEventually(t, "the pool's four connections and the bus listener through the proxy", 15*time.Second, func() bool {
		return len(proxy.upstreamPorts()) >= 5
	})

	p := roomPlaces[0]
	var v httpapi.VerificationView
	if err := c.call(ctx, 0, "POST", "/v1/verifications", c.officer, multiRequest("PC 1", p.loc, []gateway.Contact{
		{Channel: gateway.Channel("facetime"), Handle: "+447700900123"}, {Channel: gateway.Channel("whatsapp"), Handle: "+447700900123"}}),
		http.StatusCreated, &v); err != nil {
		t.Fatal(err)
	}
	var handset *multiDevice
	for _, d := range c.devices {
		if d.room == p.room {
			handset = d
		}
	}
	multiEventually(t, "the FaceTime dial order", 15*time.Second, func() bool { return len(handset.agent.Orders()) > 0 })
	if by := multiRecordOf(t, c.store, v.ID).placedBy(handset.agent.Orders()[0].AttemptID); by != c.inst[0].name {
		t.Fatalf("the FaceTime leg was placed by %q, want %s", by, c.inst[0].name)
	}

	// Cut the first instance's bus listener off for good.
	proxy.refuse()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var ended int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'gateway-bus' AND client_port = ANY($1)`, proxy.upstreamPorts()).Scan(&ended); err != nil {
		t.Fatal(err)
	}
	if ended != 1 {
		t.Fatalf("ended %d bus listener connections through the proxy, want 1", ended)
	}

	cancelled := time.Now()
	if err := c.call(ctx, 1, "POST", "/v1/verifications/"+v.ID+"/cancel", c.officer, nil, http.StatusOK, &v); err != nil {
		t.Fatal(err)
	}
	if v.State != gateway.StateCancelled {
		t.Fatalf("after the cancel through %s the verification is %s, want cancelled", c.inst[1].name, v.State)
	}

	// The FaceTime leg ends (at the latest when its ring time is up), and
	// the handset is freed; give the first instance a moment more to do
	// anything else.
	var facetime gateway.Attempt
	multiEventually(t, "the FaceTime attempt to end", ring+10*time.Second, func() bool {
		got, err := c.store.Verification(ctx, v.ID)
		if err != nil || len(got.Attempts) == 0 {
			return false
		}
		facetime = got.Attempts[0]
		return !facetime.Open()
	})
	c.waitIdle(t)
	time.Sleep(time.Second)

	for _, o := range handset.agent.Orders() {
		if o.Kind == gateway.OrderDial && o.AttemptID != facetime.ID {
			t.Errorf("dial order %s on %s for attempt %s, %s after the officer cancelled", o.ID, o.Channel, o.AttemptID, o.CreatedAt.Sub(cancelled).Round(time.Millisecond))
		}
	}
	got, err := c.store.Verification(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != gateway.StateCancelled || len(got.Attempts) != 1 {
		var as []string
		for _, a := range got.Attempts {
			as = append(as, string(a.Channel)+":"+string(a.Result))
		}
		t.Errorf("verification %s after the cancel: state %s, attempts %v; want cancelled with the FaceTime attempt only", v.ID, got.State, as)
	}
	t.Logf("FaceTime attempt ended %s after the cancel: %s (%s)", facetime.EndedAt.Sub(cancelled).Round(time.Millisecond), facetime.Result, facetime.Error)
}
