package gateway_test

import (
	"testing"

	"github.com/safeconnection/gateway"
)

// TestRoleJudges: a supervisor judges every verification, a 999 call
// handler only the checks asked for by radio or 999, nobody else any; the
// two open checks and are staff, and the handler's role parses.
func TestRoleJudges(t *testing.T) {
	origins := []gateway.Origin{gateway.OriginOfficer, gateway.OriginPublic, gateway.OriginRadio, gateway.Origin999, ""}
	for _, c := range []struct {
		role         gateway.Role
		judges       []bool // by origins
		opens, staff bool
	}{
		{gateway.RoleSupervisor, []bool{true, true, true, true, true}, true, true},
		{gateway.RoleHandler, []bool{false, false, true, true, false}, true, true},
		{gateway.RoleOps, []bool{false, false, false, false, false}, false, false},
		{gateway.RoleOfficer, []bool{false, false, false, false, false}, false, false},
		{gateway.RoleAgent, []bool{false, false, false, false, false}, false, false},
	} {
		for i, o := range origins {
			if got := c.role.Judges(o); got != c.judges[i] {
				t.Errorf("%s judges origin %q: %v, want %v", c.role, o, got, c.judges[i])
			}
		}
		if c.role.OpensChecks() != c.opens || c.role.Staff() != c.staff {
			t.Errorf("%s: opens checks %v, staff %v; want %v, %v", c.role, c.role.OpensChecks(), c.role.Staff(), c.opens, c.staff)
		}
		if r, err := gateway.ParseRole(string(c.role)); err != nil || r != c.role {
			t.Errorf("ParseRole(%q) = %q, %v", c.role, r, err)
		}
	}
}
