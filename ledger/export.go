package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/safeconnection/gateway"
)

// ExportFormat names the layout of an export.
const ExportFormat = "safe-connection-export/1"

// Export is one verification's whole record for a complaint or a court:
// the verification, each event with its leaf and the proof that the
// checkpoint's tree holds it, and the signed checkpoint. The file is a
// signed note whose text is the export's JSON, signed with the log's key:
// one byte changed anywhere and it fails.
type Export struct {
	Format       string               `json:"format"`
	Log          string               `json:"log"` // the log's origin
	ExportedAt   time.Time            `json:"exported_at"`
	Verification gateway.Verification `json:"verification"`
	Events       []ExportEvent        `json:"events"`
	// Pending counts the events written after the checkpoint, which the
	// export leaves out (export again to take them in).
	Pending    int    `json:"pending"`
	Checkpoint string `json:"checkpoint"` // the signed checkpoint note
}

// ExportEvent is an event with its leaf and inclusion proof.
type ExportEvent struct {
	Event gateway.Event `json:"event"`
	Index int64         `json:"index"`           // the leaf's place in the log
	Leaf  []byte        `json:"leaf"`            // the leaf's data
	Nonce []byte        `json:"nonce,omitempty"` // absent once the personal fields were erased
	Proof []tlog.Hash   `json:"proof"`
}

// Export sequences and signs the log, then writes the export of v and its
// events: a signed note.
func (l *Log) Export(ctx context.Context, v gateway.Verification, events []gateway.Event) ([]byte, error) {
	cp, err := l.Sync(ctx)
	if err != nil {
		return nil, err
	}
	leaves, err := l.Store.VerificationLeaves(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	bySeq := make(map[int64]gateway.LogLeaf, len(leaves))
	for _, leaf := range leaves {
		bySeq[leaf.Ref] = leaf
	}
	x := Export{Format: ExportFormat, Log: l.Origin(), ExportedAt: time.Now().UTC(), Verification: v,
		Events: []ExportEvent{}, Checkpoint: string(cp.Note)}
	for _, ev := range events {
		leaf, ok := bySeq[ev.Seq]
		if !ok || leaf.Index < 0 || leaf.Index >= cp.Size {
			x.Pending++
			continue
		}
		p, err := tlog.ProveRecord(cp.Size, leaf.Index, l.reader(ctx))
		if err != nil {
			return nil, err
		}
		x.Events = append(x.Events, ExportEvent{Event: ev, Index: leaf.Index, Leaf: leaf.Data, Nonce: leaf.Nonce, Proof: p})
	}
	text, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: string(text) + "\n"}, l.Signer)
}

// VerifyExport checks an export offline with the log's verifier key vkey:
// the file's signature, the checkpoint's, and that each event is the one
// its leaf records and its leaf is in the checkpoint's tree. It returns
// the export when all hold.
func VerifyExport(file []byte, vkey string) (Export, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return Export{}, fmt.Errorf("the log's public key: %w", err)
	}
	n, err := openNote(file, v)
	if err != nil {
		return Export{}, fmt.Errorf("the export's signature does not verify with key %s: %w", v.Name(), err)
	}
	var x Export
	dec := json.NewDecoder(strings.NewReader(n.Text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&x); err != nil {
		return Export{}, fmt.Errorf("the export is not readable: %w", err)
	}
	if x.Format != ExportFormat {
		return x, fmt.Errorf("the export's format is %q, not %q", x.Format, ExportFormat)
	}
	cp, err := openCheckpoint([]byte(x.Checkpoint), v)
	if err != nil {
		return x, err
	}
	for i, e := range x.Events {
		if e.Event.VerificationID != x.Verification.ID {
			return x, fmt.Errorf("event %d (%d of the export) is of verification %q, not %q", e.Event.Seq, i+1, e.Event.VerificationID, x.Verification.ID)
		}
		leaf := gateway.LogLeaf{Index: e.Index, Kind: gateway.LogEvent, Ref: e.Event.Seq, Data: e.Leaf, Nonce: e.Nonce, Hash: gateway.LeafHash(e.Leaf)}
		if err := gateway.CheckEventLeaf(e.Event, leaf); err != nil {
			return x, fmt.Errorf("event %d: %w", e.Event.Seq, err)
		}
		if err := tlog.CheckRecord(e.Proof, cp.Size, cp.Root, e.Index, tlog.Hash(leaf.Hash)); err != nil {
			return x, fmt.Errorf("event %d: its leaf %d is not in the checkpoint's tree of %d leaves: %w", e.Event.Seq, e.Index, cp.Size, err)
		}
	}
	return x, nil
}
