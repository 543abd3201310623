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
	"github.com/safeconnection/gateway/rooms"
)

// withRooms gives the server the Met's rooms to list and change.
func withRooms(t testing.TB) func(*httpapi.Server) {
	set, err := rooms.Default()
	if err != nil {
		t.Fatal(err)
	}
	return func(s *httpapi.Server) { s.RoomEditor, s.Rooms = set, set }
}

// TestOpsRoutesNeedTheOpsRole: every route of the ops API answers 401
// without a credential and 403 to the officer and agent roles (and to the
// supervisor, but for the verification listing).
func TestOpsRoutesNeedTheOpsRole(t *testing.T) {
	e := httpapitest.New(t, withRooms(t))
	d, agent := e.Device(t, "CE")
	_, officer := e.Token(t, gateway.RoleOfficer, "")
	_, supervisor := e.Token(t, gateway.RoleSupervisor, "")
	_, ops := e.Token(t, gateway.RoleOps, "")
	routes := []struct {
		method, path, body string
		supervisor         bool // the supervisor may
	}{
		{"GET", "/v1/rooms", "", false},
		{"GET", "/v1/rooms/CE", "", false},
		{"PATCH", "/v1/rooms/CE", `{"desk_number":"+442079460299"}`, false},
		{"POST", "/v1/devices/" + d.ID + "/rotate", `{"name":"handset 2"}`, false},
		{"POST", "/v1/devices/" + d.ID + "/out-of-service", `{"reason":"cracked"}`, false},
		{"POST", "/v1/devices/" + d.ID + "/return", `{"reason":"fixed"}`, false},
		{"GET", "/v1/devices/" + d.ID + "/history", "", false},
		{"GET", "/v1/ops-events", "", false},
		{"GET", "/v1/verifications", "", true},
		{"POST", "/v1/devices/" + d.ID + "/retire", `{"reason":"end of life"}`, false},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			wantError(t, do(t, e, call{method: rt.method, path: rt.path, body: rt.body}), 401, gateway.EUNAUTHORIZED)
			wantError(t, do(t, e, call{method: rt.method, path: rt.path, body: rt.body, secret: officer}), 403, gateway.EFORBIDDEN)
			wantError(t, do(t, e, call{method: rt.method, path: rt.path, body: rt.body, secret: agent}), 403, gateway.EFORBIDDEN)
			if rt.supervisor {
				wantStatus(t, do(t, e, call{method: rt.method, path: rt.path, body: rt.body, secret: supervisor}), 200)
			} else {
				wantError(t, do(t, e, call{method: rt.method, path: rt.path, body: rt.body, secret: supervisor}), 403, gateway.EFORBIDDEN)
			}
			wantStatus(t, do(t, e, call{method: rt.method, path: rt.path, body: rt.body, secret: ops}), 200)
		})
	}
}

