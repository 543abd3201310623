package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/handle"
	"github.com/safeconnection/gateway/provider"
)

// A provider for a made-up channel, "signal", written here and nowhere
// else: its descriptor, config section, adapter and fake. Registering it
// is one line in a provider list; the router, the HTTP layer and config
// learn of it from the descriptor alone.

const signalChannel gateway.Channel = "signal"

// signalConfig is the section GATEWAY_SIGNAL_*.
type signalConfig struct {
	Number string `envconfig:"NUMBER" desc:"the Signal number the gateway calls from" credential:"true"`
	Secret string `envconfig:"SECRET" desc:"the secret of the Signal gateway's API and webhooks" credential:"true" secret:"true"`
	APIURL string `envconfig:"API_URL" desc:"the Signal gateway's API base URL" check:"url"`
}

var signalSection = config.NewSection("SIGNAL",
	"Signal: video calls through a Signal gateway's API. Enabled by GATEWAY_SIGNAL_NUMBER and GATEWAY_SIGNAL_SECRET",
	signalConfig{APIURL: "https://signal.invalid"}, nil)

var signalDescriptor = provider.Provider{
	Name: "signal",
	Channels: []gateway.ChannelInfo{{
		Channel: signalChannel, Title: "Signal", PhoneHandle: true, Reports: gateway.ReportsWebhook, CheckHandle: handle.E164,
	}},
	Section: signalSection,
	Wire: func(_ context.Context, cfg config.Config, w *provider.Wiring) error {
		c := signalSection.Get(cfg)
		if c.Number == "" {
			return nil
		}
		a := &signalAdapter{cfg: c, client: w.Client("signal"), reporter: w.Reporter}
		w.Webhook("signal", "", http.HandlerFunc(a.webhook))
		return w.Register(w.Guard("signal", a))
	},
}

// signalAdapter places a leg by POST {APIURL}/v1/calls and learns that it
// connected from the Signal gateway's webhook.
type signalAdapter struct {
	cfg      signalConfig
	client   *httpx.Client
	reporter gateway.Reporter
}

func (a *signalAdapter) Channel() gateway.Channel { return signalChannel }

func (a *signalAdapter) Place(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
	body, _ := json.Marshal(map[string]string{"from": a.cfg.Number, "to": leg.OfficerHandle, "device": leg.Device.Handles[signalChannel]})
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, a.cfg.APIURL+"/v1/calls", body)
	if err != nil {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.NotPlaced, Provider: "signal", Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+a.cfg.Secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err := httpx.Classify("signal", resp, err); err != nil {
		return gateway.Placement{}, err
	}
	defer resp.Body.Close()
	var call struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&call); err != nil || call.ID == "" {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.Unknown, Provider: "signal", Err: errors.New("no call ID")}
	}
	return gateway.Placement{ProviderRef: call.ID}, nil
}

func (a *signalAdapter) webhook(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+a.cfg.Secret {
		httpx.WriteError(w, gateway.Errorf(gateway.EUNAUTHORIZED, "bad secret"))
		return
	}
	var ev struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.Status != "answered" {
		httpx.WriteError(w, gateway.Errorf(gateway.EINVALID, "not an event"))
		return
	}
	err := a.reporter.Report(r.Context(), gateway.Report{Channel: signalChannel, ProviderRef: ev.ID, Status: gateway.ReportAnswered, At: time.Now()})
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// signalFake is the Signal gateway on loopback: it takes calls and posts
// "answered" to the gateway's webhook, or refuses every call with 503.
type signalFake struct {
	srv     *httptest.Server
	secret  string
	webhook atomic.Pointer[string]
	refuse  atomic.Bool
	calls   atomic.Int64
	wg      sync.WaitGroup
}

func startSignalFake(t *testing.T, secret string) *signalFake {
	f := &signalFake{secret: secret}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/calls" || r.Header.Get("Authorization") != "Bearer "+secret {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		n := f.calls.Add(1)
		if f.refuse.Load() {
			http.Error(w, `{"message":"refused"}`, http.StatusServiceUnavailable)
			return
		}
		id := "sc_" + strconv.FormatInt(n, 10)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"id": id})
		f.wg.Add(1)
		go func() { // the officer answers after a moment
			defer f.wg.Done()
			time.Sleep(100 * time.Millisecond)
			body, _ := json.Marshal(map[string]string{"id": id, "status": "answered"})
			req, _ := http.NewRequest(http.MethodPost, *f.webhook.Load(), bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+secret)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}))
	t.Cleanup(func() { f.wg.Wait(); f.srv.Close() })
	return f
}

