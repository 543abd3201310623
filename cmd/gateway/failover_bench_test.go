package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/provider"
)

// refusingAddr returns a loopback URL whose port refuses connections: a
// provider that is down.
func refusingAddr(tb testing.TB) string {
	tb.Helper()
	return "http://" + multiFreeAddr(tb)
}

// zoomDown is the configuration of a Zoom whose API and OAuth hosts refuse
// connections.
func zoomDown(tb testing.TB) []string {
	u := refusingAddr(tb)
	return []string{
		"GATEWAY_ZOOM_ACCOUNT_ID=acct", "GATEWAY_ZOOM_CLIENT_ID=client", "GATEWAY_ZOOM_CLIENT_SECRET=secret",
		"GATEWAY_ZOOM_WEBHOOK_SECRET=hook", "GATEWAY_ZOOM_API_URL=" + u, "GATEWAY_ZOOM_OAUTH_URL=" + u,
	}
}

// breakerOpen reads the zoom breaker's state from /metrics.
func (g *benchGateway) breakerOpen(tb testing.TB) bool {
	tb.Helper()
	resp, err := g.client.Get(g.m.URL() + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	v, ok := metric(string(b), `gateway_breaker_open{provider="zoom"}`)
	return ok && v == 1
}

// attemptsOf is the verification's attempts as channel:result.
func (g *benchGateway) attemptsOf(tb testing.TB, id string) []string {
	tb.Helper()
	v, err := g.m.Store.Verification(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, a := range v.Attempts {
		out = append(out, string(a.Channel)+":"+string(a.Result))
	}
	return out
}

// BenchmarkChannelFailover measures, through the whole gateway, the time
// from an officer's POST /v1/verifications to "connected" on his second
// channel when the provider of his first refuses connections: Zoom's API
// and OAuth hosts on a closed loopback port, then FaceTime through a
// simulated handset that answers at once (two per room, 24 in all).
//
//   - breaker-open: the zoom breaker has opened (on warm-up verifications);
//     iterations alternate between [zoom, facetime] ("open-*" metrics) and
//     a verification whose first channel is healthy, [facetime]
//     ("healthy-*"). extra-p50-ms is what the skipped channel adds.
//   - first/gateway-policy: the first verification after Zoom went down, on
//     a fresh gateway each iteration (production timings: 20 s ring time,
//     breaker opening after 5 failures), with the gateway's retry policy.
//   - first/library-policy: the same with go-retryablehttp's own policy
//     (4 retries, waits of 1 s to 30 s) in every provider client.
func BenchmarkChannelFailover(b *testing.B) {
	zoomFacetime := []gateway.Channel{gateway.Channel("zoom"), gateway.Channel("facetime")}
	apps := []gateway.Channel{gateway.Channel("facetime"), gateway.Channel("zoom")}

	b.Run("breaker-open", func(b *testing.B) {
		g := newBenchGatewayWith(b, 2, benchOptions{env: zoomDown(b), apps: apps})
		i := 0
		for !g.breakerOpen(b) {
			if i == 10 {
				b.Fatal("the zoom breaker did not open after 10 verifications on a Zoom that refuses connections")
			}
			id, dev, _, err := g.connectOn(i, zoomFacetime...)
			if err != nil {
				b.Fatal(err)
			}
			if err := g.close(id, dev); err != nil {
				b.Fatal(err)
			}
			i++
		}
		var healthy, open []time.Duration
		for b.Loop() {
			chans := []gateway.Channel{gateway.Channel("facetime")}
			if i%2 == 1 {
				chans = zoomFacetime
			}
			id, dev, d, err := g.connectOn(i, chans...)
			if err != nil {
				b.Fatal(err)
			}
			if len(chans) == 2 {
				if got := g.attemptsOf(b, id); !slices.Equal(got, []string{"zoom:skipped", "facetime:connected"}) {
					b.Fatalf("attempts %v, want zoom skipped then facetime connected", got)
				}
				open = append(open, d)
			} else {
				healthy = append(healthy, d)
			}
			if err := g.close(id, dev); err != nil {
				b.Fatal(err)
			}
			i++
		}
		if len(open) == 0 || len(healthy) == 0 {
			return
		}
		b.ReportMetric(percentile(healthy, 0.5), "healthy-p50-ms")
		b.ReportMetric(percentile(healthy, 0.99), "healthy-p99-ms")
		b.ReportMetric(percentile(open, 0.5), "open-p50-ms")
		b.ReportMetric(percentile(open, 0.99), "open-p99-ms")
		b.ReportMetric(percentile(open, 0.5)-percentile(healthy, 0.5), "extra-p50-ms")
	})

	first := func(policy *httpx.Policy) func(b *testing.B) {
		return func(b *testing.B) {
			var lat []time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				g := newBenchGatewayWith(b, 2, benchOptions{env: zoomDown(b), apps: apps,
					configure: func(m *Main) { m.Providers = withPolicy(m.Providers, policy) }})
				b.StartTimer()
				id, dev, d, err := g.connectOn(i, zoomFacetime...)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				got := g.attemptsOf(b, id)
				if len(got) < 2 || got[len(got)-1] != "facetime:connected" || !slices.ContainsFunc(got[:len(got)-1], func(s string) bool { return s[:5] == "zoom:" }) {
					b.Fatalf("attempts %v, want zoom then facetime connected", got)
				}
				lat = append(lat, d)
				if err := g.close(id, dev); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(percentile(lat, 0.5), "p50-ms")
			b.ReportMetric(percentile(lat, 1), "max-ms")
		}
	}
	gw := httpx.DefaultPolicy()
	lib := httpx.LibraryPolicy()
	b.Run("first/gateway-policy", first(&gw))
	b.Run("first/library-policy", first(&lib))
}

// withPolicy returns the providers with every HTTP client they make using
// policy instead of httpx.DefaultPolicy; nil leaves them as they are.
func withPolicy(list provider.List, policy *httpx.Policy) provider.List {
	if policy == nil {
		return list
	}
	out := slices.Clone(list)
	for i, p := range out {
		out[i].Wire = func(ctx context.Context, cfg config.Config, w *provider.Wiring) error {
			wc := *w
			wc.Client = func(name string) *httpx.Client {
				c := w.Client(name)
				c.Policy = *policy
				return c
			}
			return p.Wire(ctx, cfg, &wc)
		}
	}
	return out
}
