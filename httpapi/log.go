package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/ledger"
)

// The tamper-evident log, served publicly so that a witness (another
// force, the watchdog) can keep copies of its checkpoints and check that
// each is consistent with the last: GET /log/checkpoint, /log/key,
// /log/consistency and /log/inclusion. They show hashes
// only, never a record. A verification's export
// (GET /v1/verifications/{id}/export) is for supervisors and ops.

// routeLog mounts the log's routes on mux when the server has a log.
func (s *Server) routeLog(mux *routeMux) {
	if s.Log == nil {
		return
	}
	mux.HandleFunc("GET /log/checkpoint", s.logCheckpoint)
	mux.HandleFunc("GET /log/key", s.logKey)
	mux.HandleFunc("GET /log/consistency", s.logConsistency)
	mux.HandleFunc("GET /log/inclusion", s.logInclusion)
	mux.Handle("GET /v1/verifications/{id}/export", s.authed(s.exportVerification, gateway.RoleSupervisor, gateway.RoleOps))
}

// writeText answers with plain text (or bytes of contentType).
func writeText(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// GET /log/checkpoint: the latest signed checkpoint, as a signed note.
func (s *Server) logCheckpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := s.Log.Store.LatestCheckpoint(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeText(w, "text/plain; charset=utf-8", cp.Note)
}

// GET /log/key: the log's verifier key, to check checkpoints and exports.
func (s *Server) logKey(w http.ResponseWriter, r *http.Request) {
	writeText(w, "text/plain; charset=utf-8", []byte(s.LogKey+"\n"))
}

// ProofView is the answer of /log/consistency and /log/inclusion.
type ProofView struct {
	From  int64       `json:"from,omitempty"`
	To    int64       `json:"to,omitempty"`
	Index *int64      `json:"index,omitempty"`
	Size  int64       `json:"size,omitempty"`
	Proof []tlog.Hash `json:"proof"` // base64 hashes, as RFC 6962 orders them
}

// sizeParam reads a whole number parameter of the query.
func sizeParam(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, gateway.Errorf(gateway.EINVALID, "%s must be a whole number of leaves, not %q", name, truncate(v, 20))
	}
	return n, nil
}

// truncate cuts s to at most n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// GET /log/consistency?from=N&to=M: the proof that the log's tree of M
// leaves holds its tree of N as a prefix.
func (s *Server) logConsistency(w http.ResponseWriter, r *http.Request) {
	from, err := sizeParam(r, "from")
	if err == nil {
		var to int64
		if to, err = sizeParam(r, "to"); err == nil {
			var p tlog.TreeProof
			if p, err = s.Log.ProveConsistency(r.Context(), from, to); err == nil {
				s.writeJSON(w, r, http.StatusOK, ProofView{From: from, To: to, Proof: nonNil(p)})
				return
			}
		}
	}
	s.writeError(w, r, err)
}

// GET /log/inclusion?index=N&size=M: the proof that the log's tree of M
// leaves holds the leaf at place N.
func (s *Server) logInclusion(w http.ResponseWriter, r *http.Request) {
	index, err := sizeParam(r, "index")
	if err == nil {
		var size int64
		if size, err = sizeParam(r, "size"); err == nil {
			var p tlog.RecordProof
			if p, err = s.Log.ProveLeaf(r.Context(), index, size); err == nil {
				s.writeJSON(w, r, http.StatusOK, ProofView{Index: &index, Size: size, Proof: nonNil(p)})
				return
			}
		}
	}
	s.writeError(w, r, err)
}

func nonNil(p []tlog.Hash) []tlog.Hash {
	if p == nil {
		return []tlog.Hash{}
	}
	return p
}

// GET /v1/verifications/{id}/export: the verification's whole record with
// each event's inclusion proof and the signed checkpoint, one signed file
// that `gateway verify-export` checks offline.
func (s *Server) exportVerification(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	v, err := s.verificationFor(r, tok)
	if err != nil {
		return err
	}
	evs, err := s.Verifications.Events(r.Context(), v.ID, 0, 0)
	if err != nil {
		return err
	}
	file, err := s.Log.Export(r.Context(), v, evs)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.export"`, v.ID))
	writeText(w, "text/plain; charset=utf-8", file)
	return nil
}

// receiptPosition is where v's record stands in the log, nil when the
// server keeps no log or it is not in a checkpoint yet.
func (s *Server) receiptPosition(ctx context.Context, v gateway.Verification) *ledger.Position {
	if s.Log == nil {
		return nil
	}
	p, err := s.Log.Position(ctx, v.ID)
	if err != nil {
		if gateway.ErrorCode(err) != gateway.ENOTFOUND {
			s.logger().WithError(err).Warn("receipt: the record's place in the log not read")
		}
		return nil
	}
	return &p
}
