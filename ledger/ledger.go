// Package ledger keeps the deployment's tamper-evident log: it sequences
// the leaves the stores write with every event and ops entry into one
// Merkle tree (RFC 6962 hashing, golang.org/x/mod/sumdb/tlog's tree and
// stored-hash layout), signs checkpoints of it in the signed-note format
// (golang.org/x/mod/sumdb/note, the C2SP tlog-checkpoint layout), proves
// inclusion and consistency, and checks a store's log end to end (Verify).
package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/safeconnection/gateway"
)

// Defaults of a Log's timing.
const (
	DefaultSequenceEvery   = time.Second
	DefaultCheckpointEvery = 5 * time.Second
	batch                  = 1000 // leaves sequenced in one transaction
)

// Log sequences and signs one store's log.
type Log struct {
	Store  gateway.LogStore
	Signer note.Signer
	Logger logrus.FieldLogger
	// SequenceEvery is how often waiting leaves are given their places,
	// CheckpointEvery how often a grown log is signed.
	SequenceEvery, CheckpointEvery time.Duration
}

// New returns a Log of st signed by the signer key skey (note's
// "PRIVATE+KEY+..." encoding).
func New(st gateway.LogStore, skey string) (*Log, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, fmt.Errorf("the log's key: %w", err)
	}
	return &Log{Store: st, Signer: s, Logger: logrus.StandardLogger(),
		SequenceEvery: DefaultSequenceEvery, CheckpointEvery: DefaultCheckpointEvery}, nil
}

// GenerateKey makes a new signer key and its verifier key for origin.
func GenerateKey(origin string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, origin)
}

// VerifierKey is the public key of the signer key skey, in note's
// verifier-key encoding ("origin+hash+base64").
func VerifierKey(skey string) (string, error) {
	// The signer key is PRIVATE+KEY+name+hash+base64(alg||private key);
	// its verifier key carries the public half.
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return "", fmt.Errorf("the log's key: %w", err)
	}
	parts := strings.SplitN(strings.TrimSpace(skey), "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 33 || raw[0] != 1 {
		return "", fmt.Errorf("the log's key is not an Ed25519 key")
	}
	pub, err := ed25519Public(raw[1:])
	if err != nil {
		return "", err
	}
	return note.NewEd25519VerifierKey(s.Name(), pub)
}

// ed25519Public is the public key of an Ed25519 seed.
func ed25519Public(seed []byte) (ed25519.PublicKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("the log's key is not an Ed25519 key")
	}
	return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey), nil
}

// Origin is the log's name: its key's.
func (l *Log) Origin() string { return l.Signer.Name() }

// Run sequences and signs until ctx ends.
func (l *Log) Run(ctx context.Context) {
	seq := time.NewTicker(l.SequenceEvery)
	defer seq.Stop()
	sign := time.NewTicker(l.CheckpointEvery)
	defer sign.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-seq.C:
			if _, err := l.Sequence(ctx); err != nil && ctx.Err() == nil {
				l.Logger.WithError(err).Warn("log: leaves not sequenced; trying again")
			}
		case <-sign.C:
			if _, err := l.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				l.Logger.WithError(err).Warn("log: checkpoint not signed; trying again")
			}
		}
	}
}

// Sync sequences every waiting leaf and signs a checkpoint of the log.
func (l *Log) Sync(ctx context.Context) (gateway.Checkpoint, error) {
	if _, err := l.Sequence(ctx); err != nil {
		return gateway.Checkpoint{}, err
	}
	return l.Checkpoint(ctx)
}

// Sequence gives every waiting leaf its place and returns the log's size.
func (l *Log) Sequence(ctx context.Context) (int64, error) {
	var size int64 = -1
	for {
		n, err := l.Store.SequenceLog(ctx, batch, treeHashes)
		if err != nil || n == size {
			return n, err
		}
		size = n
	}
}

