package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/rooms"
)

func TestFlagsListNeverConnected(t *testing.T) {
	set, err := rooms.Default()
	if err != nil {
		t.Fatal(err)
	}
	e := publicEnv(t, nil)
	e.Server.Rooms = set
	ctx := context.Background()
	ended := func(id, room string, to gateway.State, connected bool, created time.Time) {
		t.Helper()
		_, _, err := e.Store.CreateVerification(ctx, gateway.Verification{
			ID: id, Reference: gateway.NewReference(), State: gateway.StateRouting, RoomID: room,
			Officer: gateway.Officer{Collar: "PC 1", Warrant: "W1"}, RequestedBy: "tok_officer", CreatedAt: created,
		}, "", gateway.Event{Type: gateway.EventState, Message: "requested"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.Store.Transition(ctx, id, gateway.Transition{To: to, Set: func(v *gateway.Verification) {
			if connected {
				v.Channel, v.DeviceID = "zoom", "d1"
			}
		}, Event: gateway.Event{Type: gateway.EventState, Message: "ended"}}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	ended("v_failed", "AW", gateway.StateFailed, false, now.Add(-time.Hour))
	ended("v_abandoned", "AW", gateway.StateCancelled, false, now.Add(-30*time.Minute))
	ended("v_cancelled_connected", "AW", gateway.StateCancelled, true, now.Add(-20*time.Minute))
	ended("v_verified", "AW", gateway.StateVerified, true, now.Add(-10*time.Minute))
	ended("v_other_room", "AS", gateway.StateFailed, false, now.Add(-10*time.Minute))
	ended("v_old", "AW", gateway.StateFailed, false, now.Add(-50*time.Hour))

	_, supervisor := e.Token(t, gateway.RoleSupervisor, "PS 42")
	_, ops := e.Token(t, gateway.RoleOps, "ops")
	_, officer := e.Token(t, gateway.RoleOfficer, "PC 1")
	ids := func(path, secret string) []string {
		t.Helper()
		r := do(t, e, call{method: "GET", path: path, secret: secret})
		wantStatus(t, r, http.StatusOK)
		var got httpapi.FlagsView
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range got.Flags {
			out = append(out, v.ID)
		}
		return out
	}
	for _, tc := range []struct {
		path, secret string
		want         []string
	}{
		{"/v1/flags?room=AW", supervisor, []string{"v_failed", "v_abandoned"}},
		{"/v1/flags?room=AW", ops, []string{"v_failed", "v_abandoned"}},
		{"/v1/flags", supervisor, []string{"v_failed", "v_abandoned", "v_other_room"}},
		{"/v1/flags?room=AW&hours=72", supervisor, []string{"v_old", "v_failed", "v_abandoned"}},
		{"/v1/flags?room=AS&hours=1", supervisor, []string{"v_other_room"}},
	} {
		if got := ids(tc.path, tc.secret); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.path, got, tc.want)
		}
	}
	wantError(t, do(t, e, call{method: "GET", path: "/v1/flags?room=AW", secret: officer}), http.StatusForbidden, gateway.EFORBIDDEN)
	wantError(t, do(t, e, call{method: "GET", path: "/v1/flags?room=AW"}), http.StatusUnauthorized, gateway.EUNAUTHORIZED)
	wantError(t, do(t, e, call{method: "GET", path: "/v1/flags?room=ZZ", secret: supervisor}), http.StatusBadRequest, gateway.EINVALID)
	for _, h := range []string{"0", "169", "x", "-1", "99999999999999999999"} {
		wantError(t, do(t, e, call{method: "GET", path: "/v1/flags?hours=" + h, secret: supervisor}), http.StatusBadRequest, gateway.EINVALID)
	}
}
