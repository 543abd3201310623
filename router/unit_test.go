package router_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/mocks"
	"github.com/safeconnection/gateway/router"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// The router's unit tests: the store is fakes of function fields, one per
// concern, so that a case can make the store fail exactly where it wants
// (a claim, a change of state, a report's write), which a real database
// does not do on request. A call the case did not set up panics, naming it.

// fakeStore is the store as the router sees it.
type fakeStore struct {
	mocks.Claims
	mocks.Record
	mocks.Owners
	mocks.Bus
}

// Interface guards
var (
	_ router.Claims = (*mocks.Claims)(nil)
	_ router.Record = (*mocks.Record)(nil)
	_ router.Owners = (*mocks.Owners)(nil)
	_ router.Store  = (*fakeStore)(nil)
)

// unit is an unopened router over a fake store and the Met's rooms.
type unit struct {
	t    testing.TB
	st   *fakeStore
	r    *router.Router
	logs *logtest.Hook
	obs  *observer
}

func newUnit(t testing.TB, adapters ...gateway.Adapter) *unit {
	t.Helper()
	u := &unit{t: t, st: &fakeStore{}, obs: &observer{}}
	u.r, _ = testRouter(t, u.st, adapters...)
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	u.r.Logger, u.logs, u.r.Observer = logger, hook, u.obs
	return u
}

// open opens the router with nothing to do in the background: no
// wake-ups, no free devices, no expired leases, no orphans.
func (u *unit) open() {
	u.t.Helper()
	u.st.SubscribeFn = func(string) (<-chan string, func()) { return make(chan string), func() {} }
	u.st.FreeDevicesFn = func(context.Context, time.Duration) (map[string]int, error) { return map[string]int{}, nil }
	u.st.ExpireLeasesFn = func(context.Context) ([]gateway.Lease, error) { return nil, nil }
	u.st.OrphansFn = func(context.Context) ([]gateway.Verification, error) { return nil, nil }
	openRouter(u.t, u.r)
}

// routing makes the record hold the verification a request creates, in
// routing and owned by this instance; transition answers every change of
// state with its event or an error (the verification it returns is the
// one held, in the state asked for).
func (u *unit) routing(transition func(t gateway.Transition) (gateway.Event, error)) {
	var mu sync.Mutex
	var v gateway.Verification
	u.st.CreateVerificationFn = func(_ context.Context, in gateway.Verification, _ string, _ gateway.Event) (gateway.Verification, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		v = in
		return v, true, nil
	}
	u.st.VerificationFn = func(context.Context, string) (gateway.Verification, error) {
		mu.Lock()
		defer mu.Unlock()
		return v, nil
	}
	u.st.OwnFn = func(context.Context, string, string, time.Duration) (gateway.Verification, error) {
		mu.Lock()
		defer mu.Unlock()
		return v, nil
	}
	u.st.TransitionFn = func(_ context.Context, _ string, t gateway.Transition) (gateway.Verification, gateway.Event, error) {
		mu.Lock()
		cur := v
		mu.Unlock()
		ev, err := transition(t)
		if err != nil {
			return cur, ev, err
		}
		if t.To != "" {
			cur.State = t.To
		}
		return cur, ev, nil
	}
}

// request asks for a WhatsApp call at Trafalgar Square.
func (u *unit) request() gateway.Verification {
	u.t.Helper()
	v, created, err := u.r.Request(context.Background(), gateway.Request{
		Officer: gateway.Officer{Collar: "PC 1234"}, Location: trafalgar,
		Contacts: []gateway.Contact{contact(gateway.Channel("whatsapp"))}, RequestedBy: "t_officer",
	})
	if err != nil || !created {
		u.t.Fatalf("Request: created %v, err %v", created, err)
	}
	return v
}

// logged reports whether an entry at level or worse has the message.
func (u *unit) logged(level logrus.Level, msg string) bool {
	for _, e := range u.logs.AllEntries() {
		if e.Level <= level && e.Message == msg {
			return true
		}
	}
	return false
}

// observer records what the router tells the metrics.
type observer struct {
	mu        sync.Mutex
	ended     []gateway.AttemptResult
	connected int
	finished  []gateway.State
}

func (o *observer) AttemptEnded(_ gateway.Channel, r gateway.AttemptResult, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ended = append(o.ended, r)
}

func (o *observer) Connected(gateway.Channel, time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.connected++
}