// treeHashes computes the stored hashes that leaves add to a tree of size
// leaves, as SequenceLog asks.
func treeHashes(size int64, leaves []gateway.LogHash, read func([]int64) ([]gateway.LogHash, error)) ([]gateway.LogHash, error) {
	first := tlog.StoredHashCount(size)
	var added []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		var old []int64
		for i, n := range idx {
			if n >= first {
				out[i] = added[n-first]
			} else {
				old = append(old, n)
			}
		}
		if len(old) > 0 {
			got, err := read(old)
			if err != nil {
				return nil, err
			}
			j := 0
			for i, n := range idx {
				if n < first {
					out[i] = tlog.Hash(got[j])
					j++
				}
			}
		}
		return out, nil
	})
	for i, h := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(size+int64(i), tlog.Hash(h), r)
		if err != nil {
			return nil, err
		}
		added = append(added, hs...)
	}
	out := make([]gateway.LogHash, len(added))
	for i, h := range added {
		out[i] = gateway.LogHash(h)
	}
	return out, nil
}

// reader reads the store's stored hashes for tlog.
func (l *Log) reader(ctx context.Context) tlog.HashReader {
	return storeReader(ctx, l.Store)
}

func storeReader(ctx context.Context, st gateway.LogStore) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		hs, err := st.LogHashes(ctx, idx)
		if err != nil {
			return nil, err
		}
		out := make([]tlog.Hash, len(hs))
		for i, h := range hs {
			out[i] = tlog.Hash(h)
		}
		return out, nil
	})
}

// Checkpoint signs and stores a checkpoint of the log as sequenced, unless
// the latest stored one is of its size, and returns the latest.
func (l *Log) Checkpoint(ctx context.Context) (gateway.Checkpoint, error) {
	size, err := l.Store.LogSize(ctx)
	if err != nil {
		return gateway.Checkpoint{}, err
	}
	latest, err := l.Store.LatestCheckpoint(ctx)
	if err == nil && latest.Size >= size {
		return latest, nil
	}
	if err != nil && gateway.ErrorCode(err) != gateway.ENOTFOUND {
		return gateway.Checkpoint{}, err
	}
	root, err := l.root(ctx, size)
	if err != nil {
		return gateway.Checkpoint{}, err
	}
	signed, err := note.Sign(&note.Note{Text: FormatCheckpoint(l.Origin(), size, root)}, l.Signer)
	if err != nil {
		return gateway.Checkpoint{}, err
	}
	if err := l.Store.PutCheckpoint(ctx, gateway.Checkpoint{Size: size, Note: signed}); err != nil {
		return gateway.Checkpoint{}, err
	}
	return l.Store.LatestCheckpoint(ctx)
}

// root is the tree's root hash at size.
func (l *Log) root(ctx context.Context, size int64) (tlog.Hash, error) {
	if size == 0 {
		return emptyRoot(), nil
	}
	return tlog.TreeHash(size, l.reader(ctx))
}

// emptyRoot is RFC 6962's hash of the empty tree: SHA-256 of nothing.
func emptyRoot() tlog.Hash {
	h, _ := tlog.TreeHash(0, tlog.HashReaderFunc(func([]int64) ([]tlog.Hash, error) { return nil, nil }))
	return h
}

// FormatCheckpoint is a checkpoint's body in the C2SP tlog-checkpoint
// layout: the origin, the size in decimal and the root hash in base64, a
// line each.
func FormatCheckpoint(origin string, size int64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// Checkpoint is a checkpoint read from a signed note.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	Note   []byte // as signed
}

// OpenCheckpoint checks a signed checkpoint's signature with the verifier
// key vkey and parses it.
func OpenCheckpoint(signed []byte, vkey string) (Checkpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("the log's public key: %w", err)
	}
	return openCheckpoint(signed, v)
}

func openCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	n, err := openNote(signed, v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("the checkpoint's signature does not verify: %w", err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return c, err
	}
	if c.Origin != v.Name() {
		return c, fmt.Errorf("the checkpoint is of log %q, not %q", c.Origin, v.Name())
	}
	c.Note = signed
	return c, nil
}

// openNote opens a signed note, its signatures checked with v, taking each
// signature in its one canonical base64 spelling: a decoder that ignores
// the unused low bits of a last character would let a note be written two
// ways with one signature.
func openNote(signed []byte, v note.Verifier) (*note.Note, error) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return nil, fmt.Errorf("not a signed note")
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(signed[i+2:]), "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "—" {
			return nil, fmt.Errorf("a malformed signature line")
		}
		if _, err := base64.StdEncoding.Strict().DecodeString(f[2]); err != nil {
			return nil, fmt.Errorf("a malformed signature")
		}
	}
	return note.Open(signed, note.VerifierList(v))
}

