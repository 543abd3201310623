package roster_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway/roster"
)

func codes(signs []roster.Sign) []roster.SignCode {
	var out []roster.SignCode
	for _, s := range signs {
		out = append(out, s.Code)
	}
	return out
}

// TestAssess checks that each sign fires on a crafted case and not on its
// near miss.
func TestAssess(t *testing.T) {
	r, _ := parseFile(t, "roster.csv")
	// Sam Clarke, 1234AW: plain clothes, Westminster and K&C, 18:00-04:00 GMT.
	end := time.Date(2026, 12, 4, 4, 0, 0, 0, time.UTC)
	loaded := end.Add(-time.Hour)
	snap := roster.Snapshot{Roster: r, LoadedAt: loaded}
	westminster := roster.Stop{At: end.Add(-time.Minute), Borough: "Westminster", RoomID: "AW"}
	good := roster.History{Checks7: 2, Checks30: 6, Median7: 1, Median30: 4, CredentialWarrant: "WC100234",
		CredentialIssuedAt: end.Add(-30 * 24 * time.Hour)}
	th := roster.DefaultThresholds()

	with := func(f func(*roster.Stop, *roster.History, *roster.Snapshot)) ([]roster.Sign, string) {
		s, h, sn := westminster, good, snap
		f(&s, &h, &sn)
		return roster.Assess(sn, "1234AW", s, h, th), "1234AW"
	}
	cases := []struct {
		name string
		f    func(*roster.Stop, *roster.History, *roster.Snapshot)
		want []roster.SignCode
	}{
		{"a minute before the shift ends", func(*roster.Stop, *roster.History, *roster.Snapshot) {}, nil},
		{"a minute after it ends", func(s *roster.Stop, _ *roster.History, _ *roster.Snapshot) { s.At = end.Add(time.Minute) },
			[]roster.SignCode{roster.SignNotOnDuty}},
		{"exactly at its end", func(s *roster.Stop, _ *roster.History, _ *roster.Snapshot) { s.At = end },
			[]roster.SignCode{roster.SignNotOnDuty}},
		{"outside his area", func(s *roster.Stop, _ *roster.History, _ *roster.Snapshot) { s.Borough, s.RoomID = "Camden", "CN" },
			[]roster.SignCode{roster.SignOutsideArea}},
		{"inside his other borough", func(s *roster.Stop, _ *roster.History, _ *roster.Snapshot) {
			s.Borough = "Kensington and Chelsea"
		}, nil},
		{"no place given, one of the room's boroughs his", func(s *roster.Stop, _ *roster.History, _ *roster.Snapshot) {
			s.Borough, s.Boroughs = "", []string{"Hammersmith and Fulham", "kensington and chelsea"}
		}, nil},
		{"no place given, none of the room's boroughs his", func(s *roster.Stop, _ *roster.History, _ *roster.Snapshot) {
			s.Borough, s.RoomID, s.Boroughs = "", "CN", []string{"Camden", "Islington"}
		}, []roster.SignCode{roster.SignOutsideArea}},
		{"a borough given outside his area: the room's others do not count", func(s *roster.Stop, _ *roster.History, _ *roster.Snapshot) {
			s.Borough, s.RoomID, s.Boroughs = "Camden", "CN", []string{"Camden", "Westminster"}
		}, []roster.SignCode{roster.SignOutsideArea}},
		{"another warrant", func(_ *roster.Stop, h *roster.History, _ *roster.Snapshot) { h.CredentialWarrant = "WC100235" },
			[]roster.SignCode{roster.SignWarrantMismatch}},
		{"the warrant typed with spaces", func(_ *roster.Stop, h *roster.History, _ *roster.Snapshot) { h.CredentialWarrant = "wc 100234" }, nil},
		{"a credential two days old", func(s *roster.Stop, h *roster.History, _ *roster.Snapshot) {
			h.CredentialIssuedAt = s.At.Add(-48 * time.Hour)
		},
			[]roster.SignCode{roster.SignNewCredential}},
		{"a credential four days old", func(s *roster.Stop, h *roster.History, _ *roster.Snapshot) {
			h.CredentialIssuedAt = s.At.Add(-96 * time.Hour)
		}, nil},
		{"many checks in 7 days", func(_ *roster.Stop, h *roster.History, _ *roster.Snapshot) { h.Checks7 = 5 },
			[]roster.SignCode{roster.SignManyChecks}},
		{"exactly three times the median", func(_ *roster.Stop, h *roster.History, _ *roster.Snapshot) { h.Checks7, h.Median7 = 6, 2 }, nil},
		{"two never connected", func(_ *roster.Stop, h *roster.History, _ *roster.Snapshot) { h.NeverConnected30, h.Cancelled30 = 2, 1 },
			[]roster.SignCode{roster.SignNeverConnected}},
		{"one never connected", func(_ *roster.Stop, h *roster.History, _ *roster.Snapshot) { h.NeverConnected30 = 1 }, nil},
		{"refused by another supervisor", func(_ *roster.Stop, h *roster.History, _ *roster.Snapshot) { h.RefusedByOthers90 = 1 },
			[]roster.SignCode{roster.SignRefusals}},
		{"a roster 25 hours old", func(s *roster.Stop, _ *roster.History, sn *roster.Snapshot) { sn.LoadedAt = s.At.Add(-25 * time.Hour) },
			[]roster.SignCode{roster.SignRosterStale}},
		{"a roster 23 hours old", func(s *roster.Stop, _ *roster.History, sn *roster.Snapshot) { sn.LoadedAt = s.At.Add(-23 * time.Hour) }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _ := with(c.f)
			if !slices.Equal(codes(got), c.want) {
				t.Fatalf("signs %v, want %v (%+v)", codes(got), c.want, got)
			}
			for _, s := range got {
				if s.Reason == "" {
					t.Errorf("%s has no reason", s.Code)
				}
				for _, v := range append([]string{s.Reason}, valuesOf(s.Figures)...) {
					if strings.Contains(v, "WC1002") {
						t.Errorf("%s shows a warrant number: %q", s.Code, v)
					}
				}
			}
		})
	}

	t.Run("in uniform", func(t *testing.T) {
		got := roster.Assess(snap, "5678CE", roster.Stop{At: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC), Borough: "Tower Hamlets", RoomID: "CE"}, roster.History{}, th)
		if !slices.Equal(codes(got), []roster.SignCode{roster.SignNotPlainClothes}) {
			t.Fatalf("signs %v", codes(got))
		}
	})
	t.Run("not on the roster", func(t *testing.T) {
		got := roster.Assess(snap, "4242XX", westminster, roster.History{}, th)
		if !slices.Equal(codes(got), []roster.SignCode{roster.SignNotOnRoster}) {
			t.Fatalf("signs %v", codes(got))
		}
	})
	t.Run("no roster at all", func(t *testing.T) {
		got := roster.Assess(roster.Snapshot{}, "1234AW", westminster, roster.History{}, th)
		if !slices.Equal(codes(got), []roster.SignCode{roster.SignRosterStale, roster.SignNotOnRoster}) {
			t.Fatalf("signs %v", codes(got))
		}
	})
	t.Run("the figures", func(t *testing.T) {
		h := good
		h.Checks30, h.Median30 = 20, 4
		got := roster.Assess(snap, "1234AW", westminster, h, th)
		if len(got) != 1 || got[0].Figures["checks"] != "20" || got[0].Figures["force_median"] != "4" || got[0].Figures["days"] != "30" {
			t.Fatalf("signs %+v", got)
		}
	})
}

func valuesOf(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want float64
	}{{nil, 0}, {[]int{3}, 3}, {[]int{5, 1, 3}, 3}, {[]int{4, 1, 3, 2}, 2.5}} {
		if got := roster.Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