func (o *observer) Finished(v gateway.Verification) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finished = append(o.finished, v.State)
}

func (o *observer) seen() ([]gateway.AttemptResult, int, []gateway.State) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.ended), o.connected, slices.Clone(o.finished)
}

// counter counts the calls of a fake's function.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// whatsApp is an adapter that must not be asked to place anything.
func whatsApp() *mocks.Adapter {
	return &mocks.Adapter{ChannelFn: func() gateway.Channel { return gateway.Channel("whatsapp") }}
}

// Device AW-1 in Westminster, and a lease on it.
var (
	aw1      = gateway.Device{ID: "AW-1", RoomID: "AW", Number: "+442079460999", Handles: map[gateway.Channel]string{gateway.Channel("whatsapp"): "+442079460999"}}
	aw1Lease = gateway.Lease{DeviceID: "AW-1", RoomID: "AW", Fence: 7}
)

// released waits for the lease to be released and returns why.
func released(t testing.TB, ch <-chan string) string {
	t.Helper()
	select {
	case why := <-ch:
		return why
	case <-time.After(10 * time.Second):
		t.Fatal("the device was never released")
		return ""
	}
}

func TestRegisterRefusesDuplicate(t *testing.T) {
	a, _ := fake(gateway.Channel("zoom"), nil, answer)
	b, _ := fake(gateway.Channel("zoom"), nil, answer)
	u := newUnit(t, a)
	if err := u.r.Register(b); gateway.ErrorCode(err) != gateway.ECONFLICT {
		t.Fatalf("duplicate register: %v", err)
	}
}

// TestRequestErrors: requests refused before anything is written (the fake
// record has no CreateVerification: a write would panic).
func TestRequestErrors(t *testing.T) {
	wa, _ := fake(gateway.Channel("whatsapp"), nil, answer)
	u := newUnit(t, wa)
	tests := []struct {
		name string
		req  gateway.Request
		code string
	}{
		{"outside every room", gateway.Request{Location: gateway.Location{Lat: 48.8566, Lon: 2.3522}, Contacts: []gateway.Contact{contact(gateway.Channel("whatsapp"))}}, gateway.EOUTSIDE},
		{"no contacts", gateway.Request{Location: trafalgar}, gateway.EINVALID},
		{"no adapter for any channel", gateway.Request{Location: trafalgar, Contacts: []gateway.Contact{contact(gateway.Channel("teams"))}}, gateway.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := u.r.Request(context.Background(), tt.req); gateway.ErrorCode(err) != tt.code {
				t.Fatalf("err %v, want %s", err, tt.code)
			}
		})
	}
}

// TestRequestNotRecorded: when the store cannot write the new
// verification, the request fails unavailable (the officer app is told to
// try again, or 999) and what the router asked to write was the whole
// verification, held by this instance from the start.
func TestRequestNotRecorded(t *testing.T) {
	u := newUnit(t, whatsApp())
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	u.r.Now = func() time.Time { return now }
	var wrote gateway.Verification
	var first gateway.Event
	var key string
	u.st.CreateVerificationFn = func(_ context.Context, v gateway.Verification, k string, ev gateway.Event) (gateway.Verification, bool, error) {
		wrote, key, first = v, k, ev
		return gateway.Verification{}, false, gateway.Errorf(gateway.EUNAVAILABLE, "the store cannot write")
	}
	_, created, err := u.r.Request(context.Background(), gateway.Request{
		Officer: gateway.Officer{Collar: "PC 1234"}, Location: trafalgar, IdempotencyKey: "k1",
		Contacts: []gateway.Contact{contact(gateway.Channel("whatsapp"))}, RequestedBy: "t_officer",
	})
	if gateway.ErrorCode(err) != gateway.EUNAVAILABLE || created {
		t.Fatalf("Request = created %v, %v; want unavailable", created, err)
	}
	if wrote.State != gateway.StateRouting || wrote.RoomID != "AW" || wrote.RequestedBy != "t_officer" || key != "k1" ||
		!wrote.Deadline.Equal(now.Add(u.r.Budget)) || wrote.Owner != "test" || wrote.OwnerUntil == nil ||
		!wrote.OwnerUntil.Equal(now.Add(u.r.OwnerTTL)) || wrote.ID == "" || wrote.Reference == "" {
		t.Errorf("verification written: %+v (key %q)", wrote, key)
	}
	if first.Type != gateway.EventState || first.Data["room"] != "AW" || first.Instance != "test" {
		t.Errorf("first event: %+v", first)
	}
}

