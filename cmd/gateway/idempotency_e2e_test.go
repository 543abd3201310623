package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/safeconnection/gateway"
)

// TestIdempotencyKeyReused: through the real router and store, an
// Idempotency-Key used again with the same request returns the first
// verification (200), and with another request is refused 422
// idempotency_mismatch, so that an app's bug cannot make an officer believe
// a new request went out.
func TestIdempotencyKeyReused(t *testing.T) {
	t.Parallel()
	g := startGateway(t, testEnv(t), nil)
	key := http.Header{"Idempotency-Key": {"stop-2026-11-23-001"}}
	post := func(loc gateway.Location) (int, []byte) {
		body, err := json.Marshal(verificationRequest(loc, contact{gateway.Channel("facetime"), officerEmail}))
		if err != nil {
			t.Fatal(err)
		}
		return g.send(t, "POST", "/v1/verifications", g.officer, body, key)
	}
	status, first := post(trafalgar)
	if status != http.StatusCreated {
		t.Fatalf("first request: %d %s", status, first)
	}
	status, again := post(trafalgar)
	if status != http.StatusOK {
		t.Fatalf("the same request again: %d %s, want 200", status, again)
	}
	var v1, v2 struct{ ID string }
	if json.Unmarshal(first, &v1) != nil || json.Unmarshal(again, &v2) != nil || v1.ID == "" || v1.ID != v2.ID {
		t.Errorf("the same request again gave %s, want %s", v2.ID, v1.ID)
	}
	status, other := post(brixton)
	if status != http.StatusUnprocessableEntity || errorCode(t, other) != gateway.EIDEMPOTENCY {
		t.Errorf("another request with the key: %d %s, want 422 %s", status, other, gateway.EIDEMPOTENCY)
	}
}
