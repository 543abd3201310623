package router_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/mocks"
	"github.com/safeconnection/gateway/rooms"
	"github.com/safeconnection/gateway/router"
	"github.com/safeconnection/gateway/store/sqlite"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// The benchmarks here run the routing core with its production timings on a
// real SQLite file, with an in-process adapter that answers at once, so that
// what they measure is the router and the store: the time from a request to
// the durable write of "connected", and how many verifications a second the
// router takes to connected.

// benchPoints are a point in each of the Met's twelve rooms.
var benchPoints = []struct {
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

// benchAnswer is how the in-process adapter answers a leg.
type benchAnswer int

const (
	// answerByReport: Place returns the provider's reference and an
	// "answered" report follows at once from another goroutine, as a
	// webhook or a device agent's report would.
	answerByReport benchAnswer = iota + 1
	// answerOnPlacement: the provider's acceptance already means
	// connected (Placement.Connected); no report follows.
	answerOnPlacement
)

// benchSignals hands out, per verification, a channel closed when an event
// happens to it.
type benchSignals struct {
	mu sync.Mutex
	m  map[string]*benchSignal
}

type benchSignal struct {
	once sync.Once
	c    chan struct{}
}

func newBenchSignals() *benchSignals { return &benchSignals{m: map[string]*benchSignal{}} }

func (s *benchSignals) get(id string) *benchSignal {
	s.mu.Lock()
	defer s.mu.Unlock()
	sig := s.m[id]
	if sig == nil {
		sig = &benchSignal{c: make(chan struct{})}
		s.m[id] = sig
	}
	return sig
}

func (s *benchSignals) fire(id string) {
	sig := s.get(id)
	sig.once.Do(func() { close(sig.c) })
}

// fireWatched fires id's signal only if someone has asked for it.
func (s *benchSignals) fireWatched(id string) {
	s.mu.Lock()
	sig := s.m[id]
	s.mu.Unlock()
	if sig != nil {
		sig.once.Do(func() { close(sig.c) })
	}
}

func (s *benchSignals) wait(ctx context.Context, id string) error {
	select {
	case <-s.get(id).c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *benchSignals) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// benchStore is the SQLite store as the router sees it, noting when a
// verification's "connected" is committed and when its device is released,
// and counting the store calls the router makes.
type benchStore struct {
	gateway.Store
	connected, released *benchSignals
	writes, reads       atomic.Int64
}

func (s *benchStore) Transition(ctx context.Context, id string, t gateway.Transition) (gateway.Verification, gateway.Event, error) {
	s.writes.Add(1)
	v, ev, err := s.Store.Transition(ctx, id, t)
	if err == nil && t.To == gateway.StateConnected {
		s.connected.fire(id)
	}
	return v, ev, err
}

func (s *benchStore) Release(ctx context.Context, l gateway.Lease, reason string) error {
	s.writes.Add(1)
	err := s.Store.Release(ctx, l, reason)
	if err == nil {
		s.released.fireWatched(l.Holder)
	}
	return err
}

func (s *benchStore) CreateVerification(ctx context.Context, v gateway.Verification, key string, ev gateway.Event) (gateway.Verification, bool, error) {
	s.writes.Add(1)
	return s.Store.CreateVerification(ctx, v, key, ev)
}

func (s *benchStore) Own(ctx context.Context, id, instance string, ttl time.Duration) (gateway.Verification, error) {
	s.writes.Add(1)
	return s.Store.Own(ctx, id, instance, ttl)
}

func (s *benchStore) Claim(ctx context.Context, req gateway.ClaimRequest) (gateway.Lease, gateway.Device, error) {
	s.writes.Add(1)
	return s.Store.Claim(ctx, req)
}

func (s *benchStore) Renew(ctx context.Context, l gateway.Lease, ttl time.Duration) (gateway.Lease, error) {
	s.writes.Add(1)
	return s.Store.Renew(ctx, l, ttl)
}

func (s *benchStore) PutAttempt(ctx context.Context, a gateway.Attempt, ev gateway.Event) (gateway.Event, error) {
	s.writes.Add(1)
	return s.Store.PutAttempt(ctx, a, ev)
}

func (s *benchStore) AppendEvent(ctx context.Context, ev gateway.Event) (gateway.Event, error) {
	s.writes.Add(1)
	return s.Store.AppendEvent(ctx, ev)
}

func (s *benchStore) Events(ctx context.Context, id string, after int64, limit int) ([]gateway.Event, error) {
	s.reads.Add(1)
	return s.Store.Events(ctx, id, after, limit)
}

func (s *benchStore) Verification(ctx context.Context, id string) (gateway.Verification, error) {
	s.reads.Add(1)
	return s.Store.Verification(ctx, id)
}

func (s *benchStore) Attempt(ctx context.Context, id string) (gateway.Attempt, error) {
	s.reads.Add(1)
	return s.Store.Attempt(ctx, id)
}

// Interface guards
var _ router.Store = (*benchStore)(nil)

// benchRig is a router on a SQLite file with a device pool and an
// in-process WhatsApp adapter that answers at once.
type benchRig struct {
	store      *benchStore
	r          *router.Router
	logs       *logtest.Hook
	reportErrs atomic.Int64 // reports the router refused
	devices    int
}

// newBenchRig builds and opens the rig with devices spread evenly over the
// twelve rooms, each supporting WhatsApp with a fresh heartbeat. The
// router keeps its production timings (router.New's) and a Ranker, as
// cmd/gateway wires it; heartbeats count as stale only after an hour, so
// that the staleness check stays in every claim but no device goes stale
// during a long run.
func newBenchRig(tb testing.TB, devices int, answer benchAnswer) *benchRig {
	tb.Helper()
	sync := sqlite.SynchronousFull
	if s := os.Getenv("GATEWAY_BENCH_SYNCHRONOUS"); s != "" {
		sync = s // "normal", to compare with figures taken before FULL was the default
	}
	return newBenchRigSync(tb, devices, answer, sync)
}

// newBenchRigSync is newBenchRig on a SQLite store with the synchronous
// setting given (sqlite.SynchronousFull or SynchronousNormal).
func newBenchRigSync(tb testing.TB, devices int, answer benchAnswer, synchronous string) *benchRig {
	tb.Helper()
	ctx := context.Background()
	set, err := rooms.Default()
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range benchPoints {
		if room, _, err := set.Locate(p.loc); err != nil || room.ID != p.room {
			tb.Fatalf("point %v is in room %q (%v), want %s", p.loc, room.ID, err, p.room)
		}
	}
	st := sqlite.New(filepath.Join(tb.TempDir(), "gateway.db"))
	st.Synchronous = synchronous
	if err := st.Open(ctx); err != nil {
		tb.Fatal(err)
	}
	return newBenchRigOn(tb, devices, answer, st, set)
}

// newBenchRigOn is newBenchRig on the store given, open and empty, which
// it closes when the benchmark ends.
func newBenchRigOn(tb testing.TB, devices int, answer benchAnswer, st gateway.Store, set *rooms.Set) *benchRig {
	tb.Helper()
	ctx := context.Background()
	bs := &benchStore{Store: st, connected: newBenchSignals(), released: newBenchSignals()}

	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.WarnLevel)
	logger.Out = io.Discard
	r := router.New(bs, set)
	r.Logger = logger
	r.Instance = "bench"
	r.HeartbeatStale = time.Hour
	r.Ranker = router.NewRanker()
	rig := &benchRig{store: bs, r: r, logs: hook, devices: devices}

	ch := gateway.Channel("whatsapp")
	a := &mocks.Adapter{
		ChannelFn: func() gateway.Channel { return ch },
		PlaceFn: func(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
			ref := "ref-" + leg.AttemptID
			if answer == answerOnPlacement {
				return gateway.Placement{ProviderRef: ref, Connected: true}, nil
			}
			go func() {
				err := r.Report(context.WithoutCancel(ctx), gateway.Report{AttemptID: leg.AttemptID, Channel: ch,
					ProviderRef: ref, Status: gateway.ReportAnswered, At: time.Now()})
				if err != nil {
					rig.reportErrs.Add(1)
				}
			}()
			return gateway.Placement{ProviderRef: ref}, nil
		},
		HangUpFn: func(context.Context, gateway.Leg, gateway.Placement) error { return nil },
	}
	if err := r.Register(a); err != nil {
		tb.Fatal(err)
	}

	all := set.Rooms()
	for i := range devices {
		room := all[i%len(all)].ID
		id := fmt.Sprintf("%s-%04d", room, i)
		if _, err := st.CreateDevice(ctx, gateway.Device{ID: id, RoomID: room, Name: id, Number: "+447700900999",
			Handles: map[gateway.Channel]string{ch: fmt.Sprintf("+4477009%05d", i)}}); err != nil {
			tb.Fatal(err)
		}
		if _, err := st.Heartbeat(ctx, id, 100, []gateway.Channel{ch}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := r.Open(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		r.Close()
		st.Close()
	})
	return rig
}

// request asks for a verification from the i-th room's point.
func (rig *benchRig) request(ctx context.Context, i int) (gateway.Verification, error) {
	p := benchPoints[i%len(benchPoints)]
	v, created, err := rig.r.Request(ctx, gateway.Request{
		Officer:     gateway.Officer{Collar: fmt.Sprintf("PC %d", i), Warrant: "W123456"},
		Location:    p.loc,
		Contacts:    []gateway.Contact{{Channel: gateway.Channel("whatsapp"), Handle: "+447700900123"}},
		RequestedBy: "t_officer",
	})
	if err == nil && !created {
		err = errors.New("request not created")
	}
	return v, err
}

// connect asks for a verification from the i-th room's point and returns
// its ID and the time from the request to the commit of "connected".
func (rig *benchRig) connect(i int) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	v, err := rig.request(ctx, i)
	if err != nil {
		return "", 0, err
	}
	if err := rig.store.connected.wait(ctx, v.ID); err != nil {
		got, _ := rig.store.Store.Verification(context.Background(), v.ID)
		return v.ID, 0, fmt.Errorf("verification %s not connected (%s: %s): %w", v.ID, got.State, got.Reason, err)
	}
	return v.ID, time.Since(start), nil
}

// close records the supervisor's outcome, as the ops room would once the
// check is done; the run then hangs up and releases the device. With wait,
// it returns once the device is released.
func (rig *benchRig) close(id string, wait bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer rig.store.connected.forget(id)
	if wait {
		rig.store.released.get(id) // watched from now on
		defer rig.store.released.forget(id)
	}
	if _, err := rig.r.RecordOutcome(ctx, id, gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 1"}); err != nil {
		return err
	}
	if !wait {
		return nil
	}
	if err := rig.store.released.wait(ctx, id); err != nil {
		v, _ := rig.store.Store.Verification(context.Background(), id)
		return fmt.Errorf("device of %s (%s) not released: lease %+v: %w", id, v.State, v.Lease, err)
	}
	return nil
}

// check fails tb if the router logged an error, refused a report, let a
// device be held by two verifications at once, or has not freed every
// device within ten seconds of the last outcome.
func (rig *benchRig) check(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		free, err := rig.store.FreeDevices(context.Background(), rig.r.HeartbeatStale)
		if err != nil {
			tb.Fatal(err)
		}
		n := 0
		for _, k := range free {
			n += k
		}
		if n == rig.devices {
			break
		}
		if time.Now().After(deadline) {
			tb.Errorf("%d of %d devices free after every verification was closed", n, rig.devices)
			break
		}
		time.Sleep(time.Millisecond)
	}
	for _, e := range rig.logs.AllEntries() {
		if e.Level <= logrus.ErrorLevel {
			tb.Errorf("router logged an error: %s %v", e.Message, e.Data)
		}
	}
	if n := rig.reportErrs.Load(); n > 0 {
		tb.Errorf("the router refused %d reports", n)
	}
	hist, err := rig.store.ClaimHistory(context.Background(), "")
	if err != nil {
		tb.Fatal(err)
	}
	byDevice := map[string][]gateway.ClaimRecord{}
	for _, c := range hist {
		byDevice[c.DeviceID] = append(byDevice[c.DeviceID], c)
	}
	for dev, cs := range byDevice {
		slices.SortFunc(cs, func(a, b gateway.ClaimRecord) int { return int(a.Fence - b.Fence) })
		for i := 1; i < len(cs); i++ {
			prev, cur := cs[i-1], cs[i]
			if prev.ReleasedAt == nil || cur.ClaimedAt.Before(*prev.ReleasedAt) {
				tb.Errorf("device %s: claim %d overlaps claim %d", dev, cur.Fence, prev.Fence)
			}
		}
	}
}