// TestEndedConflicts: a cancel or an outcome that the record refuses
// (ECONFLICT) is answered with what the verification is now, read back;
// nothing is published and nothing counted. Another error of the store is
// passed on as it is, without a read.
func TestEndedConflicts(t *testing.T) {
	conflict := gateway.Errorf(gateway.ECONFLICT, "state conflict")
	tests := []struct {
		name    string
		outcome bool
		err     error           // Transition's
		now     gateway.State   // the state read back; "" the read fails
		code    string          // of the answer
		msg     string          // its safe message
		from    []gateway.State // the states the transition may leave
		to      gateway.State   // and where it goes
		result  gateway.OutcomeResult
	}{
		{"cancel a verified one", false, conflict, gateway.StateVerified, gateway.ECONFLICT,
			"this verification is already verified: it cannot be cancelled", nil, gateway.StateCancelled, ""},
		{"cancel, read back fails", false, conflict, "", gateway.ECONFLICT, "state conflict", nil, gateway.StateCancelled, ""},
		{"cancel, store down", false, gateway.Errorf(gateway.EUNAVAILABLE, "down"), "", gateway.EUNAVAILABLE, "down", nil, gateway.StateCancelled, ""},
		{"outcome while dialling", true, conflict, gateway.StateDialling, gateway.ECONFLICT,
			"this verification is dialling: it cannot be given an outcome until its call connects",
			[]gateway.State{gateway.StateConnected}, gateway.StateRefused, gateway.OutcomeRefused},
		{"outcome of a cancelled one", true, conflict, gateway.StateCancelled, gateway.ECONFLICT,
			"this verification is already cancelled: it cannot be given an outcome",
			[]gateway.State{gateway.StateConnected}, gateway.StateVerified, gateway.OutcomeVerified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUnit(t)
			var asked gateway.Transition
			u.st.TransitionFn = func(_ context.Context, id string, tr gateway.Transition) (gateway.Verification, gateway.Event, error) {
				asked = tr
				return gateway.Verification{}, gateway.Event{}, tt.err
			}
			if tt.now != "" {
				u.st.VerificationFn = func(context.Context, string) (gateway.Verification, error) {
					return gateway.Verification{ID: "v_1", State: tt.now}, nil
				}
			} else if gateway.ErrorCode(tt.err) == gateway.ECONFLICT {
				u.st.VerificationFn = func(context.Context, string) (gateway.Verification, error) {
					return gateway.Verification{}, gateway.Errorf(gateway.EUNAVAILABLE, "down")
				}
			}
			var err error
			if tt.outcome {
				_, err = u.r.RecordOutcome(context.Background(), "v_1", gateway.Outcome{Result: tt.result, Supervisor: "PS 77"})
			} else {
				_, err = u.r.Cancel(context.Background(), "v_1", "PC 1234")
			}
			if gateway.ErrorCode(err) != tt.code || gateway.ErrorMessage(err) != tt.msg {
				t.Errorf("err = %v (%s: %q), want %s: %q", err, gateway.ErrorCode(err), gateway.ErrorMessage(err), tt.code, tt.msg)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("err = %v, does not wrap the store's %v", err, tt.err)
			}
			if asked.To != tt.to || (tt.from != nil && !slices.Equal(asked.From, tt.from)) {
				t.Errorf("transition asked from %v to %s, want from %v to %s", asked.From, asked.To, tt.from, tt.to)
			}
			if _, _, finished := u.obs.seen(); len(finished) != 0 {
				t.Errorf("counted as finished: %v", finished)
			}
		})
	}
}

