package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/safeconnection/gateway"
)

// fingerprinted is verification with a request's fingerprint.
func fingerprinted(id, requester, fingerprint string) gateway.Verification {
	v := verification(id, requester)
	v.Fingerprint = fingerprint
	return v
}

// testIdempotencyFingerprint: an idempotency key used again with the same
// request returns the first verification; with another request it is
// EIDEMPOTENCY and stores nothing; a fingerprint not kept or not given is
// not checked; of two concurrent creations with one key and different
// requests, one wins and the other is EIDEMPOTENCY, never two
// verifications.
func testIdempotencyFingerprint(t *testing.T, s gateway.Store) {
	c := ctx(t)
	ev := gateway.Event{Type: gateway.EventState, Message: "requested"}
	v1, created, err := s.CreateVerification(c, fingerprinted("v1", "t_a", "fp-1"), "key-1", ev)
	must(t, err)
	if !created {
		t.Fatal("first use of a key: created = false")
	}
	again, created, err := s.CreateVerification(c, fingerprinted("v2", "t_a", "fp-1"), "key-1", ev)
	must(t, err)
	if created || again.ID != v1.ID {
		t.Fatalf("same key, same request: %s created %v, want %s and false", again.ID, created, v1.ID)
	}
	_, _, err = s.CreateVerification(c, fingerprinted("v3", "t_a", "fp-other"), "key-1", ev)
	wantCode(t, err, gateway.EIDEMPOTENCY)
	for _, id := range []string{"v2", "v3"} {
		if _, err := s.Verification(c, id); gateway.ErrorCode(err) != gateway.ENOTFOUND {
			t.Fatalf("%s was stored: %v", id, err)
		}
	}
	// Not given: not checked.
	again, created, err = s.CreateVerification(c, fingerprinted("v4", "t_a", ""), "key-1", ev)
	must(t, err)
	if created || again.ID != v1.ID {
		t.Fatalf("same key, no fingerprint: %s created %v, want %s and false", again.ID, created, v1.ID)
	}
	// Not kept (made without one): not checked.
	_, _, err = s.CreateVerification(c, fingerprinted("v5", "t_a", ""), "key-2", ev)
	must(t, err)
	again, created, err = s.CreateVerification(c, fingerprinted("v6", "t_a", "fp-6"), "key-2", ev)
	must(t, err)
	if created || again.ID != "v5" {
		t.Fatalf("a key kept without a fingerprint: %s created %v, want v5 and false", again.ID, created)
	}
	// The key is the requester's own: another's request is not compared.
	_, created, err = s.CreateVerification(c, fingerprinted("v7", "t_b", "fp-other"), "key-1", ev)
	must(t, err)
	if !created {
		t.Fatal("same key, other requester: created = false")
	}

	// Concurrent creations with one key and different requests.
	for round := range 5 {
		key := fmt.Sprintf("race-%d", round)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			made    []string
			refused int
			errs    []error
		)
		start := make(chan struct{})
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				id := fmt.Sprintf("r%d-%d", round, i)
				v, created, err := s.CreateVerification(c, fingerprinted(id, "t_c", id), key, ev)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case gateway.ErrorCode(err) == gateway.EIDEMPOTENCY:
					refused++
				case err != nil:
					errs = append(errs, err)
				case created:
					made = append(made, v.ID)
				default:
					errs = append(errs, fmt.Errorf("%s: given %s, the other request's verification", id, v.ID))
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 || len(made) != 1 || refused != 1 {
			t.Fatalf("round %d: created %v, %d refused, errors %v; want one created, one refused", round, made, refused, errs)
		}
	}
	vs, err := s.Verifications(c, gateway.VerificationFilter{})
	must(t, err)
	byKey := 0
	for _, v := range vs {
		if v.RequestedBy == "t_c" {
			byKey++
		}
	}
	if byKey != 5 {
		t.Fatalf("%d verifications stored by the concurrent rounds, want 5", byKey)
	}
}
