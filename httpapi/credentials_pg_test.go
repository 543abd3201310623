package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/httpapi/openapitest"
	"github.com/safeconnection/gateway/mocks"
	"github.com/safeconnection/gateway/store/postgres"
	"github.com/safeconnection/gateway/store/postgres/pgtest"
)

// pgInstance is one HTTP server over its own store on a shared PostgreSQL
// database, as one of several gateway instances is.
func pgInstance(t *testing.T, url string) (*httpapitest.Env, *postgres.Store) {
	t.Helper()
	st, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	logger := logrus.New()
	logger.SetLevel(logrus.PanicLevel)
	s := httpapi.NewServer(&mocks.Router{}, st)
	s.Logger, s.Channels = logger, httpapitest.Channels()
	srv := httptest.NewServer(openapitest.Handler(t, s.Handler()))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		st.Close()
	})
	return &httpapitest.Env{Server: s, HTTP: srv, URL: srv.URL}, st
}

// TestCredentialRevokedAndExpiredOnEveryInstance: a credential issued on
// one instance works on another at once, and stops working there at once
// when revoked on the first; one past its expiry by the database's clock
// is refused on both.
func TestCredentialRevokedAndExpiredOnEveryInstance(t *testing.T) {
	url := pgtest.URL(t)
	a, stA := pgInstance(t, url)
	b, _ := pgInstance(t, url)
	ctx := context.Background()
	opsSecret, hash := gateway.NewSecret()
	if err := stA.CreateToken(ctx, gateway.Token{ID: "t_ops", Role: gateway.RoleOps, Name: "ops desk", Hash: hash}); err != nil {
		t.Fatal(err)
	}

	r := do(t, a, call{method: "POST", path: "/v1/credentials", secret: opsSecret,
		body: `{"role":"supervisor","name":"PS 42","supervisor":{"rank":"PS","number":"42","rooms":["AW"]},"expires_in":"720h"}`})
	wantStatus(t, r, http.StatusCreated)
	issued := decode[httpapi.IssuedCredential](t, r)
	probe := call{method: "GET", path: "/v1/flags", secret: issued.Secret}
	wantStatus(t, do(t, b, probe), http.StatusOK)

	wantStatus(t, do(t, a, call{method: "POST", path: "/v1/credentials/" + issued.Credential.ID + "/revoke", secret: opsSecret}), http.StatusOK)
	wantError(t, do(t, b, probe), http.StatusUnauthorized, gateway.EUNAUTHORIZED)
	wantError(t, do(t, a, probe), http.StatusUnauthorized, gateway.EUNAUTHORIZED)

	now, err := stA.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	expired, hash := gateway.NewSecret()
	if err := stA.CreateToken(ctx, gateway.Token{ID: "t_old", Role: gateway.RoleSupervisor, Name: "PS 7", Hash: hash,
		Supervisor: &gateway.SupervisorIdentity{Rank: "PS", Number: "7"}, ExpiresAt: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*httpapitest.Env{a, b} {
		wantError(t, do(t, e, call{method: "GET", path: "/v1/flags", secret: expired}), http.StatusUnauthorized, gateway.EUNAUTHORIZED)
	}
	list := decode[httpapi.CredentialsReply](t, do(t, b, call{method: "GET", path: "/v1/credentials?role=supervisor", secret: opsSecret}))
	if len(list.Credentials) != 2 {
		t.Fatalf("supervisor credentials on the other instance: %+v", list.Credentials)
	}
	for _, c := range list.Credentials {
		if c.ID == issued.Credential.ID && c.RevokedAt == nil || c.ID == "t_old" && c.ExpiresAt == nil {
			t.Errorf("credential %+v", c)
		}
	}
}
