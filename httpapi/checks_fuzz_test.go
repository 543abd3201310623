package httpapi_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/router"
)

// checkRouter is a router that opens checks: the test's fake with
// OpenCheck, which refuses a room other than AW as the router does.
type checkRouter struct {
	httpapi.Router
}

func (checkRouter) OpenCheck(_ context.Context, c router.OpenCheck) (gateway.Verification, error) {
	if c.RoomID != "AW" {
		return gateway.Verification{}, gateway.Errorf(gateway.EINVALID, "no such room")
	}
	return gateway.Verification{ID: "v_1", Reference: "K7QX-M4TR", State: gateway.StateConnected, Origin: c.Origin,
		Officer: gateway.Officer{Collar: c.Collar}, RoomID: c.RoomID, Attempts: []gateway.Attempt{}}, nil
}

// FuzzCheckBodies: whatever body a supervisor sends to POST /v1/checks,
// the answer is a 201 or a 4xx with a JSON error: never a 500 or a panic;
// and a 201 is only for origin radio or 999 with a collar number.
func FuzzCheckBodies(f *testing.F) {
	for _, seed := range []string{
		`{"origin":"radio","collar":"PC1234","room":"AW"}`,
		`{"origin":"999","collar":"PC 1234","room":"AW","grounds":"Seen trying car doors"}`,
		`{"origin":"officer","collar":"PC1234","room":"AW"}`,
		`{"origin":"radio","collar":"","room":"AW"}`,
		`{"origin":"radio","collar":"PC1234","room":"ZZ"}`,
		`{"origin":"radio","collar":"PC1234","room":"AW","extra":1}`,
		`{"origin":"radio","collar":"\u0000","room":"AW"}`,
		`[]`, `null`, `{`, `{"origin":1}`,
	} {
		f.Add(seed)
	}
	e := httpapitest.New(f, func(s *httpapi.Server) { s.Router = checkRouter{s.Router} })
	_, sup := e.Token(f, gateway.RoleSupervisor, "PS 42")
	h := e.Server.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/checks", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+sup)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code != 201 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body)
		}
		if rec.Code == 201 && !strings.Contains(body, "radio") && !strings.Contains(body, "999") {
			t.Fatalf("%q opened a check: %s", body, rec.Body)
		}
	})
}
