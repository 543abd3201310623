package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/ledger"
)

// get reads a public path of the gateway without a credential.
func (g *rig) get(tb testing.TB, path string) (int, []byte) {
	tb.Helper()
	return g.send(tb, "GET", path, "", nil, nil)
}

// TestLogEndToEnd: a verification's record is in the log the gateway
// serves: the checkpoint checks with the served key alone, consistency
// and inclusion proofs check with tlog's verifier, the export
// verifies offline with `gateway verify-export` and fails once changed,
// the receipt shows the record's place, and `gateway verify` passes on the
// store and then names the leaf of an event edited in the database.
func TestLogEndToEnd(t *testing.T) {
	env := testEnv(t, "GATEWAY_LOG_SEQUENCE_INTERVAL=20ms", "GATEWAY_LOG_CHECKPOINT_INTERVAL=50ms")
	g := startGateway(t, env, nil)
	d := g.addDevice(t, "AW", "+447700900601", facetimeWhatsApp("+447700900601"))
	g.startAgent(t, d, nil)

	status, keyBody := g.get(t, "/log/key")
	if status != http.StatusOK {
		t.Fatalf("GET /log/key: %d %s", status, keyBody)
	}
	vkey := strings.TrimSpace(string(keyBody))
	var first ledger.Checkpoint
	eventually(t, "a first checkpoint", func() bool {
		status, body := g.get(t, "/log/checkpoint")
		if status != http.StatusOK {
			return false
		}
		cp, err := ledger.OpenCheckpoint(body, vkey)
		if err != nil {
			t.Fatalf("the served checkpoint does not check with the served key: %v", err)
		}
		first = cp
		return cp.Size > 0
	})

	v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerEmail})
	g.waitState(t, v.ID, gateway.StateConnected)
	g.outcome(t, v.ID, gateway.OutcomeVerified)

	// The export: not the officer's; the supervisor's verifies offline.
	path := "/v1/verifications/" + v.ID + "/export"
	if status, _ := g.send(t, "GET", path, g.officer, nil, nil); status != http.StatusForbidden {
		t.Fatalf("the officer's export: %d, want 403", status)
	}
	status, file := g.send(t, "GET", path, g.supervisor, nil, nil)
	if status != http.StatusOK {
		t.Fatalf("export: %d %s", status, file)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.export")
	if err := os.WriteFile(good, file, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := Run(context.Background(), []string{"verify-export", good, "-key", vkey}, nil, &out, &errOut); err != nil {
		t.Fatalf("verify-export: %v", err)
	}
	if !strings.Contains(out.String(), "verified: verification "+v.ID) {
		t.Fatalf("verify-export said %q", out.String())
	}
	bad := filepath.Join(dir, "bad.export")
	changed := bytes.Replace(file, []byte(`"state": "verified"`), []byte(`"state": "refused"`), 1)
	if bytes.Equal(changed, file) {
		t.Fatal("the export does not hold the verification's state")
	}
	if err := os.WriteFile(bad, changed, 0o600); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), []string{"verify-export", "-key", vkey, bad}, nil, &out, &errOut)
	var ec exitError
	if !errors.As(err, &ec) || ec.code != exitTampered {
		t.Fatalf("a changed export: %v, want exit %d", err, exitTampered)
	}

	x, err := ledger.VerifyExport(file, vkey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ledger.OpenCheckpoint([]byte(x.Checkpoint), vkey)
	if err != nil {
		t.Fatal(err)
	}
	// Consistency with the first checkpoint, and inclusion, as a witness
	// would check them, with tlog's verifier.
	var proof httpapi.ProofView
	g.call(t, "GET", fmt.Sprintf("/log/consistency?from=%d&to=%d", first.Size, cp.Size), "", nil, http.StatusOK, &proof)
	if err := tlog.CheckTree(proof.Proof, cp.Size, cp.Root, first.Size, first.Root); err != nil {
		t.Fatalf("consistency %d -> %d: %v", first.Size, cp.Size, err)
	}
	for _, e := range x.Events {
		g.call(t, "GET", fmt.Sprintf("/log/inclusion?index=%d&size=%d", e.Index, cp.Size), "", nil, http.StatusOK, &proof)
		if err := tlog.CheckRecord(proof.Proof, cp.Size, cp.Root, e.Index, tlog.RecordHash(e.Leaf)); err != nil {
			t.Fatalf("inclusion of leaf %d: %v", e.Index, err)
		}
	}
	g.call(t, "GET", "/log/consistency?from=9&to=2", "", nil, http.StatusBadRequest, nil)
	g.call(t, "GET", "/log/inclusion?index=0&size=99999999", "", nil, http.StatusNotFound, nil)

	// The receipt shows where the record stands.
	var rec httpapi.Receipt
	eventually(t, "the receipt's record", func() bool {
		status, body := g.send(t, "GET", "/receipt/"+v.Reference, "", nil, http.Header{"Accept": {"application/json"}})
		if status != http.StatusOK {
			t.Fatalf("receipt: %d %s", status, body)
		}
		if err := json.Unmarshal(body, &rec); err != nil {
			t.Fatal(err)
		}
		return rec.Record != nil && rec.Record.Pending == 0
	})
	if rec.Record.First != x.Events[0].Index || rec.Record.Last < x.Events[len(x.Events)-1].Index || rec.Record.Origin != cp.Origin {
		t.Fatalf("the receipt's record %+v; the export's leaves %d to %d", rec.Record, x.Events[0].Index, x.Events[len(x.Events)-1].Index)
	}

	// gateway verify: intact, then an edit named by its leaf.
	out.Reset()
	if err := Run(context.Background(), []string{"verify"}, env, &out, &errOut); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "intact") {
		t.Fatalf("verify said %q", out.String())
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(g.m.Config.DataDir, "gateway.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	edited := x.Events[len(x.Events)-1]
	if _, err := db.Exec("UPDATE events SET message = 'refused' WHERE seq = ?", edited.Event.Seq); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = Run(context.Background(), []string{"verify"}, env, &out, &errOut)
	if !errors.As(err, &ec) || ec.code != exitTampered {
		t.Fatalf("verify of an edited store: %v, want exit %d\n%s", err, exitTampered, out.String())
	}
	if want := fmt.Sprintf("TAMPERED: leaf %d, event %d: the event is not the one its leaf records ([personal fields] differ)", edited.Index, edited.Event.Seq); !strings.Contains(out.String(), want) {
		t.Fatalf("verify said %q, want %q", out.String(), want)
	}
	// A checkpoint it cannot read, and no store key: exit 2.
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("junk"), 0o600)
	err = Run(context.Background(), []string{"verify", "-key", "not a key", junk}, env, &out, &errOut)
	if !errors.As(err, &ec) || ec.code != exitCannot {
		t.Fatalf("verify with a bad key: %v, want exit %d", err, exitCannot)
	}
}
