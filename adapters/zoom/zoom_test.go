package zoom_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
	"github.com/safeconnection/gateway/adapters/zoom"
	fake "github.com/safeconnection/gateway/mocks/zoom"
)

type rig struct {
	fake *fake.Fake
	srv  *httptest.Server
	a    *zoom.Adapter
	js   *adaptertest.JoinSender
	rep  *adaptertest.Reporter
}

func newRig(t testing.TB) *rig {
	t.Helper()
	f := fake.New("acct", "cid", "csecret", "whsecret")
	srv := httptest.NewServer(f)
	a := zoom.New("acct", "cid", "csecret", "whsecret")
	a.OAuthURL, a.APIURL = srv.URL, srv.URL
	r := &rig{fake: f, srv: srv, a: a, js: &adaptertest.JoinSender{}, rep: &adaptertest.Reporter{}}
	a.JoinSender, a.Reporter = r.js, r.rep
	t.Cleanup(func() { f.Close(); srv.Close() })
	return r
}

// count counts the fake's requests whose path starts with prefix.
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
	return gateway.Leg{VerificationID: "v_1", AttemptID: "a_1", Reference: "K7QX-M4TR", Channel: zoom.Channel,
		OfficerHandle: "officer@example.police.uk", Device: gateway.Device{ID: "d_1"}, Deadline: time.Now().Add(d)}
}

func TestPlace(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(r *rig)
		deadline    time.Duration
		wantFate    gateway.Fate // 0: success
		wantCode    string
		wantCreates int
		minElapsed  time.Duration
	}{
		{name: "created", deadline: 5 * time.Second, wantCreates: 1},
		{name: "429 with Retry-After, then created", deadline: 5 * time.Second,
			setup:       func(r *rig) { r.fake.FailNext(1, http.StatusTooManyRequests, time.Second) },
			wantCreates: 2, minElapsed: time.Second},
		{name: "503 until the deadline", deadline: 700 * time.Millisecond,
			setup:    func(r *rig) { r.fake.FailNext(1000, http.StatusServiceUnavailable, 0) },
			wantFate: gateway.NotPlaced, wantCode: gateway.EUNAVAILABLE, wantCreates: -1},
		{name: "unknown user: 404, not retried", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.a.UserID = "nobody@example.org" },
			wantFate: gateway.PlacedFailed, wantCode: gateway.EINVALID, wantCreates: 1},
		{name: "400, not retried", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.fake.FailNext(1, http.StatusBadRequest, 0) },
			wantFate: gateway.PlacedFailed, wantCode: gateway.EINVALID, wantCreates: 1},
		{name: "500: may have acted", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.fake.FailNext(1, http.StatusInternalServerError, 0) },
			wantFate: gateway.Unknown, wantCode: gateway.EUNAVAILABLE, wantCreates: 1},
		{name: "malformed answer", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.fake.MalformedNext(1) },
			wantFate: gateway.Unknown, wantCode: gateway.EUNAVAILABLE, wantCreates: 1},
		{name: "hang until the deadline", deadline: 400 * time.Millisecond,
			setup:    func(r *rig) { r.fake.HangNext(1) },
			wantFate: gateway.Unknown, wantCode: gateway.ETIMEOUT, wantCreates: 1},
		{name: "wrong credentials", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.a.ClientSecret = "wrong" },
			wantFate: gateway.NotPlaced, wantCode: gateway.EUNAUTHORIZED, wantCreates: 0},
		{name: "wrong account", deadline: 5 * time.Second,
			setup:    func(r *rig) { r.a.AccountID = "other" },
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
			l := leg(tt.deadline)
			p, err := adaptertest.Place(t, r.a, l, tt.deadline, tt.minElapsed)
			if n := r.count(http.MethodPost, "/v2/users/"); tt.wantCreates >= 0 && n != tt.wantCreates {
				t.Errorf("fake saw %d create requests, want %d", n, tt.wantCreates)
			}
			if tt.wantFate != 0 {
				adaptertest.CheckFailed(t, p, err, zoom.Provider, tt.wantFate, tt.wantCode)
				if tt.name == "device cannot get the link: meeting deleted" {
					if r.count(http.MethodDelete, "/v2/meetings/") != 1 {
						t.Errorf("meeting not deleted")
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Place: %v", err)
			}
			id, err := strconv.ParseInt(p.ProviderRef, 10, 64)
			if err != nil || id < 1e10 {
				t.Errorf("ProviderRef %q is not a meeting number", p.ProviderRef)
			}
			if !strings.Contains(p.JoinURL, "/j/"+p.ProviderRef) {
				t.Errorf("JoinURL %q is not the meeting's join link", p.JoinURL)
			}
			if links := r.js.Links(); len(links) != 1 || !strings.Contains(links[0], "/s/"+p.ProviderRef) {
				t.Errorf("device links %v, want the meeting's start link", links)
			}
			if exists, _ := r.fake.Meeting(id); !exists {
				t.Errorf("fake has no meeting %d", id)
			}
		})
	}
}

func TestPlaceRefused(t *testing.T) {
	r := newRig(t)
	r.srv.Close() // nothing listens: the connection is refused
	_, err := r.a.Place(context.Background(), leg(500*time.Millisecond))
	if gateway.FateOf(err) != gateway.NotPlaced {
		t.Errorf("refused connection: %v, want NotPlaced", err)
	}
}

