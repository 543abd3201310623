package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// The deployment's tamper-evident log. Every event of every verification
// and every entry of the ops record is written, in its own transaction,
// with a leaf: the canonical JSON of the record's skeleton (what it is,
// when, of which verification, device or room) and a digest of its
// personal fields under a random nonce. A sequencer gives the leaves their
// places in one append-only Merkle tree per deployment, hashed as RFC 6962
// says, and signs checkpoints of it (package ledger). The personal fields
// can later be erased, with the nonce, without breaking a proof: the leaf
// keeps the digest, which without the nonce tells nothing of what it
// covered.

// LogKind is what a leaf of the log covers.
type LogKind string

// The kinds of leaf. Append only.
const (
	LogEvent LogKind = "event" // an event of a verification; Ref is its Seq
	LogOps   LogKind = "ops"   // an entry of the ops record; Ref is its ID
)

// LogHash is a SHA-256 hash of the log.
type LogHash [sha256.Size]byte

// String is the hash in hex.
func (h LogHash) String() string { return hex.EncodeToString(h[:]) }

// LogLeaf is one leaf of the log.
type LogLeaf struct {
	// Index is the leaf's place in the log, from 0; -1 until the
	// sequencer has given it one.
	Index int64
	Kind  LogKind
	Ref   int64   // the event's Seq, or the ops entry's ID
	Data  []byte  // the canonical JSON the leaf hashes (see EventLeaf)
	Nonce []byte  // the personal digest's nonce; nil once erased
	Hash  LogHash // LeafHash(Data)
}

// LeafHash is RFC 6962's hash of a leaf: SHA-256(0x00 || data), as
// tlog.RecordHash computes it.
func LeafHash(data []byte) LogHash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	var out LogHash
	h.Sum(out[:0])
	return out
}

// leafNonce is the size of a leaf's nonce.
const leafNonce = 16

// eventSkeleton is what a leaf of an event holds: every field but the
// personal ones, which Personal digests.
type eventSkeleton struct {
	Kind         LogKind   `json:"kind"`
	Seq          int64     `json:"seq"`
	Verification string    `json:"verification"`
	Type         EventType `json:"type"`
	State        State     `json:"state"`
	Attempt      string    `json:"attempt,omitempty"`
	At           string    `json:"at"`
	Instance     string    `json:"instance,omitempty"`
	Personal     string    `json:"personal"` // hex SHA-256 of the personal fields with the nonce
}

// eventPersonal is what an event leaf's digest covers.
type eventPersonal struct {
	Nonce   []byte            `json:"nonce"`
	Message string            `json:"message"`
	Data    map[string]string `json:"data"`
	Report  json.RawMessage   `json:"report"`
}

// opsSkeleton is what a leaf of an ops entry holds.
type opsSkeleton struct {
	Kind     LogKind `json:"kind"`
	ID       int64   `json:"id"`
	At       string  `json:"at"`
	Actor    string  `json:"actor"` // the credential's ID
	Action   string  `json:"action"`
	Room     string  `json:"room,omitempty"`
	Device   string  `json:"device,omitempty"`
	Personal string  `json:"personal"`
}

