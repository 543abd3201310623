package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
)

// TestCredentialRoutesNeedTheOpsRole: 401 without a credential, 403 to
// every role but ops.
func TestCredentialRoutesNeedTheOpsRole(t *testing.T) {
	e := httpapitest.New(t, withRooms(t))
	_, agent := e.Device(t, "CE")
	_, officer := e.Token(t, gateway.RoleOfficer, "")
	_, supervisor := e.Token(t, gateway.RoleSupervisor, "")
	_, ops := e.Token(t, gateway.RoleOps, "")
	victim, _ := e.Token(t, gateway.RoleOps, "")
	for _, rt := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/credentials", "", 200},
		{"POST", "/v1/credentials", `{"role":"ops","name":"ops desk 2"}`, 201},
		{"POST", "/v1/credentials/" + victim.ID + "/revoke", "", 200},
	} {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			wantError(t, do(t, e, call{method: rt.method, path: rt.path, body: rt.body}), 401, gateway.EUNAUTHORIZED)
			for _, secret := range []string{officer, supervisor, agent} {
				wantError(t, do(t, e, call{method: rt.method, path: rt.path, body: rt.body, secret: secret}), 403, gateway.EFORBIDDEN)
			}
			wantStatus(t, do(t, e, call{method: rt.method, path: rt.path, body: rt.body, secret: ops}), rt.want)
		})
	}
}

