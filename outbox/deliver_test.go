package outbox_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/mocks/incident"
	"github.com/safeconnection/gateway/outbox"
	"github.com/safeconnection/gateway/store/postgres"
	"github.com/safeconnection/gateway/store/postgres/pgtest"
	"github.com/safeconnection/gateway/store/sqlite"
)

// openStore opens a SQLite store that writes the outbox.
func openStore(t *testing.T) gateway.Store {
	t.Helper()
	s := sqlite.New(filepath.Join(t.TempDir(), "gateway.db"))
	s.Outbox = true
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newIncident starts the fake incident system with a new secret and
// returns it, its URL and the secret's key.
func newIncident(t *testing.T, wrap ...func(http.Handler) http.Handler) (*incident.Server, string, []byte) {
	t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := outbox.SecretPrefix + base64.StdEncoding.EncodeToString(raw)
	fake, err := incident.New(secret)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = fake
	for _, w := range wrap {
		h = w(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return fake, srv.URL + "/incidents", raw
}

// newDeliverer returns a deliverer for st and url with a quick schedule
// and no quick retries within a send.
func newDeliverer(st gateway.Store, url string, key []byte, instance string) *outbox.Deliverer {
	s := outbox.NewSender(url, key)
	s.Client.RetryMax = 0
	return &outbox.Deliverer{Store: st, Sender: s, Instance: instance, Lease: 5 * time.Second,
		Schedule: outbox.Schedule{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond, For: time.Minute}}
}

// closeOne creates a verification and closes it: verified, or failed
// without a call (a flag as well).
func closeOne(t *testing.T, st gateway.Store, id string, failed bool) {
	t.Helper()
	c := context.Background()
	if _, _, err := st.CreateVerification(c, gateway.Verification{ID: id, Reference: gateway.NewReference(), RoomID: "AW",
		RequestedBy: "t_officer", Officer: gateway.Officer{Collar: "PC 1234", Warrant: "W998877", Force: "met"}}, "",
		gateway.Event{Type: gateway.EventState, Message: "requested"}); err != nil {
		t.Fatal(err)
	}
	tr := gateway.Transition{To: gateway.StateVerified, Set: func(v *gateway.Verification) {
		v.Channel = "facetime"
		v.Outcome = &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 42 Patel", At: time.Now().UTC()}
	}, Event: gateway.Event{Type: gateway.EventOutcome, Message: "verified"}}
	if failed {
		tr = gateway.Transition{To: gateway.StateFailed, Event: gateway.Event{Type: gateway.EventState, Message: "failed"}}
	}
	if _, _, err := st.Transition(c, id, tr); err != nil {
		t.Fatal(err)
	}
}

// deliverUntil runs the deliverers until every entry is settled as done
// says, or fails after 15 s.
func deliverUntil(t *testing.T, st gateway.Store, done func([]gateway.OutboxEntry) bool, ds ...*outbox.Deliverer) []gateway.OutboxEntry {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, d := range ds {
			if _, err := d.DeliverDue(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		es, err := st.OutboxEntries(context.Background(), gateway.OutboxFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if done(es) {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled in time: %+v", es)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// all reports whether every entry is in state.
func all(state gateway.OutboxState) func([]gateway.OutboxEntry) bool {
	return func(es []gateway.OutboxEntry) bool {
		for _, e := range es {
			if e.State != state {
				return false
			}
		}
		return len(es) > 0
	}
}

// TestDeliveredOnceTheReceiverIsBack: with the receiver down for a while,
// every entry is delivered once it is back, each once, with the id of its
// first try, one verification's entries in order.
func TestDeliveredOnceTheReceiverIsBack(t *testing.T) {
	st := openStore(t)
	fake, url, key := newIncident(t)
	closeOne(t, st, "v1", true) // closed and flagged
	closeOne(t, st, "v2", false)
	closeOne(t, st, "v3", true)
	fake.SetDown(6)
	es := deliverUntil(t, st, all(gateway.OutboxDelivered), newDeliverer(st, url, key, "i1"))
	got := fake.Received()
	if got.Down != 6 || got.Repeats != 0 || got.Refused != 0 {
		t.Fatalf("received %+v", got)
	}
	var ids []string
	for _, d := range got.Deliveries {
		ids = append(ids, d.ID)
	}
	var want []string
	retried := 0
	for _, e := range es {
		want = append(want, e.ID)
		if e.Attempts > 1 {
			retried++
		}
	}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("delivered %v, want each of %v once", ids, want)
	}
	if retried == 0 {
		t.Fatal("no entry was retried, though the receiver was down")
	}
	// One verification's entries arrive in the order they were written.
	place := map[string]int{}
	for i, d := range got.Deliveries {
		place[d.ID] = i
	}
	for _, v := range []string{"v1", "v3"} {
		vs, err := st.OutboxEntries(context.Background(), gateway.OutboxFilter{VerificationID: v})
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 2 || vs[0].Type != gateway.OutboxClosed || place[vs[0].ID] > place[vs[1].ID] {
			t.Fatalf("%s's entries %+v arrived at %d and %d", v, vs, place[vs[0].ID], place[vs[1].ID])
		}
	}
	// The receiver saw the id of a retried entry on more than one try.
	sameID := false
	for _, d := range got.Deliveries {
		sameID = sameID || d.Tries > 1
	}
	if !sameID {
		t.Fatal("no id came on more than one try")
	}
}

// TestAWrongSignatureIsRefused: a receiver checking with the Standard
// Webhooks library refuses a message signed with another key, and the
// entry waits.
func TestAWrongSignatureIsRefused(t *testing.T) {
	st := openStore(t)
	fake, url, _ := newIncident(t)
	closeOne(t, st, "v1", false)
	other := make([]byte, 32)
	rand.Read(other)
	d := newDeliverer(st, url, other, "i1")
	if _, err := d.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := fake.Received()
	if got.Refused != 1 || len(got.Deliveries) != 0 {
		t.Fatalf("received %+v", got)
	}
	es, _ := st.OutboxEntries(context.Background(), gateway.OutboxFilter{})
	if len(es) != 1 || es[0].State != gateway.OutboxPending || es[0].LastError != "the incident system answered 401" {
		t.Fatalf("entries %+v", es)
	}
}

// TestDeadAfterItsWindowThenReplayed: an entry the receiver keeps refusing
// is dead once its window passes, in the ops record; one answered 410 is
// dead at once; replayed, each is delivered with its id.
func TestDeadAfterItsWindowThenReplayed(t *testing.T) {
	st := openStore(t)
	fake, url, key := newIncident(t)
	closeOne(t, st, "v1", false)
	fake.SetStatus(http.StatusInternalServerError)
	d := newDeliverer(st, url, key, "i1")
	d.Schedule.For = 100 * time.Millisecond
	es := deliverUntil(t, st, all(gateway.OutboxDead), d)
	if es[0].Attempts < 2 || es[0].LastError != "the incident system answered 500" {
		t.Fatalf("dead entry %+v", es[0])
	}
	closeOne(t, st, "v2", false)
	fake.SetStatus(http.StatusGone)
	es = deliverUntil(t, st, all(gateway.OutboxDead), d)
	if es[1].Attempts != 1 {
		t.Fatalf("after a 410, %d attempts", es[1].Attempts)
	}
	ops, err := st.OpsEvents(context.Background(), gateway.OpsEventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	dead := 0
	for _, e := range ops {
		if e.Action == gateway.OpsOutboxDead {
			dead++
		}
	}
	if dead != 2 {
		t.Fatalf("%d dead entries in the ops record, want 2", dead)
	}
	fake.SetStatus(0)
	ops0 := gateway.Actor{ID: "t_ops", Name: "Ops Desk"}
	for _, e := range es {
		if _, err := st.ReplayOutbox(context.Background(), e.ID, gateway.OpsEvent{Actor: ops0, Action: gateway.OpsOutboxReplay}); err != nil {
			t.Fatal(err)
		}
	}
	deliverUntil(t, st, all(gateway.OutboxDelivered), d)
	got := fake.Received()
	if len(got.Deliveries) != 2 || got.Deliveries[0].ID != es[0].ID || got.Deliveries[1].ID != es[1].ID {
		t.Fatalf("after replay received %+v, want %s and %s", got.Deliveries, es[0].ID, es[1].ID)
	}
}

// inFlight wraps the receiver: it fails the test when one id is being
// received twice at once, and holds each request a while so that
// overlapping deliveries would show.
func inFlight(t *testing.T) func(http.Handler) http.Handler {
	var (
		mu  sync.Mutex
		now = map[string]bool{}
	)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("webhook-id")
			mu.Lock()
			if now[id] {
				t.Errorf("entry %s delivered twice at once", id)
			}
			now[id] = true
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			next.ServeHTTP(w, r)
			mu.Lock()
			delete(now, id)
			mu.Unlock()
		})
	}
}

// runTogether runs the deliverers at once until every entry is delivered.
func runTogether(t *testing.T, st gateway.Store, ds ...*outbox.Deliverer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, d := range ds {
		d.Every = 2 * time.Millisecond
		wg.Add(1)
		go func() { defer wg.Done(); d.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		es, err := st.OutboxEntries(context.Background(), gateway.OutboxFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if all(gateway.OutboxDelivered)(es) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all delivered in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTwoDeliverersOnOneStore: two deliverers on one store deliver every
// entry once and never one entry at once.
func TestTwoDeliverersOnOneStore(t *testing.T) {
	st := openStore(t)
	fake, url, key := newIncident(t, inFlight(t))
	for i := range 30 {
		closeOne(t, st, fmt.Sprintf("v%02d", i), i%3 == 0)
	}
	runTogether(t, st, newDeliverer(st, url, key, "i1"), newDeliverer(st, url, key, "i2"))
	if got := fake.Received(); len(got.Deliveries) != 40 || got.Repeats != 0 {
		t.Fatalf("received %d, %d repeats; want 40 and none", len(got.Deliveries), got.Repeats)
	}
}

// TestTwoInstancesOnPostgres: two instances, each with its own store on
// one PostgreSQL database, share the outbox without delivering an entry
// twice or twice at once.
func TestTwoInstancesOnPostgres(t *testing.T) {
	url := pgtest.URL(t)
	open := func(instance string) *postgres.Store {
		s := postgres.New(url)
		s.Instance, s.Outbox = instance, true
		if err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open("i1"), open("i2")
	fake, endpoint, key := newIncident(t, inFlight(t))
	for i := range 30 {
		st := gateway.Store(a)
		if i%2 == 1 {
			st = b
		}
		closeOne(t, st, fmt.Sprintf("v%02d", i), i%3 == 0)
	}
	runTogether(t, a, newDeliverer(a, endpoint, key, "i1"), newDeliverer(b, endpoint, key, "i2"))
	if got := fake.Received(); len(got.Deliveries) != 40 || got.Repeats != 0 {
		t.Fatalf("received %d, %d repeats; want 40 and none", len(got.Deliveries), got.Repeats)
	}
}

// TestMisconductGoesToProfessionalStandards: with a route for
// gateway.OutboxMisconduct, her misconduct report goes to professional
// standards (signed with their secret) and the closed entry to the
// incident system, each to its own receiver alone.
func TestMisconductGoesToProfessionalStandards(t *testing.T) {
	st := openStore(t)
	fake, url, key := newIncident(t)
	standards, surl, skey := newIncident(t)
	closeOne(t, st, "v1", false)
	if _, err := st.AddFeedback(context.Background(), gateway.Feedback{VerificationID: "v1", Treated: gateway.FeedbackBadly,
		Misconduct: true, Report: "he would not show his card"},
		gateway.Event{VerificationID: "v1", Type: gateway.EventNote, Message: "her feedback", Data: map[string]string{"feedback": "misconduct"}}); err != nil {
		t.Fatal(err)
	}
	d := newDeliverer(st, url, key, "i1")
	route := outbox.NewSender(surl, skey)
	route.Client.RetryMax = 0
	d.Routes = map[string]*outbox.Sender{gateway.OutboxMisconduct: route}
	deliverUntil(t, st, all(gateway.OutboxDelivered), d)
	types := func(r incident.Received) []string {
		var out []string
		for _, del := range r.Deliveries {
			out = append(out, del.Type)
		}
		return out
	}
	if got := types(fake.Received()); len(got) != 1 || got[0] != gateway.OutboxClosed {
		t.Errorf("the incident system received %v, want the closed entry alone", got)
	}
	got := standards.Received()
	if ts := types(got); len(ts) != 1 || ts[0] != gateway.OutboxMisconduct || !strings.Contains(string(got.Deliveries[0].Body), "would not show his card") {
		t.Errorf("professional standards received %v, want the misconduct report alone", ts)
	}
}
