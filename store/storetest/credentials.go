package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// testCredentialIdentity: a credential keeps who holds it, its issue time
// (the store's clock) and its revocation time.
func testCredentialIdentity(t *testing.T, s gateway.Store) {
	c := ctx(t)
	before := now(t, s).Add(-time.Second)
	officer := gateway.Token{ID: "to", Role: gateway.RoleOfficer, Name: "PC 1234's phone", Hash: gateway.HashSecret("so"),
		Officer: &gateway.OfficerIdentity{Force: "Metropolitan Police", Collar: "PC 1234", Warrant: "W-998877"}}
	sup := gateway.Token{ID: "ts", Role: gateway.RoleSupervisor, Name: "PS 42", Hash: gateway.HashSecret("ss"),
		Supervisor: &gateway.SupervisorIdentity{Rank: "PS", Number: "42", Rooms: []string{"AW", "CW"}}}
	must(t, s.CreateToken(c, officer))
	must(t, s.CreateToken(c, sup))
	for _, want := range []gateway.Token{officer, sup} {
		got, err := s.TokenByHash(c, want.Hash)
		must(t, err)
		if got.IssuedAt.Before(before) || got.IssuedAt.After(now(t, s).Add(time.Second)) {
			t.Errorf("%s: IssuedAt %v, want the store's clock", want.ID, got.IssuedAt)
		}
		if !reflect.DeepEqual(got.Officer, want.Officer) || !reflect.DeepEqual(got.Supervisor, want.Supervisor) {
			t.Errorf("%s: identities %+v %+v, want %+v %+v", want.ID, got.Officer, got.Supervisor, want.Officer, want.Supervisor)
		}
		if !got.ExpiresAt.IsZero() || !got.RevokedAt.IsZero() || got.Revoked {
			t.Errorf("%s: expires %v, revoked %v %v; want neither", want.ID, got.ExpiresAt, got.Revoked, got.RevokedAt)
		}
		byID, err := s.Token(c, want.ID)
		must(t, err)
		if !reflect.DeepEqual(byID, got) {
			t.Errorf("Token(%s) = %+v, TokenByHash = %+v", want.ID, byID, got)
		}
	}
	_, err := s.Token(c, "nope")
	wantCode(t, err, gateway.ENOTFOUND)

	must(t, s.RevokeToken(c, "to"))
	_, err = s.TokenByHash(c, officer.Hash)
	wantCode(t, err, gateway.ENOTFOUND)
	got, err := s.Token(c, "to")
	must(t, err)
	if !got.Revoked || got.RevokedAt.Before(before) {
		t.Fatalf("revoked token: %+v, want Revoked and RevokedAt the store's clock", got)
	}
	first := got.RevokedAt
	must(t, s.RevokeToken(c, "to"))
	if again, _ := s.Token(c, "to"); !again.RevokedAt.Equal(first) {
		t.Errorf("revoked again: RevokedAt %v, want the first time %v", again.RevokedAt, first)
	}
	if got.Officer == nil || got.Officer.Collar != "PC 1234" {
		t.Errorf("a revoked token lost its officer: %+v", got.Officer)
	}
}

// testCredentialSessions: ending a credential's console sessions counts
// up its SessionsEnded, read by Token and TokenByHash; it ends nothing
// else, and an unknown credential is ENOTFOUND.
func testCredentialSessions(t *testing.T, s gateway.Store) {
	c := ctx(t)
	sup := gateway.Token{ID: "ts", Role: gateway.RoleSupervisor, Name: "PS 42", Hash: gateway.HashSecret("ss")}
	other := gateway.Token{ID: "to", Role: gateway.RoleOps, Name: "ops desk", Hash: gateway.HashSecret("so")}
	must(t, s.CreateToken(c, sup))
	must(t, s.CreateToken(c, other))
	if got, err := s.Token(c, "ts"); err != nil || got.SessionsEnded != 0 {
		t.Fatalf("new token: SessionsEnded %d, %v; want 0", got.SessionsEnded, err)
	}
	for want := int64(1); want <= 2; want++ {
		must(t, s.EndSessions(c, "ts"))
		got, err := s.Token(c, "ts")
		must(t, err)
		if got.SessionsEnded != want {
			t.Errorf("after %d EndSessions: Token's SessionsEnded %d, want %d", want, got.SessionsEnded, want)
		}
		if got.Revoked || !got.RevokedAt.IsZero() {
			t.Errorf("EndSessions revoked the token: %+v", got)
		}
		byHash, err := s.TokenByHash(c, sup.Hash)
		must(t, err)
		if byHash.SessionsEnded != want {
			t.Errorf("after %d EndSessions: TokenByHash's SessionsEnded %d, want %d", want, byHash.SessionsEnded, want)
		}
	}
	if got, _ := s.Token(c, "to"); got.SessionsEnded != 0 {
		t.Errorf("another token's SessionsEnded %d, want 0", got.SessionsEnded)
	}
	if list, err := s.Tokens(c); err != nil || len(list) != 2 || list[1].ID != "ts" || list[1].SessionsEnded != 2 {
		t.Errorf("Tokens = %+v, %v; want ts with SessionsEnded 2", list, err)
	}
	wantCode(t, s.EndSessions(c, "nope"), gateway.ENOTFOUND)
	must(t, s.RevokeToken(c, "ts"))
	must(t, s.EndSessions(c, "ts"))
	if got, _ := s.Token(c, "ts"); got.SessionsEnded != 3 || !got.Revoked {
		t.Errorf("EndSessions of a revoked token: %+v, want SessionsEnded 3 and still revoked", got)
	}
}

