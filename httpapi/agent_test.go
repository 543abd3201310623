package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
)

func putOrder(t testing.TB, e *httpapitest.Env, deviceID string, kind gateway.OrderKind) gateway.Order {
	t.Helper()
	o := gateway.Order{
		ID:             gateway.NewID("o_"),
		DeviceID:       deviceID,
		VerificationID: "v_1",
		AttemptID:      gateway.NewID("a_"),
		Kind:           kind,
		Channel:        gateway.Channel("facetime"),
		Handle:         "pc1234@example.org",
		Reference:      "K7QX-M4TR",
		ExpiresAt:      time.Now().Add(time.Minute),
	}
	if err := e.Store.PutOrder(context.Background(), o); err != nil {
		t.Fatalf("put order: %v", err)
	}
	return o
}

func TestAgentHeartbeat(t *testing.T) {
	e := httpapitest.New(t)
	d, secret := e.Device(t, "westminster")
	tests := []struct {
		name    string
		body    string
		status  int
		code    string
		battery int
		apps    []gateway.Channel
		charge  bool
	}{
		{"full", `{"battery":87,"apps":["facetime","whatsapp"]}`, 200, "", 87, []gateway.Channel{"facetime", "whatsapp"}, false},
		{"charging", `{"battery":12,"charging":true,"apps":["zoom"]}`, 200, "", 12, []gateway.Channel{"zoom"}, true},
		{"off the charger", `{"battery":12,"charging":false,"apps":["zoom"]}`, 200, "", 12, []gateway.Channel{"zoom"}, false},
		{"charging not said", `{"battery":11,"apps":["zoom"]}`, 200, "", 11, []gateway.Channel{"zoom"}, false},
		{"charging not a boolean", `{"battery":11,"charging":"yes"}`, 400, gateway.EINVALID, 0, nil, false},
		{"battery unknown", `{"apps":[]}`, 200, "", -1, []gateway.Channel{}, false},
		{"battery over 100", `{"battery":101,"apps":[]}`, 400, gateway.EINVALID, 0, nil, false},
		{"battery negative", `{"battery":-1}`, 400, gateway.EINVALID, 0, nil, false},
		{"battery fraction", `{"battery":50.5}`, 400, gateway.EINVALID, 0, nil, false},
		{"unknown app", `{"apps":["skype"]}`, 400, gateway.EINVALID, 0, nil, false},
		{"app twice", `{"apps":["zoom","zoom"]}`, 400, gateway.EINVALID, 0, nil, false},
		{"unknown field", `{"battery":50,"temperature":31}`, 400, gateway.EINVALID, 0, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: secret, body: tt.body})
			if tt.code != "" {
				wantError(t, r, tt.status, tt.code)
				return
			}
			wantStatus(t, r, tt.status)
			hb := decode[httpapi.HeartbeatReply](t, r)
			if hb.Device != d.ID || time.Since(hb.Time) > time.Minute {
				t.Errorf("reply = %+v", hb)
			}
			got, err := e.Store.Device(context.Background(), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Battery != tt.battery || !slices.Equal(got.Apps, tt.apps) || got.LastSeen.IsZero() || got.Charging != tt.charge {
				t.Errorf("device after heartbeat: battery %d apps %v seen %v charging %v", got.Battery, got.Apps, got.LastSeen, got.Charging)
			}
		})
	}
}

