package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
)

// TestDeviceViewHealth: the ops API shows what each device can serve now
// and why not the rest, on one device and in the list, as the heartbeats
// change it.
func TestDeviceViewHealth(t *testing.T) {
	e := httpapitest.New(t)
	d, agent := e.Device(t, "AW") // FaceTime, WhatsApp, and its number for PSTN
	_, ops := e.Token(t, gateway.RoleOps, "")
	const (
		ft = gateway.Channel("facetime")
		wa = gateway.Channel("whatsapp")
		ps = gateway.ChannelPSTN
	)
	check := func(step string, routable []gateway.Channel, codes ...gateway.HealthCode) httpapi.HealthView {
		t.Helper()
		r := do(t, e, call{method: "GET", path: "/v1/devices/" + d.ID, secret: ops})
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(string(r.body), `"health":{"routable":[`) || strings.Contains(string(r.body), `"problems":null`) {
			t.Errorf("%s: health shown as %s", step, r.body)
		}
		h := decode[httpapi.DeviceReply](t, r).Device.Health
		if !slices.Equal(h.Routable, routable) {
			t.Errorf("%s: routable %v, want %v", step, h.Routable, routable)
		}
		var got []gateway.HealthCode
		for _, p := range h.Problems {
			got = append(got, p.Code)
			if p.Reason == "" {
				t.Errorf("%s: problem %s without a reason", step, p.Code)
			}
		}
		if !slices.Equal(got, codes) {
			t.Errorf("%s: problems %+v, want %v", step, h.Problems, codes)
		}
		list := decode[httpapi.DevicesReply](t, do(t, e, call{method: "GET", path: "/v1/devices?room=AW", secret: ops}))
		if len(list.Devices) != 1 || !slices.Equal(list.Devices[0].Health.Routable, routable) || len(list.Devices[0].Health.Problems) != len(codes) {
			t.Errorf("%s: the list shows %+v", step, list.Devices)
		}
		return h
	}
	beat := func(body string) {
		t.Helper()
		wantStatus(t, do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: agent, body: body}), http.StatusOK)
	}

	check("never seen", []gateway.Channel{}, gateway.HealthNeverSeen)
	beat(`{"battery":80,"apps":["facetime","whatsapp"]}`)
	check("healthy", []gateway.Channel{ft, wa, ps})
	beat(`{"battery":80,"apps":["facetime"]}`)
	h := check("WhatsApp signed out", []gateway.Channel{ft, ps}, gateway.HealthAppMissing)
	if h.Problems[0].Channel != wa || !strings.Contains(h.Problems[0].Reason, "whatsapp") {
		t.Errorf("the missing app's problem is %+v, want it to name whatsapp", h.Problems[0])
	}
	beat(`{"battery":14,"apps":["facetime","whatsapp"]}`)
	h = check("battery low", []gateway.Channel{}, gateway.HealthBatteryLow)
	if !strings.Contains(h.Problems[0].Reason, "14%") || !strings.Contains(h.Problems[0].Reason, "15%") || h.Problems[0].Channel != "" {
		t.Errorf("the low battery's problem is %+v, want 14%% against the 15%% floor, for every channel", h.Problems[0])
	}
	beat(`{"battery":14,"charging":true,"apps":["facetime","whatsapp"]}`)
	check("low but charging", []gateway.Channel{ft, wa, ps})
	if got, _ := e.Store.Device(t.Context(), d.ID); !got.Charging {
		t.Error("the device is not shown charging")
	}
	beat(`{"battery":15,"apps":["facetime","whatsapp"]}`)
	check("at the floor", []gateway.Channel{ft, wa, ps})

	// Out of service: nothing, whatever the heartbeat says.
	wantStatus(t, do(t, e, call{method: "PATCH", path: "/v1/devices/" + d.ID, secret: ops, body: `{"status":"out_of_service"}`}), http.StatusOK)
	check("out of service", []gateway.Channel{}, gateway.HealthOutOfService)
}

// TestDeviceViewStale: a heartbeat older than the server's policy allows is
// shown stale, with its age.
func TestDeviceViewStale(t *testing.T) {
	e := httpapitest.New(t, func(s *httpapi.Server) { s.Health.Stale = time.Millisecond })
	d, agent := e.Device(t, "AW")
	_, ops := e.Token(t, gateway.RoleOps, "")
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: agent, body: `{"battery":80,"apps":["facetime","whatsapp"]}`}), http.StatusOK)
	time.Sleep(5 * time.Millisecond)
	h := decode[httpapi.DeviceReply](t, do(t, e, call{method: "GET", path: "/v1/devices/" + d.ID, secret: ops})).Device.Health
	if len(h.Routable) != 0 || len(h.Problems) != 1 || h.Problems[0].Code != gateway.HealthStale || !strings.Contains(h.Problems[0].Reason, "ago") {
		t.Errorf("health %+v, want stale_heartbeat alone and nothing routable", h)
	}
}
