package twiliovideo_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
	"github.com/safeconnection/gateway/adapters/twiliovideo"
	"github.com/safeconnection/gateway/mocks"
	"github.com/safeconnection/gateway/mocks/twilio"
)

const (
	accountSID   = "AC0123456789abcdef0123456789abcdef"
	authToken    = "s3cr3tt0k3n"
	apiKeySID    = "SK0123456789abcdef0123456789abcdef"
	apiKeySecret = "k3ys3cr3t"
)

var loadSpec = sync.OnceValues(func() (*twilio.Spec, error) {
	return twilio.LoadSpec(filepath.Join("..", "..", "testdata", "specs", "twilio_video_v1.json"))
})

// recorder records reports and join links.
type recorder struct {
	adaptertest.Reporter
	adaptertest.JoinSender
}

// waitFor waits for n reports.
func (r *recorder) waitFor(tb testing.TB, n int) []string {
	tb.Helper()
	return r.WaitFor(tb, fmt.Sprintf("%d reports", n), func(reps []gateway.Report) bool { return len(reps) >= n })
}

// Interface guards
var (
	_ gateway.Reporter   = (*recorder)(nil)
	_ gateway.JoinSender = (*recorder)(nil)
)

type env struct {
	fake    *twilio.Fake
	api     *httptest.Server
	gw      *httptest.Server
	adapter *twiliovideo.Adapter
	check   *twilio.CheckingTransport
	rec     *recorder
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	spec, err := loadSpec()
	if err != nil {
		tb.Fatal(err)
	}
	f := twilio.New(accountSID, authToken)
	f.APIKeySID, f.APIKeySecret = apiKeySID, apiKeySecret
	f.Step = 5 * time.Millisecond
	f.SetJoins(10*time.Millisecond, 20*time.Millisecond)
	api := httptest.NewServer(f)
	e := &env{fake: f, api: api, rec: &recorder{}}
	a := twiliovideo.New(accountSID, authToken, apiKeySID, apiKeySecret, "")
	a.APIURL = api.URL
	a.Reporter = e.rec
	a.JoinSender = e.rec
	hc := httpx.NewClient(nil)
	e.check = &twilio.CheckingTransport{Base: hc.HTTPClient.Transport, Spec: spec}
	hc.HTTPClient.Transport = e.check
	a.HTTPClient = hc
	e.gw = httptest.NewServer(a.Webhook())
	a.PublicURL = e.gw.URL
	e.adapter = a
	tb.Cleanup(func() {
		api.Close()
		f.Close()
		e.gw.Close()
	})
	return e
}

func leg(timeout time.Duration) gateway.Leg {
	return gateway.Leg{
		VerificationID: "v_1", AttemptID: "a_0123456789abcdef0123", Channel: twiliovideo.Channel,
		Deadline: time.Now().Add(timeout),
	}
}

