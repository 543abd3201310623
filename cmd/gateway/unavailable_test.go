package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/store/postgres/pgtest"
)

// wantUnavailable fails the test unless a is a 503 with a Retry-After in
// seconds and the JSON error "unavailable" with a message.
func wantUnavailable(tb testing.TB, what string, a answer) {
	tb.Helper()
	if a.status != http.StatusServiceUnavailable {
		tb.Fatalf("%s: status %d, want 503: %s", what, a.status, a.body)
	}
	if secs, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || secs <= 0 {
		tb.Errorf("%s: Retry-After %q, want a number of seconds", what, a.header.Get("Retry-After"))
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(a.body, &e); err != nil || e.Error.Code != gateway.EUNAVAILABLE || e.Error.Message == "" {
		tb.Errorf("%s: body %s, want the JSON error %q with a message", what, a.body, gateway.EUNAVAILABLE)
	}
}

// TestStoreFailingWrites: a gateway whose store cannot write (a read-only
// disk, a PostgreSQL standby after a failover) answers a new verification
// 503 with Retry-After and a JSON message, not 500, and /readyz 503 so that
// a load balancer stops sending it traffic; both recover when writes do.
// For SQLite and PostgreSQL.
func TestStoreFailingWrites(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			env := testEnv(t)
			if store == "postgres" {
				env = append(env, "GATEWAY_STORE="+pgtest.URL(t))
			}
			g := startGateway(t, env, nil)
			fw, ok := g.m.Store.(writeFaulter)
			if !ok {
				t.Fatalf("the %s store cannot fail its writes", store)
			}
			body, err := json.Marshal(verificationRequest(trafalgar, contact{gateway.Channel("facetime"), officerEmail}))
			if err != nil {
				t.Fatal(err)
			}
			if a := g.exchange(t, "GET", "/readyz", "", nil, nil); a.status != http.StatusOK {
				t.Fatalf("/readyz before the fault: %d %s", a.status, a.body)
			}

			fw.FailWrites(errors.New("read-only file system"))
			wantUnavailable(t, "POST /v1/verifications while writes fail", g.exchange(t, "POST", "/v1/verifications", g.officer, body, nil))
			wantUnavailable(t, "/readyz while writes fail", g.exchange(t, "GET", "/readyz", "", nil, nil))

			fw.FailWrites(nil)
			if a := g.exchange(t, "POST", "/v1/verifications", g.officer, body, nil); a.status != http.StatusCreated {
				t.Errorf("POST /v1/verifications after recovery: %d %s", a.status, a.body)
			}
			if a := g.exchange(t, "GET", "/readyz", "", nil, nil); a.status != http.StatusOK {
				t.Errorf("/readyz after recovery: %d %s", a.status, a.body)
			}
		})
	}
}
