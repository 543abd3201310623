// Package rooms knows the operations rooms and the areas they cover, and
// finds the room for an officer's location.
//
// A room covers whole boroughs (or whatever areas a force's boundaries file
// names). The rooms file lists the rooms, their published and supervisor desk
// numbers and their neighbours nearest first; the boundaries file is a GeoJSON
// FeatureCollection whose features carry a "borough" property and a Polygon or
// MultiPolygon geometry. Default returns the Metropolitan Police's twelve
// Basic Command Unit rooms over the London boroughs, both embedded.
//
// A Set is safe for concurrent use. Its areas and rooms are fixed once
// loaded; the rooms' published details (numbers, handles, neighbours) can
// be changed over the rooms file by Override, and every lookup sees the new
// ones from then on.
package rooms

//go:generate go test . -run ^TestMetRoomsFile$ -args -update

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nyaruka/phonenumbers"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/safeconnection/gateway"
)

// DefaultSnap is the default for Set.Snap, in metres: enough to bring a point
// in the middle of the Thames (which the London polygons leave out: they stop
// at mean high water) to the nearer bank, and to absorb the coarseness of the
// polygons at the edge of the covered area.
const DefaultSnap = 400.0

// Set is a loaded set of rooms and the areas they cover.
type Set struct {
	// Snap is how far, in metres, a point that falls in no area may be from
	// the nearest area of a room and still be given that room. Load sets it
	// to DefaultSnap; zero turns snapping off. Change it only before the Set
	// is shared.
	Snap float64

	rooms []gateway.Room // in file order, as the file has them
	byID  map[string]int
	areas []area // in boundaries file order
	bound orb.Bound
	cur   *atomic.Pointer[table] // the rooms as they are now (shared by a copy of the Set)
}

// table is the rooms as they are now: the file's, with the overrides.
type table struct {
	rooms    []gateway.Room // in file order
	byNumber map[string]int

	handlesOnce sync.Once
	handles     []handleRef // the rooms' video handles (videoHandles)
}

// tab returns the rooms as they are now.
func (s *Set) tab() *table { return s.cur.Load() }

// area is one borough's polygons and the room that covers it.
type area struct {
	borough string
	room    int // index in Set.rooms, or -1 when no room covers it
	bound   orb.Bound
	polys   orb.MultiPolygon
}

// roomsFile is the rooms file's shape.
type roomsFile struct {
	Rooms []gateway.Room `json:"rooms"`
}

var roomIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Load parses a rooms file and a boundaries file and checks that they agree.
// Every problem found is named in one EINVALID error: malformed JSON or
// GeoJSON, a duplicate room ID, a borough in two rooms or with no polygon, a
// neighbour that is not a room or is the room itself, a number that is not a
// valid E.164 number, two rooms with one published number.
func Load(roomsJSON, boundariesGeoJSON []byte) (*Set, error) {
	const op = "rooms.Load"
	areas, err := parseBoundaries(boundariesGeoJSON)
	if err != nil {
		return nil, err
	}
	var f roomsFile
	if err := decodeStrict(roomsJSON, &f); err != nil {
		return nil, &gateway.Error{Op: op, Code: gateway.EINVALID, Message: "rooms file: " + err.Error()}
	}

	s := &Set{
		Snap:  DefaultSnap,
		byID:  make(map[string]int, len(f.Rooms)),
		areas: areas,
	}
	byNumber := make(map[string]int, len(f.Rooms))
	var p problems
	if len(f.Rooms) == 0 {
		p.add("rooms file has no rooms")
	}
	areaOf := make(map[string]int, len(areas))
	for i, a := range areas {
		areaOf[a.borough] = i
	}
	roomOf := make(map[string]string) // borough -> room ID
	for i, r := range f.Rooms {
		r = cloneRoom(r)
		if r.Neighbours == nil {
			r.Neighbours = []string{}
		}
		name := fmt.Sprintf("room %q", r.ID)
		if !roomIDPattern.MatchString(r.ID) {
			name = fmt.Sprintf("room %d", i+1)
			p.add("%s: id %q must be 1 to 32 letters, digits, '-' or '_'", name, r.ID)
		} else if _, dup := s.byID[r.ID]; dup {
			p.add("room id %q appears twice", r.ID)
		} else {
			s.byID[r.ID] = i
		}
		if strings.TrimSpace(r.Name) == "" {
			p.add("%s has no name", name)
		}
		if len(r.Boroughs) == 0 {
			p.add("%s covers no borough", name)
		}
		for _, b := range r.Boroughs {
			if other, ok := roomOf[b]; ok {
				if other == r.ID {
					p.add("%s lists borough %q twice", name, b)
				} else {
					p.add("borough %q is in two rooms, %q and %q", b, other, r.ID)
				}
				continue
			}
			roomOf[b] = r.ID
			ai, ok := areaOf[b]
			if !ok {
				p.add("%s: borough %q has no polygon in the boundaries file", name, b)
				continue
			}
			areas[ai].room = i
		}
		if msg := checkE164(r.Number); msg != "" {
			p.add("%s: number %q %s", name, r.Number, msg)
		} else if other, dup := byNumber[r.Number]; dup {
			p.add("%s: number %s is also room %q's number", name, r.Number, f.Rooms[other].ID)
		} else {
			byNumber[r.Number] = i
		}
		if msg := checkE164(r.DeskNumber); msg != "" {
			p.add("%s: desk_number %q %s", name, r.DeskNumber, msg)
		}
		s.rooms = append(s.rooms, r)
	}
	for _, r := range s.rooms {
		seen := make(map[string]bool, len(r.Neighbours))
		for _, n := range r.Neighbours {
			switch _, ok := s.byID[n]; {
			case n == r.ID:
				p.add("room %q lists itself as a neighbour", r.ID)
			case !ok:
				p.add("room %q: neighbour %q is not a room", r.ID, n)
			case seen[n]:
				p.add("room %q lists neighbour %q twice", r.ID, n)
			}
			seen[n] = true
		}
	}
	if err := p.err(op); err != nil {
		return nil, err
	}
	s.bound = areas[0].bound
	for _, a := range areas[1:] {
		s.bound = s.bound.Union(a.bound)
	}
	s.cur = new(atomic.Pointer[table])
	s.cur.Store(&table{rooms: s.rooms, byNumber: byNumber})
	return s, nil
}