func TestPlace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		setup    func(*env)
		timeout  time.Duration
		fate     gateway.Fate // 0: placed
		code     string
		requests int // exactly; -1: at least 2
		specOK   bool
	}{
		{"success", nil, 5 * time.Second, 0, "", 1, true},
		{"429 with Retry-After then success", func(e *env) { e.fake.FailNext(1, 429, time.Second) }, 5 * time.Second, 0, "", 2, true},
		{"503 until the deadline", func(e *env) { e.fake.FailNext(1000, 503, 0) }, 700 * time.Millisecond, gateway.NotPlaced, gateway.EUNAVAILABLE, -1, true},
		{"400 not retried", func(e *env) { e.fake.FailNext(1, 400, 0) }, 5 * time.Second, gateway.PlacedFailed, gateway.EINVALID, 1, true},
		{"malformed response", func(e *env) { e.fake.MalformedNext(1) }, 5 * time.Second, gateway.Unknown, gateway.EUNAVAILABLE, 1, false},
		{"hang", func(e *env) { e.fake.HangNext(1) }, 400 * time.Millisecond, gateway.Unknown, gateway.ETIMEOUT, 1, true},
		{"wrong credentials", func(e *env) { e.adapter.APIKeySecret = "wrong" }, 5 * time.Second, gateway.NotPlaced, gateway.EUNAUTHORIZED, 1, true},
		{"refused connections", func(e *env) { e.adapter.APIURL = adaptertest.ClosedURL(t) }, 600 * time.Millisecond, gateway.NotPlaced, gateway.EUNAVAILABLE, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			start := time.Now()
			p, err := e.adapter.Place(context.Background(), leg(tt.timeout))
			if elapsed := time.Since(start); elapsed > tt.timeout+300*time.Millisecond {
				t.Errorf("Place took %v; the leg's deadline was %v away", elapsed, tt.timeout)
			}
			if tt.fate == 0 {
				if err != nil {
					t.Fatalf("Place: %v", err)
				}
				if !strings.HasPrefix(p.ProviderRef, "RM") || len(p.ProviderRef) != 34 || p.Connected {
					t.Errorf("placement %+v", p)
				}
				if !strings.HasPrefix(p.JoinURL, e.gw.URL+"/join/webrtc/a_0123456789abcdef0123?token=") {
					t.Errorf("JoinURL %q", p.JoinURL)
				}
				if len(e.rec.Links()) != 1 || e.rec.Links()[0] == p.JoinURL {
					t.Errorf("device links %v", e.rec.Links())
				}
			} else {
				ce := adaptertest.CallError(t, err)
				if ce.Fate != tt.fate || ce.Provider != "twilio" || gateway.ErrorCode(err) != tt.code {
					t.Errorf("got %v %q %q, want %v %q (%v)", ce.Fate, ce.Provider, gateway.ErrorCode(err), tt.fate, tt.code, err)
				}
				if tt.name == "malformed response" && !strings.Contains(err.Error(), "malformed response from twilio") {
					t.Errorf("error %q", err)
				}
				if len(e.rec.Links()) != 0 {
					t.Errorf("a link was sent: %v", e.rec.Links())
				}
			}
			n := len(e.fake.Requests())
			if (tt.requests >= 0 && n != tt.requests) || (tt.requests < 0 && n < 2) {
				t.Errorf("the fake saw %d requests, want %d", n, tt.requests)
			}
			if tt.specOK {
				_, errs := e.check.Checked()
				for _, err := range errs {
					t.Errorf("spec: %v", err)
				}
			}
		})
	}
}

func TestPlaceRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := leg(5 * time.Second)
	if _, err := e.adapter.Place(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	reqs := e.fake.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/v1/Rooms" {
		t.Fatalf("requests %+v", reqs)
	}
	f := reqs[0].Form
	want := url.Values{
		"UniqueName": {l.AttemptID}, "Type": {"group"}, "MaxParticipants": {"2"},
		"StatusCallback":       {e.gw.URL + "/webhooks/twilio/video?attempt=" + l.AttemptID},
		"StatusCallbackMethod": {"POST"}, "EmptyRoomTimeout": {"1"}, "UnusedRoomTimeout": {"2"},
	}
	if f.Encode() != want.Encode() {
		t.Errorf("form\n got %v\nwant %v", f, want)
	}
	if user, _, _ := (&http.Request{Header: reqs[0].Header}).BasicAuth(); user != apiKeySID {
		t.Errorf("Basic user %q", user)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now().Truncate(time.Second)
	e.adapter.Now = func() time.Time { return now }
	l := leg(20 * time.Second)
	p, err := e.adapter.Place(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, link, identity string
	}{
		{"officer", p.JoinURL, twiliovideo.PartyOfficer},
		{"device", e.rec.Links()[0], twiliovideo.PartyDevice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.link)
			if err != nil {
				t.Fatal(err)
			}
			claims := gojwt.MapClaims{}
			tok, err := gojwt.ParseWithClaims(u.Query().Get("token"), claims, func(*gojwt.Token) (any, error) { return []byte(apiKeySecret), nil },
				gojwt.WithValidMethods([]string{"HS256"}))
			if err != nil || !tok.Valid {
				t.Fatalf("token: %v", err)
			}
			if tok.Header["cty"] != "twilio-fpa;v=1" || claims["iss"] != apiKeySID || claims["sub"] != accountSID {
				t.Errorf("header %v claims %v", tok.Header, claims)
			}
			grants, _ := claims["grants"].(map[string]any)
			video, _ := grants["video"].(map[string]any)
			if grants["identity"] != tt.identity || video["room"] != l.AttemptID {
				t.Errorf("grants %v", grants)
			}
			exp, _ := claims.GetExpirationTime()
			nbf, _ := claims.GetNotBefore()
			if wantExp := l.Deadline.Add(twiliovideo.DefaultMaxCall).Unix(); exp == nil || exp.Unix() != wantExp {
				t.Errorf("exp %v, want %v", exp, time.Unix(wantExp, 0))
			}
			if nbf == nil || nbf.Unix() != now.Unix() {
				t.Errorf("nbf %v, want %v", nbf, now)
			}
		})
	}
}

