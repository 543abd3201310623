package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/metrics"
)

func TestExposition(t *testing.T) {
	m := metrics.New(func(context.Context) (map[string]int, error) {
		return map[string]int{"AW": 2, "AS": 0}, nil
	}, func() int { return 3 })
	m.AttemptEnded(gateway.Channel("zoom"), gateway.ResultNotPlaced, 2*time.Second)
	m.AttemptEnded(gateway.Channel("whatsapp"), gateway.ResultConnected, 300*time.Millisecond)
	m.Connected(gateway.Channel("whatsapp"), 2500*time.Millisecond)
	m.Finished(gateway.Verification{State: gateway.StateVerified, RoomID: "AW", Channel: gateway.Channel("whatsapp")})
	m.Finished(gateway.Verification{State: gateway.StateCancelled, RoomID: "AW"})
	m.Finished(gateway.Verification{State: gateway.StateFailed, RoomID: "AS", Attempts: []gateway.Attempt{{Result: gateway.ResultNoAnswer}}})
	m.Finished(gateway.Verification{State: gateway.StateCancelled, RoomID: "AS", Channel: gateway.Channel("zoom")}) // cancelled once connected
	m.OutboxTried("retry")
	m.OutboxTried("retry")
	m.OutboxTried("delivered")
	m.BreakerState("zoom", "open")

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`gateway_attempts_total{channel="zoom",result="not_placed"} 1`,
		`gateway_attempts_total{channel="whatsapp",result="connected"} 1`,
		`gateway_time_to_connect_seconds_count{channel="whatsapp"} 1`,
		`gateway_verifications_finished_total{state="verified"} 1`,
		`gateway_verifications_finished_total{state="cancelled"} 2`,
		`gateway_verifications_never_connected_total{room="AW"} 1`,
		`gateway_verifications_never_connected_total{room="AS"} 1`,
		`gateway_outbox_tries_total{result="retry"} 2`,
		`gateway_outbox_tries_total{result="delivered"} 1`,
		`gateway_breaker_open{provider="zoom"} 1`,
		`gateway_free_devices{room="AW"} 2`,
		`gateway_free_devices{room="AS"} 0`,
		`gateway_queued_verifications 3`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