// TestCancelWakeUpLost: a cancel recorded but whose wake-up cannot be
// published still succeeds (the run notices on its next read of the
// record); the failure is logged with the verification.
func TestCancelWakeUpLost(t *testing.T) {
	u := newUnit(t)
	var asked gateway.Transition
	u.st.TransitionFn = func(_ context.Context, id string, tr gateway.Transition) (gateway.Verification, gateway.Event, error) {
		asked = tr
		v := gateway.Verification{ID: id, State: tr.To}
		tr.Set(&v)
		return v, gateway.Event{}, nil
	}
	var topic string
	u.st.PublishFn = func(_ context.Context, tp, _ string) error {
		topic = tp
		return gateway.Errorf(gateway.EUNAVAILABLE, "bus down")
	}
	v, err := u.r.Cancel(context.Background(), "v_1", "PC 1234")
	if err != nil || v.State != gateway.StateCancelled || v.Reason != "cancelled by the officer" {
		t.Fatalf("Cancel = %+v, %v", v, err)
	}
	if !slices.Contains(asked.From, gateway.StateDialling) || !slices.Contains(asked.From, gateway.StateConnected) {
		t.Errorf("a cancel may leave %v; want dialling and connected among them", asked.From)
	}
	if topic != gateway.TopicCancel+"v_1" {
		t.Errorf("wake-up published on %q", topic)
	}
	if _, _, finished := u.obs.seen(); !slices.Equal(finished, []gateway.State{gateway.StateCancelled}) {
		t.Errorf("finished %v, want [cancelled]", finished)
	}
	e := u.logs.LastEntry()
	if e == nil || e.Level != logrus.WarnLevel || e.Data["verification"] != "v_1" {
		t.Errorf("log: %+v, want a warning naming the verification", e)
	}
}

// TestReportNotRecorded: a report the store cannot write is refused with
// the store's code (a webhook answers 503 and the provider sends it again);
// what the router tried to write is the report on the attempt's own
// channel, without the reporter's clock.
func TestReportNotRecorded(t *testing.T) {
	u := newUnit(t, whatsApp())
	u.st.AttemptFn = func(_ context.Context, id string) (gateway.Attempt, error) {
		return gateway.Attempt{ID: id, VerificationID: "v_1", Channel: gateway.Channel("whatsapp"), DeviceID: "AW-1"}, nil
	}
	var wrote gateway.Event
	u.st.AppendEventFn = func(_ context.Context, ev gateway.Event) (gateway.Event, error) {
		wrote = ev
		return gateway.Event{}, gateway.Errorf(gateway.EUNAVAILABLE, "the store cannot write")
	}
	err := u.r.Report(context.Background(), gateway.Report{AttemptID: "a_1", Channel: gateway.Channel("zoom"),
		Status: gateway.ReportAnswered, At: time.Now()})
	if gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
		t.Fatalf("Report = %v, want unavailable", err)
	}
	if wrote.Type != gateway.EventReport || wrote.VerificationID != "v_1" || wrote.AttemptID != "a_1" || wrote.Report == nil ||
		wrote.Report.Channel != gateway.Channel("whatsapp") || !wrote.Report.At.IsZero() || wrote.Report.Status != gateway.ReportAnswered {
		t.Errorf("event written: %+v (report %+v)", wrote, wrote.Report)
	}
}

// TestReportLookupFails: a store error other than not-found while finding
// a provider reference's attempt is not waited on for ReportGrace: the
// report is refused at once with it.
func TestReportLookupFails(t *testing.T) {
	u := newUnit(t)
	u.r.ReportGrace = 5 * time.Second
	var calls counter
	u.st.AttemptByProviderRefFn = func(context.Context, gateway.Channel, string) (gateway.Attempt, error) {
		calls.add()
		return gateway.Attempt{}, gateway.Errorf(gateway.EUNAVAILABLE, "down")
	}
	start := time.Now()
	err := u.r.Report(context.Background(), gateway.Report{Channel: gateway.Channel("zoom"), ProviderRef: "m_1", Status: gateway.ReportAnswered})
	if gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
		t.Fatalf("Report = %v, want unavailable", err)
	}
	if n, took := calls.count(), time.Since(start); n != 1 || took > time.Second {
		t.Errorf("looked up %d times over %v, want once at once", n, took)
	}
}

