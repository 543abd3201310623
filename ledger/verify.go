package ledger

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/safeconnection/gateway"
)

// Finding is one thing Verify found wrong with the log.
type Finding struct {
	Leaf int64          // the leaf's place; -1 when it names none
	Ref  gateway.LogRef // the record; zero when it names none
	What string         // in plain words
}

// String is the finding as one line: where, then what.
func (f Finding) String() string {
	var at []string
	if f.Leaf >= 0 {
		at = append(at, fmt.Sprintf("leaf %d", f.Leaf))
	}
	switch f.Ref.Kind {
	case gateway.LogEvent:
		at = append(at, fmt.Sprintf("event %d", f.Ref.Ref))
	case gateway.LogOps:
		at = append(at, fmt.Sprintf("ops entry %d", f.Ref.Ref))
	}
	if len(at) == 0 {
		return f.What
	}
	return strings.Join(at, ", ") + ": " + f.What
}

// Report is what Verify found.
type Report struct {
	Size        int64     // sequenced leaves
	Root        tlog.Hash // the tree's root at Size, as recomputed
	Waiting     int       // leaves written, not yet sequenced
	Erased      int       // leaves whose records' personal fields were erased
	Checkpoints int       // stored checkpoints checked
	Given       int       // checkpoints given checked
	Findings    []Finding
}

// OK reports whether the log is intact.
func (r Report) OK() bool { return len(r.Findings) == 0 }

// failed is a leaf whose record did not match it, kept to tell a swap.
type failed struct {
	entry gateway.LogEntry
	index int // in Findings
}

