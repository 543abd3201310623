package breaker_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/breaker"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
)

// httpAdapter is the smallest httpx-backed adapter: one POST per leg.
type httpAdapter struct {
	URL        string
	HTTPClient *httpx.Client
	Timeout    time.Duration // the attempt's deadline, from now
}

func (a *httpAdapter) Channel() gateway.Channel { return gateway.Channel("zoom") }

func (a *httpAdapter) Place(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
	ctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, a.URL, strings.NewReader(`{"topic":"x"}`))
	if err != nil {
		return gateway.Placement{}, err
	}
	resp, err := a.HTTPClient.Do(req)
	if err := httpx.Classify("zoom", resp, err); err != nil {
		return gateway.Placement{}, err
	}
	resp.Body.Close()
	return gateway.Placement{ProviderRef: "m"}, nil
}

// Interface guards
var _ gateway.Adapter = (*httpAdapter)(nil)

// BenchmarkFailover measures how long a Place on a breaker-wrapped,
// httpx-backed adapter takes to return NotPlaced when the provider refuses
// connections: what the router waits before failing over.
func BenchmarkFailover(b *testing.B) {
	url := adaptertest.ClosedURL(b) + "/v2/users/me/meetings"
	cases := []struct {
		name     string
		policy   httpx.Policy
		timeout  time.Duration
		failures uint32 // to open the breaker; huge: never
		open     bool
	}{
		{"closed/default-policy/500ms", httpx.DefaultPolicy(), 500 * time.Millisecond, 1 << 30, false},
		{"open", httpx.DefaultPolicy(), 500 * time.Millisecond, 5, true},
		{"closed/library-policy/2s", httpx.LibraryPolicy(), 2 * time.Second, 1 << 30, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			hc := httpx.NewClient(nil)
			hc.Policy = c.policy
			br := breaker.New(breaker.Settings{Provider: "zoom", ConsecutiveFailures: c.failures, Cooldown: time.Hour})
			a := breaker.Wrap(&httpAdapter{URL: url, HTTPClient: hc, Timeout: c.timeout}, br)
			if c.open {
				for br.State() != breaker.StateOpen {
					_, _ = a.Place(context.Background(), gateway.Leg{})
				}
			}
			for b.Loop() {
				_, err := a.Place(context.Background(), gateway.Leg{})
				if gateway.FateOf(err) != gateway.NotPlaced {
					b.Fatalf("fate %v: %v", gateway.FateOf(err), err)
				}
			}
		})
	}
}