func TestOpsBadInput(t *testing.T) {
	e := httpapitest.New(t, withRooms(t))
	d, _ := e.Device(t, "CE")
	_, ops := e.Token(t, gateway.RoleOps, "")
	dev := "/v1/devices/" + d.ID
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"unknown room", "GET", "/v1/rooms/XX", "", 404, gateway.ENOTFOUND},
		{"patch unknown room", "PATCH", "/v1/rooms/XX", `{"number":"+442079460999"}`, 404, gateway.ENOTFOUND},
		{"bad E.164", "PATCH", "/v1/rooms/CE", `{"number":"020 7946 0999"}`, 400, gateway.EINVALID},
		{"not a number", "PATCH", "/v1/rooms/CE", `{"number":"+4411111"}`, 400, gateway.EINVALID},
		{"bad desk number", "PATCH", "/v1/rooms/CE", `{"desk_number":"999"}`, 400, gateway.EINVALID},
		{"another room's number", "PATCH", "/v1/rooms/CE", `{"number":"+442079460102"}`, 400, gateway.EINVALID},
		{"its own neighbour", "PATCH", "/v1/rooms/CE", `{"neighbours":["CN","CE"]}`, 400, gateway.EINVALID},
		{"unknown neighbour", "PATCH", "/v1/rooms/CE", `{"neighbours":["XX"]}`, 400, gateway.EINVALID},
		{"bad handle", "PATCH", "/v1/rooms/CE", `{"handles":{"whatsapp":"not a number"}}`, 400, gateway.EINVALID},
		{"unknown channel", "PATCH", "/v1/rooms/CE", `{"handles":{"skype":"x"}}`, 400, gateway.EINVALID},
		{"room: unknown field", "PATCH", "/v1/rooms/CE", `{"number":"+442079460999","fax":"1"}`, 400, gateway.EINVALID},
		{"room: nothing", "PATCH", "/v1/rooms/CE", `{}`, 400, gateway.EINVALID},
		{"room: not JSON", "PATCH", "/v1/rooms/CE", `{"number":`, 400, gateway.EINVALID},
		{"rotate: unknown field", "POST", dev + "/rotate", `{"imei":"1"}`, 400, gateway.EINVALID},
		{"rotate: nothing", "POST", dev + "/rotate", `{}`, 400, gateway.EINVALID},
		{"rotate: bad number", "POST", dev + "/rotate", `{"number":"07700 900001"}`, 400, gateway.EINVALID},
		{"rotate: status", "POST", dev + "/rotate", `{"status":"retired"}`, 400, gateway.EINVALID},
		{"rotate: unknown device", "POST", "/v1/devices/d_none/rotate", `{"name":"x"}`, 404, gateway.ENOTFOUND},
		{"out of service: no reason", "POST", dev + "/out-of-service", `{}`, 400, gateway.EINVALID},
		{"out of service: blank reason", "POST", dev + "/out-of-service", `{"reason":"  "}`, 400, gateway.EINVALID},
		{"return: no reason", "POST", dev + "/return", `{}`, 400, gateway.EINVALID},
		{"retire: unknown field", "POST", dev + "/retire", `{"reason":"x","when":"now"}`, 400, gateway.EINVALID},
		{"history: unknown device", "GET", "/v1/devices/d_none/history", "", 404, gateway.ENOTFOUND},
		{"events: bad since", "GET", "/v1/ops-events?since=yesterday", "", 400, gateway.EINVALID},
		{"events: until before since", "GET", "/v1/ops-events?since=2026-12-03T10:00:00Z&until=2026-12-03T09:00:00Z", "", 400, gateway.EINVALID},
		{"events: bad limit", "GET", "/v1/ops-events?limit=0", "", 400, gateway.EINVALID},
		{"events: unknown room", "GET", "/v1/ops-events?room=ZZ", "", 404, gateway.ENOTFOUND},
		{"devices: unknown room", "GET", "/v1/devices?room=ZZ", "", 404, gateway.ENOTFOUND},
		{"events: huge limit", "GET", "/v1/ops-events?limit=99999999999999999999", "", 400, gateway.EINVALID},
		{"verifications: bad outcome", "GET", "/v1/verifications?outcome=maybe", "", 400, gateway.EINVALID},
		{"verifications: bad channel", "GET", "/v1/verifications?channel=skype", "", 400, gateway.EINVALID},
		{"verifications: bad origin", "GET", "/v1/verifications?origin=nobody", "", 400, gateway.EINVALID},
		{"verifications: bad until", "GET", "/v1/verifications?until=12", "", 400, gateway.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, do(t, e, call{method: tt.method, path: tt.path, body: tt.body, secret: ops}), tt.status, tt.code)
		})
	}
	// Nothing refused was written.
	evs, err := e.Store.OpsEvents(context.Background(), gateway.OpsEventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 {
		t.Errorf("ops record after refusals = %+v", evs)
	}
}

// TestRoomUpdate: a room's new details are answered, listed, kept in the
// store, and in the ops record with who made them.
func TestRoomUpdate(t *testing.T) {
	e := httpapitest.New(t, withRooms(t))
	tok, ops := e.Token(t, gateway.RoleOps, "")
	r := do(t, e, call{method: "PATCH", path: "/v1/rooms/CE", secret: ops,
		body: `{"number":"+442079460999","handles":{"whatsapp":"+447700900555"},"neighbours":["CN"],"reason":"new line"}`})
	wantStatus(t, r, 200)
	room := decode[httpapi.RoomReply](t, r).Room
	if room.Number != "+442079460999" || room.Handles["whatsapp"] != "+447700900555" || len(room.Neighbours) != 1 ||
		room.UpdatedAt == nil || room.DeskNumber != "+442079460201" || room.Name != "Central East" {
		t.Fatalf("room = %+v", room)
	}
	r = do(t, e, call{method: "GET", path: "/v1/rooms", secret: ops})
	wantStatus(t, r, 200)
	list := decode[httpapi.RoomsReply](t, r).Rooms
	if len(list) != 12 || list[0].ID != "CE" || list[0].Number != "+442079460999" || list[1].UpdatedAt != nil {
		t.Fatalf("rooms = %+v", list[:2])
	}
	os, err := e.Store.RoomOverrides(context.Background())
	if err != nil || len(os) != 1 || os[0].Number != "+442079460999" {
		t.Fatalf("stored overrides = %+v, %v", os, err)
	}
	r = do(t, e, call{method: "GET", path: "/v1/ops-events?room=CE", secret: ops})
	wantStatus(t, r, 200)
	evs := decode[httpapi.OpsEventsReply](t, r).Events
	if len(evs) != 1 || evs[0].Action != gateway.OpsRoomUpdate || evs[0].Actor.ID != tok.ID || evs[0].Actor.Name != tok.Name ||
		evs[0].Reason != "new line" || !strings.Contains(string(evs[0].Before), "+442079460101") ||
		!strings.Contains(string(evs[0].After), "+442079460999") {
		t.Fatalf("events = %+v", evs)
	}
	// The number another room had is free for it once the first moves on.
	wantStatus(t, do(t, e, call{method: "PATCH", path: "/v1/rooms/CN", secret: ops, body: `{"number":"+442079460101"}`}), 200)
}

