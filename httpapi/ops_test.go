package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
)

const goodDevice = `{"room":"westminster","name":"Handset 3","number":"+447911123456",` +
	`"handles":{"facetime":"ops3@met.example","whatsapp":"+447911123456","zoom":"ops3"}}`

func TestCreateDeviceIssuesAWorkingCredential(t *testing.T) {
	e := httpapitest.New(t)
	_, ops := e.Token(t, gateway.RoleOps, "")
	r := do(t, e, call{method: "POST", path: "/v1/devices", secret: ops, body: goodDevice})
	wantStatus(t, r, http.StatusCreated)
	got := decode[httpapi.DeviceReply](t, r)
	d := got.Device
	if d.ID == "" || d.RoomID != "westminster" || d.Name != "Handset 3" || d.Number != "+447911123456" ||
		d.Handles[gateway.Channel("facetime")] != "ops3@met.example" || d.Status != gateway.DeviceInService {
		t.Errorf("device = %+v", d)
	}
	if got.Credential == nil || got.Credential.Secret == "" || got.Credential.Token == "" {
		t.Fatalf("credential = %+v", got.Credential)
	}
	// The credential speaks for the device.
	r = do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: got.Credential.Secret, body: `{"battery":90,"apps":["facetime"]}`})
	wantStatus(t, r, 200)
	if hb := decode[httpapi.HeartbeatReply](t, r); hb.Device != d.ID {
		t.Errorf("heartbeat for %s, want %s", hb.Device, d.ID)
	}
	// The secret is shown once: reading the device does not show it.
	r = do(t, e, call{method: "GET", path: "/v1/devices/" + d.ID, secret: ops})
	wantStatus(t, r, 200)
	if strings.Contains(string(r.body), got.Credential.Secret) || decode[httpapi.DeviceReply](t, r).Credential != nil {
		t.Errorf("reading the device shows its secret: %s", r.body)
	}
}