// opsPersonal is what an ops leaf's digest covers.
type opsPersonal struct {
	Nonce  []byte          `json:"nonce"`
	Name   string          `json:"name"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Reason string          `json:"reason"`
}

// logTime is how a leaf writes a time: UTC, to the nanosecond.
func logTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// NewNonce returns a fresh random nonce for a leaf.
func NewNonce() []byte {
	b := make([]byte, leafNonce)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return b
}

// EventLeaf returns the leaf of ev as written (its Seq and At set by the
// store), with the nonce given (NewNonce for a new one). It is not yet
// sequenced.
func EventLeaf(ev Event, nonce []byte) (LogLeaf, error) {
	digest, err := eventDigest(ev, nonce)
	if err != nil {
		return LogLeaf{}, err
	}
	return eventLeafWith(ev, digest, nonce)
}

func eventLeafWith(ev Event, digest string, nonce []byte) (LogLeaf, error) {
	data, err := json.Marshal(eventSkeleton{Kind: LogEvent, Seq: ev.Seq, Verification: ev.VerificationID, Type: ev.Type,
		State: ev.State, Attempt: ev.AttemptID, At: logTime(ev.At), Instance: ev.Instance, Personal: digest})
	if err != nil {
		return LogLeaf{}, err
	}
	return LogLeaf{Index: -1, Kind: LogEvent, Ref: ev.Seq, Data: data, Nonce: nonce, Hash: LeafHash(data)}, nil
}

// eventDigest is the hex digest of ev's personal fields under nonce.
func eventDigest(ev Event, nonce []byte) (string, error) {
	var report json.RawMessage
	if ev.Report != nil {
		b, err := canonicalJSON(ev.Report)
		if err != nil {
			return "", err
		}
		report = b
	}
	data := ev.Data
	if len(data) == 0 {
		data = nil
	}
	b, err := json.Marshal(eventPersonal{Nonce: nonce, Message: ev.Message, Data: data, Report: report})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// OpsLeaf returns the leaf of an ops entry as written (its ID and At set
// by the store), with the nonce given.
func OpsLeaf(ev OpsEvent, nonce []byte) (LogLeaf, error) {
	digest, err := opsDigest(ev, nonce)
	if err != nil {
		return LogLeaf{}, err
	}
	data, err := json.Marshal(opsSkeleton{Kind: LogOps, ID: ev.ID, At: logTime(ev.At), Actor: ev.Actor.ID,
		Action: ev.Action, Room: ev.RoomID, Device: ev.DeviceID, Personal: digest})
	if err != nil {
		return LogLeaf{}, err
	}
	return LogLeaf{Index: -1, Kind: LogOps, Ref: ev.ID, Data: data, Nonce: nonce, Hash: LeafHash(data)}, nil
}

func opsDigest(ev OpsEvent, nonce []byte) (string, error) {
	p := opsPersonal{Nonce: nonce, Name: ev.Actor.Name, Reason: ev.Reason}
	for _, f := range []struct {
		in  json.RawMessage
		out *json.RawMessage
	}{{ev.Before, &p.Before}, {ev.After, &p.After}} {
		if len(bytes.TrimSpace(f.in)) == 0 || bytes.Equal(bytes.TrimSpace(f.in), []byte("null")) {
			continue
		}
		b, err := canonicalJSON(f.in)
		if err != nil {
			return "", err
		}
		*f.out = b
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// canonicalJSON is v's JSON in one spelling whatever store it went
// through: objects' keys sorted, no spaces, numbers as written. (A JSON
// column of PostgreSQL gives back its keys in another order.)
func canonicalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	return json.Marshal(x)
}

// CheckEventLeaf checks that leaf is the leaf of ev: the skeleton it holds
// is ev's, its hash is its data's, and, unless the personal fields were
// erased (the nonce with them), their digest is ev's. It returns an error
// saying what differs.
func CheckEventLeaf(ev Event, leaf LogLeaf) error {
	if err := checkLeafHash(leaf); err != nil {
		return err
	}
	var sk eventSkeleton
	if err := json.Unmarshal(leaf.Data, &sk); err != nil || sk.Kind != LogEvent {
		return fmt.Errorf("the leaf's data is not an event's")
	}
	if leaf.Nonce == nil {
		if ev.Message != "" || len(ev.Data) > 0 || ev.Report != nil {
			return fmt.Errorf("the event holds personal fields its leaf says were erased")
		}
		want, err := eventLeafWith(ev, sk.Personal, nil)
		if err != nil {
			return err
		}
		if !bytes.Equal(want.Data, leaf.Data) {
			return fmt.Errorf("the event is not the one its leaf records (%s)", skeletonDiff(want.Data, leaf.Data))
		}
		return nil
	}
	want, err := EventLeaf(ev, leaf.Nonce)
	if err != nil {
		return err
	}
	if !bytes.Equal(want.Data, leaf.Data) {
		return fmt.Errorf("the event is not the one its leaf records (%s)", skeletonDiff(want.Data, leaf.Data))
	}
	return nil
}

// CheckOpsLeaf is CheckEventLeaf for an entry of the ops record.
func CheckOpsLeaf(ev OpsEvent, leaf LogLeaf) error {
	if err := checkLeafHash(leaf); err != nil {
		return err
	}
	var sk opsSkeleton
	if err := json.Unmarshal(leaf.Data, &sk); err != nil || sk.Kind != LogOps {
		return fmt.Errorf("the leaf's data is not an ops entry's")
	}
	if leaf.Nonce == nil {
		return fmt.Errorf("the leaf of an ops entry has lost its nonce")
	}
	want, err := OpsLeaf(ev, leaf.Nonce)
	if err != nil {
		return err
	}
	if !bytes.Equal(want.Data, leaf.Data) {
		return fmt.Errorf("the ops entry is not the one its leaf records (%s)", skeletonDiff(want.Data, leaf.Data))
	}
	return nil
}

func checkLeafHash(leaf LogLeaf) error {
	if LeafHash(leaf.Data) != leaf.Hash {
		return fmt.Errorf("the leaf's hash is not its data's")
	}
	return nil
}

// skeletonDiff names the fields in which two skeletons differ.
func skeletonDiff(a, b []byte) string {
	var x, y map[string]any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return "unreadable"
	}
	var names []string
	for _, k := range []string{"kind", "seq", "id", "verification", "type", "state", "attempt", "at", "instance", "actor", "action", "room", "device", "personal"} {
		if fmt.Sprint(x[k]) != fmt.Sprint(y[k]) {
			if k == "personal" {
				k = "personal fields"
			}
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return "its layout"
	}
	return fmt.Sprintf("%v differ", names)
}

// Checkpoint is a signed checkpoint of the log: a signed note (the C2SP
// tlog-checkpoint layout) of its origin, size and root hash.
type Checkpoint struct {
	Size int64
	Note []byte // the signed note as served
	At   time.Time
}

// LogEntry is a leaf with the record it names, as LogStore.LogEntries
// reads them: Event or Ops nil when the record is gone.
type LogEntry struct {
	Leaf  LogLeaf
	Event *Event
	Ops   *OpsEvent
}

// LogRef names a record: an event by Seq, an ops entry by ID.
type LogRef struct {
	Kind LogKind
	Ref  int64
}

// LogStore keeps the log. Each store writes an event's leaf (EventLeaf) and
// an ops entry's (OpsLeaf) in the transaction that writes the record.
type LogStore interface {
	// SequenceLog gives the next places in the log, in one order across
	// every instance, to at most max leaves written but not sequenced
	// (oldest first), with the tree's new stored hashes, which tree
	// computes from the log's size before, the leaves' hashes and a
	// reader of the stored hashes so far (tlog's stored-hash layout:
	// tlog.StoredHashCount(size) of them before, the new ones after). It
	// returns the log's size after.
	SequenceLog(ctx context.Context, max int, tree func(size int64, leaves []LogHash, read func([]int64) ([]LogHash, error)) ([]LogHash, error)) (int64, error)
	// LogSize is the number of sequenced leaves.
	LogSize(ctx context.Context) (int64, error)
	// LogHashes reads stored hashes by their stored index (tlog's
	// HashReader). ENOTFOUND for one not stored.
	LogHashes(ctx context.Context, indexes []int64) ([]LogHash, error)
	// LogEntries calls fn with every leaf, sequenced ones by index and
	// then those waiting by their order of writing, each with the record
	// it names. A store error, or fn's, ends it.
	LogEntries(ctx context.Context, fn func(LogEntry) error) error
	// Unlogged lists the records that have no leaf.
	Unlogged(ctx context.Context) ([]LogRef, error)
	// VerificationLeaves lists the leaves of a verification's events by
	// Seq.
	VerificationLeaves(ctx context.Context, id string) ([]LogLeaf, error)
	// PutCheckpoint stores a checkpoint (its At the store's clock); a
	// checkpoint of a size already stored is not stored again.
	PutCheckpoint(ctx context.Context, c Checkpoint) error
	// Checkpoints lists the stored checkpoints by size.
	Checkpoints(ctx context.Context) ([]Checkpoint, error)
	// LatestCheckpoint returns the checkpoint of the largest size.
	// ENOTFOUND when none is stored.
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)
}
