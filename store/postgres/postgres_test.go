package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/store/postgres/pgtest"
	"github.com/safeconnection/gateway/store/storetest"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// openStore opens a store on url and closes it when the test ends.
func openStore(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openInstance opens a store named instance on url and closes it when the
// test ends.
func openInstance(t testing.TB, url, instance string) *Store {
	t.Helper()
	s := New(url)
	s.Instance = instance
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newStore opens a store on a fresh schema.
func newStore(t testing.TB) *Store {
	t.Helper()
	return openStore(t, pgtest.URL(t))
}

// wantCode fails the test unless err has the code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := gateway.ErrorCode(err); got != code {
		t.Fatalf("error code %q (%v), want %q", got, err, code)
	}
}

// mustDevice creates a device in room with handles for the channels given,
// and a number.
func mustDevice(t testing.TB, s *Store, id, room string, chans ...gateway.Channel) gateway.Device {
	t.Helper()
	h := map[gateway.Channel]string{}
	for _, c := range chans {
		h[c] = id + "@" + string(c)
	}
	d, err := s.CreateDevice(context.Background(), gateway.Device{ID: id, RoomID: room, Name: id, Number: "+447700900001", Handles: h})
	if err != nil {
		t.Fatalf("CreateDevice %s: %v", id, err)
	}
	return d
}

// mustVerification creates a verification in state routing.
func mustVerification(t testing.TB, s *Store, id string) gateway.Verification {
	t.Helper()
	v, _, err := s.CreateVerification(context.Background(), gateway.Verification{
		ID: id, Reference: gateway.NewReference(), RoomID: "r1", RequestedBy: "t_officer",
	}, "", gateway.Event{Type: gateway.EventState, Message: "created"})
	if err != nil {
		t.Fatalf("CreateVerification %s: %v", id, err)
	}
	return v
}

// receive waits for one message on ch.
func receive(t testing.TB, ch <-chan string, what string) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("no message on %s within 5s", what)
		return ""
	}
}

// TestConformance runs the conformance suite, each subtest on a store in a
// schema of its own.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) gateway.Store { return newStore(t) })
}

func TestOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		url  func(t *testing.T) (url, schema string)
	}{
		{"search_path in the URL", func(t *testing.T) (string, string) {
			return pgtest.URL(t), ""
		}},
		{"Schema field creates the schema", func(t *testing.T) (string, string) {
			pgtest.URL(t) // skips when no database
			schema := "gwtest_field_" + randomHex(4)
			t.Cleanup(func() {
				conn, err := pgx.Connect(ctx, pgtest.DatabaseURL())
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close(ctx)
				conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
			})
			return pgtest.DatabaseURL(), schema
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, schema := tt.url(t)
			const n = 8
			stores := make([]*Store, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					s := New(url)
					s.Schema = schema
					errs[i] = s.Open(ctx)
					stores[i] = s
				})
			}
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("Open %d: %v", i, errs[i])
				}
				t.Cleanup(func() { stores[i].Close() })
			}
			ms, err := migrations()
			if err != nil {
				t.Fatal(err)
			}
			var count, distinct int
			if err := stores[0].pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&count, &distinct); err != nil {
				t.Fatal(err)
			}
			if count != len(ms) || distinct != len(ms) {
				t.Errorf("schema_migrations has %d rows (%d versions), want %d", count, distinct, len(ms))
			}
			if schema != "" && stores[0].Schema != schema {
				t.Errorf("Schema = %q, want %q", stores[0].Schema, schema)
			}
			for i, s := range stores {
				if _, err := s.Devices(ctx, "", true); err != nil {
					t.Errorf("store %d: Devices: %v", i, err)
				}
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"bad URL", "postgres://%zz", gateway.EINVALID},
		{"nothing listening", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", gateway.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.url)
			if err == nil {
				s.Close()
			}
			wantCode(t, err, tt.want)
		})
	}
}