// ParseCheckpoint reads a checkpoint's body (FormatCheckpoint's layout;
// extension lines after the third are allowed and ignored).
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return Checkpoint{}, fmt.Errorf("not a checkpoint: it needs an origin, a size and a root hash, a line each")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("not a checkpoint: the size %q is not a number", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("not a checkpoint: the root hash is not 32 bytes of base64")
	}
	c := Checkpoint{Origin: lines[0], Size: size}
	copy(c.Root[:], root)
	return c, nil
}

// ProveLeaf returns the proof that the tree of size holds the leaf at
// index.
func (l *Log) ProveLeaf(ctx context.Context, index, size int64) (tlog.RecordProof, error) {
	if err := l.checkSizes(ctx, index+1, size); err != nil {
		return nil, err
	}
	return tlog.ProveRecord(size, index, l.reader(ctx))
}

// ProveConsistency returns the proof that the tree of size to holds the
// tree of size from as its prefix.
func (l *Log) ProveConsistency(ctx context.Context, from, to int64) (tlog.TreeProof, error) {
	if err := l.checkSizes(ctx, from, to); err != nil {
		return nil, err
	}
	if from == 0 {
		return tlog.TreeProof{}, nil
	}
	return tlog.ProveTree(to, from, l.reader(ctx))
}

// checkSizes refuses sizes a proof cannot be of: lo above hi, or hi above
// the log's size.
func (l *Log) checkSizes(ctx context.Context, lo, hi int64) error {
	if lo < 0 || hi < 1 || lo > hi {
		return gateway.Errorf(gateway.EINVALID, "the sizes must be 0 <= from <= to and to >= 1")
	}
	size, err := l.Store.LogSize(ctx)
	if err != nil {
		return err
	}
	if hi > size {
		return gateway.Errorf(gateway.ENOTFOUND, "the log holds %d leaves, not %d", size, hi)
	}
	return nil
}

// Position is where a verification's record stands in the log, as its
// receipt shows it: the places of its events' leaves and the latest
// checkpoint that holds them.
type Position struct {
	Origin  string `json:"log"`
	First   int64  `json:"first"`   // the first leaf's place
	Last    int64  `json:"last"`    // the last sequenced leaf's place
	Leaves  int    `json:"leaves"`  // leaves sequenced
	Pending int    `json:"pending"` // events not yet in a checkpoint
	Size    int64  `json:"checkpoint_size"`
	Root    string `json:"checkpoint_root"` // base64, as the checkpoint writes it
}

// Position returns where the verification's events stand in the log.
// ENOTFOUND when it has no leaf in a checkpoint yet.
func (l *Log) Position(ctx context.Context, verificationID string) (Position, error) {
	leaves, err := l.Store.VerificationLeaves(ctx, verificationID)
	if err != nil {
		return Position{}, err
	}
	cp, err := l.Store.LatestCheckpoint(ctx)
	if err != nil {
		return Position{}, err
	}
	c, err := ParseCheckpoint(checkpointText(cp.Note))
	if err != nil {
		return Position{}, err
	}
	p := Position{Origin: c.Origin, First: -1, Last: -1, Size: c.Size, Root: base64.StdEncoding.EncodeToString(c.Root[:])}
	for _, leaf := range leaves {
		if leaf.Index < 0 || leaf.Index >= c.Size {
			p.Pending++
			continue
		}
		if p.First < 0 || leaf.Index < p.First {
			p.First = leaf.Index
		}
		p.Last = max(p.Last, leaf.Index)
		p.Leaves++
	}
	if p.Leaves == 0 {
		return Position{}, gateway.Errorf(gateway.ENOTFOUND, "the record is not in a checkpoint yet")
	}
	return p, nil
}

// checkpointText is a signed note's text, its signatures left off (the
// store's own copy: its signature is the log's).
func checkpointText(signed []byte) string {
	text, _, _ := strings.Cut(string(signed), "\n\n")
	return text + "\n"
}
