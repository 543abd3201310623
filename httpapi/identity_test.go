package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/rooms"
)

// withRoomSet gives the server the Met's rooms to locate requests in.
func withRoomSet(t testing.TB) func(*httpapi.Server) {
	set, err := rooms.Default()
	if err != nil {
		t.Fatal(err)
	}
	return func(s *httpapi.Server) { s.Rooms, s.RoomEditor = set, set }
}

// noOfficer is a request that states no officer: the credential's is taken.
const noOfficer = `{"location":{"lat":51.5014,"lon":-0.1419},"contacts":[{"channel":"whatsapp","handle":"+447700900123"}]}`

// TestVerificationOfficerFromTheCredential: the verification is asked for
// in the credential's officer's name (force, collar and warrant number),
// whatever the body says of his warrant; a body that states another
// collar is refused 403 officer_mismatch and recorded for the room
// covering the location (AW, Westminster), with no warrant number; a credential that names
// no officer is refused 422.
func TestVerificationOfficerFromTheCredential(t *testing.T) {
	e := httpapitest.New(t, withRoomSet(t))
	seen := fakeRequests(t, e)
	tok, secret := e.Token(t, gateway.RoleOfficer, "")
	_, supervisor := e.Token(t, gateway.RoleSupervisor, "")
	post := func(body, secret string) response {
		return do(t, e, call{method: "POST", path: "/v1/verifications", secret: secret, body: body})
	}
	for name, body := range map[string]string{
		"no officer stated":           noOfficer,
		"the same, spelt another way": strings.Replace(goodRequest, `"PC 1234","warrant":"W-998877"`, `"pc1234"`, 1),
		"his collar, a wrong warrant": goodRequest,
	} {
		t.Run(name, func(t *testing.T) {
			wantStatus(t, post(body, secret), http.StatusCreated)
		})
	}
	for _, req := range seen() {
		if req.Officer != (gateway.Officer{Collar: "PC 1234", Warrant: "W998877", Force: "Metropolitan Police"}) {
			t.Errorf("officer %+v, want the credential's", req.Officer)
		}
	}

	r := post(strings.Replace(goodRequest, "PC 1234", "PC 5678", 1), secret)
	wantError(t, r, http.StatusForbidden, gateway.EMISMATCH)
	if n := len(seen()); n != 3 {
		t.Errorf("%d requests reached the router, want 3: the refused one must not", n)
	}
	rs, err := e.Store.Refusals(context.Background(), "", time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].RoomID != "AW" || rs[0].TokenID != tok.ID || rs[0].Officer != "PC 1234" ||
		rs[0].Stated != "PC 5678" || rs[0].Reason != gateway.RefusalOfficerMismatch {
		t.Fatalf("refusals %+v", rs)
	}

	list := do(t, e, call{method: "GET", path: "/v1/refusals?room=AW", secret: supervisor})
	wantStatus(t, list, http.StatusOK)
	if strings.Contains(string(list.body), "W998877") || strings.Contains(string(list.body), "W-998877") {
		t.Errorf("the refusals show a warrant number: %s", list.body)
	}
	if got := decode[httpapi.RefusalsView](t, list); len(got.Refusals) != 1 || got.Refusals[0].Stated != "PC 5678" {
		t.Errorf("refusals of AW %+v", got)
	}
	if got := decode[httpapi.RefusalsView](t, do(t, e, call{method: "GET", path: "/v1/refusals?room=CE", secret: supervisor})); len(got.Refusals) != 0 {
		t.Errorf("refusals of AW %+v", got)
	}
	wantError(t, do(t, e, call{method: "GET", path: "/v1/refusals", secret: secret}), http.StatusForbidden, gateway.EFORBIDDEN)
	wantError(t, do(t, e, call{method: "GET", path: "/v1/refusals?hours=0", secret: supervisor}), http.StatusBadRequest, gateway.EINVALID)
	wantError(t, do(t, e, call{method: "GET", path: "/v1/refusals?room=ZZ", secret: supervisor}), http.StatusBadRequest, gateway.EINVALID)

	// an officer credential of before identities
	_, bareSecret := gateway.NewSecret()
	if err := e.Store.CreateToken(context.Background(), gateway.Token{ID: "t_bare", Role: gateway.RoleOfficer, Name: "old phone", Hash: gateway.HashSecret(bareSecret)}); err != nil {
		t.Fatal(err)
	}
	msg := wantError(t, post(noOfficer, bareSecret), http.StatusUnprocessableEntity, gateway.ENOIDENTITY)
	if !strings.Contains(msg, "credential") {
		t.Errorf("message %q does not say what is wrong", msg)
	}
}