func TestClaimEligibility(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	zoom := func(r string) gateway.ClaimRequest {
		return gateway.ClaimRequest{RoomIDs: []string{r}, Channel: gateway.Channel("zoom")}
	}
	tests := []struct {
		name   string
		setup  func(t *testing.T, r string)        // creates devices named r + suffix
		req    func(r string) gateway.ClaimRequest // Holder and TTL are filled in
		before int                                 // claims made before the one checked
		want   string                              // suffix of the device claimed; "" for EUNAVAILABLE
	}{
		{
			name: "supports the channel",
			setup: func(t *testing.T, r string) {
				mustDevice(t, s, r+"a", r, gateway.Channel("zoom"))
				mustDevice(t, s, r+"b", r, gateway.Channel("facetime"))
			},
			req: func(r string) gateway.ClaimRequest {
				return gateway.ClaimRequest{RoomIDs: []string{r}, Channel: gateway.Channel("facetime")}
			},
			want: "b",
		},
		{
			name:  "no device has the channel",
			setup: func(t *testing.T, r string) { mustDevice(t, s, r+"a", r, gateway.Channel("zoom")) },
			req: func(r string) gateway.ClaimRequest {
				return gateway.ClaimRequest{RoomIDs: []string{r}, Channel: gateway.Channel("whatsapp")}
			},
		},
		{
			name: "pstn needs a number",
			setup: func(t *testing.T, r string) {
				if _, err := s.CreateDevice(ctx, gateway.Device{ID: r + "a", RoomID: r}); err != nil {
					t.Fatal(err)
				}
				mustDevice(t, s, r+"b", r)
			},
			req: func(r string) gateway.ClaimRequest {
				return gateway.ClaimRequest{RoomIDs: []string{r}, Channel: gateway.ChannelPSTN}
			},
			want: "b",
		},
		{
			name: "out of service and retired devices are skipped",
			setup: func(t *testing.T, r string) {
				for id, st := range map[string]gateway.DeviceStatus{"a": gateway.DeviceOutOfService, "b": gateway.DeviceRetired} {
					mustDevice(t, s, r+id, r, gateway.Channel("zoom"))
					if _, err := s.UpdateDevice(ctx, r+id, func(d *gateway.Device) error { d.Status = st; return nil }); err != nil {
						t.Fatal(err)
					}
				}
				mustDevice(t, s, r+"c", r, gateway.Channel("zoom"))
			},
			req:  zoom,
			want: "c",
		},
		{
			name: "stale heartbeat is skipped",
			setup: func(t *testing.T, r string) {
				mustDevice(t, s, r+"a", r, gateway.Channel("zoom")) // never seen
				mustDevice(t, s, r+"b", r, gateway.Channel("zoom"))
				if _, err := s.Heartbeat(ctx, r+"b", 80, []gateway.Channel{gateway.Channel("zoom")}); err != nil {
					t.Fatal(err)
				}
			},
			req: func(r string) gateway.ClaimRequest {
				q := zoom(r)
				q.Stale = time.Minute
				return q
			},
			want: "b",
		},
		{
			name:  "zero stale ignores heartbeats",
			setup: func(t *testing.T, r string) { mustDevice(t, s, r+"a", r, gateway.Channel("zoom")) },
			req:   zoom,
			want:  "a",
		},
		{
			name: "excluded device is skipped",
			setup: func(t *testing.T, r string) {
				mustDevice(t, s, r+"a", r, gateway.Channel("zoom"))
				mustDevice(t, s, r+"b", r, gateway.Channel("zoom"))
			},
			req: func(r string) gateway.ClaimRequest {
				q := zoom(r)
				q.Exclude = []string{r + "a"}
				return q
			},
			want: "b",
		},
		{
			name: "leased devices are skipped, least recently used first",
			setup: func(t *testing.T, r string) {
				mustDevice(t, s, r+"a", r, gateway.Channel("zoom"))
				mustDevice(t, s, r+"b", r, gateway.Channel("zoom"))
			},
			req:    zoom,
			before: 1,
			want:   "b",
		},
		{
			name:   "every device leased",
			setup:  func(t *testing.T, r string) { mustDevice(t, s, r+"a", r, gateway.Channel("zoom")) },
			req:    zoom,
			before: 1,
		},
		{
			name: "rooms in order",
			setup: func(t *testing.T, r string) {
				mustDevice(t, s, r+"a", r+"far", gateway.Channel("zoom"))
				mustDevice(t, s, r+"b", r+"near", gateway.Channel("zoom"))
			},
			req: func(r string) gateway.ClaimRequest {
				return gateway.ClaimRequest{RoomIDs: []string{r + "empty", r + "near", r + "far"}, Channel: gateway.Channel("zoom")}
			},
			want: "b",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fmt.Sprintf("r%02d", i)
			tt.setup(t, r)
			req := tt.req(r)
			req.TTL = time.Minute
			for h := range tt.before {
				q := req
				q.Holder = "v_before" + strconv.Itoa(h)
				if _, _, err := s.Claim(ctx, q); err != nil {
					t.Fatalf("claim before: %v", err)
				}
			}
			req.Holder = "v_" + r
			l, d, err := s.Claim(ctx, req)
			if tt.want == "" {
				wantCode(t, err, gateway.EUNAVAILABLE)
				return
			}
			if err != nil {
				t.Fatalf("Claim: %v", err)
			}
			if d.ID != r+tt.want || l.DeviceID != d.ID {
				t.Fatalf("claimed %s (lease on %s), want %s", d.ID, l.DeviceID, r+tt.want)
			}
			if d.Lease == nil || *d.Lease != l || l.Holder != req.Holder {
				t.Errorf("device lease %+v, returned lease %+v", d.Lease, l)
			}
			if got := l.ExpiresAt.Sub(l.ClaimedAt); got != time.Minute {
				t.Errorf("lease lasts %v, want 1m", got)
			}
			if !d.LastUsed.Equal(l.ClaimedAt) {
				t.Errorf("LastUsed %v, want the claim time %v", d.LastUsed, l.ClaimedAt)
			}
		})
	}
}