// Verify recomputes the log from the store's records and checks it: each
// leaf against the record it names (an edit, a deletion), the leaves'
// places (a gap, a leaf removed), records without a leaf (an insertion),
// two records that changed places (a swap), the tree's stored hashes
// against the leaves, and every stored checkpoint, and each given one (a
// witness's copy), against the tree (a rewritten history, a truncated log,
// a store rolled back). vkey is the log's verifier key. An error means the
// log could not be checked at all.
func Verify(ctx context.Context, st gateway.LogStore, vkey string, given [][]byte) (Report, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return Report{}, fmt.Errorf("the log's public key: %w", err)
	}
	var (
		r      Report
		tree   []tlog.Hash // the recomputed tree's stored hashes
		fails  []failed
		broken bool // a leaf is missing
		memory = tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for i, n := range idx {
				if n < 0 || n >= int64(len(tree)) {
					return nil, fmt.Errorf("no hash %d", n)
				}
				out[i] = tree[n]
			}
			return out, nil
		})
	)
	add := func(f Finding) int { r.Findings = append(r.Findings, f); return len(r.Findings) - 1 }
	// The recomputed tree is kept whole (two hashes a leaf); made at the
	// size the store says, it is not copied as it grows. The size is only
	// a hint: a store that says more or less is caught below.
	if size, err := st.LogSize(ctx); err == nil && size > 0 && size <= maxHint {
		tree = make([]tlog.Hash, 0, tlog.StoredHashCount(size))
	}
	err = st.LogEntries(ctx, func(e gateway.LogEntry) error {
		ref := gateway.LogRef{Kind: e.Leaf.Kind, Ref: e.Leaf.Ref}
		switch {
		case e.Leaf.Index < 0:
			r.Waiting++
		case broken: // past a hole the tree cannot be rebuilt; the records are still checked
		case e.Leaf.Index > r.Size:
			what := fmt.Sprintf("the leaf is gone: the log skips from place %d to %d", r.Size, e.Leaf.Index)
			if e.Leaf.Index > r.Size+1 {
				what = fmt.Sprintf("leaves %d to %d are gone: the log skips from place %d to %d", r.Size, e.Leaf.Index-1, r.Size, e.Leaf.Index)
			}
			add(Finding{Leaf: r.Size, What: what})
			broken = true
		case e.Leaf.Index < r.Size:
			add(Finding{Leaf: e.Leaf.Index, Ref: ref, What: "two leaves hold this place"})
			return nil
		default:
			hs, err := tlog.StoredHashesForRecordHash(r.Size, tlog.Hash(gateway.LeafHash(e.Leaf.Data)), memory)
			if err != nil {
				return err
			}
			tree = append(tree, hs...)
			r.Size++
		}
		if e.Leaf.Nonce == nil {
			r.Erased++
		}
		var problem error
		switch {
		case e.Leaf.Kind == gateway.LogEvent && e.Event != nil:
			problem = gateway.CheckEventLeaf(*e.Event, e.Leaf)
		case e.Leaf.Kind == gateway.LogOps && e.Ops != nil:
			problem = gateway.CheckOpsLeaf(*e.Ops, e.Leaf)
		case e.Leaf.Kind == gateway.LogEvent:
			problem = fmt.Errorf("the event this leaf records is gone: deleted")
		case e.Leaf.Kind == gateway.LogOps:
			problem = fmt.Errorf("the ops entry this leaf records is gone: deleted")
		default:
			problem = fmt.Errorf("the leaf is of no known kind %q", e.Leaf.Kind)
		}
		if problem != nil {
			i := add(Finding{Leaf: e.Leaf.Index, Ref: ref, What: problem.Error()})
			if e.Event != nil {
				fails = append(fails, failed{entry: e, index: i})
			}
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	findSwaps(&r, fails)
	unlogged, err := st.Unlogged(ctx)
	if err != nil {
		return r, err
	}
	for _, u := range unlogged {
		add(Finding{Leaf: -1, Ref: u, What: "the record has no leaf: it was written outside the gateway"})
	}
	if r.Root, err = rootOf(r.Size, memory); err != nil {
		return r, err
	}
	if r.Size > 0 {
		stored, err := tlog.TreeHash(r.Size, storeReader(ctx, st))
		if err != nil {
			add(Finding{Leaf: -1, What: fmt.Sprintf("the tree's stored hashes cannot be read: %v", err)})
		} else if stored != r.Root {
			add(Finding{Leaf: -1, What: "the tree's stored hashes do not match its leaves: proofs the gateway serves would not check"})
		}
	}
	cps, err := st.Checkpoints(ctx)
	if err != nil {
		return r, err
	}
	for _, c := range cps {
		r.Checkpoints++
		checkAgainst(&r, c.Note, v, memory, fmt.Sprintf("stored checkpoint of size %d", c.Size))
	}
	for i, g := range given {
		r.Given++
		checkAgainst(&r, g, v, memory, fmt.Sprintf("given checkpoint %d", i+1))
	}
	return r, nil
}

// maxHint is the largest log size Verify makes its tree for at once
// (a gigabyte of hashes); past it the tree grows as it is read.
const maxHint = 1 << 24

func rootOf(size int64, r tlog.HashReader) (tlog.Hash, error) {
	if size == 0 {
		return emptyRoot(), nil
	}
	return tlog.TreeHash(size, r)
}

// checkAgainst checks a signed checkpoint against the recomputed tree.
func checkAgainst(r *Report, signed []byte, v note.Verifier, tree tlog.HashReader, name string) {
	c, err := openCheckpoint(signed, v)
	if err != nil {
		r.Findings = append(r.Findings, Finding{Leaf: -1, What: name + ": " + err.Error()})
		return
	}
	if c.Size > r.Size {
		r.Findings = append(r.Findings, Finding{Leaf: r.Size, What: fmt.Sprintf(
			"%s: it was signed when the log held %d leaves, and the store holds %d: the log was truncated, or the store rolled back to an older copy",
			name, c.Size, r.Size)})
		return
	}
	root, err := rootOf(c.Size, tree)
	if err != nil {
		r.Findings = append(r.Findings, Finding{Leaf: -1, What: name + ": " + err.Error()})
		return
	}
	if root != c.Root {
		r.Findings = append(r.Findings, Finding{Leaf: -1, What: fmt.Sprintf(
			"%s: the log's first %d leaves are not the ones it signed: its history was rewritten", name, c.Size)})
		return
	}
	if c.Size > 0 && c.Size < r.Size {
		// The tree now holds the signed one as its prefix: prove it as a
		// witness would.
		p, err := tlog.ProveTree(r.Size, c.Size, tree)
		if err == nil {
			err = tlog.CheckTree(p, r.Size, r.Root, c.Size, c.Root)
		}
		if err != nil {
			r.Findings = append(r.Findings, Finding{Leaf: -1, What: name + ": not consistent with the log now: " + err.Error()})
		}
	}
}

// findSwaps tells two records that changed places: the record at each of
// two failed leaves is the one the other leaf records.
func findSwaps(r *Report, fails []failed) {
	for i := 0; i < len(fails); i++ {
		for j := i + 1; j < len(fails); j++ {
			a, b := fails[i].entry, fails[j].entry
			ea, eb := *a.Event, *b.Event
			ea.Seq, eb.Seq = b.Leaf.Ref, a.Leaf.Ref
			if gateway.CheckEventLeaf(ea, b.Leaf) == nil && gateway.CheckEventLeaf(eb, a.Leaf) == nil {
				what := fmt.Sprintf("the events of leaves %d and %d changed places (events %d and %d were swapped)",
					a.Leaf.Index, b.Leaf.Index, a.Leaf.Ref, b.Leaf.Ref)
				r.Findings[fails[i].index].What = what
				r.Findings[fails[j].index].What = what
			}
		}
	}
}
