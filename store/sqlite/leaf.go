package sqlite

import (
	"bytes"
	"encoding/json"
	"maps"
	"strconv"
	"time"

	"github.com/safeconnection/gateway"
)

// Leaves drafted before the writer. An event's leaf is its skeleton's JSON
// (gateway.EventLeaf), which holds the event's Seq, state and time, known
// only in the write, and the digest of its personal fields under a fresh
// nonce, which is most of the making and needs none of the three. So the
// leaf is made before the write, with stand-ins for the three, and its data
// cut around them; the writer puts in the event's own and hashes the
// result. A stand-in is found with its key: a key's quotes cannot be
// matched inside a JSON string, whose quotes are escaped. A leaf whose
// stand-ins are not each found once, or an event that is no longer the
// one drafted, is made whole in the writer, with the draft's nonce.

// The stand-ins of a draft: a Seq, a state and a time no event has.
var (
	standInSeq   int64 = 7340155836912057
	standInState       = gateway.State("\x00draft")
	standInAt          = time.Date(2001, 2, 3, 4, 5, 6, 123456780, time.UTC)
)

// draftLeaf drafts the leaf of ev before its write; nil when the store
// keeps no log.
func (s *Store) draftLeaf(ev gateway.Event) *leafDraft {
	if s.NoLog {
		return nil
	}
	return draftLeaf(ev)
}

// leafDraft is the leaf of an event, made before its write.
type leafDraft struct {
	ev    gateway.Event // as drafted, but for its Seq, State and At
	nonce []byte
	// parts cut the leaf's data around its Seq, state and time, in that
	// order; nil when the draft did not come apart.
	parts [][]byte
}

// draftLeaf drafts the leaf of ev, as it will be written but for its
// Seq, State and At.
func draftLeaf(ev gateway.Event) *leafDraft {
	d := &leafDraft{ev: ev, nonce: gateway.NewNonce()}
	probe := ev
	probe.Seq, probe.State, probe.At = standInSeq, standInState, standInAt
	leaf, err := gateway.EventLeaf(probe, d.nonce)
	if err != nil {
		return d // the writer makes it whole, and reports the error
	}
	state, err := json.Marshal(string(standInState))
	if err != nil {
		return d
	}
	data := leaf.Data
	parts := make([][]byte, 0, 4)
	for _, f := range []struct{ key, value string }{
		{`"seq":`, strconv.FormatInt(standInSeq, 10)},
		{`"state":`, string(state)},
		{`"at":`, `"` + standInAt.Format(time.RFC3339Nano) + `"`},
	} {
		tok := []byte(f.key + f.value)
		i := bytes.Index(data, tok)
		if i < 0 || bytes.Count(leaf.Data, tok) != 1 {
			return d
		}
		parts = append(parts, data[:i+len(f.key)])
		data = data[i+len(tok):]
	}
	d.parts = append(parts, data)
	return d
}

// leaf returns the leaf of ev as written (its Seq, State and At set by the
// store): from the draft when ev is the event drafted, else made whole; a
// nil draft makes it whole with a new nonce.
func (d *leafDraft) leaf(ev gateway.Event) (gateway.LogLeaf, error) {
	if d == nil {
		return gateway.EventLeaf(ev, gateway.NewNonce())
	}
	state, ok := plainString(string(ev.State))
	if d.parts == nil || !ok || !d.drafted(ev) {
		return gateway.EventLeaf(ev, d.nonce)
	}
	at := ev.At.UTC().Format(time.RFC3339Nano)
	n := len(state) + len(at) + 2 + 20
	for _, p := range d.parts {
		n += len(p)
	}
	data := make([]byte, 0, n)
	data = append(data, d.parts[0]...)
	data = strconv.AppendInt(data, ev.Seq, 10)
	data = append(data, d.parts[1]...)
	data = append(data, state...)
	data = append(data, d.parts[2]...)
	data = append(data, '"')
	data = append(data, at...)
	data = append(data, '"')
	data = append(data, d.parts[3]...)
	return gateway.LogLeaf{Index: -1, Kind: gateway.LogEvent, Ref: ev.Seq, Data: data, Nonce: d.nonce, Hash: gateway.LeafHash(data)}, nil
}

// drafted reports whether ev is the event drafted, but for its Seq, State
// and At.
func (d *leafDraft) drafted(ev gateway.Event) bool {
	return ev.VerificationID == d.ev.VerificationID && ev.Type == d.ev.Type && ev.AttemptID == d.ev.AttemptID &&
		ev.Instance == d.ev.Instance && ev.Message == d.ev.Message && ev.Report == d.ev.Report && maps.Equal(ev.Data, d.ev.Data)
}

// plainString is s as JSON when it needs no escaping (lower-case letters,
// digits, '_' and '-', as every state is): false for any other.
func plainString(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "", false
		}
	}
	return `"` + s + `"`, true
}