func TestAgentOrdersLongPoll(t *testing.T) {
	e := httpapitest.New(t)
	d, secret := e.Device(t, "westminster")
	other, _ := e.Device(t, "westminster")

	// Nothing waiting and no wait: an empty list at once.
	r := do(t, e, call{method: "GET", path: "/v1/agent/orders", secret: secret})
	wantStatus(t, r, 200)
	if got := decode[httpapi.OrdersReply](t, r); got.Orders == nil || len(got.Orders) != 0 {
		t.Errorf("orders = %s, want []", r.body)
	}

	// A waiting poll returns as soon as an order is put for its device, and
	// not for another device's.
	done := make(chan response, 1)
	start := time.Now()
	go func() { done <- do(t, e, call{method: "GET", path: "/v1/agent/orders?wait=20", secret: secret}) }()
	time.Sleep(200 * time.Millisecond)
	putOrder(t, e, other.ID, gateway.OrderDial)
	select {
	case r := <-done:
		t.Fatalf("poll returned for another device's order: %s", r.body)
	case <-time.After(200 * time.Millisecond):
	}
	o := putOrder(t, e, d.ID, gateway.OrderDial)
	select {
	case r := <-done:
		wantStatus(t, r, 200)
		got := decode[httpapi.OrdersReply](t, r).Orders
		if len(got) != 1 || got[0].ID != o.ID || got[0].Status != gateway.OrderDelivered || got[0].Handle != o.Handle {
			t.Errorf("orders = %+v, want %s delivered", got, o.ID)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("poll took %v", el)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the poll did not return when the order was put")
	}

	// An order put before the poll is returned at once; taken orders are not
	// returned again.
	o2 := putOrder(t, e, d.ID, gateway.OrderHangUp)
	r = do(t, e, call{method: "GET", path: "/v1/agent/orders?wait=20", secret: secret})
	if got := decode[httpapi.OrdersReply](t, r).Orders; len(got) != 1 || got[0].ID != o2.ID {
		t.Errorf("orders = %+v, want only %s", got, o2.ID)
	}
}

func TestAgentOrdersWaitIsCapped(t *testing.T) {
	e := httpapitest.New(t, func(s *httpapi.Server) { s.AgentWait = 300 * time.Millisecond })
	_, secret := e.Device(t, "westminster")
	start := time.Now()
	r := do(t, e, call{method: "GET", path: "/v1/agent/orders?wait=3600", secret: secret})
	wantStatus(t, r, 200)
	if el := time.Since(start); el < 250*time.Millisecond || el > 5*time.Second {
		t.Errorf("poll with wait=3600 under a 300ms cap took %v", el)
	}
	for _, q := range []string{"wait=-1", "wait=soon", "wait=1.5"} {
		wantError(t, do(t, e, call{method: "GET", path: "/v1/agent/orders?" + q, secret: secret}), 400, gateway.EINVALID)
	}
}

func TestAgentOrdersEndWhenTheClientGoes(t *testing.T) {
	e := httpapitest.New(t)
	_, secret := e.Device(t, "westminster")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/v1/agent/orders?wait=25", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the poll answered before its wait or an order")
	}
	// The handler notices and logs the request as the client's going.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, en := range e.Log.AllEntries() {
			if en.Message == "request" && en.Data["path"] == "/v1/agent/orders" && en.Data["status"] == 499 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Error("the poll did not end when its client went")
}