// inCall leases the device to a verification, as the router does when it
// places a call.
func inCall(t testing.TB, e *httpapitest.Env, d gateway.Device) gateway.Lease {
	t.Helper()
	l, _, err := e.Store.Claim(context.Background(), gateway.ClaimRequest{RoomIDs: []string{d.RoomID},
		Channel: "facetime", Holder: "v_call", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestRotateDuringACall: the answer says the change waits; the device is as
// it was until the call ends; then the change is made, and the history and
// the ops record show both versions.
func TestRotateDuringACall(t *testing.T) {
	e := httpapitest.New(t)
	d, oldAgent := e.Device(t, "CE")
	_, ops := e.Token(t, gateway.RoleOps, "")
	lease := inCall(t, e, d)
	r := do(t, e, call{method: "POST", path: "/v1/devices/" + d.ID + "/rotate", secret: ops,
		body: `{"number":"+447700900777","handles":{"facetime":"new@example.org"},"rotate_credential":true,"reason":"handset swapped"}`})
	wantStatus(t, r, 200)
	got := decode[httpapi.DeviceReply](t, r)
	if !got.Pending || got.Changes["number"] != "+447700900777" || got.Changes["rotate_credential"] != true ||
		got.Device.Number != d.Number || got.Credential == nil {
		t.Fatalf("reply = %+v", got)
	}
	// The old handset's agent still reports on the call; the new one's
	// credential works already.
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: oldAgent, body: `{"battery":50,"apps":["facetime"]}`}), 200)
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: got.Credential.Secret, body: `{"battery":90,"apps":["facetime"]}`}), 200)

	if err := e.Store.Release(context.Background(), lease, ""); err != nil {
		t.Fatal(err)
	}
	r = do(t, e, call{method: "GET", path: "/v1/devices/" + d.ID, secret: ops})
	now := decode[httpapi.DeviceReply](t, r).Device
	if now.Number != "+447700900777" || now.Handles["facetime"] != "new@example.org" || now.Version != d.Version+1 {
		t.Fatalf("after the call: %+v", now)
	}
	wantError(t, do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: oldAgent, body: `{"battery":50}`}), 401, gateway.EUNAUTHORIZED)
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: got.Credential.Secret, body: `{"battery":90}`}), 200)

	r = do(t, e, call{method: "GET", path: "/v1/devices/" + d.ID + "/history", secret: ops})
	wantStatus(t, r, 200)
	vs := decode[httpapi.HistoryReply](t, r).Versions
	if len(vs) != 2 || vs[0].Number != d.Number || vs[1].Number != "+447700900777" || vs[1].Reason != "handset swapped" {
		t.Fatalf("history = %+v", vs)
	}
	r = do(t, e, call{method: "GET", path: "/v1/ops-events?device=" + d.ID, secret: ops})
	var acts []string
	for _, ev := range decode[httpapi.OpsEventsReply](t, r).Events {
		acts = append(acts, ev.Action)
	}
	if strings.Join(acts, ",") != gateway.OpsDeviceRotate+","+gateway.OpsDeviceApplied {
		t.Fatalf("ops record = %v", acts)
	}
}

// TestDeviceLifecycleAPI: out of service, return and retire when free take
// effect at once, each with its reason in the history; a retired device
// takes no more.
func TestDeviceLifecycleAPI(t *testing.T) {
	e := httpapitest.New(t)
	d, agent := e.Device(t, "CE")
	_, ops := e.Token(t, gateway.RoleOps, "")
	path := "/v1/devices/" + d.ID
	for _, st := range []struct{ action, status string }{
		{"out-of-service", "out_of_service"}, {"return", "in_service"}, {"retire", "retired"},
	} {
		r := do(t, e, call{method: "POST", path: path + "/" + st.action, secret: ops, body: `{"reason":"` + st.action + ` reason"}`})
		wantStatus(t, r, 200)
		got := decode[httpapi.DeviceReply](t, r)
		if got.Pending || string(got.Device.Status) != st.status || len(got.Changes) != 0 {
			t.Fatalf("%s: %+v", st.action, got)
		}
	}
	wantError(t, do(t, e, call{method: "POST", path: path + "/return", secret: ops, body: `{"reason":"x"}`}), 409, gateway.ECONFLICT)
	wantError(t, do(t, e, call{method: "POST", path: path + "/rotate", secret: ops, body: `{"rotate_credential":true}`}), 409, gateway.ECONFLICT)
	wantError(t, do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: agent, body: `{"battery":50}`}), 401, gateway.EUNAUTHORIZED)
	r := do(t, e, call{method: "GET", path: path + "/history", secret: ops})
	vs := decode[httpapi.HistoryReply](t, r).Versions
	var got []string
	for _, v := range vs {
		got = append(got, string(v.Status)+":"+v.Reason)
	}
	want := "in_service:,out_of_service:out-of-service reason,in_service:return reason,retired:retire reason"
	if strings.Join(got, ",") != want {
		t.Fatalf("history = %v, want %s", got, want)
	}
}