// TestCredentialLifecycle: an officer credential issued through the API
// carries his identity (the force defaulting to the gateway's), works at
// once, is listed without its secret, hash or warrant number, and stops
// working when revoked; issue and revocation are in the ops record.
func TestCredentialLifecycle(t *testing.T) {
	e := httpapitest.New(t, withRooms(t), func(s *httpapi.Server) { s.Public.Force = "Metropolitan Police" })
	opsTok, ops := e.Token(t, gateway.RoleOps, "")
	r := do(t, e, call{method: "POST", path: "/v1/credentials", secret: ops,
		body: `{"role":"officer","name":"PC 1234's phone","officer":{"collar":"PC 1234","warrant":"W998877"},"expires_in":"720h"}`})
	wantStatus(t, r, 201)
	if strings.Contains(string(r.body), "W998877") {
		t.Errorf("the issue answer shows the warrant number: %s", r.body)
	}
	issued := decode[httpapi.IssuedCredential](t, r)
	c := issued.Credential
	if c.Role != gateway.RoleOfficer || c.Officer == nil || c.Officer.Collar != "PC 1234" || !c.Officer.WarrantSet ||
		c.Officer.Force != "Metropolitan Police" || c.ExpiresAt == nil || c.IssuedAt == nil || c.RevokedAt != nil || issued.Secret == "" {
		t.Fatalf("issued %+v", issued)
	}
	stored, err := e.Store.Token(context.Background(), c.ID)
	if err != nil || stored.Officer == nil || stored.Officer.Warrant != "W998877" || stored.Hash != gateway.HashSecret(issued.Secret) {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	// it works at once: the officer may read a verification route (404 for none, not 401)
	wantError(t, do(t, e, call{method: "GET", path: "/v1/verifications/v_none", secret: issued.Secret}), 404, gateway.ENOTFOUND)

	list := do(t, e, call{method: "GET", path: "/v1/credentials?role=officer", secret: ops})
	wantStatus(t, list, 200)
	for _, bad := range []string{issued.Secret, stored.Hash, "W998877"} {
		if strings.Contains(string(list.body), bad) {
			t.Errorf("the listing shows %q: %s", bad, list.body)
		}
	}
	got := decode[httpapi.CredentialsReply](t, list)
	if len(got.Credentials) != 1 || got.Credentials[0].ID != c.ID {
		t.Fatalf("officer credentials %+v", got.Credentials)
	}

	r = do(t, e, call{method: "POST", path: "/v1/credentials/" + c.ID + "/revoke", secret: ops})
	wantStatus(t, r, 200)
	if rv := decode[httpapi.CredentialReply](t, r); rv.Credential.RevokedAt == nil {
		t.Errorf("revoked %+v", rv.Credential)
	}
	wantError(t, do(t, e, call{method: "GET", path: "/v1/verifications/v_none", secret: issued.Secret}), 401, gateway.EUNAUTHORIZED)

	evs, err := e.Store.OpsEvents(context.Background(), gateway.OpsEventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		if ev.Actor.ID != opsTok.ID {
			t.Errorf("event %+v: actor is not the ops credential %s", ev, opsTok.ID)
		}
		if strings.Contains(string(ev.Before)+string(ev.After), "W998877") {
			t.Errorf("the ops record holds the warrant number: %+v", ev)
		}
		actions = append(actions, ev.Action)
	}
	if strings.Join(actions, ",") != gateway.OpsTokenIssue+","+gateway.OpsTokenRevoke {
		t.Errorf("ops record actions %v", actions)
	}
}

// TestCredentialBadInput: every bad body or query is a 4xx JSON error.
func TestCredentialBadInput(t *testing.T) {
	e := httpapitest.New(t, withRooms(t), func(s *httpapi.Server) { s.Rooms = s.RoomEditor })
	d, _ := e.Device(t, "CE")
	_, ops := e.Token(t, gateway.RoleOps, "")
	for _, tt := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"no role", `{"name":"x"}`, 400, gateway.EINVALID},
		{"unknown role", `{"role":"chief","name":"x"}`, 400, gateway.EINVALID},
		{"no name", `{"role":"ops"}`, 400, gateway.EINVALID},
		{"unknown field", `{"role":"ops","name":"x","colour":"blue"}`, 400, gateway.EINVALID},
		{"officer without identity", `{"role":"officer","name":"x"}`, 400, gateway.EINVALID},
		{"officer without warrant", `{"role":"officer","name":"x","officer":{"collar":"PC 1"}}`, 400, gateway.EINVALID},
		{"officer without collar", `{"role":"officer","name":"x","officer":{"warrant":"W1"}}`, 400, gateway.EINVALID},
		{"supervisor without number", `{"role":"supervisor","name":"x","supervisor":{"rank":"PS"}}`, 400, gateway.EINVALID},
		{"supervisor of an unknown room", `{"role":"supervisor","name":"x","supervisor":{"rank":"PS","number":"42","rooms":["ZZ"]}}`, 400, gateway.EINVALID},
		{"call handler without identity", `{"role":"handler","name":"x"}`, 400, gateway.EINVALID},
		{"call handler without number", `{"role":"handler","name":"x","supervisor":{"rank":"Call handler"}}`, 400, gateway.EINVALID},
		{"supervisor identity on ops", `{"role":"ops","name":"x","supervisor":{"rank":"PS","number":"42"}}`, 400, gateway.EINVALID},
		{"officer identity on ops", `{"role":"ops","name":"x","officer":{"collar":"PC 1","warrant":"W1"}}`, 400, gateway.EINVALID},
		{"agent without device", `{"role":"agent","name":"x"}`, 400, gateway.EINVALID},
		{"agent of an unknown device", `{"role":"agent","name":"x","subject":"d_none"}`, 400, gateway.EINVALID},
		{"bad expiry", `{"role":"ops","name":"x","expires_in":"a month"}`, 400, gateway.EINVALID},
		{"negative expiry", `{"role":"ops","name":"x","expires_in":"-1h"}`, 400, gateway.EINVALID},
		{"not JSON", `{"role":`, 400, gateway.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, do(t, e, call{method: "POST", path: "/v1/credentials", body: tt.body, secret: ops}), tt.status, tt.code)
		})
	}
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/credentials", secret: ops,
		body: `{"role":"agent","name":"agent","subject":"` + d.ID + `"}`}), 201)
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/credentials", secret: ops,
		body: `{"role":"supervisor","name":"PS 42","supervisor":{"rank":"PS","number":"42","rooms":["CE"]}}`}), 201)
	handler := do(t, e, call{method: "POST", path: "/v1/credentials", secret: ops,
		body: `{"role":"handler","name":"Call handler 3012","supervisor":{"rank":"Call handler","number":"3012"}}`})
	wantStatus(t, handler, 201)
	var issued httpapi.IssuedCredential
	if err := json.Unmarshal(handler.body, &issued); err != nil || issued.Credential.Role != gateway.RoleHandler ||
		issued.Credential.Supervisor == nil || issued.Credential.Supervisor.Rank != "Call handler" || issued.Credential.Supervisor.Number != "3012" {
		t.Errorf("the call handler's credential: %s (%v)", handler.body, err)
	}
	wantError(t, do(t, e, call{method: "GET", path: "/v1/credentials?role=chief", secret: ops}), 400, gateway.EINVALID)
	wantError(t, do(t, e, call{method: "POST", path: "/v1/credentials/t_none/revoke", secret: ops}), 404, gateway.ENOTFOUND)
}