func TestLeaseFencing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustDevice(t, s, "d1", "r1", gateway.Channel("zoom"))
	req := gateway.ClaimRequest{RoomIDs: []string{"r1"}, Channel: gateway.Channel("zoom"), Holder: "v_1", TTL: time.Minute}
	l1, _, err := s.Claim(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, l1, "done"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	req.Holder = "v_2"
	l2, _, err := s.Claim(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if l2.Fence <= l1.Fence {
		t.Fatalf("fence %d after %d", l2.Fence, l1.Fence)
	}
	wrongHolder := l2
	wrongHolder.Holder = "v_1"
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"renew a released lease", func() error { _, err := s.Renew(ctx, l1, time.Minute); return err }, gateway.ECONFLICT},
		{"release a released lease", func() error { return s.Release(ctx, l1, "again") }, gateway.ECONFLICT},
		{"renew with another holder", func() error { _, err := s.Renew(ctx, wrongHolder, time.Minute); return err }, gateway.ECONFLICT},
		{"release with another holder", func() error { return s.Release(ctx, wrongHolder, "x") }, gateway.ECONFLICT},
		{"renew the current lease", func() error {
			got, err := s.Renew(ctx, l2, time.Hour)
			if err == nil && !got.ExpiresAt.After(l2.ExpiresAt) {
				return fmt.Errorf("renewed expiry %v not after %v", got.ExpiresAt, l2.ExpiresAt)
			}
			return err
		}, ""},
		{"release the current lease", func() error { return s.Release(ctx, l2, "done") }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.call(), tt.want) })
	}
	hist, err := s.ClaimHistory(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Reason != "done" || hist[1].Reason != "done" || hist[1].ReleasedAt == nil {
		t.Errorf("history %+v", hist)
	}
}

func TestLeaseExpiry(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		sweep bool // ExpireLeases before the next claim
	}{
		{"swept", true},
		{"taken over unswept", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			mustDevice(t, s, "d1", "r1", gateway.Channel("zoom"))
			devices, unsub := s.Subscribe(gateway.TopicDevices)
			defer unsub()
			const ttl = 300 * time.Millisecond
			req := gateway.ClaimRequest{RoomIDs: []string{"r1"}, Channel: gateway.Channel("zoom"), Holder: "v_1", TTL: ttl}
			l1, _, err := s.Claim(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.ExpireLeases(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if now, err := s.Now(ctx); err != nil || (now.Before(l1.ExpiresAt) && len(got) != 0) {
				t.Fatalf("ExpireLeases before expiry = %+v (%v)", got, err)
			}
			time.Sleep(ttl + 50*time.Millisecond)
			d, err := s.Device(ctx, "d1")
			if err != nil || d.Lease != nil {
				t.Fatalf("expired lease still live: %+v, %v", d.Lease, err)
			}
			if tt.sweep {
				got, err := s.ExpireLeases(ctx)
				if err != nil || len(got) != 1 || got[0] != l1 {
					t.Fatalf("ExpireLeases = %+v, %v; want [%+v]", got, err, l1)
				}
				if room := receive(t, devices, gateway.TopicDevices); room != "r1" {
					t.Errorf("TopicDevices payload %q, want r1", room)
				}
			}
			wantCode(t, s.Release(ctx, l1, "late"), gateway.ECONFLICT)
			req.Holder, req.TTL = "v_2", time.Minute
			l2, _, err := s.Claim(ctx, req)
			if err != nil {
				t.Fatalf("claim after expiry: %v", err)
			}
			hist, err := s.ClaimHistory(ctx, "d1")
			if err != nil || len(hist) != 2 {
				t.Fatalf("history %+v, %v", hist, err)
			}
			old := hist[0]
			if old.Reason != "expired" || old.ReleasedAt == nil || !old.ReleasedAt.Equal(l1.ExpiresAt) {
				t.Errorf("old claim %+v, want expired at %v", old, l1.ExpiresAt)
			}
			if hist[1].Fence != l2.Fence || hist[1].ReleasedAt != nil || hist[1].ClaimedAt.Before(*old.ReleasedAt) {
				t.Errorf("new claim %+v overlaps %+v", hist[1], old)
			}
		})
	}
}

