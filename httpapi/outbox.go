package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/safeconnection/gateway"
)

// The outbox: what the force's incident system is told of each closed
// verification and each flag, and how far its delivery has got.
// Supervisors and ops staff see it; ops staff replay an entry the
// incident system never took, with a reason, an entry of the ops record.

// routeOutbox mounts the outbox routes.
func (s *Server) routeOutbox(mux *routeMux) {
	mux.Handle("GET /v1/outbox", s.authed(s.listOutbox, gateway.RoleSupervisor, gateway.RoleOps))
	mux.Handle("GET /v1/outbox/{id}", s.authed(s.getOutbox, gateway.RoleSupervisor, gateway.RoleOps))
	mux.Handle("POST /v1/outbox/{id}/replay", s.authed(s.replayOutbox, gateway.RoleOps))
}

// OutboxReply is a list of outbox entries, oldest first.
type OutboxReply struct {
	Entries []gateway.OutboxEntry `json:"entries"`
}

// OutboxView is one outbox entry with the message it sends.
type OutboxView struct {
	gateway.OutboxEntry
	Body json.RawMessage `json:"body"`
}

func (s *Server) outbox() (gateway.OutboxStore, error) {
	if s.Outbox == nil {
		return nil, gateway.Errorf(gateway.EUNAVAILABLE, "no outbox is kept here")
	}
	return s.Outbox, nil
}

// GET /v1/outbox?state=&verification=&limit=
func (s *Server) listOutbox(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	st, err := s.outbox()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var f gateway.OutboxFilter
	switch st := gateway.OutboxState(q.Get("state")); st {
	case "", gateway.OutboxPending, gateway.OutboxDelivered, gateway.OutboxDead:
		f.State = st
	default:
		return invalid("state must be pending, delivered or dead")
	}
	if f.VerificationID, err = checkOptionalText("verification", q.Get("verification"), MaxRoomID); err != nil {
		return err
	}
	if f.Limit, err = limitParam(q.Get("limit")); err != nil {
		return err
	}
	es, err := st.OutboxEntries(r.Context(), f)
	if err != nil {
		return err
	}
	if es == nil {
		es = []gateway.OutboxEntry{}
	}
	s.writeJSON(w, r, http.StatusOK, OutboxReply{Entries: es})
	return nil
}

// GET /v1/outbox/{id}
func (s *Server) getOutbox(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	st, err := s.outbox()
	if err != nil {
		return err
	}
	e, err := st.OutboxEntry(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, OutboxView{OutboxEntry: e, Body: e.Body})
	return nil
}

// POST /v1/outbox/{id}/replay
func (s *Server) replayOutbox(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	st, err := s.outbox()
	if err != nil {
		return err
	}
	reason, err := s.decodeReason(w, r)
	if err != nil {
		return err
	}
	e, err := st.ReplayOutbox(r.Context(), r.PathValue("id"), opsEvent(tok, gateway.OpsOutboxReplay, reason))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, e)
	return nil
}