func TestAgentReport(t *testing.T) {
	e := httpapitest.New(t)
	d, secret := e.Device(t, "westminster")
	other, otherSecret := e.Device(t, "westminster")
	var mu sync.Mutex
	var reports []gateway.Report
	e.Router.ReportFn = func(_ context.Context, r gateway.Report) error {
		mu.Lock()
		defer mu.Unlock()
		if r.AttemptID == "a_gone" {
			return gateway.Errorf(gateway.ENOTFOUND, "no attempt a_gone")
		}
		reports = append(reports, r)
		return nil
	}
	o := putOrder(t, e, d.ID, gateway.OrderDial)
	theirs := putOrder(t, e, other.ID, gateway.OrderDial)

	tests := []struct {
		name, order, secret, body string
		status                    int
		code                      string
		want                      gateway.Report
		done                      bool
	}{
		{"ringing", o.ID, secret, `{"status":"ringing"}`, 204, "",
			gateway.Report{Status: gateway.ReportRinging}, false},
		{"failed not placed", o.ID, secret, `{"status":"failed","fate":"not_placed","detail":"FaceTime signed out"}`, 204, "",
			gateway.Report{Status: gateway.ReportFailed, Fate: gateway.NotPlaced, Detail: "FaceTime signed out"}, true},
		{"failed without fate", o.ID, secret, `{"status":"failed"}`, 204, "",
			gateway.Report{Status: gateway.ReportFailed, Fate: gateway.PlacedFailed}, true},
		{"another device's order", theirs.ID, secret, `{"status":"answered"}`, 404, gateway.ENOTFOUND, gateway.Report{}, false},
		{"no such order", "o_nosuch", secret, `{"status":"answered"}`, 404, gateway.ENOTFOUND, gateway.Report{}, false},
		{"unknown status", o.ID, secret, `{"status":"picked_up"}`, 400, gateway.EINVALID, gateway.Report{}, false},
		{"cancelled is not an agent's", o.ID, secret, `{"status":"cancelled"}`, 400, gateway.EINVALID, gateway.Report{}, false},
		{"no status", o.ID, secret, `{}`, 400, gateway.EINVALID, gateway.Report{}, false},
		{"fate without failed", o.ID, secret, `{"status":"rejected","fate":"not_placed"}`, 400, gateway.EINVALID, gateway.Report{}, false},
		{"unknown fate", o.ID, secret, `{"status":"failed","fate":"unknown"}`, 400, gateway.EINVALID, gateway.Report{}, false},
		{"detail too long", o.ID, secret, `{"status":"failed","detail":"` + longText(201) + `"}`, 400, gateway.EINVALID, gateway.Report{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			reports = nil
			mu.Unlock()
			e.Store.SetOrderStatus(context.Background(), o.ID, gateway.OrderDelivered)
			r := do(t, e, call{method: "POST", path: "/v1/agent/orders/" + tt.order + "/report", secret: tt.secret, body: tt.body})
			mu.Lock()
			got := reports
			mu.Unlock()
			if tt.code != "" {
				wantError(t, r, tt.status, tt.code)
				if len(got) != 0 {
					t.Errorf("router got %+v for a refused report", got)
				}
				return
			}
			wantStatus(t, r, tt.status)
			if len(got) != 1 {
				t.Fatalf("router got %d reports, want 1", len(got))
			}
			g := got[0]
			if g.AttemptID != o.AttemptID || g.Channel != o.Channel || g.ProviderRef != o.ID || g.Party != "device" ||
				g.Status != tt.want.Status || g.Fate != tt.want.Fate || g.Detail != tt.want.Detail || g.At.IsZero() {
				t.Errorf("report = %+v", g)
			}
			stored, err := e.Store.Order(context.Background(), o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if done := stored.Status == gateway.OrderDone; done != tt.done {
				t.Errorf("order status %s after %s", stored.Status, tt.want.Status)
			}
		})
	}
	// The other device may report on its own order.
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/agent/orders/" + theirs.ID + "/report", secret: otherSecret, body: `{"status":"rejected"}`}), 204)

	// The router's errors come through with their codes.
	gone := gateway.Order{ID: gateway.NewID("o_"), DeviceID: d.ID, AttemptID: "a_gone", Kind: gateway.OrderDial, Channel: gateway.Channel("facetime")}
	if err := e.Store.PutOrder(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	wantError(t, do(t, e, call{method: "POST", path: "/v1/agent/orders/" + gone.ID + "/report", secret: secret, body: `{"status":"answered"}`}), 404, gateway.ENOTFOUND)
}

func longText(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'd'
	}
	return string(b)
}

func TestAgentReportOnAnotherDevicesOrderReadsAsMissing(t *testing.T) {
	e := httpapitest.New(t)
	_, secret := e.Device(t, "westminster")
	other, _ := e.Device(t, "westminster")
	theirs := putOrder(t, e, other.ID, gateway.OrderDial)
	a := do(t, e, call{method: "POST", path: "/v1/agent/orders/" + theirs.ID + "/report", secret: secret, body: `{"status":"answered"}`})
	b := do(t, e, call{method: "POST", path: "/v1/agent/orders/o_nosuch/report", secret: secret, body: `{"status":"answered"}`})
	wantError(t, a, 404, gateway.ENOTFOUND)
	if string(a.body) != strings.ReplaceAll(string(b.body), "o_nosuch", theirs.ID) {
		t.Errorf("another device's order reads differently from a missing one: %s vs %s", a.body, b.body)
	}
}
