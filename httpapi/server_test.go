package httpapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/mocks"
	"github.com/safeconnection/gateway/router"
)

var allRoles = []gateway.Role{gateway.RoleOfficer, gateway.RoleSupervisor, gateway.RoleOps, gateway.RoleAgent}

func TestRolesGuardEveryEndpoint(t *testing.T) {
	e := httpapitest.New(t)
	secrets := make(map[gateway.Role]string)
	for _, role := range allRoles {
		_, secrets[role] = e.Token(t, role, "d_nosuch")
	}
	routes := []struct {
		method, path, body string
		allowed            []gateway.Role
	}{
		{"POST", "/v1/verifications", "{}", []gateway.Role{gateway.RoleOfficer}},
		{"GET", "/v1/verifications/v_nosuch", "", []gateway.Role{gateway.RoleOfficer, gateway.RoleSupervisor, gateway.RoleOps}},
		{"GET", "/v1/verifications/v_nosuch/events", "", []gateway.Role{gateway.RoleOfficer, gateway.RoleSupervisor, gateway.RoleOps}},
		{"POST", "/v1/verifications/v_nosuch/outcome", "{}", []gateway.Role{gateway.RoleSupervisor}},
		{"POST", "/v1/verifications/v_nosuch/cancel", "", []gateway.Role{gateway.RoleOfficer}},
		{"POST", "/v1/agent/heartbeat", "{}", []gateway.Role{gateway.RoleAgent}},
		{"GET", "/v1/agent/orders", "", []gateway.Role{gateway.RoleAgent}},
		{"POST", "/v1/agent/orders/o_nosuch/report", `{"status":"ringing"}`, []gateway.Role{gateway.RoleAgent}},
		{"GET", "/v1/devices", "", []gateway.Role{gateway.RoleOps}},
		{"POST", "/v1/devices", "{}", []gateway.Role{gateway.RoleOps}},
		{"GET", "/v1/devices/d_nosuch", "", []gateway.Role{gateway.RoleOps}},
		{"PATCH", "/v1/devices/d_nosuch", "{}", []gateway.Role{gateway.RoleOps}},
	}
	revoked, revokedSecret := e.Token(t, gateway.RoleOps, "")
	if err := e.Store.RevokeToken(context.Background(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			unauthorized := []struct {
				name, header string
			}{
				{"no header", ""},
				{"basic scheme", "Basic " + secrets[rt.allowed[0]]},
				{"empty bearer", "Bearer "},
				{"unknown secret", "Bearer sc_0123456789"},
				{"revoked", "Bearer " + revokedSecret},
				{"huge secret", "Bearer " + strings.Repeat("x", 4096)},
			}
			for _, u := range unauthorized {
				c := call{method: rt.method, path: rt.path, body: rt.body}
				if u.header != "" {
					c.header = map[string]string{"Authorization": u.header}
				}
				r := do(t, e, c)
				wantError(t, r, http.StatusUnauthorized, gateway.EUNAUTHORIZED)
				if r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: no WWW-Authenticate header", u.name)
				}
			}
			for _, role := range allRoles {
				r := do(t, e, call{method: rt.method, path: rt.path, body: rt.body, secret: secrets[role]})
				if slices.Contains(rt.allowed, role) {
					if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden || r.status >= 500 {
						t.Errorf("role %s: status %d, want it let through; body %s", role, r.status, r.body)
					}
					continue
				}
				wantError(t, r, http.StatusForbidden, gateway.EFORBIDDEN)
			}
		})
	}
}

