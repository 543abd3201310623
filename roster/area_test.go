package roster_test

import (
	"encoding/json"
	"math"
	"os"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/rooms"
	"github.com/safeconnection/gateway/roster"
)

// TestOutsideAreaByAMetre checks the area sign against the real London
// boundaries: a stop one metre inside Westminster, an officer assigned to
// Westminster, shows no sign; one metre outside, across the same edge, shows
// it.
func TestOutsideAreaByAMetre(t *testing.T) {
	set, err := rooms.Default()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../rooms/data/london-boroughs.geojson")
	if err != nil {
		t.Fatal(err)
	}
	var fc struct {
		Features []struct {
			Properties struct{ Borough string }
			Geometry   struct {
				Type        string
				Coordinates json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(b, &fc); err != nil {
		t.Fatal(err)
	}
	var ring orb.Ring
	for _, f := range fc.Features {
		if f.Properties.Borough != "Westminster" {
			continue
		}
		var poly [][]orb.Point
		if f.Geometry.Type == "MultiPolygon" {
			var mp [][][]orb.Point
			if err := json.Unmarshal(f.Geometry.Coordinates, &mp); err != nil {
				t.Fatal(err)
			}
			poly = mp[0]
		} else if err := json.Unmarshal(f.Geometry.Coordinates, &poly); err != nil {
			t.Fatal(err)
		}
		ring = poly[0]
	}
	if len(ring) < 3 {
		t.Fatal("no Westminster boundary")
	}
	const metre = 1.0
	locate := func(p orb.Point) string {
		_, borough, err := set.Locate(gateway.Location{Lat: p[1], Lon: p[0]})
		if err != nil {
			return ""
		}
		return borough
	}
	// Find an edge Westminster shares with a borough a room covers, and the
	// points a metre either side of its middle.
	var inside, outside orb.Point
	var other string
	for i := 0; i+1 < len(ring) && other == ""; i++ {
		a, c := ring[i], ring[i+1]
		mid := orb.Point{(a[0] + c[0]) / 2, (a[1] + c[1]) / 2}
		kx := 111320 * math.Cos(mid[1]*math.Pi/180) // metres per degree of longitude here
		const ky = 110540.0                         // and of latitude
		dx, dy := (c[0]-a[0])*kx, (c[1]-a[1])*ky
		n := math.Hypot(dx, dy)
		if n < 20 {
			continue // too short an edge to offset from its middle reliably
		}
		off := orb.Point{-dy / n * metre / kx, dx / n * metre / ky}
		p, q := orb.Point{mid[0] + off[0], mid[1] + off[1]}, orb.Point{mid[0] - off[0], mid[1] - off[1]}
		bp, bq := locate(p), locate(q)
		// Not his other borough, Kensington and Chelsea.
		elsewhere := func(b string) bool { return b != "" && b != "Westminster" && b != "Kensington and Chelsea" }
		switch {
		case bp == "Westminster" && elsewhere(bq):
			inside, outside, other = p, q, bq
		case bq == "Westminster" && elsewhere(bp):
			inside, outside, other = q, p, bp
		}
	}
	if other == "" {
		t.Fatal("no shared edge of Westminster found")
	}
	r, _ := parseFile(t, "roster.csv") // 1234AW: Westminster and Kensington and Chelsea
	at := time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC)
	snap := roster.Snapshot{Roster: r, LoadedAt: at}
	h := roster.History{CredentialWarrant: "WC100234"}
	assess := func(p orb.Point) []roster.SignCode {
		room, borough, err := set.Locate(gateway.Location{Lat: p[1], Lon: p[0]})
		if err != nil {
			t.Fatal(err)
		}
		return codes(roster.Assess(snap, "1234AW", roster.Stop{At: at, Borough: borough, RoomID: room.ID}, h, roster.DefaultThresholds()))
	}
	if got := assess(inside); len(got) != 0 {
		t.Errorf("a metre inside Westminster (%v): signs %v", inside, got)
	}
	if got := assess(outside); len(got) != 1 || got[0] != roster.SignOutsideArea {
		t.Errorf("a metre outside Westminster, in %s (%v): signs %v, want outside_area", other, outside, got)
	}
}
