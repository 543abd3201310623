package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/metrics"
	"github.com/safeconnection/gateway/store/sqlite"
)

// scrape returns the exposition of m's handler.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func TestRoomRoutableDevices(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const (
		ft = gateway.Channel("facetime")
		wa = gateway.Channel("whatsapp")
		ps = gateway.ChannelPSTN
	)
	for _, d := range []gateway.Device{
		{ID: "a1", RoomID: "AW", Number: "+447700900001", Handles: map[gateway.Channel]string{ft: "a1@example.org", wa: "+447700900001"}},
		{ID: "a2", RoomID: "AW", Number: "+447700900002", Handles: map[gateway.Channel]string{ft: "a2@example.org"}},
		{ID: "s1", RoomID: "AS", Number: "+447700900003", Handles: map[gateway.Channel]string{ft: "s1@example.org", wa: "+447700900003"}},
	} {
		if _, err := st.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	beat := func(id string, battery int, apps ...gateway.Channel) {
		t.Helper()
		if _, err := st.RecordHeartbeat(ctx, id, gateway.HeartbeatReport{Battery: battery, Apps: apps}); err != nil {
			t.Fatal(err)
		}
	}
	beat("a1", 80, ft, wa)
	beat("a2", 80) // FaceTime signed out: PSTN only
	beat("s1", 9, ft, wa)

	clock := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
	m := metrics.New(nil, nil)
	m.Routable = &metrics.Routable{
		Pool:     st,
		Rooms:    func() []string { return []string{"AW", "AS", "EK"} },
		Channels: func() []gateway.Channel { return []gateway.Channel{ft, wa, ps} },
		Policy:   gateway.HealthPolicy{Stale: time.Minute, BatteryFloor: 15},
		MaxAge:   time.Second,
		Now:      func() time.Time { return clock },
	}
	want := func(lines ...string) {
		t.Helper()
		body := scrape(t, m)
		for _, l := range lines {
			if !strings.Contains(body, l+"\n") {
				t.Errorf("metrics lack %q", l)
			}
		}
		if n := strings.Count(body, "\ngateway_room_routable_devices{"); n != 9 {
			t.Errorf("%d gateway_room_routable_devices series, want 9 (3 rooms, 3 channels)", n)
		}
	}
	want(`gateway_room_routable_devices{channel="facetime",room="AW"} 1`,
		`gateway_room_routable_devices{channel="whatsapp",room="AW"} 1`,
		`gateway_room_routable_devices{channel="pstn",room="AW"} 2`,
		`gateway_room_routable_devices{channel="facetime",room="AS"} 0`,
		`gateway_room_routable_devices{channel="whatsapp",room="AS"} 0`,
		`gateway_room_routable_devices{channel="pstn",room="AS"} 0`,
		`gateway_room_routable_devices{channel="facetime",room="EK"} 0`,
		`gateway_room_routable_devices{channel="pstn",room="EK"} 0`)

	// Fixed: the counts come back once the cached read is older than MaxAge.
	beat("s1", 60, ft, wa)
	beat("a2", 80, ft)
	if h, err := m.Routable.RoomHealth(ctx); err != nil || h[1].Routable[ft] != 0 {
		t.Fatalf("within MaxAge: %+v, %v; want the cached read (AS facetime 0)", h, err)
	}
	clock = clock.Add(time.Second)
	want(`gateway_room_routable_devices{channel="facetime",room="AW"} 2`,
		`gateway_room_routable_devices{channel="pstn",room="AW"} 2`,
		`gateway_room_routable_devices{channel="facetime",room="AS"} 1`,
		`gateway_room_routable_devices{channel="whatsapp",room="AS"} 1`,
		`gateway_room_routable_devices{channel="pstn",room="AS"} 1`,
		`gateway_room_routable_devices{channel="whatsapp",room="EK"} 0`)

	warn, err := m.Routable.Warnings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(warn) != 1 || warn[0].RoomID != "EK" || !slices.Equal(warn[0].Missing, []gateway.Channel{ft, wa, ps}) {
		t.Errorf("warnings = %+v, want EK lacking every channel", warn)
	}
}