// testCredentialExpiry: a credential past its expiry (the store's clock)
// is refused, one before it works.
func testCredentialExpiry(t *testing.T, s gateway.Store) {
	c := ctx(t)
	n := now(t, s)
	live := gateway.Token{ID: "live", Role: gateway.RoleOps, Hash: gateway.HashSecret("live"), ExpiresAt: n.Add(time.Hour).Truncate(time.Millisecond)}
	past := gateway.Token{ID: "past", Role: gateway.RoleOps, Hash: gateway.HashSecret("past"), ExpiresAt: n.Add(-time.Second)}
	soon := gateway.Token{ID: "soon", Role: gateway.RoleOps, Hash: gateway.HashSecret("soon"), ExpiresAt: n.Add(300 * time.Millisecond)}
	for _, tok := range []gateway.Token{live, past, soon} {
		must(t, s.CreateToken(c, tok))
	}
	got, err := s.TokenByHash(c, live.Hash)
	must(t, err)
	if !got.ExpiresAt.Equal(live.ExpiresAt) {
		t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, live.ExpiresAt)
	}
	_, err = s.TokenByHash(c, past.Hash)
	wantCode(t, err, gateway.ENOTFOUND)
	if _, err := s.Token(c, "past"); err != nil {
		t.Errorf("Token of an expired credential: %v, want it listed", err)
	}
	for now(t, s).Before(soon.ExpiresAt) {
		time.Sleep(50 * time.Millisecond)
	}
	_, err = s.TokenByHash(c, soon.Hash)
	wantCode(t, err, gateway.ENOTFOUND)
}

// testRefusals: refusals are kept for their room, oldest first.
func testRefusals(t *testing.T, s gateway.Store) {
	c := ctx(t)
	_, err := s.RecordRefusal(c, gateway.Refusal{RoomID: "AW", TokenID: "t1"})
	wantCode(t, err, gateway.EINVALID)
	before := now(t, s).Add(-time.Second)
	var ids []int64
	for _, r := range []gateway.Refusal{
		{RoomID: "AW", TokenID: "t1", Reason: gateway.RefusalOfficerMismatch, Officer: "PC 1234", Stated: "PC 5678"},
		{RoomID: "CW", TokenID: "t2", Reason: gateway.RefusalOfficerMismatch, Officer: "PC 1", Stated: "PC 2"},
		{RoomID: "AW", TokenID: "t1", Reason: gateway.RefusalOfficerMismatch, Officer: "PC 1234", Stated: "PC 9"},
	} {
		got, err := s.RecordRefusal(c, r)
		must(t, err)
		if got.ID == 0 || got.At.Before(before) {
			t.Fatalf("RecordRefusal = %+v, want an ID and the store's clock", got)
		}
		if len(ids) > 0 && got.ID <= ids[len(ids)-1] {
			t.Errorf("refusal IDs %v then %d, want increasing", ids, got.ID)
		}
		ids = append(ids, got.ID)
	}
	aw, err := s.Refusals(c, "AW", time.Time{}, 0)
	must(t, err)
	if len(aw) != 2 || aw[0].Stated != "PC 5678" || aw[1].Stated != "PC 9" || aw[0].Officer != "PC 1234" || aw[0].TokenID != "t1" {
		t.Fatalf("Refusals(AW) = %+v, want the two of AW oldest first", aw)
	}
	all, err := s.Refusals(c, "", before, 0)
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("Refusals(all) = %d, want 3", len(all))
	}
	if one, _ := s.Refusals(c, "", time.Time{}, 1); len(one) != 1 || one[0].ID != ids[0] {
		t.Errorf("Refusals limit 1 = %+v, want the oldest", one)
	}
	if later, _ := s.Refusals(c, "", now(t, s).Add(time.Hour), 0); len(later) != 0 {
		t.Errorf("Refusals since an hour on = %+v, want none", later)
	}
}
