package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
)

// BenchmarkReceiptLookup serves receipts through the whole handler (the
// middleware, the store's lookup by reference on SQLite, the page or JSON)
// without a network, with the per-client limiter off and on (every request
// from a client of its own, so that none is refused): the difference is
// the limiter's cost per request.
func BenchmarkReceiptLookup(b *testing.B) {
	for _, mode := range []struct {
		name    string
		limiter bool
		json    bool
	}{
		{"json/limiter-off", false, true},
		{"json/limiter-on", true, true},
		{"html/limiter-off", false, false},
		{"html/limiter-on", true, false},
	} {
		b.Run(mode.name, func(b *testing.B) {
			var lim *httpapi.ClientLimiter
			if mode.limiter {
				lim = httpapi.NewClientLimiter(20, 10)
			}
			e := publicEnv(b, lim)
			refs := make([]string, 100)
			for i := range refs {
				refs[i] = finished(b, e, &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 42", At: time.Now()}, time.Now()).Reference
			}
			h := e.Server.Handler()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				req := httptest.NewRequest("GET", "/receipt/"+refs[i%len(refs)], nil)
				req.RemoteAddr = "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + ":4000"
				if mode.json {
					req.Header.Set("Accept", "application/json")
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}

// BenchmarkClientLimiter is the limiter alone: one request's Allow, for a
// few clients seen again and again and for a new client every time.
func BenchmarkClientLimiter(b *testing.B) {
	for _, mode := range []struct {
		name    string
		clients int
	}{{"same-16-clients", 16}, {"new-client-each", 1 << 30}} {
		b.Run(mode.name, func(b *testing.B) {
			lim := httpapi.NewClientLimiter(1e9, 1<<20) // nothing refused
			req := httptest.NewRequest("GET", "/receipt/x", nil)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				n := i % mode.clients
				req.RemoteAddr = "10." + strconv.Itoa(n>>16&255) + "." + strconv.Itoa(n>>8&255) + "." + strconv.Itoa(n&255) + ":4000"
				if ok, _ := lim.Allow(req); !ok {
					b.Fatal("refused")
				}
			}
		})
	}
}