func TestNowIsTheDatabaseClock(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var db time.Time
	if err := s.pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := now.Sub(db); d < 0 || d > time.Second {
		t.Errorf("Now %v is %v from the database's %v", now, d, db)
	}
	mustDevice(t, s, "d1", "r1")
	d, err := s.Heartbeat(ctx, "d1", 50, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.LastSeen.Before(now) || d.LastSeen.Sub(now) > time.Second {
		t.Errorf("LastSeen %v, want the database clock just after %v", d.LastSeen, now)
	}
}

func TestTwoInstances(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	a, b := openInstance(t, url, "a"), openInstance(t, url, "b")

	t.Run("publish reaches the other instance", func(t *testing.T) {
		ch, unsub := b.Subscribe("hello")
		defer unsub()
		own, unsubOwn := a.Subscribe("hello")
		defer unsubOwn()
		if err := a.Publish(ctx, "hello", "from a"); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, ch, "b"); got != "from a" {
			t.Errorf("b got %q", got)
		}
		if got := receive(t, own, "a"); got != "from a" {
			t.Errorf("a got %q", got)
		}
		select {
		case m := <-own:
			t.Errorf("a got its own message twice: %q", m)
		case <-time.After(200 * time.Millisecond):
		}
	})

	t.Run("a claim on one is seen by the other", func(t *testing.T) {
		mustDevice(t, a, "d1", "r1", gateway.Channel("zoom"))
		l, _, err := a.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"r1"}, Channel: gateway.Channel("zoom"), Holder: "v_1", TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		d, err := b.Device(ctx, "d1")
		if err != nil || d.Lease == nil || *d.Lease != l {
			t.Fatalf("b sees %+v, %v; want lease %+v", d.Lease, err, l)
		}
		_, _, err = b.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"r1"}, Channel: gateway.Channel("zoom"), Holder: "v_2", TTL: time.Minute})
		wantCode(t, err, gateway.EUNAVAILABLE)
		freed, unsub := a.Subscribe(gateway.TopicDevices)
		defer unsub()
		if err := b.Release(ctx, l, "done"); err != nil {
			t.Fatal(err)
		}
		if room := receive(t, freed, "a's devices"); room != "r1" {
			t.Errorf("TopicDevices %q", room)
		}
	})

	t.Run("ownership by the database clock", func(t *testing.T) {
		mustVerification(t, a, "v_own")
		if _, err := a.Own(ctx, "v_own", "a", 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		_, err := b.Own(ctx, "v_own", "b", time.Minute)
		wantCode(t, err, gateway.ECONFLICT)
		if o, err := b.Orphans(ctx); err != nil || len(o) != 0 {
			t.Fatalf("Orphans while held = %d, %v", len(o), err)
		}
		if _, err := a.Own(ctx, "v_own", "a", 300*time.Millisecond); err != nil {
			t.Fatalf("renewal: %v", err)
		}
		time.Sleep(400 * time.Millisecond)
		o, err := b.Orphans(ctx)
		if err != nil || len(o) != 1 || o[0].ID != "v_own" {
			t.Fatalf("Orphans after lapse = %+v, %v", o, err)
		}
		v, err := b.Own(ctx, "v_own", "b", time.Minute)
		if err != nil || v.Owner != "b" {
			t.Fatalf("take-over: %+v, %v", v.Owner, err)
		}
		_, err = a.Own(ctx, "v_own", "a", time.Minute)
		wantCode(t, err, gateway.ECONFLICT)
		_, err = a.Own(ctx, "v_missing", "a", time.Minute)
		wantCode(t, err, gateway.ENOTFOUND)
	})

	t.Run("writes publish their topics to the other instance", func(t *testing.T) {
		events, unsub := b.Subscribe(gateway.TopicEvents)
		defer unsub()
		orders, unsubOrders := b.Subscribe(gateway.TopicOrders + "d1")
		defer unsubOrders()
		mustVerification(t, a, "v_pub")
		if got := receive(t, events, "events"); got != "v_pub" {
			t.Errorf("TopicEvents after create %q", got)
		}
		att, unsubAtt := b.Subscribe(gateway.TopicAttempt + "a_1")
		defer unsubAtt()
		ev, err := a.PutAttempt(ctx, gateway.Attempt{ID: "a_1", VerificationID: "v_pub", Channel: gateway.Channel("zoom")}, gateway.Event{Type: gateway.EventAttempt})
		if err != nil {
			t.Fatal(err)
		}
		if got := receive(t, events, "events"); got != "v_pub" {
			t.Errorf("TopicEvents after PutAttempt %q", got)
		}
		if got := receive(t, att, "attempt"); got != strconv.FormatInt(ev.Seq, 10) {
			t.Errorf("TopicAttempt after PutAttempt %q, want %d", got, ev.Seq)
		}
		ev, err = a.AppendEvent(ctx, gateway.Event{VerificationID: "v_pub", AttemptID: "a_1", Type: gateway.EventReport})
		if err != nil {
			t.Fatal(err)
		}
		if got := receive(t, att, "attempt"); got != strconv.FormatInt(ev.Seq, 10) {
			t.Errorf("TopicAttempt after AppendEvent %q, want %d", got, ev.Seq)
		}
		if got := receive(t, events, "events"); got != "v_pub" {
			t.Errorf("TopicEvents after AppendEvent %q", got)
		}
		if _, _, err := a.Transition(ctx, "v_pub", gateway.Transition{To: gateway.StateDialling}); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, events, "events"); got != "v_pub" {
			t.Errorf("TopicEvents after Transition %q", got)
		}
		if err := a.PutOrder(ctx, gateway.Order{ID: "o_1", DeviceID: "d1", Kind: gateway.OrderDial}); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, orders, "orders"); got != "o_1" {
			t.Errorf("TopicOrders %q", got)
		}
	})
}

