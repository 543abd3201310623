package pstn_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
	"github.com/safeconnection/gateway/adapters/pstn"
	"github.com/safeconnection/gateway/mocks/twilio"
)

const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "s3cr3tt0k3n"
	callerID   = "+441134960000"
	officer    = "+447700900123"
	desk       = "+441134960999"
)

var loadSpec = sync.OnceValues(func() (*twilio.Spec, error) {
	return twilio.LoadSpec(filepath.Join("..", "..", "testdata", "specs", "twilio_api_v2010.json"))
})

// reports records the reports the adapter makes.
type reports struct{ adaptertest.Reporter }

// waitFor waits for a report of status.
func (r *reports) waitFor(tb testing.TB, status gateway.ReportStatus) []string {
	tb.Helper()
	return r.WaitFor(tb, string(status)+" report", func(reps []gateway.Report) bool {
		return slices.ContainsFunc(reps, func(rep gateway.Report) bool { return rep.Status == status })
	})
}

type env struct {
	fake    *twilio.Fake
	api     *httptest.Server
	gw      *httptest.Server
	adapter *pstn.Adapter
	check   *twilio.CheckingTransport
	reports *reports
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	spec, err := loadSpec()
	if err != nil {
		tb.Fatal(err)
	}
	f := twilio.New(accountSID, authToken)
	f.Step = 5 * time.Millisecond
	f.RingOut = 50 * time.Millisecond
	api := httptest.NewServer(f)
	e := &env{fake: f, api: api, reports: &reports{}}
	a := pstn.New(accountSID, authToken, callerID, "")
	a.APIURL = api.URL
	a.Reporter = e.reports
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
		VerificationID: "v_1", AttemptID: "a_0123456789abcdef0123", Channel: gateway.ChannelPSTN,
		OfficerHandle: officer, DeviceHandle: desk, Deadline: time.Now().Add(timeout),
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
		requests int // the fake saw exactly this many; -1: at least 2
		specOK   bool
	}{
		{"success", nil, 5 * time.Second, 0, "", 1, true},
		{"429 with Retry-After then success", func(e *env) { e.fake.FailNext(1, 429, time.Second) }, 5 * time.Second, 0, "", 2, true},
		{"503 until the deadline", func(e *env) { e.fake.FailNext(1000, 503, 0) }, 700 * time.Millisecond, gateway.NotPlaced, gateway.EUNAVAILABLE, -1, true},
		{"400 not retried", func(e *env) { e.fake.FailNext(1, 400, 0) }, 5 * time.Second, gateway.PlacedFailed, gateway.EINVALID, 1, true},
		{"500 not retried", func(e *env) { e.fake.FailNext(1, 500, 0) }, 5 * time.Second, gateway.Unknown, gateway.EUNAVAILABLE, 1, true},
		{"malformed response", func(e *env) { e.fake.MalformedNext(1) }, 5 * time.Second, gateway.Unknown, gateway.EUNAVAILABLE, 1, false},
		{"hang", func(e *env) { e.fake.HangNext(1) }, 400 * time.Millisecond, gateway.Unknown, gateway.ETIMEOUT, 1, true},
		{"wrong credentials", func(e *env) { e.adapter.AuthToken = "wrongtoken" }, 5 * time.Second, gateway.NotPlaced, gateway.EUNAUTHORIZED, 1, true},
		{"refused connections", func(e *env) { e.api.Close() }, 600 * time.Millisecond, gateway.NotPlaced, gateway.EUNAVAILABLE, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			l := leg(tt.timeout)
			start := time.Now()
			p, err := e.adapter.Place(context.Background(), l)
			if elapsed := time.Since(start); elapsed > tt.timeout+300*time.Millisecond {
				t.Errorf("Place took %v; the leg's deadline was %v away", elapsed, tt.timeout)
			}
			if tt.fate == 0 {
				if err != nil {
					t.Fatalf("Place: %v", err)
				}
				if !strings.HasPrefix(p.ProviderRef, "CA") || len(p.ProviderRef) != 34 || p.Connected || p.JoinURL != "" {
					t.Errorf("placement %+v", p)
				}
			} else {
				ce := adaptertest.CallError(t, err)
				if ce.Fate != tt.fate || ce.Provider != "twilio" || gateway.ErrorCode(err) != tt.code {
					t.Errorf("got %v %q %q, want %v %q (%v)", ce.Fate, ce.Provider, gateway.ErrorCode(err), tt.fate, tt.code, err)
				}
				if tt.name == "malformed response" && !strings.Contains(err.Error(), "malformed response from twilio") {
					t.Errorf("error %q", err)
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

// twimlDoc is what the test reads of the TwiML sent.
type twimlDoc struct {
	Say  string `xml:"Say"`
	Dial struct {
		AnswerOnBridge string `xml:"answerOnBridge,attr"`
		Timeout        string `xml:"timeout,attr"`
		Action         string `xml:"action,attr"`
		CallerID       string `xml:"callerId,attr"`
		Number         struct {
			Value    string `xml:",chardata"`
			Callback string `xml:"statusCallback,attr"`
			Events   string `xml:"statusCallbackEvent,attr"`
		} `xml:"Number"`
	} `xml:"Dial"`
}

func TestPlaceRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := leg(20 * time.Second)
	if _, err := e.adapter.Place(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	reqs := e.fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	f := reqs[0].Form
	if reqs[0].Path != "/2010-04-01/Accounts/"+accountSID+"/Calls.json" || f.Get("To") != officer || f.Get("From") != callerID {
		t.Errorf("request %s %v", reqs[0].Path, f)
	}
	if got := f.Get("StatusCallback"); got != e.gw.URL+"/webhooks/twilio/voice?attempt="+l.AttemptID {
		t.Errorf("StatusCallback %q", got)
	}
	if got := strings.Join(f["StatusCallbackEvent"], " "); got != "initiated ringing answered completed" {
		t.Errorf("StatusCallbackEvent %q", got)
	}
	if n, err := strconv.Atoi(f.Get("Timeout")); err != nil || n < 15 || n > 20 || f.Get("TimeLimit") != "1800" {
		t.Errorf("Timeout %q TimeLimit %q", f.Get("Timeout"), f.Get("TimeLimit"))
	}
	var doc twimlDoc
	if err := xml.Unmarshal([]byte(f.Get("Twiml")), &doc); err != nil {
		t.Fatal(err)
	}
	d := doc.Dial
	if d.AnswerOnBridge != "true" || d.Number.Value != desk || d.CallerID != callerID || d.Timeout == "" || doc.Say == "" {
		t.Errorf("TwiML %+v", doc)
	}
	if d.Action != e.gw.URL+"/webhooks/twilio/voice/dial?attempt="+l.AttemptID ||
		d.Number.Callback != e.gw.URL+"/webhooks/twilio/voice/bridge?attempt="+l.AttemptID ||
		d.Number.Events != "initiated ringing answered completed" {
		t.Errorf("TwiML URLs %+v", d)
	}
	if user, pass, _ := (&http.Request{Header: reqs[0].Header}).BasicAuth(); user != accountSID || pass != authToken {
		t.Errorf("Basic auth %q", user)
	}
}

func TestPlaceWithoutNumbers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := leg(time.Second)
	l.DeviceHandle = ""
	_, err := e.adapter.Place(context.Background(), l)
	if ce := adaptertest.CallError(t, err); ce.Fate != gateway.PlacedFailed || gateway.ErrorCode(err) != gateway.EINVALID {
		t.Errorf("got %v", err)
	}
	if n := len(e.fake.Requests()); n != 0 {
		t.Errorf("%d requests", n)
	}
}

func TestCallOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		officer, bridge twilio.Pickup
		final           gateway.ReportStatus
		want            []string
	}{
		{"connected", twilio.Answer, twilio.Answer, gateway.ReportAnswered,
			[]string{"dialling", "ringing", "joined:officer", "ringing", "answered"}},
		{"officer busy", twilio.Busy, twilio.Answer, gateway.ReportRejected,
			[]string{"dialling", "ringing", "rejected"}},
		{"officer never answers", twilio.NoAnswer, twilio.Answer, gateway.ReportNoAnswer,
			[]string{"dialling", "ringing", "no_answer"}},
		{"officer unreachable", twilio.Fail, twilio.Answer, gateway.ReportFailed,
			[]string{"dialling", "ringing", "failed"}},
		{"ops room never answers", twilio.Answer, twilio.NoAnswer, gateway.ReportNoAnswer,
			[]string{"dialling", "ringing", "joined:officer", "ringing", "no_answer"}},
		{"ops room busy", twilio.Answer, twilio.Busy, gateway.ReportRejected,
			[]string{"dialling", "ringing", "joined:officer", "ringing", "rejected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.fake.SetOfficer(tt.officer)
			e.fake.SetBridge(tt.bridge)
			l := leg(5 * time.Second)
			p, err := e.adapter.Place(context.Background(), l)
			if err != nil {
				t.Fatal(err)
			}
			got := e.reports.waitFor(t, tt.final)
			// The parent call's own "completed" may follow the final
			// status at once: the sequence up to the final one is the test.
			if i := slices.Index(got, string(tt.final)); i >= 0 {
				got = got[:i+1]
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("reports %v, want %v", got, tt.want)
			}
			for _, rep := range e.reports.Reports() {
				if rep.AttemptID != l.AttemptID || rep.ProviderRef != p.ProviderRef || rep.Channel != gateway.ChannelPSTN || rep.At.IsZero() {
					t.Errorf("report %+v", rep)
				}
				if strings.Contains(rep.Detail, "7700") || strings.Contains(rep.Detail, "4960") {
					t.Errorf("a number in a report's detail: %q", rep.Detail)
				}
				if rep.Status == gateway.ReportFailed && rep.Fate != gateway.PlacedFailed {
					t.Errorf("failed report with fate %v", rep.Fate)
				}
			}
			if tt.final == gateway.ReportAnswered {
				if err := e.adapter.HangUp(context.Background(), l, p); err != nil {
					t.Fatal(err)
				}
				e.reports.waitFor(t, gateway.ReportEnded)
				if st := e.fake.Call(p.ProviderRef); st != "completed" {
					t.Errorf("call %q after hang-up", st)
				}
			}
			for _, d := range e.fake.Deliveries() {
				if d.Status != http.StatusNoContent && d.Status != http.StatusOK {
					t.Errorf("callback %s %s answered %d", d.Kind, d.Event, d.Status)
				}
			}
		})
	}
}

func TestHangUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.SetOfficer(twilio.NoAnswer)
	e.fake.RingOut = time.Minute
	l := leg(5 * time.Second)
	p, err := e.adapter.Place(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	e.reports.waitFor(t, gateway.ReportRinging)
	if err := e.adapter.HangUp(context.Background(), l, p); err != nil {
		t.Fatal(err)
	}
	if st := e.fake.Call(p.ProviderRef); st != "canceled" {
		t.Errorf("ringing call %q after hang-up", st)
	}
	e.reports.waitFor(t, gateway.ReportFailed)
	// Unknown call: already gone, fine.
	if err := e.adapter.HangUp(context.Background(), l, gateway.Placement{ProviderRef: "CA00000000000000000000000000000000"}); err != nil {
		t.Errorf("hang-up of a gone call: %v", err)
	}
	// Twilio unreachable: a NotPlaced error.
	e.adapter.APIURL = adaptertest.ClosedURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := e.adapter.HangUp(ctx, l, p); gateway.FateOf(err) != gateway.NotPlaced {
		t.Errorf("hang-up with Twilio down: %v", err)
	}
	_, errs := e.check.Checked()
	for _, err := range errs {
		t.Errorf("spec: %v", err)
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.adapter.AuthToken = "not/alphanumeric"
	_, err := e.adapter.Place(context.Background(), leg(time.Second))
	if ce := adaptertest.CallError(t, err); ce.Fate != gateway.NotPlaced || gateway.ErrorCode(err) != gateway.EUNAUTHORIZED {
		t.Errorf("got %v", err)
	}
	if n := len(e.fake.Requests()); n != 0 {
		t.Errorf("%d requests", n)
	}
}

func TestPlaceRespectsContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.adapter.APIURL = adaptertest.ClosedURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.adapter.Place(ctx, leg(time.Minute))
	if gateway.FateOf(err) != gateway.NotPlaced || time.Since(start) > 600*time.Millisecond {
		t.Errorf("got %v after %v", err, time.Since(start))
	}
}

func TestCallbackURL(t *testing.T) {
	t.Parallel()
	a := pstn.New(accountSID, authToken, callerID, "https://gw.example.police.uk/")
	doc, err := a.TwiML(gateway.Leg{AttemptID: "a_1", DeviceHandle: desk, Deadline: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var d twimlDoc
	if err := xml.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	if d.Dial.Action != "https://gw.example.police.uk/webhooks/twilio/voice/dial?attempt=a_1" || d.Dial.Timeout != "600" {
		t.Errorf("dial %+v", d.Dial)
	}
	u, _ := url.Parse(d.Dial.Number.Callback)
	if u.Path != pstn.PathBridge || u.Query().Get("attempt") != "a_1" {
		t.Errorf("bridge callback %q", d.Dial.Number.Callback)
	}
}
