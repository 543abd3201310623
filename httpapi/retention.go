package httpapi

import (
	"net/http"
	"time"

	"github.com/safeconnection/gateway"
)

// Legal holds. Ops staff place and lift them with a reason, each an entry
// of the ops record; supervisors and ops staff see a verification's hold
// and whether its personal fields were erased.

// routeRetention mounts the hold routes.
func (s *Server) routeRetention(mux *routeMux) {
	mux.Handle("GET /v1/verifications/{id}/hold", s.authed(s.getHold, gateway.RoleSupervisor, gateway.RoleOps))
	mux.Handle("POST /v1/verifications/{id}/hold", s.authed(s.placeHold, gateway.RoleOps))
	mux.Handle("POST /v1/verifications/{id}/hold/lift", s.authed(s.liftHold, gateway.RoleOps))
}

// HoldView is a verification's legal hold as the API shows it.
type HoldView struct {
	Verification string `json:"verification"`
	// Hold is the hold in force; null when none.
	Hold *gateway.Hold `json:"hold"`
	// ErasedAt is when the verification's personal fields were erased;
	// absent when they were not. A hold placed after it keeps only the
	// skeleton that is left.
	ErasedAt *time.Time `json:"erased_at,omitempty"`
	// Message says what a hold on an erased verification keeps.
	Message string `json:"message,omitempty"`
}

func (s *Server) retention() (gateway.RetentionStore, error) {
	if s.Retention == nil {
		return nil, gateway.Errorf(gateway.EUNAVAILABLE, "legal holds are not kept here")
	}
	return s.Retention, nil
}

// holdView reads the verification's hold and erasure.
func (s *Server) holdView(r *http.Request, st gateway.RetentionStore, id string) (HoldView, error) {
	ctx := r.Context()
	hv := HoldView{Verification: id}
	at, err := st.Erased(ctx, id)
	if err != nil {
		return hv, err
	}
	if !at.IsZero() {
		hv.ErasedAt = &at
		hv.Message = "the personal fields were erased before this hold; it keeps what is left"
	}
	h, err := st.HoldOf(ctx, id)
	switch {
	case err == nil:
		hv.Hold = &h
	case gateway.ErrorCode(err) != gateway.ENOTFOUND:
		return hv, err
	}
	return hv, nil
}

// GET /v1/verifications/{id}/hold
func (s *Server) getHold(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	st, err := s.retention()
	if err != nil {
		return err
	}
	hv, err := s.holdView(r, st, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, hv)
	return nil
}

// POST /v1/verifications/{id}/hold
func (s *Server) placeHold(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	return s.changeHold(w, r, tok, gateway.OpsHoldPlace, http.StatusCreated,
		func(st gateway.RetentionStore, id, reason string, ev gateway.OpsEvent) error {
			_, err := st.PlaceHold(r.Context(), gateway.Hold{VerificationID: id, Reason: reason,
				By: gateway.Actor{ID: tok.ID, Name: tok.Name}}, ev)
			return err
		})
}

// POST /v1/verifications/{id}/hold/lift
func (s *Server) liftHold(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	return s.changeHold(w, r, tok, gateway.OpsHoldLift, http.StatusOK,
		func(st gateway.RetentionStore, id, reason string, ev gateway.OpsEvent) error {
			return st.LiftHold(r.Context(), id, ev)
		})
}

// changeHold decodes a hold's reason, makes the change with its ops
// entry, and answers the hold as it is after, with status.
func (s *Server) changeHold(w http.ResponseWriter, r *http.Request, tok gateway.Token, action string, status int,
	change func(st gateway.RetentionStore, id, reason string, ev gateway.OpsEvent) error) error {
	st, err := s.retention()
	if err != nil {
		return err
	}
	reason, err := s.decodeReason(w, r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := change(st, id, reason, opsEvent(tok, action, reason)); err != nil {
		return err
	}
	hv, err := s.holdView(r, st, id)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, status, hv)
	return nil
}