func TestBusReconnects(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	a := openStore(t, url)
	logger, logs := logtest.NewNullLogger()
	b := New(url)
	b.Logger, b.Instance = logger, "b"
	if err := b.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	pid := b.listenerPID()
	if pid == 0 {
		t.Fatal("b is not listening")
	}
	if _, err := a.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, int32(pid)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.listenerPID() == pid || b.listenerPID() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("b's listener did not reconnect within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ch, unsub := b.Subscribe("after")
	defer unsub()
	if err := a.Publish(ctx, "after", "reconnected"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch, "b after reconnecting"); got != "reconnected" {
		t.Errorf("got %q", got)
	}
	var lost, back bool
	for _, e := range logs.AllEntries() {
		lost = lost || (e.Level == logrus.WarnLevel && strings.Contains(e.Message, "lost its connection") && e.Data["instance"] == "b")
		back = back || (e.Level == logrus.InfoLevel && strings.Contains(e.Message, "reconnected"))
	}
	if !lost || !back {
		t.Errorf("logged the loss: %v, the reconnection: %v", lost, back)
	}
}

func TestPublishLimits(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	big := make([]byte, MaxBusMessage)
	for i := range big {
		big[i] = 'x'
	}
	tests := []struct {
		name, topic, payload, want string
	}{
		{"at the limit", "t", string(big[1:]), ""},
		{"over the limit", "t", string(big), gateway.EINVALID},
		{"separator in the topic", "a\x1fb", "p", gateway.EINVALID},
		{"separator in the payload", "t", "a\x1fb", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, unsub := s.Subscribe(tt.topic)
			defer unsub()
			wantCode(t, s.Publish(ctx, tt.topic, tt.payload), tt.want)
			if tt.want == "" && receive(t, ch, tt.topic) != tt.payload {
				t.Error("payload changed on the way")
			}
		})
	}
}

// checkNoDoubleClaims fails the test if two claims of one device overlap in
// the history, or a claim is still open.
func checkNoDoubleClaims(t testing.TB, s *Store) int {
	t.Helper()
	hist, err := s.ClaimHistory(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	byDevice := map[string][]gateway.ClaimRecord{}
	for _, c := range hist {
		byDevice[c.DeviceID] = append(byDevice[c.DeviceID], c)
	}
	for dev, cs := range byDevice {
		sort.Slice(cs, func(i, j int) bool { return cs[i].Fence < cs[j].Fence })
		for i, c := range cs {
			if c.ReleasedAt == nil {
				t.Errorf("device %s: claim %d never released", dev, c.Fence)
				continue
			}
			if i > 0 && (cs[i-1].ReleasedAt == nil || c.ClaimedAt.Before(*cs[i-1].ReleasedAt) || c.ClaimedAt.Before(cs[i-1].ClaimedAt)) {
				t.Errorf("device %s: claim %d (%v) overlaps claim %d (%v to %v)", dev, c.Fence, c.ClaimedAt,
					cs[i-1].Fence, cs[i-1].ClaimedAt, cs[i-1].ReleasedAt)
			}
		}
	}
	return len(hist)
}

func TestConcurrentClaimsTwoInstances(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	stores := []*Store{openStore(t, url), openStore(t, url)}
	for i := range 5 {
		mustDevice(t, stores[0], "d"+strconv.Itoa(i), "r1", gateway.Channel("zoom"))
	}
	var (
		mu   sync.Mutex
		held = map[string]string{} // device -> holder, checked live
		wg   sync.WaitGroup
	)
	const goroutines, rounds = 100, 5
	for g := range goroutines {
		wg.Go(func() {
			s := stores[g%2]
			for r := 0; r < rounds; {
				holder := fmt.Sprintf("v_%d_%d", g, r)
				l, _, err := s.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"r1"}, Channel: gateway.Channel("zoom"), Holder: holder, TTL: time.Minute})
				if gateway.ErrorCode(err) == gateway.EUNAVAILABLE {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if other, ok := held[l.DeviceID]; ok {
					t.Errorf("device %s claimed by %s while %s holds it", l.DeviceID, holder, other)
				}
				held[l.DeviceID] = holder
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				delete(held, l.DeviceID)
				mu.Unlock()
				if err := s.Release(ctx, l, "done"); err != nil {
					t.Error(err)
					return
				}
				r++
			}
		})
	}
	wg.Wait()
	if n := checkNoDoubleClaims(t, stores[1]); n != goroutines*rounds {
		t.Errorf("%d claims in the history, want %d", n, goroutines*rounds)
	}
}