// Default returns the embedded Metropolitan Police rooms over the embedded
// London boroughs.
func Default() (*Set, error) {
	return Load(embeddedRooms(), embeddedBoundaries())
}

// LoadFiles loads a rooms file and a boundaries file from disk; an empty path
// takes the embedded default for that part. It returns EINVALID when a file
// cannot be read or Load rejects it.
func LoadFiles(roomsPath, boundariesPath string) (*Set, error) {
	const op = "rooms.LoadFiles"
	read := func(path, what string, def func() []byte) ([]byte, error) {
		if path == "" {
			return def(), nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, &gateway.Error{Op: op, Code: gateway.EINVALID, Message: "cannot read the " + what + " file", Err: err}
		}
		return b, nil
	}
	r, err := read(roomsPath, "rooms", embeddedRooms)
	if err != nil {
		return nil, err
	}
	b, err := read(boundariesPath, "boundaries", embeddedBoundaries)
	if err != nil {
		return nil, err
	}
	s, err := Load(r, b)
	if err != nil {
		return nil, gateway.E(op, gateway.EINVALID, err)
	}
	return s, nil
}

// Rooms returns every room, in the order of the rooms file.
func (s *Set) Rooms() []gateway.Room {
	t := s.tab()
	out := make([]gateway.Room, len(t.rooms))
	for i, r := range t.rooms {
		out[i] = cloneRoom(r)
	}
	return out
}

// Room returns the room with the ID, and whether there is one.
func (s *Set) Room(id string) (gateway.Room, bool) {
	i, ok := s.byID[id]
	if !ok {
		return gateway.Room{}, false
	}
	return cloneRoom(s.tab().rooms[i]), true
}

// Neighbours returns the neighbours of the room with the ID, nearest first;
// nil when there is no such room.
func (s *Set) Neighbours(id string) []gateway.Room {
	i, ok := s.byID[id]
	if !ok {
		return nil
	}
	t := s.tab()
	out := make([]gateway.Room, 0, len(t.rooms[i].Neighbours))
	for _, n := range t.rooms[i].Neighbours {
		out = append(out, cloneRoom(t.rooms[s.byID[n]]))
	}
	return out
}

// ByNumber returns the room whose published number is e164, and whether
// there is one. Spaces and a national trunk prefix after the country code
// ("+44 (0)20 7946 0101") are tolerated.
func (s *Set) ByNumber(e164 string) (gateway.Room, bool) {
	t := s.tab()
	if i, ok := t.byNumber[e164]; ok {
		return cloneRoom(t.rooms[i]), true
	}
	if !strings.HasPrefix(strings.TrimSpace(e164), "+") {
		return gateway.Room{}, false
	}
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return gateway.Room{}, false
	}
	if i, ok := t.byNumber[phonenumbers.Format(n, phonenumbers.E164)]; ok {
		return cloneRoom(t.rooms[i]), true
	}
	return gateway.Room{}, false
}

