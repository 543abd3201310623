package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/router"
)

// groundsRouter is checkRouter that also records corrections of the
// grounds, counting them.
type groundsRouter struct {
	checkRouter
	corrected *int
}

func (g groundsRouter) CorrectGrounds(_ context.Context, id, _ string, _ router.Corrector) (gateway.Event, error) {
	*g.corrected++
	return gateway.Event{VerificationID: id}, nil
}

// TestCheckRoutesCoverTheRoom: a supervisor credential limited to rooms
// other than the verification's (or the body's) is refused 403 on opening
// a check, correcting the grounds and reading the check, as on recording
// the outcome; one covering the room is not; nothing refused reaches the
// router.
func TestCheckRoutesCoverTheRoom(t *testing.T) {
	corrected := 0
	e := httpapitest.New(t, func(s *httpapi.Server) {
		s.Router = groundsRouter{checkRouter{s.Router}, &corrected}
	})
	storeVerification(t, e, "v_aw", "AW")
	mint := func(rooms ...string) string {
		secret, hash := gateway.NewSecret()
		if err := e.Store.CreateToken(context.Background(), gateway.Token{ID: gateway.NewID("t_"), Role: gateway.RoleSupervisor,
			Name: "supervisor", Hash: hash, Supervisor: &gateway.SupervisorIdentity{Rank: "PS", Number: "7", Rooms: rooms}}); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	other, covering := mint("CE"), mint("CE", "AW")
	routes := []struct {
		method, path, body string
		ok                 int
	}{
		{"GET", "/v1/verifications/v_aw/check", "", http.StatusOK},
		{"POST", "/v1/verifications/v_aw/grounds", `{"grounds":"Seen trying car doors"}`, http.StatusOK},
		{"POST", "/v1/checks", `{"origin":"radio","collar":"PC1234","room":"AW"}`, http.StatusCreated},
	}
	for _, r := range routes {
		wantError(t, do(t, e, call{method: r.method, path: r.path, body: r.body, secret: other}), http.StatusForbidden, gateway.EFORBIDDEN)
	}
	if corrected != 0 {
		t.Fatalf("%d refused corrections reached the router", corrected)
	}
	for _, r := range routes {
		wantStatus(t, do(t, e, call{method: r.method, path: r.path, body: r.body, secret: covering}), r.ok)
		wantStatus(t, do(t, e, call{method: r.method, path: r.path, body: r.body, secret: mint()}), r.ok) // every room
	}
	if corrected != 2 {
		t.Fatalf("%d corrections reached the router, want 2", corrected)
	}
}