func TestIdempotentCreateConcurrent(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	stores := []*Store{openStore(t, url), openStore(t, url)}
	const n = 20
	ids := make([]string, n)
	created := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, ok, err := stores[i%2].CreateVerification(ctx, gateway.Verification{
				ID: fmt.Sprintf("v_%d", i), Reference: gateway.NewReference(), RequestedBy: "t_app",
			}, "key-1", gateway.Event{Type: gateway.EventState})
			if err != nil {
				t.Errorf("create %d: %v", i, err)
				return
			}
			ids[i], created[i] = v.ID, ok
		})
	}
	wg.Wait()
	wins := 0
	for i := range n {
		if created[i] {
			wins++
		}
		if ids[i] != ids[0] {
			t.Errorf("create %d returned %s, create 0 %s", i, ids[i], ids[0])
		}
	}
	if wins != 1 {
		t.Errorf("%d creates stored a verification, want 1", wins)
	}
	// The same key from another requester is another verification.
	v, ok, err := stores[0].CreateVerification(ctx, gateway.Verification{ID: "v_other", Reference: gateway.NewReference(), RequestedBy: "t_other"}, "key-1", gateway.Event{})
	if err != nil || !ok || v.ID != "v_other" {
		t.Errorf("other requester: %s, %v, %v", v.ID, ok, err)
	}
	evs, err := stores[0].Events(ctx, "", 0, 0)
	if err != nil || len(evs) != 2 {
		t.Errorf("%d events, want 2 (%v)", len(evs), err)
	}
}

func TestTransition(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustVerification(t, s, "v_1")
	tests := []struct {
		name  string
		id    string
		t     gateway.Transition
		want  string
		state gateway.State
	}{
		{"unknown verification", "v_missing", gateway.Transition{To: gateway.StateDialling}, gateway.ENOTFOUND, ""},
		{"from a state it is not in", "v_1", gateway.Transition{From: []gateway.State{gateway.StateQueued}, To: gateway.StateDialling}, gateway.ECONFLICT, gateway.StateRouting},
		{"from its state, with Set", "v_1", gateway.Transition{From: []gateway.State{gateway.StateRouting}, To: gateway.StateDialling,
			Set: func(v *gateway.Verification) { v.DeviceID = "d9" }, Event: gateway.Event{Type: gateway.EventState, Message: "dialling"}}, "", gateway.StateDialling},
		{"no state change", "v_1", gateway.Transition{Event: gateway.Event{Type: gateway.EventNote}}, "", gateway.StateDialling},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ev, err := s.Transition(ctx, tt.id, tt.t)
			wantCode(t, err, tt.want)
			if tt.state == "" {
				return
			}
			if err == nil && (v.State != tt.state || ev.State != tt.state || ev.VerificationID != tt.id || ev.Seq == 0) {
				t.Errorf("got %s, event %+v; want %s", v.State, ev, tt.state)
			}
			got, err := s.Verification(ctx, tt.id)
			if err != nil || got.State != tt.state {
				t.Errorf("stored state %s (%v), want %s", got.State, err, tt.state)
			}
		})
	}
	v, _ := s.Verification(ctx, "v_1")
	if v.DeviceID != "d9" {
		t.Errorf("Set was not applied: device %q", v.DeviceID)
	}
}