// TestReportAnsweredTooLate: a leg answered after the router ended its
// attempt is recorded, then hung up on the device it rang.
func TestReportAnsweredTooLate(t *testing.T) {
	ended := time.Now().Add(-time.Second)
	var hung []gateway.Placement
	var legs []gateway.Leg
	ad := &mocks.Adapter{
		ChannelFn: func() gateway.Channel { return gateway.Channel("whatsapp") },
		HangUpFn: func(_ context.Context, leg gateway.Leg, p gateway.Placement) error {
			legs, hung = append(legs, leg), append(hung, p)
			return nil
		},
	}
	u := newUnit(t, ad)
	u.st.AttemptFn = func(_ context.Context, id string) (gateway.Attempt, error) {
		return gateway.Attempt{ID: id, VerificationID: "v_1", Channel: gateway.Channel("whatsapp"), DeviceID: "AW-1",
			ProviderRef: "ref-9", EndedAt: &ended, Result: gateway.ResultNoAnswer}, nil
	}
	u.st.AppendEventFn = func(_ context.Context, ev gateway.Event) (gateway.Event, error) { return ev, nil }
	u.st.DeviceFn = func(context.Context, string) (gateway.Device, error) { return aw1, nil }
	if err := u.r.Report(context.Background(), gateway.Report{AttemptID: "a_1", Status: gateway.ReportAnswered}); err != nil {
		t.Fatal(err)
	}
	if len(hung) != 1 || hung[0].ProviderRef != "ref-9" || legs[0].AttemptID != "a_1" || legs[0].Device.ID != "AW-1" {
		t.Fatalf("hung up %+v on legs %+v, want ref-9 once on AW-1", hung, legs)
	}
}

// TestSweepStoreFailures: a sweep whose lease expiry fails still looks for
// orphans, and both failures are logged as errors.
func TestSweepStoreFailures(t *testing.T) {
	u := newUnit(t)
	u.st.ExpireLeasesFn = func(context.Context) ([]gateway.Lease, error) {
		return nil, gateway.Errorf(gateway.EUNAVAILABLE, "down")
	}
	var orphans counter
	u.st.OrphansFn = func(context.Context) ([]gateway.Verification, error) {
		orphans.add()
		return nil, gateway.Errorf(gateway.EUNAVAILABLE, "down")
	}
	u.r.Sweep(context.Background())
	if orphans.count() != 1 {
		t.Errorf("looked for orphans %d times, want 1", orphans.count())
	}
	for _, msg := range []string{"could not sweep expired leases", "could not look for orphaned verifications"} {
		if !u.logged(logrus.ErrorLevel, msg) {
			t.Errorf("not logged as an error: %q", msg)
		}
	}
}

// TestDiallingRefusedAfterClaim: the verification was cancelled (on another
// instance) between the claim of a device and the move to dialling. The
// record refuses the move; nothing is placed, and the device goes back to
// the pool at once rather than when its lease expires.
func TestDiallingRefusedAfterClaim(t *testing.T) {
	var places counter
	ad := whatsApp()
	ad.PlaceFn = func(context.Context, gateway.Leg) (gateway.Placement, error) {
		places.add()
		return gateway.Placement{}, nil
	}
	u := newUnit(t, ad)
	var claims counter
	var asked gateway.ClaimRequest
	u.st.ClaimFn = func(_ context.Context, req gateway.ClaimRequest) (gateway.Lease, gateway.Device, error) {
		if claims.add() == 1 {
			asked = req
		}
		l := aw1Lease
		l.Holder = req.Holder
		return l, aw1, nil
	}
	releases := make(chan string, 4)
	u.st.ReleaseFn = func(_ context.Context, l gateway.Lease, why string) error {
		if l.Fence != aw1Lease.Fence || l.DeviceID != "AW-1" {
			t.Errorf("released %+v, want the lease claimed", l)
		}
		releases <- why
		return nil
	}
	var dialling counter
	u.routing(func(tr gateway.Transition) (gateway.Event, error) {
		if tr.To == gateway.StateDialling && tr.Attempt != nil && tr.Attempt.DeviceID == "AW-1" {
			dialling.add()
		}
		return gateway.Event{}, gateway.Errorf(gateway.ECONFLICT, "cancelled")
	})
	u.open()
	v := u.request()
	if why := released(t, releases); why != "not used" {
		t.Errorf("released because %q, want not used", why)
	}
	time.Sleep(100 * time.Millisecond) // time for a wrong second claim or placement
	if n := places.count(); n != 0 {
		t.Errorf("placed %d times after the record refused dialling", n)
	}
	if n := claims.count(); n != 1 || dialling.count() != 1 {
		t.Errorf("claims %d, moves to dialling %d; want 1 of each", n, dialling.count())
	}
	if asked.Holder != v.ID || asked.Channel != gateway.Channel("whatsapp") || !slices.Equal(asked.RoomIDs[:1], []string{"AW"}) || len(asked.RoomIDs) < 2 {
		t.Errorf("claim asked %+v, want for %s on whatsapp in AW then its neighbours", asked, v.ID)
	}
	if u.logged(logrus.ErrorLevel, "could not record a change of state") {
		t.Error("a refused move (the verification ended) logged as an error")
	}
}

