package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
)

func TestIdempotencyMismatchIs422(t *testing.T) {
	e := httpapitest.New(t)
	e.Router.RequestFn = func(context.Context, gateway.Request) (gateway.Verification, bool, error) {
		return gateway.Verification{}, false, gateway.Errorf(gateway.EIDEMPOTENCY, "Idempotency-Key stop-1 was used with a different request")
	}
	_, officer := e.Token(t, gateway.RoleOfficer, "")
	r := do(t, e, call{method: "POST", path: "/v1/verifications", secret: officer, body: goodRequest,
		header: map[string]string{"Idempotency-Key": "stop-1"}})
	wantError(t, r, http.StatusUnprocessableEntity, "idempotency_mismatch")
	if got := httpapi.StatusOf(gateway.EIDEMPOTENCY); got != http.StatusUnprocessableEntity {
		t.Errorf("StatusOf(%s) = %d, want 422", gateway.EIDEMPOTENCY, got)
	}
}

func TestUnavailableSaysWhenToRetry(t *testing.T) {
	// A store that cannot write says so with EUNAVAILABLE; the answer is a
	// 503 with Retry-After, and the I/O error (a path on the server) stays
	// in the log.
	ioErr := errors.New("write /var/lib/gateway/gateway.db-wal: read-only file system")
	e := httpapitest.New(t, func(s *httpapi.Server) {
		s.Ready = func(context.Context) error { return ioErr }
	})
	e.Router.RequestFn = func(context.Context, gateway.Request) (gateway.Verification, bool, error) {
		return gateway.Verification{}, false, gateway.E("sqlite.CreateVerification", gateway.EUNAVAILABLE, ioErr)
	}
	_, officer := e.Token(t, gateway.RoleOfficer, "")
	for _, c := range []call{
		{method: "POST", path: "/v1/verifications", secret: officer, body: goodRequest},
		{method: "GET", path: "/readyz"},
	} {
		r := do(t, e, c)
		msg := wantError(t, r, http.StatusServiceUnavailable, gateway.EUNAVAILABLE)
		if got := r.header.Get("Retry-After"); got != "2" {
			t.Errorf("%s %s: Retry-After = %q, want 2 (seconds)", c.method, c.path, got)
		}
		if strings.Contains(string(r.body), "/var/lib") || strings.Contains(msg, "read-only") {
			t.Errorf("%s %s: the answer shows the I/O error: %s", c.method, c.path, r.body)
		}
	}
}

func TestJSONIsNotHTMLEscaped(t *testing.T) {
	e := httpapitest.New(t)
	r := do(t, e, call{method: "GET", path: "/v1/devices"})
	msg := wantError(t, r, http.StatusUnauthorized, gateway.EUNAUTHORIZED)
	if !strings.Contains(msg, "<secret>") {
		t.Fatalf("message %q does not show <secret>", msg)
	}
	if strings.Contains(string(r.body), `\u003c`) {
		t.Errorf("the body escapes < as for HTML: %s", r.body)
	}
}
