package storetest

import (
	"testing"

	"github.com/safeconnection/gateway"
)

// testOrigin: a verification's origin and its masked and hashed caller are
// stored as created and kept through transitions; a verification created
// without an origin is an officer's request.
func testOrigin(t *testing.T, s gateway.Store) {
	officer := mustVerification(t, s, verification("v_officer", "t_app"))
	if officer.Origin != gateway.OriginOfficer || officer.Caller != "" || officer.CallerHash != "" {
		t.Fatalf("officer's request: origin %q caller %q hash %q, want officer and none", officer.Origin, officer.Caller, officer.CallerHash)
	}
	pub := verification("v_public", "public:r1")
	pub.Officer, pub.Contacts, pub.Location = gateway.Officer{}, nil, gateway.Location{}
	pub.Origin, pub.Caller, pub.CallerHash = gateway.OriginPublic, gateway.MaskCaller("+447700900123"), gateway.HashCaller([]byte("key"), "+447700900123")
	created := mustVerification(t, s, pub)
	check := func(what string, v gateway.Verification) {
		t.Helper()
		if v.Origin != gateway.OriginPublic || v.Caller != pub.Caller || v.CallerHash != pub.CallerHash {
			t.Fatalf("%s: origin %q caller %q hash %q, want %q %q %q", what, v.Origin, v.Caller, v.CallerHash,
				gateway.OriginPublic, pub.Caller, pub.CallerHash)
		}
	}
	check("created", created)
	read, err := s.Verification(ctx(t), pub.ID)
	must(t, err)
	check("read", read)
	moved, _, err := s.Transition(ctx(t), pub.ID, gateway.Transition{To: gateway.StateQueued,
		Event: gateway.Event{Type: gateway.EventState, Message: "queued"}})
	must(t, err)
	check("transition's result", moved)
	read, err = s.Verification(ctx(t), pub.ID)
	must(t, err)
	check("read after the transition", read)
	vs, err := s.Verifications(ctx(t), gateway.VerificationFilter{States: []gateway.State{gateway.StateQueued}})
	must(t, err)
	if len(vs) != 1 {
		t.Fatalf("queued: %v, want v_public alone", vids(vs))
	}
	check("listed", vs[0])
}
