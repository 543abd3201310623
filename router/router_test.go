package router_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
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
)

// Points in the Met's rooms.
var (
	trafalgar = gateway.Location{Lat: 51.5080, Lon: -0.1281} // Westminster: AW
	brixton   = gateway.Location{Lat: 51.4613, Lon: -0.1156} // Lambeth: AS
)

type env struct {
	t     testing.TB
	store *sqlite.Store
	rooms *rooms.Set
	r     *router.Router
}

func newStore(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func quietLogger() *logrus.Logger {
	l := logrus.New()
	l.SetLevel(logrus.ErrorLevel)
	if os.Getenv("ROUTER_TEST_LOG") != "" {
		l.SetLevel(logrus.DebugLevel)
	}
	return l
}

// newRouter returns an unopened router with short timings over st.
func newRouter(t testing.TB, st router.Store, set *rooms.Set, instance string) *router.Router {
	t.Helper()
	r := router.New(st, set)
	r.Channels = testChannels(t)
	r.Logger = quietLogger()
	r.Instance = instance
	r.RingTimeout = 400 * time.Millisecond
	r.Budget = 5 * time.Second
	r.LeaseTTL = 2 * time.Second
	r.HeartbeatStale = 0
	r.Policy.RetryMin = 10 * time.Millisecond
	r.Policy.RetryMax = 40 * time.Millisecond
	r.OwnerTTL = time.Second
	r.SweepInterval = 100 * time.Millisecond
	r.PollInterval = 50 * time.Millisecond
	return r
}

// testRouter returns an unopened router of instance "test" over st and
// the Met's rooms, with the adapters registered.
func testRouter(t testing.TB, st router.Store, adapters ...gateway.Adapter) (*router.Router, *rooms.Set) {
	t.Helper()
	set, err := rooms.Default()
	if err != nil {
		t.Fatal(err)
	}
	r := newRouter(t, st, set, "test")
	for _, a := range adapters {
		if err := r.Register(a); err != nil {
			t.Fatal(err)
		}
	}
	return r, set
}

// openRouter opens r until the test ends.
func openRouter(t testing.TB, r *router.Router) {
	t.Helper()
	if err := r.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
}

func newEnv(t testing.TB, adapters ...gateway.Adapter) *env {
	t.Helper()
	st := newStore(t, filepath.Join(t.TempDir(), "gateway.db"))
	r, set := testRouter(t, st, adapters...)
	return &env{t: t, store: st, rooms: set, r: r}
}

func (e *env) open() {
	e.t.Helper()
	openRouter(e.t, e.r)
}

// device adds a device in the room supporting the channels.
func (e *env) device(id, room string, chans ...gateway.Channel) gateway.Device {
	e.t.Helper()
	h := map[gateway.Channel]string{}
	for _, c := range chans {
		h[c] = id + "@" + string(c)
	}
	d, err := e.store.CreateDevice(context.Background(), gateway.Device{ID: id, RoomID: room, Name: id, Number: "+442079460999", Handles: h})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) request(loc gateway.Location, contacts ...gateway.Contact) gateway.Verification {
	e.t.Helper()
	v, created, err := e.r.Request(context.Background(), gateway.Request{
		Officer: gateway.Officer{Collar: "PC 1234", Warrant: "W123456"}, Location: loc, Contacts: contacts, RequestedBy: "t_officer",
	})
	if err != nil || !created {
		e.t.Fatalf("Request: created %v, err %v", created, err)
	}
	return v
}

// wait polls until the verification is in one of the states.
func (e *env) wait(id string, states ...gateway.State) gateway.Verification {
	e.t.Helper()
	return e.waitFor(15*time.Second, id, states...)
}

func (e *env) waitFor(d time.Duration, id string, states ...gateway.State) gateway.Verification {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		v, err := e.store.Verification(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, s := range states {
			if v.State == s {
				return v
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("verification %s stuck in %s, want %v; attempts %+v", id, v.State, states, v.Attempts)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func contact(ch gateway.Channel) gateway.Contact {
	h := "+447700900123"
	switch ch {
	case gateway.Channel("zoom"), gateway.Channel("meet"), gateway.Channel("teams"), gateway.Channel("webrtc"):
		h = "officer@example.police.uk"
	}
	return gateway.Contact{Channel: ch, Handle: h}
}

// behaviour scripts a fake adapter: what each try does.
type behaviour func(try int, leg gateway.Leg) (status gateway.ReportStatus, fate gateway.Fate, err error)

// fake returns an adapter for ch that follows b, reporting asynchronously
// to the router as a provider would.
func fake(ch gateway.Channel, rep func() gateway.Reporter, b behaviour) (*mocks.Adapter, *atomic.Int64) {
	var tries atomic.Int64
	a := &mocks.Adapter{
		ChannelFn: func() gateway.Channel { return ch },
		PlaceFn: func(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
			n := int(tries.Add(1))
			status, fate, err := b(n, leg)
			if err != nil {
				return gateway.Placement{}, err
			}
			ref := fmt.Sprintf("ref-%s-%d", ch, n)
			if status != "" {
				go func() {
					if err := rep().Report(context.Background(), gateway.Report{AttemptID: leg.AttemptID, Channel: ch, ProviderRef: ref, Status: status, Fate: fate}); err != nil {
						panic(fmt.Sprintf("report %s: %v", status, err))
					}
				}()
			}
			return gateway.Placement{ProviderRef: ref}, nil
		},
		HangUpFn: func(ctx context.Context, leg gateway.Leg, p gateway.Placement) error { return nil },
	}
	return a, &tries
}

func answer(int, gateway.Leg) (gateway.ReportStatus, gateway.Fate, error) {
	return gateway.ReportAnswered, 0, nil
}

func never(int, gateway.Leg) (gateway.ReportStatus, gateway.Fate, error) {
	return gateway.ReportRinging, 0, nil
}

func reject(int, gateway.Leg) (gateway.ReportStatus, gateway.Fate, error) {
	return gateway.ReportRejected, 0, nil
}

func TestRouting(t *testing.T) {
	type dev struct {
		id, room string
		chans    []gateway.Channel
	}
	type want struct {
		state   gateway.State
		channel gateway.Channel
		room    string // of the connected attempt
		results []gateway.AttemptResult
		tries   []int
	}
	ft, wa, zm, ps := gateway.Channel("facetime"), gateway.Channel("whatsapp"), gateway.Channel("zoom"), gateway.ChannelPSTN
	notPlacedTwice := func(try int, _ gateway.Leg) (gateway.ReportStatus, gateway.Fate, error) {
		if try <= 2 {
			return gateway.ReportFailed, gateway.NotPlaced, nil
		}
		return gateway.ReportAnswered, 0, nil
	}
	errNotPlacedTwice := func(try int, _ gateway.Leg) (gateway.ReportStatus, gateway.Fate, error) {
		if try <= 2 {
			return "", 0, &gateway.CallError{Fate: gateway.NotPlaced, Provider: "fake", Err: fmt.Errorf("503")}
		}
		return gateway.ReportAnswered, 0, nil
	}
	skipped := func(int, gateway.Leg) (gateway.ReportStatus, gateway.Fate, error) {
		return "", 0, &gateway.CallError{Fate: gateway.NotPlaced, Skipped: true, Provider: "zoom", Err: fmt.Errorf("zoom breaker open")}
	}
	placedFailed := func(int, gateway.Leg) (gateway.ReportStatus, gateway.Fate, error) {
		return "", 0, &gateway.CallError{Fate: gateway.PlacedFailed, Provider: "fake", Err: fmt.Errorf("400 bad handle")}
	}
	tests := []struct {
		name     string
		devices  []dev
		behave   map[gateway.Channel]behaviour
		contacts []gateway.Channel
		want     want
	}{
		{
			name:     "connected on the first channel",
			devices:  []dev{{"AW-1", "AW", []gateway.Channel{ft, wa}}},
			behave:   map[gateway.Channel]behaviour{ft: answer, wa: answer},
			contacts: []gateway.Channel{ft, wa},
			want:     want{state: gateway.StateConnected, channel: ft, room: "AW", results: []gateway.AttemptResult{"connected"}, tries: []int{1}},
		},
		{
			name:     "first channel never answers: second channel",
			devices:  []dev{{"AW-1", "AW", []gateway.Channel{ft, wa}}},
			behave:   map[gateway.Channel]behaviour{ft: never, wa: answer},
			contacts: []gateway.Channel{ft, wa},
			want:     want{state: gateway.StateConnected, channel: wa, room: "AW", results: []gateway.AttemptResult{"no_answer", "connected"}, tries: []int{1, 1}},
		},
		{
			name:     "agent reports not placed twice then answers: same channel, three tries",
			devices:  []dev{{"AW-1", "AW", []gateway.Channel{ft, wa}}},
			behave:   map[gateway.Channel]behaviour{ft: notPlacedTwice, wa: answer},
			contacts: []gateway.Channel{ft, wa},
			want:     want{state: gateway.StateConnected, channel: ft, room: "AW", results: []gateway.AttemptResult{"connected"}, tries: []int{3}},
		},
		{
			name:     "provider refuses twice then places: same channel, three tries",
			devices:  []dev{{"AW-1", "AW", []gateway.Channel{zm}}},
			behave:   map[gateway.Channel]behaviour{zm: errNotPlacedTwice},
			contacts: []gateway.Channel{zm},
			want:     want{state: gateway.StateConnected, channel: zm, room: "AW", results: []gateway.AttemptResult{"connected"}, tries: []int{3}},
		},
		{
			name:     "every channel fails: failed with the 999 advice",
			devices:  []dev{{"AW-1", "AW", []gateway.Channel{ft, wa}}},
			behave:   map[gateway.Channel]behaviour{ft: reject, wa: placedFailed},
			contacts: []gateway.Channel{ft, wa},
			want:     want{state: gateway.StateFailed, results: []gateway.AttemptResult{"rejected", "failed"}, tries: []int{1, 1}},
		},
		{
			name:     "local room has no device: a neighbouring room connects",
			devices:  []dev{{"AS-1", "AS", []gateway.Channel{wa}}}, // Lambeth/Southwark borders Westminster
			behave:   map[gateway.Channel]behaviour{wa: answer},
			contacts: []gateway.Channel{wa},
			want:     want{state: gateway.StateConnected, channel: wa, room: "AS", results: []gateway.AttemptResult{"connected"}, tries: []int{1}},
		},
		{
			name:     "breaker open: skipped at once, next channel",
			devices:  []dev{{"AW-1", "AW", []gateway.Channel{zm, wa}}},
			behave:   map[gateway.Channel]behaviour{zm: skipped, wa: answer},
			contacts: []gateway.Channel{zm, wa},
			want:     want{state: gateway.StateConnected, channel: wa, room: "AW", results: []gateway.AttemptResult{"skipped", "connected"}, tries: []int{1, 1}},
		},
		{
			name:     "every video channel fails: PSTN connects",
			devices:  []dev{{"AW-1", "AW", []gateway.Channel{wa}}},
			behave:   map[gateway.Channel]behaviour{wa: reject, ps: answer},
			contacts: []gateway.Channel{wa},
			want:     want{state: gateway.StateConnected, channel: ps, room: "AW", results: []gateway.AttemptResult{"rejected", "connected"}, tries: []int{1, 1}},
		},
		{
			// A provider that cannot take the leg fails every device alike.
			name:    "provider refuses until the attempt's deadline: next channel, not another device",
			devices: []dev{{"AW-1", "AW", []gateway.Channel{zm, wa}}, {"AW-2", "AW", []gateway.Channel{zm}}},
			behave: map[gateway.Channel]behaviour{wa: answer, zm: func(int, gateway.Leg) (gateway.ReportStatus, gateway.Fate, error) {
				return "", 0, &gateway.CallError{Fate: gateway.NotPlaced, Provider: "zoom", Err: fmt.Errorf("connection refused")}
			}},
			contacts: []gateway.Channel{zm, wa},
			want:     want{state: gateway.StateConnected, channel: wa, room: "AW", results: []gateway.AttemptResult{"not_placed", "connected"}},
		},
		{
			name:    "not placed on one device: another device of the channel",
			devices: []dev{{"AW-1", "AW", []gateway.Channel{wa}}, {"AW-2", "AW", []gateway.Channel{wa}}},
			behave: map[gateway.Channel]behaviour{wa: func(_ int, leg gateway.Leg) (gateway.ReportStatus, gateway.Fate, error) {
				if leg.Device.ID == "AW-1" {
					return gateway.ReportFailed, gateway.NotPlaced, nil
				}
				return gateway.ReportAnswered, 0, nil
			}},
			contacts: []gateway.Channel{wa},
			want:     want{state: gateway.StateConnected, channel: wa, room: "AW", results: []gateway.AttemptResult{"not_placed", "connected"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *env
			var adapters []gateway.Adapter
			for ch, b := range tt.behave {
				a, _ := fake(ch, func() gateway.Reporter { return e.r }, b)
				adapters = append(adapters, a)
			}
			e = newEnv(t, adapters...)
			// AW-1 is least recently used when two devices compete.
			for _, d := range tt.devices {
				e.device(d.id, d.room, d.chans...)
			}
			e.open()
			var contacts []gateway.Contact
			for _, c := range tt.contacts {
				contacts = append(contacts, contact(c))
			}
			v := e.request(trafalgar, contacts...)
			if v.RoomID != "AW" || v.State != gateway.StateRouting || len(v.Reference) != 9 {
				t.Fatalf("request answered %+v", v)
			}
			got := e.wait(v.ID, tt.want.state)
			if len(got.Attempts) != len(tt.want.results) {
				t.Fatalf("attempts %+v, want results %v", got.Attempts, tt.want.results)
			}
			for i, a := range got.Attempts {
				if a.Result != tt.want.results[i] {
					t.Errorf("attempt %d result %q (%s), want %q", i+1, a.Result, a.Error, tt.want.results[i])
				}
				if tt.want.tries != nil && a.Tries != tt.want.tries[i] {
					t.Errorf("attempt %d tries %d, want %d", i+1, a.Tries, tt.want.tries[i])
				}
				if a.EndedAt == nil || a.Seq != i+1 {
					t.Errorf("attempt %d not closed or out of order: %+v", i+1, a)
				}
			}
			switch tt.want.state {
			case gateway.StateConnected:
				last := got.Attempts[len(got.Attempts)-1]
				if got.Channel != tt.want.channel || last.RoomID != tt.want.room || got.DeviceID != last.DeviceID {
					t.Errorf("connected on %s device %s room %s; want %s in %s", got.Channel, got.DeviceID, last.RoomID, tt.want.channel, tt.want.room)
				}
				if got.Lease == nil || got.Lease.DeviceID != got.DeviceID {
					t.Errorf("connected verification holds lease %+v, want one on %s", got.Lease, got.DeviceID)
				}
			case gateway.StateFailed:
				evs, _ := e.store.Events(context.Background(), v.ID, 0, 0)
				lastEv := evs[len(evs)-1]
				if lastEv.State != gateway.StateFailed || !contains(lastEv.Message, "999") || got.Reason == "" {
					t.Errorf("failed without the 999 advice: reason %q, last event %+v", got.Reason, lastEv)
				}
				if got.Lease != nil {
					t.Errorf("failed verification still holds %+v", got.Lease)
				}
			}
		})
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}

func TestQueuedThenServed(t *testing.T) {
	var e *env
	wa, _ := fake(gateway.Channel("whatsapp"), func() gateway.Reporter { return e.r }, answer)
	e = newEnv(t, wa)
	e.device("AW-1", "AW", gateway.Channel("whatsapp"))
	e.open()
	first := e.request(trafalgar, contact(gateway.Channel("whatsapp")))
	e.wait(first.ID, gateway.StateConnected)
	second := e.request(brixton, contact(gateway.Channel("whatsapp"))) // AS borders AW: AW-1 is its neighbour's device
	third := e.request(trafalgar, contact(gateway.Channel("whatsapp")))
	e.wait(second.ID, gateway.StateQueued)
	e.wait(third.ID, gateway.StateQueued)
	if _, err := e.r.RecordOutcome(context.Background(), first.ID, gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 42"}); err != nil {
		t.Fatal(err)
	}
	// Served in arrival order: the second before the third.
	s := e.wait(second.ID, gateway.StateConnected)
	if s.DeviceID != "AW-1" {
		t.Fatalf("second served by %q", s.DeviceID)
	}
	if v, _ := e.store.Verification(context.Background(), third.ID); v.State != gateway.StateQueued {
		t.Fatalf("third is %s while the only device serves the second", v.State)
	}
	if _, err := e.r.Cancel(context.Background(), second.ID, "PC 1234"); err != nil {
		t.Fatal(err)
	}
	e.wait(third.ID, gateway.StateConnected)
}

func TestQueueBudgetSpent(t *testing.T) {
	var e *env
	wa, _ := fake(gateway.Channel("whatsapp"), func() gateway.Reporter { return e.r }, answer)
	e = newEnv(t, wa)
	e.r.Budget = 600 * time.Millisecond
	e.open()
	v := e.request(trafalgar, contact(gateway.Channel("whatsapp")))
	e.wait(v.ID, gateway.StateQueued)
	got := e.wait(v.ID, gateway.StateFailed)
	if got.Reason == "" {
		t.Fatal("failed without a reason")
	}
}

func TestCancelWhileDialling(t *testing.T) {
	var e *env
	var hung atomic.Int64
	ft, _ := fake(gateway.Channel("facetime"), func() gateway.Reporter { return e.r }, never)
	ft.HangUpFn = func(context.Context, gateway.Leg, gateway.Placement) error { hung.Add(1); return nil }
	e = newEnv(t, ft)
	e.r.RingTimeout = 3 * time.Second
	e.device("AW-1", "AW", gateway.Channel("facetime"))
	e.open()
	v := e.request(trafalgar, contact(gateway.Channel("facetime")))
	e.wait(v.ID, gateway.StateDialling)
	if _, err := e.r.Cancel(context.Background(), v.ID, "PC 1234"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := e.store.Verification(context.Background(), v.ID)
		if got.State != gateway.StateCancelled {
			t.Fatalf("state %s", got.State)
		}
		if len(got.Attempts) == 1 && got.Attempts[0].Result == gateway.ResultCancelled && got.Lease == nil && hung.Load() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cancel did not end the attempt, hang up and release: %+v lease %+v hung %d", got.Attempts, got.Lease, hung.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := e.r.Cancel(context.Background(), v.ID, "PC 1234"); gateway.ErrorCode(err) != gateway.ECONFLICT {
		t.Fatalf("second cancel: %v, want conflict", err)
	}
}

func TestIdempotentRequest(t *testing.T) {
	var e *env
	wa, tries := fake(gateway.Channel("whatsapp"), func() gateway.Reporter { return e.r }, answer)
	e = newEnv(t, wa)
	e.device("AW-1", "AW", gateway.Channel("whatsapp"))
	e.open()
	req := gateway.Request{Officer: gateway.Officer{Collar: "PC 1"}, Location: trafalgar, Contacts: []gateway.Contact{contact(gateway.Channel("whatsapp"))}, RequestedBy: "t_1", IdempotencyKey: "k1"}
	v1, c1, err := e.r.Request(context.Background(), req)
	if err != nil || !c1 {
		t.Fatal(err)
	}
	v2, c2, err := e.r.Request(context.Background(), req)
	if err != nil || c2 || v2.ID != v1.ID {
		t.Fatalf("second request: %v created %v id %s vs %s", err, c2, v2.ID, v1.ID)
	}
	e.wait(v1.ID, gateway.StateConnected)
	time.Sleep(100 * time.Millisecond)
	if n := tries.Load(); n != 1 {
		t.Fatalf("%d calls placed, want 1", n)
	}
}

// TestConcurrentClaims runs 200 verifications against 12 rooms of 2 devices
// and checks from the claim history that no device ever held two live
// claims, and that every verification ends connected (then verified). With
// -short (the race detector's pass in CI, several times slower) it runs 50.
func TestConcurrentClaims(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 50
	}
	var e *env
	wa, _ := fake(gateway.Channel("whatsapp"), func() gateway.Reporter { return e.r }, func(int, gateway.Leg) (gateway.ReportStatus, gateway.Fate, error) {
		return gateway.ReportAnswered, 0, nil
	})
	e = newEnv(t, wa)
	e.r.Budget = 90 * time.Second
	e.r.RingTimeout = 20 * time.Second
	e.r.PollInterval = 250 * time.Millisecond
	for _, room := range e.rooms.Rooms() {
		e.device(room.ID+"-1", room.ID, gateway.Channel("whatsapp"))
		e.device(room.ID+"-2", room.ID, gateway.Channel("whatsapp"))
	}
	e.open()
	locs := []gateway.Location{trafalgar, brixton, {Lat: 51.5416, Lon: -0.0022} /* Stratford */, {Lat: 51.4700, Lon: -0.4543} /* Heathrow */}
	var wg sync.WaitGroup
	ids := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _, err := e.r.Request(context.Background(), gateway.Request{
				Officer: gateway.Officer{Collar: fmt.Sprintf("PC %d", i)}, Location: locs[i%len(locs)],
				Contacts: []gateway.Contact{contact(gateway.Channel("whatsapp"))}, RequestedBy: "t_officer",
			})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = v.ID
			// The supervisor closes each call once it connects.
			got := e.waitFor(90*time.Second, v.ID, gateway.StateConnected, gateway.StateFailed)
			if got.State != gateway.StateConnected {
				t.Errorf("verification %d ended %s: %s", i, got.State, got.Reason)
				return
			}
			if _, err := e.r.RecordOutcome(context.Background(), v.ID, gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 1"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != "" {
			e.wait(id, gateway.StateVerified)
		}
	}
	hist, err := e.store.ClaimHistory(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	checkNoOverlap(t, hist)
	if len(hist) < n {
		t.Fatalf("%d claims for %d verifications", len(hist), n)
	}
}

// checkNoOverlap fails if any device's claims overlap in time.
func checkNoOverlap(t testing.TB, hist []gateway.ClaimRecord) {
	t.Helper()
	by := map[string][]gateway.ClaimRecord{}
	for _, c := range hist {
		by[c.DeviceID] = append(by[c.DeviceID], c)
	}
	for dev, cs := range by {
		sort.Slice(cs, func(i, j int) bool { return cs[i].Fence < cs[j].Fence })
		for i := 1; i < len(cs); i++ {
			prev, cur := cs[i-1], cs[i]
			if prev.ReleasedAt == nil {
				t.Fatalf("device %s: claim %d never released but claim %d followed", dev, prev.Fence, cur.Fence)
			}
			if cur.ClaimedAt.Before(*prev.ReleasedAt) {
				t.Fatalf("device %s: claim %d (from %s) overlaps claim %d (released %s)", dev, cur.Fence, cur.ClaimedAt, prev.Fence, prev.ReleasedAt)
			}
		}
	}
}

type linkSender struct {
	mu   sync.Mutex
	sent []string
}

func (l *linkSender) SendJoinLink(_ context.Context, to, ref, url string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent = append(l.sent, to+" "+ref+" "+url)
	return "wamid.1", nil
}

func (l *linkSender) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sent)
}

// TestMeetingJoinedByBothEnds: a meeting-style channel with no webhooks
// connects when the device and the officer app have both joined, and the
// join link goes by message to the contact that asked for it.
func TestMeetingJoinedByBothEnds(t *testing.T) {
	var e *env
	meet := &mocks.Adapter{
		ChannelFn: func() gateway.Channel { return gateway.Channel("meet") },
		PlaceFn: func(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
			go e.r.Report(context.Background(), gateway.Report{AttemptID: leg.AttemptID, Status: gateway.ReportJoined, Party: "device", ProviderRef: "o_join"})
			return gateway.Placement{ProviderRef: "spaces/abc", JoinURL: "https://meet.google.com/abc-defg-hij"}, nil
		},
		HangUpFn: func(context.Context, gateway.Leg, gateway.Placement) error { return nil },
	}
	wa, _ := fake(gateway.Channel("whatsapp"), func() gateway.Reporter { return e.r }, never)
	e = newEnv(t, meet, wa)
	links := &linkSender{}
	e.r.Links = links
	e.r.RingTimeout = 3 * time.Second
	e.device("AW-1", "AW", gateway.Channel("meet"), gateway.Channel("whatsapp"))
	e.open()
	v := e.request(trafalgar, contact(gateway.Channel("meet")), gateway.Contact{Channel: gateway.Channel("whatsapp"), Handle: "+447700900123", Links: true})
	e.wait(v.ID, gateway.StateDialling)
	// Only the device has joined: still dialling.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := e.store.Verification(context.Background(), v.ID)
		if got.JoinURL != "" && links.count() == 1 {
			if got.State != gateway.StateDialling {
				t.Fatalf("state %s with only the device joined", got.State)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("join link not recorded (%q) or not sent (%d)", got.JoinURL, links.count())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.r.Joined(context.Background(), v.ID); err != nil {
		t.Fatal(err)
	}
	got := e.wait(v.ID, gateway.StateConnected)
	if got.Channel != gateway.Channel("meet") || got.JoinURL != "https://meet.google.com/abc-defg-hij" {
		t.Fatalf("connected %+v", got)
	}
	if err := e.r.Joined(context.Background(), v.ID); gateway.ErrorCode(err) != gateway.ECONFLICT {
		t.Fatalf("joined with no attempt in progress: %v", err)
	}
}

// TestTakeOver: an instance stops while a leg rings; another instance takes
// the verification over, waits on the same leg without placing it again,
// and connects when the leg is answered.
func TestTakeOver(t *testing.T) {
	set, err := rooms.Default()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gateway.db")
	st := newStore(t, path)
	var placed atomic.Int64
	var lastLeg atomic.Value
	mk := func() *mocks.Adapter {
		return &mocks.Adapter{
			ChannelFn: func() gateway.Channel { return gateway.Channel("facetime") },
			PlaceFn: func(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
				placed.Add(1)
				lastLeg.Store(leg)
				return gateway.Placement{ProviderRef: "o_ring"}, nil
			},
			HangUpFn: func(context.Context, gateway.Leg, gateway.Placement) error { return nil },
		}
	}
	a := newRouter(t, st, set, "instance-a")
	a.RingTimeout = 8 * time.Second
	a.Budget = 20 * time.Second
	a.LeaseTTL = 6 * time.Second
	if err := a.Register(mk()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateDevice(context.Background(), gateway.Device{ID: "AW-1", RoomID: "AW", Handles: map[gateway.Channel]string{gateway.Channel("facetime"): "aw1@example"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, _, err := a.Request(context.Background(), gateway.Request{Officer: gateway.Officer{Collar: "PC 1"}, Location: trafalgar,
		Contacts: []gateway.Contact{contact(gateway.Channel("facetime"))}, RequestedBy: "t_1"})
	if err != nil {
		t.Fatal(err)
	}
	for placed.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	a.Close() // instance A stops: its hold lapses after OwnerTTL

	b := newRouter(t, st, set, "instance-b")
	b.RingTimeout, b.Budget, b.LeaseTTL = a.RingTimeout, a.Budget, a.LeaseTTL
	if err := b.Register(mk()); err != nil {
		t.Fatal(err)
	}
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	// B takes over once A's hold lapses, and waits on the ringing leg.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := st.Verification(context.Background(), v.ID)
		if got.Owner == "instance-b" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not taken over: owner %q", got.Owner)
		}
		time.Sleep(20 * time.Millisecond)
	}
	leg := lastLeg.Load().(gateway.Leg)
	if err := b.Report(context.Background(), gateway.Report{AttemptID: leg.AttemptID, Status: gateway.ReportAnswered, ProviderRef: "o_ring"}); err != nil {
		t.Fatal(err)
	}
	env := &env{t: t, store: st}
	got := env.wait(v.ID, gateway.StateConnected)
	if n := placed.Load(); n != 1 {
		t.Fatalf("leg placed %d times, want 1 (the taken-over leg must not ring again)", n)
	}
	if len(got.Attempts) != 1 || got.Attempts[0].Result != gateway.ResultConnected {
		t.Fatalf("attempts %+v", got.Attempts)
	}
	evs, _ := st.Events(context.Background(), v.ID, 0, 0)
	found := false
	for _, ev := range evs {
		if ev.Type == gateway.EventNote && contains(ev.Message, "taken over by instance-b") {
			found = true
		}
	}
	if !found {
		t.Fatal("the record does not show the take-over")
	}
}

// TestReportOutrunsPlacement: a provider's webhook that arrives before its
// API has answered (so before the run has recorded the provider's
// reference) is held until the reference is recorded, not dropped; one for
// a reference never recorded is ENOTFOUND once ReportGrace has passed.
func TestReportOutrunsPlacement(t *testing.T) {
	var e *env
	reported := make(chan error, 1)
	zoom := &mocks.Adapter{
		ChannelFn: func() gateway.Channel { return gateway.Channel("zoom") },
		PlaceFn: func(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
			go func() {
				reported <- e.r.Report(context.Background(), gateway.Report{Channel: gateway.Channel("zoom"), ProviderRef: "85746065432", Status: gateway.ReportAnswered})
			}()
			time.Sleep(300 * time.Millisecond) // the API's answer, slower than its webhook
			return gateway.Placement{ProviderRef: "85746065432"}, nil
		},
		HangUpFn: func(context.Context, gateway.Leg, gateway.Placement) error { return nil },
	}
	e = newEnv(t, zoom)
	e.r.RingTimeout = 3 * time.Second
	e.device("AW-1", "AW", gateway.Channel("zoom"))
	e.open()
	v := e.request(trafalgar, contact(gateway.Channel("zoom")))
	got := e.wait(v.ID, gateway.StateConnected, gateway.StateFailed)
	if got.State != gateway.StateConnected || got.Channel != gateway.Channel("zoom") {
		t.Fatalf("state %s on %q, want connected on zoom; attempts %+v", got.State, got.Channel, got.Attempts)
	}
	if err := <-reported; err != nil {
		t.Fatalf("the early report: %v", err)
	}

	e.r.ReportGrace = 200 * time.Millisecond
	start := time.Now()
	err := e.r.Report(context.Background(), gateway.Report{Channel: gateway.Channel("zoom"), ProviderRef: "99999999999", Status: gateway.ReportJoined})
	if gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Fatalf("report for a meeting never recorded: %v, want ENOTFOUND", err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Fatalf("gave up on an unknown reference after %s, before its grace", waited)
	}
}

// earlySender sends join links whose first status outruns the answer of
// the send (as a webhook can): it reports "delivered" before returning.
type earlySender struct {
	r        func() *router.Router
	reported chan error
}

func (s *earlySender) SendJoinLink(_ context.Context, to, ref, url string) (string, error) {
	go func() {
		s.reported <- s.r().Report(context.Background(), gateway.Report{Channel: gateway.Channel("whatsapp"), MessageID: "wamid.HBgL1", Status: gateway.ReportDelivered})
	}()
	time.Sleep(200 * time.Millisecond)
	return "wamid.HBgL1", nil
}

// TestJoinLinkStatuses: the messaging service's statuses of a join link go
// into the verification's record once each, on the attempt whose link it
// was, also when the first outruns the note of the send; "sent", unknown
// messages and unknown statuses add nothing.
func TestJoinLinkStatuses(t *testing.T) {
	var e *env
	meet := &mocks.Adapter{
		ChannelFn: func() gateway.Channel { return gateway.Channel("meet") },
		PlaceFn: func(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
			return gateway.Placement{ProviderRef: "spaces/abc", JoinURL: "https://meet.google.com/abc-defg-hij"}, nil
		},
		HangUpFn: func(context.Context, gateway.Leg, gateway.Placement) error { return nil },
	}
	e = newEnv(t, meet)
	links := &earlySender{r: func() *router.Router { return e.r }, reported: make(chan error, 1)}
	e.r.Links = links
	e.r.RingTimeout = 3 * time.Second
	e.device("AW-1", "AW", gateway.Channel("meet"))
	e.open()
	v := e.request(trafalgar, gateway.Contact{Channel: gateway.Channel("meet"), Handle: "officer@example.police.uk"},
		gateway.Contact{Channel: gateway.Channel("whatsapp"), Handle: "+447700900123", Links: true})
	if err := <-links.reported; err != nil {
		t.Fatalf("the status that outran the send: %v", err)
	}
	status := func(id string, st gateway.ReportStatus, detail string) error {
		return e.r.Report(context.Background(), gateway.Report{Channel: gateway.Channel("whatsapp"), MessageID: id, Status: st, Detail: detail})
	}
	for _, st := range []gateway.ReportStatus{gateway.ReportSent, gateway.ReportDelivered, gateway.ReportRead, gateway.ReportRead} {
		if err := status("wamid.HBgL1", st, ""); err != nil {
			t.Fatalf("status %s: %v", st, err)
		}
	}
	if err := status("wamid.HBgL1", "seen", ""); gateway.ErrorCode(err) != gateway.EINVALID {
		t.Errorf("unknown status: %v, want EINVALID", err)
	}
	e.r.ReportGrace = 50 * time.Millisecond
	if err := status("wamid.other", gateway.ReportFailed, "undeliverable"); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Errorf("a message never sent: %v, want ENOTFOUND", err)
	}

	evs, err := e.store.Events(context.Background(), v.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	attempt := ""
	for _, ev := range evs {
		if ev.Type != gateway.EventNote || ev.Data[gateway.DataMessage] != "wamid.HBgL1" {
			continue
		}
		got[ev.Message]++
		if attempt == "" {
			attempt = ev.AttemptID
		} else if ev.AttemptID != attempt {
			t.Errorf("note %q on attempt %s, want %s, the attempt whose link was sent", ev.Message, ev.AttemptID, attempt)
		}
	}
	want := map[string]int{
		"join link sent by whatsapp message":      1,
		"join link delivered by whatsapp message": 1,
		"join link read on whatsapp":              1,
	}
	if !maps.Equal(got, want) || attempt == "" {
		t.Fatalf("notes of the join link %v on attempt %q, want %v", got, attempt, want)
	}
}

// testChannels describes the channels the router tests use; whatsapp and
// facetime handles are phone numbers.
func testChannels(t testing.TB) *gateway.Registry {
	t.Helper()
	reg, err := gateway.NewRegistry(
		gateway.ChannelInfo{Channel: gateway.Channel("facetime"), PhoneHandle: true, Reports: gateway.ReportsAgent},
		gateway.ChannelInfo{Channel: gateway.Channel("whatsapp"), PhoneHandle: true, Reports: gateway.ReportsAgent},
		gateway.ChannelInfo{Channel: gateway.Channel("zoom"), Reports: gateway.ReportsWebhook},
		gateway.ChannelInfo{Channel: gateway.Channel("meet"), Reports: gateway.ReportsBothEnds},
		gateway.ChannelInfo{Channel: gateway.Channel("teams"), Reports: gateway.ReportsBothEnds},
		gateway.ChannelInfo{Channel: gateway.Channel("webrtc"), Reports: gateway.ReportsWebhook},
		gateway.ChannelInfo{Channel: gateway.ChannelPSTN, PhoneHandle: true, Reports: gateway.ReportsWebhook},
	)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestCallEndedBeforeOutcome: the provider reports the call's end before the
// supervisor records the outcome (the usual order: he hangs up, then
// writes it down). The device goes back to the pool, the verification stays
// connected awaiting the outcome, and no instance takes it over again and
// again (it once collected a take-over every owner TTL, for ever).
func TestCallEndedBeforeOutcome(t *testing.T) {
	var e *env
	var lastLeg atomic.Value
	ft := &mocks.Adapter{
		ChannelFn: func() gateway.Channel { return gateway.Channel("facetime") },
		PlaceFn: func(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
			lastLeg.Store(leg)
			go e.r.Report(context.Background(), gateway.Report{AttemptID: leg.AttemptID, Status: gateway.ReportAnswered, ProviderRef: "o_1"})
			return gateway.Placement{ProviderRef: "o_1"}, nil
		},
		HangUpFn: func(context.Context, gateway.Leg, gateway.Placement) error { return nil },
	}
	e = newEnv(t, ft)
	e.r.OwnerTTL = 300 * time.Millisecond
	e.device("AW-1", "AW", gateway.Channel("facetime"))
	e.open()
	v := e.request(trafalgar, contact(gateway.Channel("facetime")))
	e.wait(v.ID, gateway.StateConnected)
	leg := lastLeg.Load().(gateway.Leg)
	if err := e.r.Report(context.Background(), gateway.Report{AttemptID: leg.AttemptID, Status: gateway.ReportEnded, ProviderRef: "o_1"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := e.store.Device(context.Background(), "AW-1")
		if err != nil {
			t.Fatal(err)
		}
		if d.Lease == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the device was not released when the call ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Ten owner TTLs, with the sweeper running every 100 ms.
	time.Sleep(10 * e.r.OwnerTTL)
	got, err := e.store.Verification(context.Background(), v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != gateway.StateConnected {
		t.Fatalf("state %s, want connected awaiting the outcome", got.State)
	}
	evs, _ := e.store.Events(context.Background(), v.ID, 0, 0)
	for _, ev := range evs {
		if contains(ev.Message, "taken over") {
			t.Fatalf("taken over after the call ended: %q", ev.Message)
		}
	}
	if _, err := e.r.RecordOutcome(context.Background(), v.ID, gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 42"}); err != nil {
		t.Fatalf("outcome after the call ended: %v", err)
	}
}