// TestEventsVisibleInSeqOrder checks that a reader following Events with a
// cursor misses nothing while many writers append: seq order is commit
// order.
func TestEventsVisibleInSeqOrder(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	stores := []*Store{openStore(t, url), openStore(t, url)}
	mustVerification(t, stores[0], "v_1")
	const writers, each = 16, 25
	done := make(chan struct{})
	seen := map[int64]bool{}
	var readErr error
	go func() {
		defer close(done)
		var after int64
		for idle := 0; idle < 50; {
			evs, err := stores[1].Events(ctx, "v_1", after, 0)
			if err != nil {
				readErr = err
				return
			}
			if len(evs) == 0 {
				idle++
				time.Sleep(2 * time.Millisecond)
				continue
			}
			idle = 0
			for _, e := range evs {
				seen[e.Seq] = true
				after = e.Seq
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for range each {
				if _, err := stores[w%2].AppendEvent(ctx, gateway.Event{VerificationID: "v_1", Type: gateway.EventNote}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	<-done
	if readErr != nil {
		t.Fatal(readErr)
	}
	all, err := stores[0].Events(ctx, "v_1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != writers*each+1 {
		t.Fatalf("%d events, want %d", len(all), writers*each+1)
	}
	for _, e := range all {
		if !seen[e.Seq] {
			t.Errorf("the reader missed event %d", e.Seq)
		}
	}
}

func TestTokensAndOrders(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tok := gateway.Token{ID: "t_1", Role: gateway.RoleAgent, Name: "agent", Subject: "d1", Hash: "h1"}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"create token", func() error { return s.CreateToken(ctx, tok) }, ""},
		{"duplicate token ID", func() error { t2 := tok; t2.Hash = "h2"; return s.CreateToken(ctx, t2) }, gateway.ECONFLICT},
		{"duplicate token hash", func() error { t2 := tok; t2.ID = "t_2"; return s.CreateToken(ctx, t2) }, gateway.ECONFLICT},
		{"token by hash", func() error {
			got, err := s.TokenByHash(ctx, "h1")
			if err == nil && got.IssuedAt.IsZero() {
				return fmt.Errorf("no issue time: %+v", got)
			}
			got.IssuedAt = time.Time{}
			if err == nil && got != tok {
				return fmt.Errorf("got %+v", got)
			}
			return err
		}, ""},
		{"revoke", func() error { return s.RevokeToken(ctx, "t_1") }, ""},
		{"revoked token by hash", func() error { _, err := s.TokenByHash(ctx, "h1"); return err }, gateway.ENOTFOUND},
		{"revoke unknown", func() error { return s.RevokeToken(ctx, "t_9") }, gateway.ENOTFOUND},
		{"put order", func() error {
			return s.PutOrder(ctx, gateway.Order{ID: "o_1", DeviceID: "d1", Kind: gateway.OrderDial})
		}, ""},
		{"put expired order", func() error {
			return s.PutOrder(ctx, gateway.Order{ID: "o_2", DeviceID: "d1", Kind: gateway.OrderDial, ExpiresAt: time.Now().Add(-time.Hour)})
		}, ""},
		{"duplicate order", func() error {
			return s.PutOrder(ctx, gateway.Order{ID: "o_1", DeviceID: "d1", Kind: gateway.OrderDial})
		}, gateway.ECONFLICT},
		{"take orders", func() error {
			got, err := s.TakeOrders(ctx, "d1")
			if err == nil && (len(got) != 1 || got[0].ID != "o_1" || got[0].Status != gateway.OrderDelivered) {
				return fmt.Errorf("took %+v", got)
			}
			return err
		}, ""},
		{"take again", func() error {
			got, err := s.TakeOrders(ctx, "d1")
			if err == nil && len(got) != 0 {
				return fmt.Errorf("took %+v again", got)
			}
			return err
		}, ""},
		{"order status", func() error { return s.SetOrderStatus(ctx, "o_1", gateway.OrderDone) }, ""},
		{"unknown order status", func() error { return s.SetOrderStatus(ctx, "o_9", gateway.OrderDone) }, gateway.ENOTFOUND},
		{"unknown order", func() error { _, err := s.Order(ctx, "o_9"); return err }, gateway.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.call(), tt.want) })
	}
	if o, err := s.Order(ctx, "o_1"); err != nil || o.Status != gateway.OrderDone {
		t.Errorf("order %+v, %v", o, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestUpdateDevice(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	channels, err := gateway.NewRegistry(gateway.ChannelInfo{Channel: "zoom"})
	if err != nil {
		t.Fatal(err)
	}
	s.Channels = channels
	mustDevice(t, s, "d1", "r1", gateway.Channel("zoom"))
	mustDevice(t, s, "d2", "r1", gateway.Channel("zoom"))
	l, _, err := s.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"r1"}, Channel: gateway.Channel("zoom"), Holder: "v_1", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	errMine := errors.New("mine")
	tests := []struct {
		name string
		id   string
		fn   func(*gateway.Device) error
		want string
		is   error
	}{
		{"unknown device", "d9", func(*gateway.Device) error { return nil }, gateway.ENOTFOUND, nil},
		{"fn's error as is", "d1", func(*gateway.Device) error { return errMine }, gateway.EINTERNAL, errMine},
		{"no room", "d1", func(d *gateway.Device) error { d.RoomID = ""; return nil }, gateway.EINVALID, nil},
		{"unknown status", "d1", func(d *gateway.Device) error { d.Status = "lost"; return nil }, gateway.EINVALID, nil},
		{"unknown channel", "d1", func(d *gateway.Device) error { d.Handles["skype"] = "x"; return nil }, gateway.EINVALID, nil},
		{"rotate a leased device", l.DeviceID, func(d *gateway.Device) error { d.Number = "+447700900999"; return nil }, "", nil},
		{"retire", "d2", func(d *gateway.Device) error { d.Status = gateway.DeviceRetired; return nil }, "", nil},
		{"retired", "d2", func(d *gateway.Device) error { return nil }, gateway.ECONFLICT, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UpdateDevice(ctx, tt.id, tt.fn)
			wantCode(t, err, tt.want)
			if tt.is != nil && err != tt.is {
				t.Errorf("error %v, want fn's error itself", err)
			}
		})
	}
	d, err := s.Device(ctx, l.DeviceID)
	if err != nil || d.Number != "+447700900999" || d.Version != 2 || d.Lease == nil || *d.Lease != l {
		t.Errorf("after rotation: %+v, %v", d, err)
	}
	free, err := s.FreeDevices(ctx, 0)
	if err != nil || len(free) != 1 || free["r1"] != 0 {
		t.Errorf("FreeDevices = %v, %v; want r1: 0", free, err)
	}
}

// TestFailWrites: while writes fail, every write and Ping answer
// EUNAVAILABLE with the safe message (PostgreSQL itself refusing them in a
// read-only transaction, 25006), reads go on, nothing is half written;
// afterwards both recover.
func TestFailWrites(t *testing.T) {
	storetest.FailWrites(t, newStore(t), Unavailable, func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "25006"
	})
}

// TestUnavailableErrors: the PostgreSQL errors that mean "the database is
// unavailable now" are EUNAVAILABLE with the safe message; a fault in the
// request is not.
func TestUnavailableErrors(t *testing.T) {
	s := New("")
	for _, code := range []string{"08006", "08001", "25006", "40001", "53100", "53200", "53300", "57P01", "57P02", "57P03", "58030"} {
		err := s.fail("op", &pgconn.PgError{Code: code, Message: "server says: secret detail"})
		wantCode(t, err, gateway.EUNAVAILABLE)
		if msg := gateway.ErrorMessage(err); msg != Unavailable {
			t.Errorf("%s: message %q, want %q", code, msg, Unavailable)
		}
	}
	for name, err := range map[string]error{
		"connection reset":   fmt.Errorf("read: %w", syscall.ECONNRESET),
		"connection refused": &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED},
	} {
		wantCode(t, s.fail("op", err), gateway.EUNAVAILABLE)
		if msg := gateway.ErrorMessage(s.fail("op", err)); msg != Unavailable {
			t.Errorf("%s: message %q", name, msg)
		}
	}
	for _, code := range []string{"22P02", "42601", "23503"} {
		wantCode(t, s.fail("op", &pgconn.PgError{Code: code}), gateway.EINTERNAL)
	}
}