// FuzzCredentialBody: whatever the body of POST /v1/credentials, the answer
// is a 201 or a 4xx JSON error, never a 500, and never shows a warrant
// number.
func FuzzCredentialBody(f *testing.F) {
	for _, seed := range []string{
		`{"role":"officer","name":"PC 1's phone","officer":{"collar":"PC 1","warrant":"W1"}}`,
		`{"role":"supervisor","name":"PS 42","supervisor":{"rank":"PS","number":"42","rooms":["AW"]},"expires_in":"1h"}`,
		`{"role":"agent","name":"a","subject":"d_x"}`, `{"role":"ops","name":"x","expires_in":"9999999h"}`,
		`{"role":"officer","officer":null}`, `{"supervisor":{"rooms":[null]}}`, `{}`, `[]`, `null`, ``,
	} {
		f.Add(seed)
	}
	e := httpapitest.New(f, withRoomSet(f))
	_, ops := e.Token(f, gateway.RoleOps, "")
	f.Fuzz(func(t *testing.T, body string) {
		r := do(t, e, call{method: "POST", path: "/v1/credentials", secret: ops, body: body})
		if r.status >= 500 || r.status != 201 && r.status < 400 {
			t.Fatalf("status %d for %q: %s", r.status, body, r.body)
		}
		if r.status == 201 {
			var got httpapi.IssuedCredential
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Credential.Officer != nil && strings.Contains(string(r.body), `"warrant"`) {
				t.Errorf("the answer shows a warrant: %s", r.body)
			}
		}
	})
}

// TestOfficerCredentialExpires: an officer's credential issued without
// expires_in expires in 90 days; another role's does not expire.
func TestOfficerCredentialExpires(t *testing.T) {
	e := httpapitest.New(t, withRooms(t))
	_, ops := e.Token(t, gateway.RoleOps, "")
	r := do(t, e, call{method: "POST", path: "/v1/credentials", secret: ops,
		body: `{"role":"officer","name":"PC 4321's phone","officer":{"collar":"PC 4321","warrant":"W443322"}}`})
	wantStatus(t, r, 201)
	got := decode[httpapi.IssuedCredential](t, r).Credential
	if got.ExpiresAt == nil {
		t.Fatal("an officer's credential without expires_in never expires")
	}
	if d := time.Until(*got.ExpiresAt); d < httpapi.OfficerCredentialLife-time.Minute || d > httpapi.OfficerCredentialLife+time.Minute {
		t.Fatalf("it expires in %s, want %s", d, httpapi.OfficerCredentialLife)
	}
	r = do(t, e, call{method: "POST", path: "/v1/credentials", secret: ops, body: `{"role":"ops","name":"Ops Desk 2"}`})
	wantStatus(t, r, 201)
	if got := decode[httpapi.IssuedCredential](t, r).Credential; got.ExpiresAt != nil {
		t.Fatalf("an ops credential without expires_in expires at %v", got.ExpiresAt)
	}
}
