package teams_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
	"github.com/safeconnection/gateway/adapters/teams"
	fake "github.com/safeconnection/gateway/mocks/teams"
)

const (
	tenant    = "8f0e6c2a-1b1c-4f3e-9a55-3d1c0b7e2f10"
	organizer = "5b9e1a7c-2d44-4c1e-8f0a-6e3b2c1d0f99"
)

type rig struct {
	fake *fake.Fake
	srv  *httptest.Server
	a    *teams.Adapter
	js   *adaptertest.JoinSender
}

func newRig(t testing.TB) *rig {
	t.Helper()
	f := fake.New(tenant, "app-id", "app-secret", organizer)
	srv := httptest.NewServer(f)
	a := teams.New(tenant, "app-id", "app-secret", organizer)
	a.LoginURL, a.GraphURL = srv.URL, srv.URL
	r := &rig{fake: f, srv: srv, a: a, js: &adaptertest.JoinSender{}}
	a.JoinSender = r.js
	t.Cleanup(func() { f.Close(); srv.Close() })
	return r
}

func (r *rig) count(method, suffix string) int {
	n := 0
	for _, q := range r.fake.Requests() {
		if q.Method == method && strings.HasSuffix(q.Path, suffix) {
			n++
		}
	}
	return n
}

func leg(d time.Duration) gateway.Leg {
	return gateway.Leg{VerificationID: "v_1", AttemptID: "a_1", Reference: "K7QX-M4TR", Channel: teams.Channel,
		OfficerHandle: "officer@example.police.uk", Device: gateway.Device{ID: "d_1"}, Deadline: time.Now().Add(d)}
}