// TestRememberSweeps: Remember deletes expired keys as it goes, a batch at
// a time, and keeps the live ones.
func TestRememberSweeps(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.Remember(ctx, "live", time.Hour); err != nil {
		t.Fatal(err)
	}
	// 70 keys that expired a second ago.
	if _, err := s.pool.Exec(ctx, `INSERT INTO webhook_keys (key, expires_at)
		SELECT 'old-' || i, clock_timestamp() - interval '1 second' FROM generate_series(1, 70) AS i`); err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		t.Helper()
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_keys`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i, want := range []int{70 - 64 + 2, 3} { // 70 old and live; each call adds its own key
		if _, err := s.Remember(ctx, fmt.Sprintf("new-%d", i), time.Hour); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != want {
			t.Fatalf("after Remember %d: %d keys, want %d", i+1, n, want)
		}
	}
	if first, err := s.Remember(ctx, "live", time.Hour); err != nil || first {
		t.Errorf("the live key after the sweeps: first %v, %v; want a replay", first, err)
	}
}

// TestOutboxConformance runs the outbox's suite, each subtest on a store
// in a schema of its own.
func TestOutboxConformance(t *testing.T) {
	storetest.RunOutbox(t, func(t testing.TB) gateway.Store {
		s := New(pgtest.URL(t))
		s.Outbox = true
		if err := s.Open(context.Background()); err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