// signalList is the gateway's providers with Signal first.
func signalList() provider.List { return append(provider.List{signalDescriptor}, providers...) }

func TestMadeUpProvider(t *testing.T) {
	t.Run("its section shows in -h", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), signalList(), []string{"-h"}, nil, &stdout, &stderr); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("run -h = %v, want flag.ErrHelp", err)
		}
		help := strings.Join(strings.Fields(stderr.String()), " ")
		for _, want := range []string{
			"GATEWAY_SIGNAL_NUMBER (string) the Signal number the gateway calls from",
			"GATEWAY_SIGNAL_API_URL (string, default https://signal.invalid)",
			"Signal: video calls through a Signal gateway's API. Enabled by GATEWAY_SIGNAL_NUMBER and GATEWAY_SIGNAL_SECRET",
			"GATEWAY_ZOOM_ACCOUNT_ID", // the others stay
		} {
			if !strings.Contains(help, want) {
				t.Errorf("gateway -h lacks %q", want)
			}
		}
	})

	const secret = "signal-secret"
	fake := startSignalFake(t, secret)
	// Its breaker stays closed, so that a refusal is not placed rather than skipped.
	env := testEnv(t, "GATEWAY_BREAKER_FAILURES=1000", "GATEWAY_SIGNAL_NUMBER=+447700900777", "GATEWAY_SIGNAL_SECRET="+secret, "GATEWAY_SIGNAL_API_URL="+fake.srv.URL)
	g := startGatewayWith(t, signalList(), env, nil)
	hook := g.m.PublicURL() + "/webhooks/signal/"
	fake.webhook.Store(&hook)
	d := g.addDevice(t, "AW", "+447700900778", map[gateway.Channel]string{signalChannel: "+447700900778", gateway.Channel("facetime"): "+447700900778"})
	g.startAgent(t, d, nil)
	contacts := []contact{{signalChannel, officerNumber}, {gateway.Channel("facetime"), officerNumber}}

	t.Run("routes and connects on it", func(t *testing.T) {
		v := g.request(t, trafalgar, contacts...)
		v = g.waitState(t, v.ID, gateway.StateConnected)
		if got := attempts(v); !slices.Equal(got, []string{"signal:connected"}) {
			t.Errorf("attempts %v, want one connected signal attempt", got)
		}
		if v.Channel != signalChannel || v.Device != d.ID {
			t.Errorf("connected on %s with %q, want signal with %s", v.Channel, v.Device, d.ID)
		}
		g.outcome(t, v.ID, gateway.OutcomeVerified)
		g.waitFree(t, d.ID)
	})

	t.Run("fails over when it refuses", func(t *testing.T) {
		fake.refuse.Store(true)
		before := fake.calls.Load()
		v := g.request(t, trafalgar, contacts...)
		v = g.waitState(t, v.ID, gateway.StateConnected)
		if got := attempts(v); !slices.Equal(got, []string{"signal:not_placed", "facetime:connected"}) {
			t.Errorf("attempts %v, want signal not placed, then facetime connected", got)
		}
		if fake.calls.Load() == before {
			t.Error("the fake Signal gateway was never asked")
		}
		g.outcome(t, v.ID, gateway.OutcomeVerified)
		g.waitFree(t, d.ID)
	})
}