func TestReports(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		officer, device time.Duration
		want            []string
	}{
		{"both join", 10 * time.Millisecond, 20 * time.Millisecond, []string{"joined:officer", "joined:device"}},
		{"device first", 30 * time.Millisecond, 5 * time.Millisecond, []string{"joined:device", "joined:officer"}},
		{"officer never joins", twilio.Never, 5 * time.Millisecond, []string{"joined:device"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.fake.SetJoins(tt.officer, tt.device)
			l := leg(5 * time.Second)
			p, err := e.adapter.Place(context.Background(), l)
			if err != nil {
				t.Fatal(err)
			}
			e.rec.waitFor(t, len(tt.want))
			time.Sleep(50 * time.Millisecond) // no other join follows
			if got := e.rec.Statuses(); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("reports %v, want %v", got, tt.want)
			}
			if err := e.adapter.HangUp(context.Background(), l, p); err != nil {
				t.Fatal(err)
			}
			got := e.rec.waitFor(t, len(tt.want)+1)
			if got[len(got)-1] != "ended" || e.fake.Room(p.ProviderRef) != "completed" {
				t.Errorf("after hang-up: %v, room %q", got, e.fake.Room(p.ProviderRef))
			}
			for _, rep := range e.rec.Reports() {
				if rep.AttemptID != l.AttemptID || rep.ProviderRef != p.ProviderRef || rep.Channel != twiliovideo.Channel {
					t.Errorf("report %+v", rep)
				}
			}
			_, errs := e.check.Checked()
			for _, err := range errs {
				t.Errorf("spec: %v", err)
			}
		})
	}
}

func TestJoinSenderFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rec.JoinSender.Err = &gateway.CallError{Fate: gateway.NotPlaced, Provider: "agent", Err: errors.New("device offline")}
	_, err := e.adapter.Place(context.Background(), leg(5*time.Second))
	if ce := adaptertest.CallError(t, err); ce.Fate != gateway.NotPlaced || ce.Provider != "agent" {
		t.Errorf("got %v", err)
	}
	reqs := e.fake.Requests()
	if len(reqs) != 2 || reqs[1].Form.Get("Status") != "completed" {
		t.Fatalf("the room was not completed: %+v", reqs)
	}
	if st := e.fake.Room(strings.TrimPrefix(reqs[1].Path, "/v1/Rooms/")); st != "completed" {
		t.Errorf("room %q", st)
	}

	e.rec.JoinSender.Err = errors.New("plain")
	_, err = e.adapter.Place(context.Background(), leg(5*time.Second))
	if ce := adaptertest.CallError(t, err); ce.Fate != gateway.Unknown || gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
		t.Errorf("got %v", err)
	}
}

func TestPlaceReusesItsRoom(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := leg(5 * time.Second)
	first, err := e.adapter.Place(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.adapter.Place(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	if second.ProviderRef != first.ProviderRef {
		t.Errorf("second try made room %s, first %s", second.ProviderRef, first.ProviderRef)
	}
	_, errs := e.check.Checked()
	for _, err := range errs {
		t.Errorf("spec: %v", err)
	}
}

func TestHangUpGoneRoom(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.adapter.HangUp(context.Background(), leg(time.Second), gateway.Placement{ProviderRef: "RM00000000000000000000000000000000"}); err != nil {
		t.Errorf("hang-up of an unknown room: %v", err)
	}
	e.adapter.APIURL = adaptertest.ClosedURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := e.adapter.HangUp(ctx, leg(time.Second), gateway.Placement{ProviderRef: "RM00000000000000000000000000000000"}); gateway.FateOf(err) != gateway.NotPlaced {
		t.Errorf("hang-up with Twilio unreachable: %v", err)
	}
}

func TestPlaceNeedsConfiguration(t *testing.T) {
	t.Parallel()
	a := twiliovideo.New(accountSID, authToken, "", "", "https://gw.example.police.uk")
	a.Reporter = &mocks.Reporter{ReportFn: func(context.Context, gateway.Report) error { return nil }}
	if _, err := a.Place(context.Background(), leg(time.Second)); gateway.FateOf(err) != gateway.NotPlaced || gateway.ErrorCode(err) != gateway.EINTERNAL {
		t.Errorf("got %v", err)
	}
}