func TestPlace(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(r *rig)
		deadline    time.Duration
		wantFate    gateway.Fate // 0: success
		wantCode    string
		wantCreates int // -1: any
		minElapsed  time.Duration
	}{
		{name: "created", deadline: 5 * time.Second, wantCreates: 1},
		{name: "429 with Retry-After, then created", deadline: 5 * time.Second,
			setup:       func(r *rig) { r.fake.FailNext(1, http.StatusTooManyRequests, time.Second) },
			wantCreates: 2, minElapsed: time.Second},
		{name: "503 until the deadline", deadline: 700 * time.Millisecond,
			setup:    func(r *rig) { r.fake.FailNext(1000, http.StatusServiceUnavailable, 0) },
			wantFate: gateway.NotPlaced, wantCode: gateway.EUNAVAILABLE, wantCreates: -1},
		{name: "unknown organizer: 404, not retried", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.a.UserID = "someone-else" },
			wantFate: gateway.PlacedFailed, wantCode: gateway.EINVALID, wantCreates: 1},
		{name: "no application access policy: 403", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.fake.NoAccessPolicy(true) },
			wantFate: gateway.NotPlaced, wantCode: gateway.EUNAUTHORIZED, wantCreates: 1},
		{name: "502: may have acted", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.fake.FailNext(1, http.StatusBadGateway, 0) },
			wantFate: gateway.Unknown, wantCode: gateway.EUNAVAILABLE, wantCreates: 1},
		{name: "malformed answer", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.fake.MalformedNext(1) },
			wantFate: gateway.Unknown, wantCode: gateway.EUNAVAILABLE, wantCreates: 1},
		{name: "hang until the deadline", deadline: 400 * time.Millisecond,
			setup:    func(r *rig) { r.fake.HangNext(1) },
			wantFate: gateway.Unknown, wantCode: gateway.ETIMEOUT, wantCreates: 1},
		{name: "wrong client secret", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.a.ClientSecret = "wrong" },
			wantFate: gateway.NotPlaced, wantCode: gateway.EUNAUTHORIZED, wantCreates: 0},
		{name: "unknown tenant", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.a.TenantID = "other" },
			wantFate: gateway.NotPlaced, wantCode: gateway.EINVALID, wantCreates: 0},
		{name: "device cannot get the link: meeting deleted", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.js.Err = gateway.Errorf(gateway.EUNAVAILABLE, "agent offline") },
			wantFate: gateway.NotPlaced, wantCode: gateway.EUNAVAILABLE, wantCreates: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			if tt.setup != nil {
				tt.setup(r)
			}
			p, err := adaptertest.Place(t, r.a, leg(tt.deadline), tt.deadline, tt.minElapsed)
			if n := r.count(http.MethodPost, "/onlineMeetings"); tt.wantCreates >= 0 && n != tt.wantCreates {
				t.Errorf("fake saw %d create requests, want %d", n, tt.wantCreates)
			}
			if tt.wantFate != 0 {
				adaptertest.CheckFailed(t, p, err, teams.Provider, tt.wantFate, tt.wantCode)
				if strings.HasPrefix(tt.name, "device cannot") && r.count(http.MethodDelete, "") != 1 {
					t.Error("meeting not deleted")
				}
				return
			}
			if err != nil {
				t.Fatalf("Place: %v", err)
			}
			if !r.fake.Meeting(p.ProviderRef) {
				t.Errorf("ProviderRef %q is not a meeting of the fake", p.ProviderRef)
			}
			if !strings.HasPrefix(p.JoinURL, "https://teams.microsoft.com/l/meetup-join/") {
				t.Errorf("JoinURL %q", p.JoinURL)
			}
			if links := r.js.Links(); len(links) != 1 || links[0] != p.JoinURL {
				t.Errorf("device links %v, want %s", links, p.JoinURL)
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	r := newRig(t)
	now := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	r.a.Now = func() time.Time { return now }
	if _, err := r.a.Place(context.Background(), leg(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, q := range r.fake.Requests() {
		switch {
		case q.Path == "/"+tenant+"/oauth2/v2.0/token":
			body := string(q.Body)
			for _, want := range []string{"grant_type=client_credentials", "client_id=app-id", "client_secret=app-secret", "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"} {
				if !strings.Contains(body, want) {
					t.Errorf("token form %q lacks %s", body, want)
				}
			}
		case q.Path == "/v1.0/users/"+organizer+"/onlineMeetings":
			var got map[string]any
			if err := json.Unmarshal(q.Body, &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"startDateTime": "2026-11-23T18:00:00Z", "endDateTime": "2026-11-23T19:00:00Z",
				"subject": "Safe Connection K7QX-M4TR", "lobbyBypassSettings": map[string]any{"scope": "everyone"}}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) {
				t.Errorf("create body %s, want %s", gb, wb)
			}
		default:
			t.Errorf("unexpected request %s %s", q.Method, q.Path)
		}
	}
}

func TestToken(t *testing.T) {
	t.Run("cached, and refreshed after a 401", func(t *testing.T) {
		r := newRig(t)
		for range 3 {
			if _, err := r.a.Place(context.Background(), leg(5*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		r.fake.ExpireTokens()
		if _, err := r.a.Place(context.Background(), leg(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := r.count(http.MethodPost, "/token"); n != 2 {
			t.Errorf("%d token requests, want 2", n)
		}
	})
	t.Run("concurrent callers share one fetch", func(t *testing.T) {
		r := newRig(t)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if _, err := r.a.Place(context.Background(), leg(5*time.Second)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := r.count(http.MethodPost, "/token"); n != 1 {
			t.Errorf("%d token requests for 20 concurrent calls, want 1", n)
		}
	})
}

func TestHangUp(t *testing.T) {
	r := newRig(t)
	l := leg(5 * time.Second)
	p, err := r.a.Place(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		p    gateway.Placement
		code string
	}{
		{"delete", p, ""},
		{"already gone", p, ""},
		{"no ID", gateway.Placement{}, gateway.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := r.a.HangUp(context.Background(), l, tt.p); gateway.ErrorCode(err) != tt.code {
				t.Errorf("HangUp = %v, want code %q", err, tt.code)
			}
		})
	}
	if r.fake.Meeting(p.ProviderRef) {
		t.Error("meeting still exists after HangUp")
	}
}

func TestPlaceRefused(t *testing.T) {
	r := newRig(t)
	r.srv.Close()
	if _, err := r.a.Place(context.Background(), leg(500*time.Millisecond)); gateway.FateOf(err) != gateway.NotPlaced {
		t.Errorf("refused connection: %v, want NotPlaced", err)
	}
}