// Locate returns the room covering loc and the borough loc is in. A point in
// no area but within Snap metres of a room's area is given the nearest such
// room. It returns EINVALID for coordinates that are not a WGS84 position
// and EOUTSIDE for a point that no room covers, including one inside an area
// the boundaries list but no room covers (the City of London, which has its
// own police force).
func (s *Set) Locate(loc gateway.Location) (gateway.Room, string, error) {
	const op = "rooms.Locate"
	if err := checkLocation(loc); err != nil {
		return gateway.Room{}, "", withOp(op, err)
	}
	pt := orb.Point{loc.Lon, loc.Lat}
	uncovered := -1
	if s.bound.Contains(pt) {
		for i := range s.areas {
			a := &s.areas[i]
			if !a.bound.Contains(pt) || !planar.MultiPolygonContains(a.polys, pt) {
				continue
			}
			if a.room >= 0 {
				return cloneRoom(s.tab().rooms[a.room]), a.borough, nil
			}
			// On a shared edge a covered area wins: keep looking.
			uncovered = i
		}
	}
	if uncovered >= 0 {
		return gateway.Room{}, "", withOp(op, gateway.Errorf(gateway.EOUTSIDE,
			"location %s is outside every operations room's area (%s is not covered)",
			formatLocation(loc), s.areas[uncovered].borough))
	}
	if i := s.nearest(pt); i >= 0 {
		a := s.areas[i]
		return cloneRoom(s.tab().rooms[a.room]), a.borough, nil
	}
	return gateway.Room{}, "", withOp(op, gateway.Errorf(gateway.EOUTSIDE,
		"location %s is outside every operations room's area", formatLocation(loc)))
}

// nearest returns the index of the covered area nearest pt within s.Snap
// metres, or -1.
func (s *Set) nearest(pt orb.Point) int {
	if s.Snap <= 0 {
		return -1
	}
	const metresPerDegree = earthRadius * math.Pi / 180
	ky := metresPerDegree
	kx := metresPerDegree * math.Cos(pt[1]*math.Pi/180)
	if kx < 1 { // at a pole a degree of longitude is no distance
		kx = 1
	}
	pad := func(b orb.Bound) orb.Bound {
		dx, dy := s.Snap/kx, s.Snap/ky
		return orb.Bound{Min: orb.Point{b.Min[0] - dx, b.Min[1] - dy}, Max: orb.Point{b.Max[0] + dx, b.Max[1] + dy}}
	}
	if !pad(s.bound).Contains(pt) {
		return -1
	}
	best, bestD := -1, s.Snap
	for i, a := range s.areas {
		if a.room < 0 || !pad(a.bound).Contains(pt) {
			continue
		}
		for _, poly := range a.polys {
			for _, ring := range poly {
				for j := 1; j < len(ring); j++ {
					d := segmentDistance(pt, ring[j-1], ring[j], kx, ky)
					if d <= bestD {
						best, bestD = i, d
					}
				}
			}
		}
	}
	return best
}

// earthRadius is the mean radius of the Earth in metres.
const earthRadius = 6371008.8

// segmentDistance returns the distance in metres from p to the segment a-b,
// with degrees scaled to metres by kx and ky.
func segmentDistance(p, a, b orb.Point, kx, ky float64) float64 {
	px, py := (p[0]-a[0])*kx, (p[1]-a[1])*ky
	dx, dy := (b[0]-a[0])*kx, (b[1]-a[1])*ky
	t := 0.0
	if l := dx*dx + dy*dy; l > 0 {
		t = max(0, min(1, (px*dx+py*dy)/l))
	}
	return math.Hypot(px-t*dx, py-t*dy)
}

func checkLocation(loc gateway.Location) *gateway.Error {
	switch {
	case math.IsNaN(loc.Lat) || math.IsInf(loc.Lat, 0) || loc.Lat < -90 || loc.Lat > 90:
		return gateway.Errorf(gateway.EINVALID, "latitude %v is not between -90 and 90", loc.Lat)
	case math.IsNaN(loc.Lon) || math.IsInf(loc.Lon, 0) || loc.Lon < -180 || loc.Lon > 180:
		return gateway.Errorf(gateway.EINVALID, "longitude %v is not between -180 and 180", loc.Lon)
	}
	return nil
}

func formatLocation(loc gateway.Location) string {
	return fmt.Sprintf("%.4f,%.4f", loc.Lat, loc.Lon)
}

func withOp(op string, e *gateway.Error) *gateway.Error {
	e.Op = op
	return e
}

var e164Pattern = regexp.MustCompile(`^\+[0-9]{8,15}$`)

// checkE164 returns why s is not a valid number in E.164 form, or "".
func checkE164(s string) string {
	if s == "" {
		return "is missing"
	}
	if !e164Pattern.MatchString(s) {
		return "is not in E.164 form ('+' and 8 to 15 digits)"
	}
	n, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "is not a valid phone number"
	}
	if f := phonenumbers.Format(n, phonenumbers.E164); f != s {
		return "is not in canonical E.164 form (" + f + ")"
	}
	return ""
}

func cloneRoom(r gateway.Room) gateway.Room {
	r.Boroughs = slices.Clone(r.Boroughs)
	r.Neighbours = slices.Clone(r.Neighbours)
	r.Handles = maps.Clone(r.Handles)
	return r
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// problems collects what is wrong with an input, to report it all at once.
type problems []string

// maxProblems bounds the problems named in one error.
const maxProblems = 20

func (p *problems) add(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

func (p problems) err(op string) error {
	if len(p) == 0 {
		return nil
	}
	msg := p
	more := ""
	if len(p) > maxProblems {
		msg = p[:maxProblems]
		more = fmt.Sprintf("; and %d more", len(p)-maxProblems)
	}
	return &gateway.Error{Op: op, Code: gateway.EINVALID, Message: strings.Join(msg, "; ") + more}
}