func TestMeetingRequest(t *testing.T) {
	r := newRig(t)
	if _, err := r.a.Place(context.Background(), leg(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	var tokenReq, createReq *fake.Request
	for _, q := range r.fake.Requests() {
		switch {
		case q.Path == "/oauth/token":
			tokenReq = &q
		case strings.HasPrefix(q.Path, "/v2/users/me/meetings"):
			createReq = &q
		}
	}
	if tokenReq == nil || createReq == nil {
		t.Fatalf("requests %+v", r.fake.Requests())
	}
	if tokenReq.RawQuery != "account_id=acct&grant_type=account_credentials" || !strings.HasPrefix(tokenReq.Header.Get("Authorization"), "Basic ") {
		t.Errorf("token request %s %v", tokenReq.RawQuery, tokenReq.Header)
	}
	body := string(createReq.Body)
	for _, want := range []string{`"topic":"Safe Connection K7QX-M4TR"`, `"type":1`, `"join_before_host":true`, `"waiting_room":false`,
		`"host_video":true`, `"participant_video":true`, `"approval_type":2`, `"audio":"voip"`, `"password":"`} {
		if !strings.Contains(body, want) {
			t.Errorf("create body %s lacks %s", body, want)
		}
	}
}

func TestToken(t *testing.T) {
	t.Run("cached, refreshed before expiry", func(t *testing.T) {
		r := newRig(t)
		now := time.Now()
		var mu sync.Mutex
		r.a.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		for range 3 {
			if _, err := r.a.Place(context.Background(), leg(5*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if n := r.count(http.MethodPost, "/oauth/token"); n != 1 {
			t.Errorf("%d token requests for three calls, want 1", n)
		}
		mu.Lock()
		now = now.Add(56 * time.Minute) // within 5 minutes of the hour's expiry
		mu.Unlock()
		if _, err := r.a.Place(context.Background(), leg(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := r.count(http.MethodPost, "/oauth/token"); n != 2 {
			t.Errorf("%d token requests after 56 minutes, want 2", n)
		}
	})
	t.Run("401 drops the token and retries once", func(t *testing.T) {
		r := newRig(t)
		if _, err := r.a.Place(context.Background(), leg(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		r.fake.ExpireTokens()
		if _, err := r.a.Place(context.Background(), leg(5*time.Second)); err != nil {
			t.Fatalf("after the token was revoked: %v", err)
		}
		if tok, cr := r.count(http.MethodPost, "/oauth/token"), r.count(http.MethodPost, "/v2/users/"); tok != 2 || cr != 3 {
			t.Errorf("%d token and %d create requests, want 2 and 3", tok, cr)
		}
	})
	t.Run("concurrent callers share one fetch", func(t *testing.T) {
		r := newRig(t)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				_, err := r.a.Place(context.Background(), leg(5*time.Second))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if n := r.count(http.MethodPost, "/oauth/token"); n != 1 {
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
	if err := r.a.HangUp(context.Background(), l, p); err != nil {
		t.Fatalf("HangUp: %v", err)
	}
	id, _ := strconv.ParseInt(p.ProviderRef, 10, 64)
	if exists, _ := r.fake.Meeting(id); exists {
		t.Error("meeting still exists after HangUp")
	}
	if err := r.a.HangUp(context.Background(), l, p); err != nil {
		t.Errorf("HangUp of a deleted meeting: %v", err)
	}
	if err := r.a.HangUp(context.Background(), l, gateway.Placement{ProviderRef: "x"}); gateway.ErrorCode(err) != gateway.EINVALID {
		t.Errorf("HangUp of a bad ref: %v", err)
	}
}

// TestLoop runs the whole loop on loopback: the adapter creates a meeting,
// the fake has both ends join and posts signed webhooks to the adapter's
// handler, which reports them; hanging up reports the end.
func TestLoop(t *testing.T) {
	r := newRig(t)
	mux := http.NewServeMux()
	mux.Handle("/webhooks/zoom/", r.a.Webhook())
	gw := httptest.NewServer(mux)
	defer gw.Close()
	r.fake.SetWebhookURL(gw.URL + "/webhooks/zoom/")
	r.fake.SetJoins(10*time.Millisecond, 40*time.Millisecond)
	if err := r.fake.ValidateEndpoint(context.Background()); err != nil {
		t.Fatalf("url validation: %v", err)
	}
	l := leg(5 * time.Second)
	p, err := r.a.Place(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(r.rep.Reports()) >= 2 })
	if err := r.a.HangUp(context.Background(), l, p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(r.rep.Reports()) >= 3 })
	got := r.rep.Reports()
	parties := map[gateway.Party]bool{}
	for _, rep := range got[:2] {
		if rep.Status != gateway.ReportJoined || rep.ProviderRef != p.ProviderRef || rep.Channel != zoom.Channel {
			t.Errorf("report %+v", rep)
		}
		parties[rep.Party] = true
	}
	if !parties[zoom.PartyDevice] || !parties[zoom.PartyOfficer] || len(parties) != 2 {
		t.Errorf("parties %v, want the device and the officer", parties)
	}
	if got[2].Status != gateway.ReportEnded || got[2].ProviderRef != p.ProviderRef {
		t.Errorf("last report %+v, want ended", got[2])
	}
	for _, d := range r.fake.Deliveries() {
		if d.Err != nil || d.Status >= 300 {
			t.Errorf("delivery of %s: %d %v", d.Event, d.Status, d.Err)
		}
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