func TestAgentCredentialWithoutDeviceIsForbidden(t *testing.T) {
	e := httpapitest.New(t)
	_, secret := e.Token(t, gateway.RoleAgent, "")
	r := do(t, e, call{method: "GET", path: "/v1/agent/orders", secret: secret})
	wantError(t, r, http.StatusForbidden, gateway.EFORBIDDEN)
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	var readyErr error
	e := httpapitest.New(t, func(s *httpapi.Server) {
		s.Ready = func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline on the readiness check")
			}
			return readyErr
		}
		s.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "gateway_up 1\n")
		})
	})
	r := do(t, e, call{method: "GET", path: "/healthz"})
	wantStatus(t, r, http.StatusOK)
	if got := decode[map[string]string](t, r)["status"]; got != "ok" {
		t.Errorf("healthz status = %q, want ok", got)
	}
	wantStatus(t, do(t, e, call{method: "GET", path: "/readyz"}), http.StatusOK)
	readyErr = errors.New("store down")
	wantError(t, do(t, e, call{method: "GET", path: "/readyz"}), http.StatusServiceUnavailable, gateway.EUNAVAILABLE)
	r = do(t, e, call{method: "GET", path: "/metrics"})
	wantStatus(t, r, http.StatusOK)
	if string(r.body) != "gateway_up 1\n" {
		t.Errorf("metrics body = %q", r.body)
	}
}

func TestWebhooksSeeTheFullPath(t *testing.T) {
	var gotPath string
	e := httpapitest.New(t, func(s *httpapi.Server) {
		s.Webhooks = map[string]http.Handler{
			"twilio": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotPath = r.URL.Path
				if _, err := io.ReadAll(r.Body); err != nil {
					http.Error(w, "too big", http.StatusRequestEntityTooLarge)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			}),
			"boom": http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				panic("provider handler bug")
			}),
		}
	})
	e.Contract.Uncheck("/webhooks/") // stand-ins
	r := do(t, e, call{method: "POST", path: "/webhooks/twilio/status?x=1", body: "CallStatus=completed", contentType: "application/x-www-form-urlencoded"})
	wantStatus(t, r, http.StatusNoContent)
	if gotPath != "/webhooks/twilio/status" {
		t.Errorf("webhook saw path %q, want /webhooks/twilio/status", gotPath)
	}
	r = do(t, e, call{method: "POST", path: "/webhooks/twilio/status", body: strings.Repeat("x", 70<<10), contentType: "text/plain"})
	wantError(t, r, http.StatusRequestEntityTooLarge, gateway.ETOOLARGE)

	r = do(t, e, call{method: "POST", path: "/webhooks/boom/x", body: "x", contentType: "text/plain"})
	wantError(t, r, http.StatusInternalServerError, gateway.EINTERNAL)
	var logged bool
	for _, en := range e.Log.AllEntries() {
		logged = logged || (en.Message == "handler panicked" && en.Level == logrus.ErrorLevel)
	}
	if !logged {
		t.Error("the panic was not logged")
	}
	wantError(t, do(t, e, call{method: "POST", path: "/webhooks/zoom/x", body: "{}"}), http.StatusNotFound, gateway.ENOTFOUND)
}

func TestPagesSeeTheFullPath(t *testing.T) {
	var gotPath, gotQuery string
	e := httpapitest.New(t, func(s *httpapi.Server) {
		s.Pages = map[string]http.Handler{
			"webrtc": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotPath, gotQuery = r.URL.Path, r.URL.RawQuery
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.Write([]byte("<p>page</p>"))
			}),
		}
	})
	r := do(t, e, call{method: "GET", path: "/join/webrtc/a_1?token=t"})
	wantStatus(t, r, http.StatusOK)
	if gotPath != "/join/webrtc/a_1" || gotQuery != "token=t" || string(r.body) != "<p>page</p>" {
		t.Errorf("page saw %q ? %q and answered %q", gotPath, gotQuery, r.body)
	}
	wantError(t, do(t, e, call{method: "GET", path: "/join/zoom/a_1"}), http.StatusNotFound, gateway.ENOTFOUND)
}

func TestInvalidPageNamePanicsAtWiring(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Handler() accepted a page name with a slash")
		}
	}()
	s := &httpapi.Server{Pages: map[string]http.Handler{"a/b": http.NotFoundHandler()}}
	s.Handler()
}

func TestInvalidWebhookNamePanicsAtWiring(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Handler() accepted a webhook name with a slash")
		}
	}()
	s := &httpapi.Server{Webhooks: map[string]http.Handler{"a/b": http.NotFoundHandler()}}
	s.Handler()
}