func TestCreateDeviceBadInput(t *testing.T) {
	e := httpapitest.New(t)
	_, ops := e.Token(t, gateway.RoleOps, "")
	tests := []struct{ name, body string }{
		{"no room", `{"name":"x","number":"+447911123456"}`},
		{"number not E.164", `{"room":"westminster","number":"07911 123456"}`},
		{"number not real", `{"room":"westminster","number":"+4411111"}`},
		{"unknown channel", `{"room":"westminster","handles":{"skype":"ops3"}}`},
		{"pstn handle", `{"room":"westminster","handles":{"pstn":"+447911123456"}}`},
		{"whatsapp handle not a number", `{"room":"westminster","handles":{"whatsapp":"ops3"}}`},
		{"nothing to call", `{"room":"westminster","name":"x"}`},
		{"unknown field", `{"room":"westminster","number":"+447911123456","imei":"1"}`},
		{"handles not an object", `{"room":"westminster","handles":["zoom"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, do(t, e, call{method: "POST", path: "/v1/devices", secret: ops, body: tt.body}), 400, gateway.EINVALID)
		})
	}
	ds, _ := e.Store.Devices(context.Background(), "", true)
	if len(ds) != 0 {
		t.Errorf("bad requests created %d devices", len(ds))
	}
}

func TestListDevices(t *testing.T) {
	e := httpapitest.New(t)
	_, ops := e.Token(t, gateway.RoleOps, "")
	e.Device(t, "westminster")
	b, _ := e.Device(t, "lambeth")
	r := do(t, e, call{method: "GET", path: "/v1/devices", secret: ops})
	if got := decode[httpapi.DevicesReply](t, r).Devices; len(got) != 2 {
		t.Errorf("all devices: %d, want 2", len(got))
	}
	r = do(t, e, call{method: "GET", path: "/v1/devices?room=lambeth", secret: ops})
	if got := decode[httpapi.DevicesReply](t, r).Devices; len(got) != 1 || got[0].ID != b.ID {
		t.Errorf("lambeth devices: %+v, want %s", got, b.ID)
	}
	r = do(t, e, call{method: "GET", path: "/v1/devices?room=nowhere", secret: ops})
	if got := decode[httpapi.DevicesReply](t, r).Devices; got == nil || len(got) != 0 {
		t.Errorf("devices of an empty room: %s, want []", r.body)
	}
	wantError(t, do(t, e, call{method: "GET", path: "/v1/devices?retired=perhaps", secret: ops}), 400, gateway.EINVALID)
}

func TestRotateDevice(t *testing.T) {
	e := httpapitest.New(t)
	_, ops := e.Token(t, gateway.RoleOps, "")
	d, oldSecret := e.Device(t, "westminster")

	// A rotation of number and handles keeps the old credential working.
	r := do(t, e, call{method: "PATCH", path: "/v1/devices/" + d.ID, secret: ops,
		body: `{"name":"Handset 3b","number":"+447912345678","handles":{"facetime":"ops3b@met.example"}}`})
	wantStatus(t, r, 200)
	got := decode[httpapi.DeviceReply](t, r)
	if got.Device.Name != "Handset 3b" || got.Device.Number != "+447912345678" || len(got.Device.Handles) != 1 ||
		got.Device.Version <= d.Version || got.Credential != nil {
		t.Errorf("after rotation: %+v", got)
	}
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: oldSecret, body: `{}`}), 200)

	// rotate_credential revokes the old credential and issues a new one.
	r = do(t, e, call{method: "PATCH", path: "/v1/devices/" + d.ID, secret: ops, body: `{"rotate_credential":true}`})
	wantStatus(t, r, 200)
	got = decode[httpapi.DeviceReply](t, r)
	if got.Credential == nil || got.Credential.Secret == oldSecret {
		t.Fatalf("credential = %+v", got.Credential)
	}
	wantError(t, do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: oldSecret, body: `{}`}), 401, gateway.EUNAUTHORIZED)
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: got.Credential.Secret, body: `{}`}), 200)

	// Out of service and back.
	r = do(t, e, call{method: "PATCH", path: "/v1/devices/" + d.ID, secret: ops, body: `{"status":"out_of_service"}`})
	if decode[httpapi.DeviceReply](t, r).Device.Status != gateway.DeviceOutOfService {
		t.Errorf("status after patch: %s", r.body)
	}

	// Retiring revokes the credential; a retired device takes no more changes.
	wantStatus(t, do(t, e, call{method: "PATCH", path: "/v1/devices/" + d.ID, secret: ops, body: `{"status":"retired"}`}), 200)
	wantError(t, do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: got.Credential.Secret, body: `{}`}), 401, gateway.EUNAUTHORIZED)
	wantError(t, do(t, e, call{method: "PATCH", path: "/v1/devices/" + d.ID, secret: ops, body: `{"name":"again"}`}), 409, gateway.ECONFLICT)
	wantError(t, do(t, e, call{method: "PATCH", path: "/v1/devices/" + d.ID, secret: ops, body: `{"rotate_credential":true}`}), 409, gateway.ECONFLICT)
}

func TestRotateDeviceBadInput(t *testing.T) {
	e := httpapitest.New(t)
	_, ops := e.Token(t, gateway.RoleOps, "")
	d, _ := e.Device(t, "westminster")
	tests := []struct {
		name, id, body string
		status         int
		code           string
	}{
		{"nothing", d.ID, `{}`, 400, gateway.EINVALID},
		{"bad status", d.ID, `{"status":"broken"}`, 400, gateway.EINVALID},
		{"bad number", d.ID, `{"number":"12345"}`, 400, gateway.EINVALID},
		{"bad handle", d.ID, `{"handles":{"whatsapp":"ops"}}`, 400, gateway.EINVALID},
		{"leaves nothing to call", d.ID, `{"number":"","handles":{}}`, 400, gateway.EINVALID},
		{"retire with new credential", d.ID, `{"status":"retired","rotate_credential":true}`, 400, gateway.EINVALID},
		{"rotate not a boolean", d.ID, `{"rotate_credential":"yes"}`, 400, gateway.EINVALID},
		{"no such device", "d_nosuch", `{"name":"x"}`, 404, gateway.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, do(t, e, call{method: "PATCH", path: "/v1/devices/" + tt.id, secret: ops, body: tt.body}), tt.status, tt.code)
		})
	}
	got, _ := e.Store.Device(context.Background(), d.ID)
	if got.Version != d.Version || got.Number != d.Number {
		t.Errorf("bad patches changed the device: %+v", got)
	}
}
