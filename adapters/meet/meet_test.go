package meet_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
	"github.com/safeconnection/gateway/adapters/meet"
	fake "github.com/safeconnection/gateway/mocks/meet"
)

type rig struct {
	fake  *fake.Fake
	srv   *httptest.Server
	a     *meet.Adapter
	js    *adaptertest.JoinSender
	check *fake.CheckingTransport
	// badExchange: the test sends or answers against the API's
	// description on purpose, and the checker must notice.
	badExchange bool
}

// newRig runs the fake and an adapter pointed at it whose every exchange
// with the Meet API is checked against the API's discovery document.
func newRig(t testing.TB) *rig {
	t.Helper()
	b, err := os.ReadFile("../../testdata/specs/google_meet_v2_discovery_EXCERPT.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := fake.ParseDiscovery(b)
	if err != nil {
		t.Fatal(err)
	}
	f := fake.New("cid", "csecret", "rtoken")
	srv := httptest.NewServer(f)
	a := meet.New("cid", "csecret", "rtoken")
	a.TokenURL, a.APIURL = srv.URL+"/token", srv.URL
	check := &fake.CheckingTransport{Base: a.HTTPClient.HTTPClient.Transport, Doc: doc}
	a.HTTPClient.HTTPClient.Transport = check
	r := &rig{fake: f, srv: srv, a: a, js: &adaptertest.JoinSender{}, check: check}
	a.JoinSender = r.js
	t.Cleanup(func() {
		f.Close()
		srv.Close()
		_, errs := check.Checked()
		if r.badExchange && len(errs) == 0 {
			t.Error("the discovery checker missed a bad exchange")
		}
		for _, err := range errs {
			if !r.badExchange {
				t.Errorf("against the discovery document: %v", err)
			}
		}
	})
	return r
}

func (r *rig) count(method, prefix string) int {
	n := 0
	for _, q := range r.fake.Requests() {
		if q.Method == method && strings.HasPrefix(q.Path, prefix) {
			n++
		}
	}
	return n
}

func leg(d time.Duration) gateway.Leg {
	return gateway.Leg{VerificationID: "v_1", AttemptID: "a_1", Reference: "K7QX-M4TR", Channel: meet.Channel,
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
		{name: "bad config: 400, not retried", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.a.AccessType, r.badExchange = "EVERYONE", true },
			wantFate: gateway.PlacedFailed, wantCode: gateway.EINVALID, wantCreates: 1},
		{name: "500: may have acted", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.fake.FailNext(1, http.StatusInternalServerError, 0) },
			wantFate: gateway.Unknown, wantCode: gateway.EUNAVAILABLE, wantCreates: 1},
		{name: "malformed answer", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.fake.MalformedNext(1); r.badExchange = true },
			wantFate: gateway.Unknown, wantCode: gateway.EUNAVAILABLE, wantCreates: 1},
		{name: "hang until the deadline", deadline: 400 * time.Millisecond,
			setup:    func(r *rig) { r.fake.HangNext(1) },
			wantFate: gateway.Unknown, wantCode: gateway.ETIMEOUT, wantCreates: 1},
		{name: "wrong client secret", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.a.ClientSecret = "wrong" },
			wantFate: gateway.NotPlaced, wantCode: gateway.EUNAUTHORIZED, wantCreates: 0},
		{name: "revoked refresh token", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.a.RefreshToken = "revoked" },
			wantFate: gateway.NotPlaced, wantCode: gateway.EINVALID, wantCreates: 0},
		{name: "device cannot get the link", deadline: 5 * time.Second,
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
			if n := r.count(http.MethodPost, "/v2/spaces"); tt.wantCreates >= 0 && n != tt.wantCreates {
				t.Errorf("fake saw %d create requests, want %d", n, tt.wantCreates)
			}
			if tt.wantFate != 0 {
				adaptertest.CheckFailed(t, p, err, meet.Provider, tt.wantFate, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("Place: %v", err)
			}
			if exists, _, _ := r.fake.Space(p.ProviderRef); !exists {
				t.Errorf("ProviderRef %q is not a space of the fake", p.ProviderRef)
			}
			if !strings.HasPrefix(p.JoinURL, "https://meet.google.com/") {
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
	if _, err := r.a.Place(context.Background(), leg(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, q := range r.fake.Requests() {
		switch q.Path {
		case "/token":
			body := string(q.Body)
			for _, want := range []string{"grant_type=refresh_token", "client_id=cid", "client_secret=csecret", "refresh_token=rtoken"} {
				if !strings.Contains(body, want) {
					t.Errorf("token form %q lacks %s", body, want)
				}
			}
		case "/v2/spaces":
			if got := string(q.Body); got != `{"config":{"accessType":"TRUSTED","entryPointAccess":"ALL"}}` {
				t.Errorf("create body %s", got)
			}
			if !strings.HasPrefix(q.Header.Get("Authorization"), "Bearer ya29.") {
				t.Errorf("create auth %q", q.Header.Get("Authorization"))
			}
		}
	}
	if n, _ := r.check.Checked(); n != 1 {
		t.Errorf("%d exchanges checked, want 1", n)
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
	r.fake.StartConference(p.ProviderRef)
	if err := r.a.HangUp(context.Background(), l, p); err != nil {
		t.Fatalf("HangUp: %v", err)
	}
	if _, active, ended := r.fake.Space(p.ProviderRef); active || ended != 1 {
		t.Errorf("after HangUp: active=%v ended=%d", active, ended)
	}
	tests := []struct {
		name string
		ref  string
		code string
	}{
		{"no active conference", p.ProviderRef, ""},
		{"unknown space", "spaces/gone", ""},
		{"not a space name", "meetings/x", gateway.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.a.HangUp(context.Background(), l, gateway.Placement{ProviderRef: tt.ref})
			if gateway.ErrorCode(err) != tt.code {
				t.Errorf("HangUp = %v, want code %q", err, tt.code)
			}
		})
	}
}

func TestPlaceRefused(t *testing.T) {
	r := newRig(t)
	r.srv.Close()
	if _, err := r.a.Place(context.Background(), leg(500*time.Millisecond)); gateway.FateOf(err) != gateway.NotPlaced {
		t.Errorf("refused connection: %v, want NotPlaced", err)
	}
}