func TestUnknownPathsAndMethodsAnswerJSON(t *testing.T) {
	e := httpapitest.New(t)
	_, ops := e.Token(t, gateway.RoleOps, "")
	wantError(t, do(t, e, call{method: "GET", path: "/nosuch"}), http.StatusNotFound, gateway.ENOTFOUND)
	wantError(t, do(t, e, call{method: "GET", path: "/v1/verifications/a/b/c", secret: ops}), http.StatusNotFound, gateway.ENOTFOUND)
	r := do(t, e, call{method: "DELETE", path: "/v1/devices/d_1", secret: ops})
	wantError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "PATCH") {
		t.Errorf("Allow = %q, want it to list PATCH", allow)
	}
}

func TestRequestLogHasFieldsAndNoPhoneNumbers(t *testing.T) {
	e := httpapitest.New(t)
	fakeRequests(t, e)
	tok, secret := e.Token(t, gateway.RoleOfficer, "")
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/verifications", secret: secret, body: goodRequest}), http.StatusCreated)
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/verifications", secret: secret,
		body: strings.Replace(goodRequest, "+447700900123", "+4477009001234567", 1)}), http.StatusBadRequest)

	var found int
	for _, en := range e.Log.AllEntries() {
		line, err := en.String()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, "7700900123") {
			t.Errorf("a log line holds the officer's number: %s", line)
		}
		if en.Message != "request" {
			continue
		}
		found++
		for _, k := range []string{"method", "path", "status", "duration"} {
			if _, ok := en.Data[k]; !ok {
				t.Errorf("request log lacks %q: %v", k, en.Data)
			}
		}
		if en.Data["token"] != tok.ID {
			t.Errorf("request log token = %v, want %s", en.Data["token"], tok.ID)
		}
	}
	if found != 2 {
		t.Errorf("%d request log lines, want 2", found)
	}
}

func TestInternalErrorsAreGenericAndLogged(t *testing.T) {
	e := httpapitest.New(t)
	e.Router.RequestFn = func(context.Context, gateway.Request) (gateway.Verification, bool, error) {
		return gateway.Verification{}, false, errors.New("database is locked at /secret/path")
	}
	_, secret := e.Token(t, gateway.RoleOfficer, "")
	r := do(t, e, call{method: "POST", path: "/v1/verifications", secret: secret, body: goodRequest})
	msg := wantError(t, r, http.StatusInternalServerError, gateway.EINTERNAL)
	if strings.Contains(msg, "database") {
		t.Errorf("internal error message leaks the cause: %q", msg)
	}
	var logged bool
	for _, en := range e.Log.AllEntries() {
		if err, ok := en.Data[logrus.ErrorKey].(error); ok && strings.Contains(err.Error(), "database is locked") {
			logged = true
		}
	}
	if !logged {
		t.Error("the internal error was not logged")
	}
}

func TestStatusTable(t *testing.T) {
	tests := map[string]int{
		gateway.EINVALID:      400,
		gateway.EUNAUTHORIZED: 401,
		gateway.EFORBIDDEN:    403,
		gateway.ENOTFOUND:     404,
		gateway.ECONFLICT:     409,
		gateway.ETOOLARGE:     413,
		gateway.EOUTSIDE:      422,
		gateway.ERATELIMITED:  429,
		gateway.EUNAVAILABLE:  503,
		gateway.ETIMEOUT:      504,
		gateway.ESIGNATURE:    403,
		gateway.EINTERNAL:     500,
		"no such code":        500,
	}
	for code, want := range tests {
		if got := httpapi.StatusOf(code); got != want {
			t.Errorf("StatusOf(%q) = %d, want %d", code, got, want)
		}
	}
}

// Interface guards: the routing core and its fake meet the HTTP layer's
// contract, and a store meets every store part.
var (
	_ httpapi.Router             = (*router.Router)(nil)
	_ httpapi.Router             = (*mocks.Router)(nil)
	_ httpapi.TokenStore         = (gateway.Store)(nil)
	_ httpapi.VerificationReader = (gateway.Store)(nil)
	_ httpapi.OrderStore         = (gateway.Store)(nil)
	_ httpapi.DeviceStore        = (gateway.Store)(nil)
)
