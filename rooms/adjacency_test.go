package rooms

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/safeconnection/gateway"
)

var update = flag.Bool("update", false, "rewrite data/met-rooms.json from data/met-bcus.json and the borough polygons")

// adjacencyTolerance is how close, in metres, two boroughs' boundaries must
// come for them to border each other. The London polygons leave the Thames
// out, so boroughs facing each other across it, whose legal boundary runs
// mid-stream, are up to about 650 m apart (the nearest pair joining East Area
// to South East, Barking and Dagenham and Greenwich, about 490 m). The nearest
// boroughs of two rooms that do not border are about 780 m apart (Camden and
// Lambeth). Any tolerance between gives the same rooms' neighbours.
const adjacencyTolerance = 700.0

// projected is a set's areas in a local plane, in metres.
type projected struct {
	boroughs []orb.MultiPolygon // by area index
	rooms    []orb.MultiPolygon // by room index
}

func project(s *Set) projected {
	lat0 := s.bound.Center()[1] * math.Pi / 180
	kx := earthRadius * math.Pi / 180 * math.Cos(lat0)
	ky := earthRadius * math.Pi / 180
	var p projected
	p.rooms = make([]orb.MultiPolygon, len(s.rooms))
	for _, a := range s.areas {
		var mp orb.MultiPolygon
		for _, poly := range a.polys {
			var q orb.Polygon
			for _, ring := range poly {
				r := make(orb.Ring, len(ring))
				for i, pt := range ring {
					r[i] = orb.Point{pt[0] * kx, pt[1] * ky}
				}
				q = append(q, r)
			}
			mp = append(mp, q)
		}
		p.boroughs = append(p.boroughs, mp)
		if a.room >= 0 {
			p.rooms[a.room] = append(p.rooms[a.room], mp...)
		}
	}
	return p
}

// computeNeighbours returns each room's neighbours as the polygons give them:
// the other rooms with a borough within tol metres of one of its boroughs,
// nearest first by the distance between the rooms' area centroids.
func computeNeighbours(s *Set, tol float64) map[string][]string {
	p := project(s)
	adjacent := make([]map[int]bool, len(s.rooms))
	for i := range adjacent {
		adjacent[i] = make(map[int]bool)
	}
	for i, a := range s.areas {
		for j := i + 1; j < len(s.areas); j++ {
			b := s.areas[j]
			if a.room < 0 || b.room < 0 || a.room == b.room || adjacent[a.room][b.room] {
				continue
			}
			if polygonsWithin(p.boroughs[i], p.boroughs[j], tol) {
				adjacent[a.room][b.room] = true
				adjacent[b.room][a.room] = true
			}
		}
	}
	centroids := make([]orb.Point, len(s.rooms))
	for i, mp := range p.rooms {
		centroids[i], _ = planar.CentroidArea(mp)
	}
	out := make(map[string][]string, len(s.rooms))
	for i, r := range s.rooms {
		var ns []int
		for j := range adjacent[i] {
			ns = append(ns, j)
		}
		slices.SortFunc(ns, func(a, b int) int {
			da, db := planar.Distance(centroids[i], centroids[a]), planar.Distance(centroids[i], centroids[b])
			if c := cmp.Compare(da, db); c != 0 {
				return c
			}
			return cmp.Compare(s.rooms[a].ID, s.rooms[b].ID)
		})
		ids := []string{}
		for _, j := range ns {
			ids = append(ids, s.rooms[j].ID)
		}
		out[r.ID] = ids
	}
	return out
}

// polygonsWithin reports whether the boundaries of a and b come within tol
// of each other: a shared vertex or edge, crossing edges, or a gap of at most
// tol.
func polygonsWithin(a, b orb.MultiPolygon, tol float64) bool {
	if !a.Bound().Pad(tol).Intersects(b.Bound()) {
		return false
	}
	for _, pa := range a {
		for _, ra := range pa {
			for _, pb := range b {
				for _, rb := range pb {
					if !ra.Bound().Pad(tol).Intersects(rb.Bound()) {
						continue
					}
					for i := 1; i < len(ra); i++ {
						for j := 1; j < len(rb); j++ {
							if segmentsDistance(ra[i-1], ra[i], rb[j-1], rb[j]) <= tol {
								return true
							}
						}
					}
				}
			}
		}
	}
	return false
}

// segmentsDistance returns the distance between segments a-b and c-d in the
// plane: zero when they cross, else the least distance from an end of one to
// the other.
func segmentsDistance(a, b, c, d orb.Point) float64 {
	if segmentsCross(a, b, c, d) {
		return 0
	}
	return min(
		segmentDistance(a, c, d, 1, 1), segmentDistance(b, c, d, 1, 1),
		segmentDistance(c, a, b, 1, 1), segmentDistance(d, a, b, 1, 1))
}

func segmentsCross(a, b, c, d orb.Point) bool {
	orient := func(p, q, r orb.Point) float64 {
		return (q[0]-p[0])*(r[1]-p[1]) - (q[1]-p[1])*(r[0]-p[0])
	}
	d1, d2 := orient(c, d, a), orient(c, d, b)
	d3, d4 := orient(a, b, c), orient(a, b, d)
	return (d1 > 0) != (d2 > 0) && (d3 > 0) != (d4 > 0) && d1 != 0 && d2 != 0 && d3 != 0 && d4 != 0
}