// TestClaimStoreFailure: a claim that fails for a fault of the store (not
// "no device free") is logged and tried again after PollInterval; the
// verification is not queued for it.
func TestClaimStoreFailure(t *testing.T) {
	u := newUnit(t, whatsApp())
	var claims counter
	u.st.ClaimFn = func(_ context.Context, req gateway.ClaimRequest) (gateway.Lease, gateway.Device, error) {
		if claims.add() == 1 {
			return gateway.Lease{}, gateway.Device{}, gateway.Errorf(gateway.EINTERNAL, "disk I/O error")
		}
		return aw1Lease, aw1, nil
	}
	releases := make(chan string, 4)
	u.st.ReleaseFn = func(_ context.Context, _ gateway.Lease, why string) error { releases <- why; return nil }
	var mu sync.Mutex
	var moves []gateway.State
	u.routing(func(tr gateway.Transition) (gateway.Event, error) {
		mu.Lock()
		moves = append(moves, tr.To)
		mu.Unlock()
		return gateway.Event{}, gateway.Errorf(gateway.ECONFLICT, "cancelled")
	})
	u.open()
	u.request()
	released(t, releases)
	if n := claims.count(); n != 2 {
		t.Errorf("claimed %d times, want 2 (the failed claim tried again)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(moves, []gateway.State{gateway.StateDialling}) {
		t.Errorf("moves %v, want only to dialling (not queued for a store fault)", moves)
	}
	if !u.logged(logrus.ErrorLevel, "device claim failed") {
		t.Error("the failed claim was not logged as an error")
	}
}

// TestConnectionNotRecorded: the provider says the call is up, but the
// record cannot take the move to connected. Nobody would watch that call:
// it is hung up, the attempt ends unknown (not connected) and the device
// goes back to the pool.
func TestConnectionNotRecorded(t *testing.T) {
	var hung []gateway.Placement
	ad := whatsApp()
	ad.PlaceFn = func(context.Context, gateway.Leg) (gateway.Placement, error) {
		return gateway.Placement{ProviderRef: "ref-1", Connected: true}, nil
	}
	ad.HangUpFn = func(_ context.Context, _ gateway.Leg, p gateway.Placement) error { hung = append(hung, p); return nil }
	u := newUnit(t, ad)
	u.st.ClaimFn = func(context.Context, gateway.ClaimRequest) (gateway.Lease, gateway.Device, error) {
		return aw1Lease, aw1, nil
	}
	u.st.RenewFn = func(_ context.Context, l gateway.Lease, _ time.Duration) (gateway.Lease, error) { return l, nil }
	releases := make(chan string, 4)
	u.st.ReleaseFn = func(_ context.Context, _ gateway.Lease, why string) error { releases <- why; return nil }
	var mu sync.Mutex
	var attempts []gateway.Attempt
	u.st.PutAttemptFn = func(_ context.Context, a gateway.Attempt, ev gateway.Event) (gateway.Event, error) {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, a)
		return ev, nil
	}
	u.st.EventsFn = func(context.Context, string, int64, int) ([]gateway.Event, error) { return nil, nil }
	u.routing(func(tr gateway.Transition) (gateway.Event, error) {
		if tr.To == gateway.StateConnected {
			return gateway.Event{}, gateway.Errorf(gateway.EUNAVAILABLE, "the store cannot write")
		}
		return gateway.Event{Seq: 1}, nil
	})
	u.open()
	u.request()
	released(t, releases)
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) == 0 {
		t.Fatal("the attempt's end was not written")
	}
	last := attempts[len(attempts)-1]
	if last.Result != gateway.ResultUnknown || last.EndedAt == nil || last.ProviderRef != "ref-1" {
		t.Errorf("attempt written last: %+v, want ended unknown with ref-1", last)
	}
	if len(hung) != 1 || hung[0].ProviderRef != "ref-1" {
		t.Errorf("hung up %+v, want ref-1 once", hung)
	}
	ended, connected, _ := u.obs.seen()
	if !slices.Equal(ended, []gateway.AttemptResult{gateway.ResultUnknown}) || connected != 0 {
		t.Errorf("counted attempts %v and %d connections, want [unknown] and none", ended, connected)
	}
	if !u.logged(logrus.ErrorLevel, "could not record a change of state") {
		t.Error("the failed move to connected was not logged as an error")
	}
}