// TestStatusDuringACall: out of service, return and retire wait for the
// call like a rotation, and merge: out and back within one call leaves the
// device in service.
func TestStatusDuringACall(t *testing.T) {
	e := httpapitest.New(t)
	d, _ := e.Device(t, "CE")
	_, ops := e.Token(t, gateway.RoleOps, "")
	path := "/v1/devices/" + d.ID
	change := func(action, status string) {
		t.Helper()
		r := do(t, e, call{method: "POST", path: path + "/" + action, secret: ops, body: `{"reason":"because"}`})
		wantStatus(t, r, 200)
		got := decode[httpapi.DeviceReply](t, r)
		if !got.Pending || got.Changes["status"] != status || got.Device.Status != gateway.DeviceInService {
			t.Fatalf("%s in a call: %+v", action, got)
		}
	}
	release := func(l gateway.Lease, want gateway.DeviceStatus) {
		t.Helper()
		if err := e.Store.Release(context.Background(), l, ""); err != nil {
			t.Fatal(err)
		}
		now, err := e.Store.Device(context.Background(), d.ID)
		if err != nil || now.Status != want {
			t.Fatalf("after the call: %s, %v; want %s", now.Status, err, want)
		}
	}
	lease := inCall(t, e, d)
	change("out-of-service", "out_of_service")
	release(lease, gateway.DeviceOutOfService)
	wantStatus(t, do(t, e, call{method: "POST", path: path + "/return", secret: ops, body: `{"reason":"fixed"}`}), 200)

	lease = inCall(t, e, d)
	change("out-of-service", "out_of_service")
	change("return", "in_service")
	release(lease, gateway.DeviceInService)

	lease = inCall(t, e, d)
	change("retire", "retired")
	wantError(t, do(t, e, call{method: "POST", path: path + "/rotate", secret: ops, body: `{"name":"x"}`}), 409, gateway.ECONFLICT)
	release(lease, gateway.DeviceRetired)
}

// TestListVerifications: newest first, by the filters, with nothing of the
// officer's or the public's in the answer.
func TestListVerifications(t *testing.T) {
	e := httpapitest.New(t)
	_, sup := e.Token(t, gateway.RoleSupervisor, "")
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for i, room := range []string{"CE", "CN", "CE"} {
		v := gateway.Verification{ID: "v" + string(rune('1'+i)), Reference: gateway.NewReference(), State: gateway.StateRouting,
			Officer: gateway.Officer{Collar: "PC 1", Warrant: "W-SECRET-1"}, RoomID: room, RequestedBy: "t_x",
			CreatedAt: base.Add(time.Duration(i) * time.Minute), Deadline: base.Add(time.Hour)}
		if _, _, err := e.Store.CreateVerification(ctx, v, "", gateway.Event{Type: gateway.EventState}); err != nil {
			t.Fatal(err)
		}
	}
	r := do(t, e, call{method: "GET", path: "/v1/verifications?room=CE", secret: sup})
	wantStatus(t, r, 200)
	vs := decode[httpapi.VerificationsReply](t, r).Verifications
	if len(vs) != 2 || vs[0].ID != "v3" || vs[1].ID != "v1" {
		t.Fatalf("verifications = %+v", vs)
	}
	if strings.Contains(string(r.body), "W-SECRET-1") {
		t.Fatal("the listing shows a warrant number")
	}
	r = do(t, e, call{method: "GET", path: "/v1/verifications?limit=1&until=" + base.Add(90*time.Second).Format(time.RFC3339), secret: sup})
	vs = decode[httpapi.VerificationsReply](t, r).Verifications
	if len(vs) != 1 || vs[0].ID != "v2" {
		t.Fatalf("verifications until = %+v", vs)
	}
	r = do(t, e, call{method: "GET", path: "/v1/verifications?outcome=verified", secret: sup})
	if vs := decode[httpapi.VerificationsReply](t, r).Verifications; len(vs) != 0 {
		t.Fatalf("verified = %+v", vs)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil || string(raw["verifications"]) != "[]" {
		t.Fatalf("empty listing = %s", r.body)
	}
}