type bcuFile struct {
	About string `json:"_about"`
	BCUs  []struct {
		Code     string   `json:"code"`
		Name     string   `json:"name"`
		Boroughs []string `json:"boroughs"`
	} `json:"bcus"`
}

// generateMetRooms builds the default rooms file from the BCU list and the
// borough polygons.
func generateMetRooms(tb testing.TB) []byte {
	tb.Helper()
	var bcus bcuFile
	if err := json.Unmarshal(mustRead("data/met-bcus.json"), &bcus); err != nil {
		tb.Fatalf("met-bcus.json: %v", err)
	}
	var f roomsFile
	for i, b := range bcus.BCUs {
		f.Rooms = append(f.Rooms, gateway.Room{
			ID:         b.Code,
			Name:       b.Name,
			Boroughs:   b.Boroughs,
			Number:     fmt.Sprintf("+4420794601%02d", i+1),
			DeskNumber: fmt.Sprintf("+4420794602%02d", i+1),
			Neighbours: []string{},
			Handles:    demoHandles(i+1, b.Code),
		})
	}
	plain, err := json.Marshal(f)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := Load(plain, embeddedBoundaries())
	if err != nil {
		tb.Fatalf("rooms built from met-bcus.json do not load: %v", err)
	}
	ns := computeNeighbours(s, adjacencyTolerance)
	for i := range f.Rooms {
		f.Rooms[i].Neighbours = ns[f.Rooms[i].ID]
	}
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return append(out, '\n')
}

// demoHandles are the fictional video handles of the nth default room, the
// one with ID id: a WhatsApp number from Ofcom's drama range (07700 900801
// for the first room, and so on, apart from the demo handsets' 900001 up)
// and a FaceTime address under a domain that cannot exist.
func demoHandles(n int, id string) map[gateway.Channel]string {
	return map[gateway.Channel]string{
		"whatsapp": fmt.Sprintf("+4477009008%02d", n),
		"facetime": "opsroom-" + strings.ToLower(id) + "@met.demo.invalid",
	}
}

// TestMetRoomsFile checks that the embedded rooms file is what the BCU list
// and the polygons give, neighbours included; with -update it rewrites it.
func TestMetRoomsFile(t *testing.T) {
	want := generateMetRooms(t)
	if *update {
		if err := os.WriteFile("data/met-rooms.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := embeddedRooms(); !bytes.Equal(got, want) {
		t.Errorf("data/met-rooms.json is stale: run go generate ./rooms\n got: %s\nwant: %s", got, want)
	}
}

// TestDefaultNeighboursMatchPolygons recomputes every default room's
// neighbours from the polygons.
func TestDefaultNeighboursMatchPolygons(t *testing.T) {
	s := mustDefault(t)
	want := computeNeighbours(s, adjacencyTolerance)
	for _, r := range s.Rooms() {
		if !slices.Equal(r.Neighbours, want[r.ID]) {
			t.Errorf("room %s: neighbours %v, the polygons give %v", r.ID, r.Neighbours, want[r.ID])
		}
	}
}

// TestAdjacencyToleranceStable checks that the tolerance is not on a knife
// edge: the rooms' neighbours stay the same a good way either side of it.
func TestAdjacencyToleranceStable(t *testing.T) {
	s := mustDefault(t)
	at := computeNeighbours(s, adjacencyTolerance)
	for _, f := range []float64{0.8, 1.1} {
		other := computeNeighbours(s, adjacencyTolerance*f)
		for id, ns := range at {
			a, b := slices.Sorted(slices.Values(ns)), slices.Sorted(slices.Values(other[id]))
			if !slices.Equal(a, b) {
				t.Errorf("tolerance %.0f m: room %s borders %v, at %.0f m %v", adjacencyTolerance*f, id, b, adjacencyTolerance, a)
			}
		}
	}
}

// TestAdjacencyAcrossTheThames checks a shared land border and a river
// crossing the tolerance exists for, and a pair that does not border.
func TestAdjacencyAcrossTheThames(t *testing.T) {
	s := mustDefault(t)
	ns := computeNeighbours(s, adjacencyTolerance)
	land := computeNeighbours(s, 1)
	tests := []struct {
		name       string
		a, b       string
		neighbours bool
		byLand     bool
	}{
		{"Westminster borders Camden", "AW", "CN", true, true},
		{"Westminster faces Lambeth across the river", "AW", "AS", true, false},
		{"Greenwich faces Barking across the river", "SE", "EA", true, false},
		{"Hillingdon is far from Havering", "WA", "EA", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slices.Contains(ns[tt.a], tt.b); got != tt.neighbours {
				t.Errorf("%s neighbours %v: contains %s = %v, want %v", tt.a, ns[tt.a], tt.b, got, tt.neighbours)
			}
			if got := slices.Contains(land[tt.a], tt.b); got != tt.byLand {
				t.Errorf("%s land neighbours %v: contains %s = %v, want %v", tt.a, land[tt.a], tt.b, got, tt.byLand)
			}
		})
	}
}
