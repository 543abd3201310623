package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/ledger"
)

// logKey is a signer key for the tests' logs, and logPub its verifier key.
var logKey, logPub = func() (string, string) {
	s, v, err := ledger.GenerateKey("test.invalid/log")
	if err != nil {
		panic(err)
	}
	return s, v
}()

// newLog is the log of s, signed by logKey.
func newLog(t testing.TB, s gateway.Store) *ledger.Log {
	l, err := ledger.New(s, logKey)
	must(t, err)
	return l
}

// writeRecords writes a verification with events of every shape (data,
// a report) and an ops entry, and returns how many records it wrote.
func writeRecords(t testing.TB, s gateway.Store, id string) int {
	c := ctx(t)
	mustVerification(t, s, verification(id, "t_a"))
	n := 1
	for _, ev := range []gateway.Event{
		{VerificationID: id, Type: gateway.EventNote, Message: "sent the link to +447700900123", Data: map[string]string{"b": "2", "a": "1", gateway.DataMessage: "SM1"}},
		{VerificationID: id, Type: gateway.EventReport, AttemptID: "a1", Message: "joined",
			Report: &gateway.Report{AttemptID: "a1", Channel: "zoom", ProviderRef: "812", Status: gateway.ReportJoined, Party: gateway.PartyDevice, Detail: "the host"}},
		{VerificationID: id, Type: gateway.EventNote, Data: map[string]string{}},
	} {
		_, err := s.AppendEvent(c, ev)
		must(t, err)
		n++
	}
	_, err := s.AppendOpsEvent(c, gateway.OpsEvent{Actor: gateway.Actor{ID: "t_ops", Name: "Ops Desk"}, Action: gateway.OpsTokenIssue,
		RoomID: "r1", Before: json.RawMessage(`{"z": 1, "a": [1, 2]}`), After: json.RawMessage(`null`), Reason: "a new phone"})
	must(t, err)
	return n + 1
}

// entries reads every leaf with its record.
func entries(t testing.TB, s gateway.Store) []gateway.LogEntry {
	var out []gateway.LogEntry
	must(t, s.LogEntries(ctx(t), func(e gateway.LogEntry) error { out = append(out, e); return nil }))
	return out
}

// testLog: every record is written with its leaf, which matches it as read
// back; the sequencer gives the leaves dense places; a checkpoint's
// signature and every proof check with the library's verifier.
func testLog(t *testing.T, s gateway.Store) {
	c := ctx(t)
	n := writeRecords(t, s, "v1")
	un, err := s.Unlogged(c)
	must(t, err)
	if len(un) != 0 {
		t.Fatalf("records without a leaf: %v", un)
	}
	es := entries(t, s)
	if len(es) != n {
		t.Fatalf("%d leaves for %d records", len(es), n)
	}
	for _, e := range es {
		if e.Leaf.Index != -1 {
			t.Fatalf("leaf %+v sequenced before the sequencer ran", e.Leaf)
		}
		switch {
		case e.Event != nil:
			must(t, gateway.CheckEventLeaf(*e.Event, e.Leaf))
		case e.Ops != nil:
			must(t, gateway.CheckOpsLeaf(*e.Ops, e.Leaf))
		default:
			t.Fatalf("leaf %+v without its record", e.Leaf)
		}
	}
	l := newLog(t, s)
	cp, err := l.Sync(c)
	must(t, err)
	if cp.Size != int64(n) {
		t.Fatalf("checkpoint of size %d, want %d", cp.Size, n)
	}
	// The signature checks with the public key alone.
	v, err := note.NewVerifier(logPub)
	must(t, err)
	signed, err := note.Open(cp.Note, note.VerifierList(v))
	must(t, err)
	first, err := ledger.ParseCheckpoint(signed.Text)
	must(t, err)
	for i, e := range entries(t, s) {
		if e.Leaf.Index != int64(i) {
			t.Fatalf("leaf %d at place %d", i, e.Leaf.Index)
		}
		p, err := l.ProveLeaf(c, e.Leaf.Index, first.Size)
		must(t, err)
		if err := tlog.CheckRecord(p, first.Size, first.Root, e.Leaf.Index, tlog.RecordHash(e.Leaf.Data)); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
	}
	n += writeRecords(t, s, "v2")
	cp2, err := l.Sync(c)
	must(t, err)
	second, err := ledger.OpenCheckpoint(cp2.Note, logPub)
	must(t, err)
	if second.Size != int64(n) {
		t.Fatalf("second checkpoint of size %d, want %d", second.Size, n)
	}
	p, err := l.ProveConsistency(c, first.Size, second.Size)
	must(t, err)
	if err := tlog.CheckTree(p, second.Size, second.Root, first.Size, first.Root); err != nil {
		t.Fatalf("consistency: %v", err)
	}
	if _, err := l.ProveLeaf(c, 0, second.Size+1); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Fatalf("proof past the log: %v", err)
	}
	cps, err := s.Checkpoints(c)
	must(t, err)
	if len(cps) != 2 {
		t.Fatalf("%d checkpoints stored, want 2", len(cps))
	}
	// Signing again with nothing new stores nothing new.
	if _, err := l.Sync(c); err != nil {
		t.Fatal(err)
	}
	if cps, _ = s.Checkpoints(c); len(cps) != 2 {
		t.Fatalf("%d checkpoints after a sync with nothing new", len(cps))
	}
	rep, err := ledger.Verify(c, s, logPub, [][]byte{cp.Note})
	must(t, err)
	if !rep.OK() || rep.Size != int64(n) || rep.Checkpoints != 2 {
		t.Fatalf("verify an untouched log: %+v", rep)
	}
	leaves, err := s.VerificationLeaves(c, "v2")
	must(t, err)
	if len(leaves) != 4 || leaves[0].Index < 0 {
		t.Fatalf("v2's leaves: %+v", leaves)
	}
}

// testLogConcurrent: records written while two sequencers run get one
// order, with no gaps, and every checkpoint is consistent with the last.
func testLogConcurrent(t *testing.T, s gateway.Store) {
	c := ctx(t)
	logs := []*ledger.Log{newLog(t, s), newLog(t, s)}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var seqErr error
	var mu sync.Mutex
	for _, l := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := l.Sync(c); err != nil {
					mu.Lock()
					seqErr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 5 {
				writeRecords(t, s, fmt.Sprintf("v%d_%d", w, i))
			}
		}()
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	must(t, seqErr)
	if _, err := logs[0].Sync(c); err != nil {
		t.Fatal(err)
	}
	rep, err := ledger.Verify(c, s, logPub, nil)
	must(t, err)
	if !rep.OK() || rep.Size != 4*5*5 || rep.Waiting != 0 {
		t.Fatalf("after concurrent sequencing: %+v", rep)
	}
	cps, err := s.Checkpoints(c)
	must(t, err)
	var last ledger.Checkpoint
	for _, cp := range cps {
		cur, err := ledger.OpenCheckpoint(cp.Note, logPub)
		must(t, err)
		if last.Size > 0 {
			p, err := logs[1].ProveConsistency(c, last.Size, cur.Size)
			must(t, err)
			if err := tlog.CheckTree(p, cur.Size, cur.Root, last.Size, last.Root); err != nil {
				t.Fatalf("checkpoint %d is not consistent with %d: %v", cur.Size, last.Size, err)
			}
		}
		last = cur
	}
}
