package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
)

// hostileBodies are bodies no endpoint should answer with a 5xx.
var hostileBodies = []string{
	"", "{", "}", "[", "null", "true", "0", "-0", "1e999", `""`, `"\u0000"`, "{}", "[]", "{}{}", "{} ",
	`{"":""}`, `{"a":1,"a":2}`, `{"\u0000":1}`, "\xef\xbb\xbf{}", "\xff\xfe", "{\"a\":\"\xc3\x28\"}",
	strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
	strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000),
	`{"battery":1e400}`, `{"battery":-9223372036854775809}`, `{"battery":9223372036854775808}`, `{"battery":"87"}`,
	`{"apps":null}`, `{"apps":[null]}`, `{"apps":[1]}`, `{"apps":"facetime"}`,
	`{"status":null}`, `{"status":"failed","fate":null}`, `{"status":"ended","detail":"` + strings.Repeat("é", 500) + `"}`,
	`{"outcome":"verified","supervisor":"` + strings.Repeat("s", 5000) + `"}`, `{"outcome":["verified"]}`,
	`{"room":"` + strings.Repeat("r", 100) + `","number":"+447911123456"}`, `{"room":"w","handles":{"":"x"}}`,
	`{"room":"w","handles":{"zoom":null}}`, `{"room":"w","number":"+` + strings.Repeat("9", 40) + `"}`,
	`{"name":null}`, `{"handles":null}`, `{"status":""}`, `{"rotate_credential":null}`,
	`{"officer":[],"location":"x","contacts":"y"}`, `{"contacts":[null,null]}`, `{"location":{"lat":null,"lon":null}}`,
	`{"location":{"lat":1e308,"lon":-1e308}}`, `{"location":{"lat":0.1e-400,"lon":0}}`,
	goodRequest, goodDevice, `{"status":"answered"}`, `{"battery":50,"apps":["zoom"]}`, `{"outcome":"refused"}`,
	strings.Repeat(" ", 70<<10) + "{}",
}

func TestNeverAServerErrorForBadInput(t *testing.T) {
	// A wait too long is held at the most, which is short here.
	e := httpapitest.New(t, func(s *httpapi.Server) { s.AgentWait = 100 * time.Millisecond })
	fakeRequests(t, e)
	e.Router.RecordOutcomeFn = func(_ context.Context, id string, o gateway.Outcome) (gateway.Verification, error) {
		return gateway.Verification{ID: id, State: gateway.State(o.Result), Outcome: &o}, nil
	}
	e.Router.CancelFn = func(_ context.Context, id, _ string) (gateway.Verification, error) {
		return gateway.Verification{ID: id, State: gateway.StateCancelled}, nil
	}
	officer, officerSecret := e.Token(t, gateway.RoleOfficer, "")
	_, supervisor := e.Token(t, gateway.RoleSupervisor, "")
	_, ops := e.Token(t, gateway.RoleOps, "")
	d, agent := e.Device(t, "westminster")
	v := verification(t, e, officer.ID)
	o := putOrder(t, e, d.ID, gateway.OrderDial)

	endpoints := []struct{ method, path, secret string }{
		{"POST", "/v1/verifications", officerSecret},
		{"POST", "/v1/verifications/" + v.ID + "/outcome", supervisor},
		{"POST", "/v1/verifications/" + v.ID + "/cancel", officerSecret},
		{"POST", "/v1/agent/heartbeat", agent},
		{"POST", "/v1/agent/orders/" + o.ID + "/report", agent},
		{"POST", "/v1/devices", ops},
		{"PATCH", "/v1/devices/" + d.ID, ops},
	}
	contentTypes := []string{"application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", "application/json;;"}
	for _, ep := range endpoints {
		for i, body := range hostileBodies {
			for _, ct := range contentTypes {
				r := do(t, e, call{method: ep.method, path: ep.path, secret: ep.secret, body: body, contentType: ct})
				if r.status >= 500 {
					t.Errorf("%s %s body #%d (%.40q) as %s: status %d: %s", ep.method, ep.path, i, body, ct, r.status, r.body)
				}
				if r.status >= 400 && !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
					t.Errorf("%s %s body #%d: a %d without a JSON error", ep.method, ep.path, i, r.status)
				}
			}
		}
	}
	// Odd paths and queries too.
	for _, c := range []call{
		{method: "GET", path: "/v1/verifications/%00", secret: ops},
		{method: "GET", path: "/v1/verifications/" + strings.Repeat("v", 5000), secret: ops},
		{method: "GET", path: "/v1/devices?room=%ff%fe", secret: ops},
		{method: "GET", path: "/v1/devices?room=" + strings.Repeat("r", 3000), secret: ops},
		{method: "GET", path: "/v1/agent/orders?wait=99999999999999999999", secret: agent},
		{method: "GET", path: "/v1/verifications/" + v.ID + "/events", secret: ops, header: map[string]string{"Last-Event-ID": "-5"}},
		{method: "GET", path: "/v1/verifications/" + v.ID + "/events", secret: ops, header: map[string]string{"Last-Event-ID": "99999999999999999999"}},
	} {
		if r := do(t, e, c); r.status >= 500 {
			t.Errorf("%s %.60s: status %d: %s", c.method, c.path, r.status, r.body)
		}
	}
}
