package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
)

func readDemoTokens(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "demo-tokens.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var tokens map[string]string
	if err := json.Unmarshal(b, &tokens); err != nil {
		tb.Fatal(err)
	}
	return tokens
}

// TestDemoStoreAcrossRuns runs the demo twice on one store: the second run
// keeps the officer's credential (his earlier verification stays readable)
// and puts back in service a device taken out of service in the first. A
// gateway started without -demo on that store then refuses it.
func TestDemoStoreAcrossRuns(t *testing.T) {
	dir := t.TempDir()
	m1 := startDemo(t, dir)
	first := readDemoTokens(t, dir)
	g := &rig{m: m1, log: &logBuffer{}, client: newClient(t), officer: first["officer"], ops: first["ops"]}
	v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerEmail})
	g.call(t, "PATCH", "/v1/devices/AW-1", g.ops, map[string]any{"status": "out_of_service"}, http.StatusOK, nil)
	g.client.CloseIdleConnections()
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}

	m2 := startDemo(t, dir)
	second := readDemoTokens(t, dir)
	for _, role := range []string{"officer", "supervisor", "ops"} {
		if second[role] != first[role] {
			t.Errorf("the second run issued a new %s credential, want the first run's kept", role)
		}
	}
	g2 := &rig{m: m2, log: &logBuffer{}, client: newClient(t), officer: second["officer"]}
	if got := g2.verification(t, g2.officer, v.ID); got.ID != v.ID {
		t.Errorf("the officer's earlier verification reads as %+v", got)
	}
	if d, err := m2.Store.Device(context.Background(), "AW-1"); err != nil || d.Status != gateway.DeviceInService {
		t.Errorf("AW-1 after the second start: %+v, %v; want back in service", d.Status, err)
	}
	if out := m2.Out.(*logBuffer).tail(4 << 10); !strings.Contains(out, "back in service") || !strings.Contains(out, "GW=") ||
		!strings.Contains(out, filepath.Join(dir, "demo-tokens.json")) {
		t.Errorf("the demo's start-up message does not say what was restored and what to do next:\n%s", out)
	}
	g2.client.CloseIdleConnections()
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}

	cfg, err := config.LoadDemo([]string{"GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DATA_DIR=" + dir, "GATEWAY_LOG_LEVEL=error"}, providers.Sections()...)
	if err != nil {
		t.Fatal(err)
	}
	real := NewMain(cfg, false)
	err = real.Open(context.Background())
	real.Close()
	if !errors.Is(err, errDemoStore) || !strings.Contains(err.Error(), "-demo") {
		t.Errorf("a gateway without -demo on the demo's store: %v, want it refused as the demo's", err)
	}
}

// TestDemoRefusesRealStore checks that the demo will not seed its handsets
// into a store with real credentials.
func TestDemoRefusesRealStore(t *testing.T) {
	g := startGateway(t, testEnv(t), nil)
	dir := g.m.Config.DataDir
	g.client.CloseIdleConnections()
	if err := g.m.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDemo([]string{"GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DATA_DIR=" + dir, "GATEWAY_LOG_LEVEL=error"}, providers.Sections()...)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, true)
	err = m.Open(context.Background())
	m.Close()
	if !errors.Is(err, errRealStore) {
		t.Errorf("the demo on a real store: %v, want it refused", err)
	}
}
