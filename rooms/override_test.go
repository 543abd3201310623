package rooms

import (
	"testing"

	"github.com/safeconnection/gateway"
)

func TestCheck(t *testing.T) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	ce, _ := s.Room("CE")
	cn, _ := s.Room("CN")
	with := func(f func(r *gateway.Room)) gateway.Room {
		r := ce
		f(&r)
		return r
	}
	for _, tt := range []struct {
		name string
		room gateway.Room
		code string
	}{
		{"as it is", ce, ""},
		{"new number", with(func(r *gateway.Room) { r.Number = "+442079460999" }), ""},
		{"bad E.164", with(func(r *gateway.Room) { r.Number = "020 7946 0999" }), gateway.EINVALID},
		{"not a number", with(func(r *gateway.Room) { r.Number = "+4400000" }), gateway.EINVALID},
		{"bad desk number", with(func(r *gateway.Room) { r.DeskNumber = "+12" }), gateway.EINVALID},
		{"another room's number", with(func(r *gateway.Room) { r.Number = cn.Number }), gateway.EINVALID},
		{"its own neighbour", with(func(r *gateway.Room) { r.Neighbours = []string{"CN", "CE"} }), gateway.EINVALID},
		{"unknown neighbour", with(func(r *gateway.Room) { r.Neighbours = []string{"XX"} }), gateway.EINVALID},
		{"neighbour twice", with(func(r *gateway.Room) { r.Neighbours = []string{"CN", "CN"} }), gateway.EINVALID},
		{"no neighbours", with(func(r *gateway.Room) { r.Neighbours = []string{} }), ""},
		{"unknown room", with(func(r *gateway.Room) { r.ID = "XX" }), gateway.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := gateway.ErrorCode(s.Check(tt.room)); got != tt.code {
				t.Fatalf("Check: %v, want code %q", s.Check(tt.room), tt.code)
			}
		})
	}
}

// TestOverride: every lookup sees the overridden details; a refused
// override leaves its room as the file has it.
func TestOverride(t *testing.T) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	ce, _ := s.Room("CE")
	cn, _ := s.Room("CN")
	old := ce.Number
	o := gateway.OverrideOf(ce)
	o.Number, o.Neighbours = "+442079460999", []string{"CN"}
	o.Handles = map[gateway.Channel]string{"whatsapp": "+447700900101"}
	bad := gateway.OverrideOf(cn)
	bad.Neighbours = []string{"CN"} // itself
	err = s.Override([]gateway.RoomOverride{o, bad})
	if gateway.ErrorCode(err) != gateway.EINVALID {
		t.Fatalf("Override with a bad one: %v, want EINVALID", err)
	}
	if r, ok := s.ByNumber("+442079460999"); !ok || r.ID != "CE" || r.Handles["whatsapp"] != "+447700900101" {
		t.Fatalf("ByNumber(new) = %+v, %v", r, ok)
	}
	if _, ok := s.ByNumber(old); ok {
		t.Fatal("the old number is still a room's")
	}
	if _, ok := s.Official("020 7946 0999", ""); !ok {
		t.Fatal("Official(new number) = false")
	}
	if ns := s.Neighbours("CE"); len(ns) != 1 || ns[0].ID != "CN" {
		t.Fatalf("Neighbours(CE) = %+v", ns)
	}
	if r, _, err := s.Locate(gateway.Location{Lat: 51.545, Lon: -0.055}); err != nil || r.Number != "+442079460999" { // Hackney
		t.Fatalf("Locate = %+v, %v", r, err)
	}
	if r, _ := s.Room("CN"); len(r.Neighbours) != len(cn.Neighbours) {
		t.Fatalf("the refused override was applied: %+v", r)
	}
	// No overrides: the file's again.
	if err := s.Override(nil); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Room("CE"); r.Number != old {
		t.Fatalf("after Override(nil): %s", r.Number)
	}
}