// reportLatency reports the median and 99th percentile of lat in
// milliseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	pct := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1
		i = min(max(i, 0), len(s)-1)
		return float64(s[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkRouteToConnected measures, one verification at a time, the time
// from Router.Request to the commit of "connected" with an in-process
// adapter that answers at once: the routing core's own overhead (room,
// claim, attempt, report, transition, every step written to SQLite). Each
// verification is then closed with the supervisor's outcome and its device
// released before the next request, outside the measured time (ns/op
// covers the whole cycle). 48 devices, 4 per room; requests go round the
// twelve rooms.
//
// Sub-benchmarks: "report" answers with an asynchronous "answered" report
// (a webhook or an agent's report); "placement" with a placement that
// already means connected.
func BenchmarkRouteToConnected(b *testing.B) {
	for _, mode := range []struct {
		name   string
		answer benchAnswer
	}{
		{"report", answerByReport},
		{"placement", answerOnPlacement},
	} {
		b.Run(mode.name, func(b *testing.B) {
			rig := newBenchRig(b, 48, mode.answer)
			var lat []time.Duration
			w0, r0 := rig.store.writes.Load(), rig.store.reads.Load()
			i := 0
			for b.Loop() {
				id, d, err := rig.connect(i)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, d)
				if err := rig.close(id, true); err != nil {
					b.Fatal(err)
				}
				i++
			}
			n := float64(len(lat))
			b.ReportMetric(float64(rig.store.writes.Load()-w0)/n, "writes/op")
			b.ReportMetric(float64(rig.store.reads.Load()-r0)/n, "reads/op")
			reportLatency(b, lat)
			rig.check(b)
		})
	}
}

// BenchmarkThroughput measures how many verifications a second the router
// takes to connected with 1,000 devices spread over the twelve rooms, all
// supporting the channel, under many concurrent requests. Each of the
// concurrent officers asks, waits for "connected", has the supervisor
// record the outcome (which frees the device) and asks again; requests go
// round the rooms. The in-process adapter answers with an asynchronous
// "answered" report. It reports verifications/s and the latency from
// request to connected under that load. Each run starts on a fresh store:
// the figures fall as the store's history grows (see BENCHMARKS.md), so
// use a fixed -benchtime (2000x) to compare runs.
func BenchmarkThroughput(b *testing.B) {
	for _, concurrency := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("concurrency=%d", concurrency), func(b *testing.B) {
			throughput(b, newBenchRig(b, 1000, answerByReport), concurrency)
		})
	}
}

// BenchmarkThroughputSynchronous is BenchmarkThroughput at concurrency 64
// on SQLite with synchronous=FULL (the default: an acknowledged write
// survives a power failure) and with NORMAL, side by side in one run. Use
// a fixed -benchtime (2000x) to compare runs.
func BenchmarkThroughputSynchronous(b *testing.B) {
	for _, mode := range []string{sqlite.SynchronousFull, sqlite.SynchronousNormal} {
		b.Run("synchronous="+mode, func(b *testing.B) {
			throughput(b, newBenchRigSync(b, 1000, answerByReport, mode), 64)
		})
	}
}

// throughput runs b.N verifications through the rig from concurrency
// officers at once, each asking, waiting for connected, having the outcome
// recorded and asking again, and reports verifications/s and the latency
// to connected.
func throughput(b *testing.B, rig *benchRig, concurrency int) {
	b.Helper()
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				id, d, err := rig.connect(i)
				if err != nil {
					b.Error(err)
					return
				}
				lat[i] = d
				if err := rig.close(id, false); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "verifications/s")
	reportLatency(b, lat)
	rig.check(b)
}
