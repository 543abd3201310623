package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
)

// TestRetentionEndToEnd: with a period of a second, a closed verification
// loses its personal fields (its export no longer holds them and still
// verifies offline, and `gateway verify` passes), the run is an entry of the
// ops record, and one on legal hold, closed earlier, keeps everything.
func TestRetentionEndToEnd(t *testing.T) {
	env := testEnv(t, "GATEWAY_LOG_SEQUENCE_INTERVAL=20ms", "GATEWAY_LOG_CHECKPOINT_INTERVAL=50ms",
		"GATEWAY_RETENTION_PERSONAL=1s", "GATEWAY_RETENTION_INTERVAL=100ms")
	g := startGateway(t, env, nil)
	d := g.addDevice(t, "AW", "+447700900601", facetimeWhatsApp("+447700900601"))
	g.startAgent(t, d, nil)
	status, keyBody := g.get(t, "/log/key")
	if status != http.StatusOK {
		t.Fatalf("GET /log/key: %d", status)
	}
	vkey := strings.TrimSpace(string(keyBody))

	// Held: placed by ops with a reason, then closed first.
	held := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerEmail})
	g.call(t, "POST", "/v1/verifications/"+held.ID+"/hold", g.officer, map[string]string{"reason": "complaint"}, http.StatusForbidden, nil)
	g.call(t, "POST", "/v1/verifications/"+held.ID+"/hold", g.ops, map[string]string{"reason": ""}, http.StatusBadRequest, nil)
	var hv httpapi.HoldView
	g.call(t, "POST", "/v1/verifications/"+held.ID+"/hold", g.ops, map[string]string{"reason": "complaint C-17"}, http.StatusCreated, &hv)
	if hv.Hold == nil || hv.Hold.Reason != "complaint C-17" || hv.ErasedAt != nil {
		t.Fatalf("hold: %+v", hv)
	}
	g.call(t, "POST", "/v1/verifications/"+held.ID+"/hold", g.ops, map[string]string{"reason": "again"}, http.StatusConflict, nil)
	g.call(t, "POST", "/v1/verifications/"+held.ID+"/cancel", g.officer, nil, http.StatusOK, nil)

	v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerEmail})
	g.waitState(t, v.ID, gateway.StateConnected)
	g.outcome(t, v.ID, gateway.OutcomeVerified)

	eventually(t, "the closed verification erased", func() bool {
		var hv httpapi.HoldView
		g.call(t, "GET", "/v1/verifications/"+v.ID+"/hold", g.supervisor, nil, http.StatusOK, &hv)
		return hv.ErasedAt != nil
	})
	// The held one, closed before, is not erased.
	g.call(t, "GET", "/v1/verifications/"+held.ID+"/hold", g.supervisor, nil, http.StatusOK, &hv)
	if hv.ErasedAt != nil || hv.Hold == nil {
		t.Fatalf("the held verification: %+v", hv)
	}
	var got httpapi.VerificationView
	g.call(t, "GET", "/v1/verifications/"+v.ID, g.supervisor, nil, http.StatusOK, &got)
	if got.JoinURL != "" || got.State != gateway.StateVerified {
		t.Fatalf("erased verification's view: %+v", got)
	}

	export := func(id string) []byte {
		status, file := g.send(t, "GET", "/v1/verifications/"+id+"/export", g.supervisor, nil, nil)
		if status != http.StatusOK {
			t.Fatalf("export %s: %d %s", id, status, file)
		}
		return file
	}
	if file := export(held.ID); !bytes.Contains(file, []byte(officerEmail)) {
		t.Fatal("the held verification's export lost its contacts")
	}
	file := export(v.ID)
	if bytes.Contains(file, []byte(officerEmail)) {
		t.Fatal("the erased verification's export still holds the officer's contact")
	}
	path := filepath.Join(t.TempDir(), "v.export")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := Run(context.Background(), []string{"verify-export", path, "-key", vkey}, nil, &out, &errOut); err != nil {
		t.Fatalf("verify-export of the erased record: %v\n%s", err, errOut.String())
	}
	// The run is in the ops record, naming no one.
	var oe struct {
		Events []gateway.OpsEvent `json:"events"`
	}
	g.call(t, "GET", "/v1/ops-events", g.ops, nil, http.StatusOK, &oe)
	var run, place bool
	for _, e := range oe.Events {
		switch e.Action {
		case gateway.OpsRetentionRun:
			run = e.Actor.ID == gateway.GatewayActorID && bytes.Contains(e.After, []byte(`"erased":`)) && !bytes.Contains(e.After, []byte(v.ID))
		case gateway.OpsHoldPlace:
			place = e.Reason == "complaint C-17"
		}
	}
	if !run || !place {
		t.Fatalf("ops record: run %v, hold %v: %+v", run, place, oe.Events)
	}
	// Lifted with a reason; then the job erases it too.
	g.call(t, "POST", "/v1/verifications/"+held.ID+"/hold/lift", g.ops, map[string]string{"reason": "complaint closed"}, http.StatusOK, &hv)
	if hv.Hold != nil {
		t.Fatalf("lifted: %+v", hv)
	}
	eventually(t, "the lifted verification erased", func() bool {
		var hv httpapi.HoldView
		g.call(t, "GET", "/v1/verifications/"+held.ID+"/hold", g.ops, nil, http.StatusOK, &hv)
		return hv.ErasedAt != nil
	})
	out.Reset()
	if err := Run(context.Background(), []string{"verify"}, env, &out, &errOut); err != nil {
		t.Fatalf("verify after retention: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "intact") || strings.Contains(out.String(), " 0 with personal fields erased") {
		t.Fatalf("verify said %q", out.String())
	}
}
