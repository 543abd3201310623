package rooms

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
)

func mustDefault(tb testing.TB) *Set {
	tb.Helper()
	s, err := Default()
	if err != nil {
		tb.Fatalf("Default: %v", err)
	}
	return s
}

func TestLocate(t *testing.T) {
	s := mustDefault(t)
	tests := []struct {
		name    string
		loc     gateway.Location
		room    string
		borough string
		code    string
	}{
		{"Trafalgar Square", gateway.Location{Lat: 51.5080, Lon: -0.1281}, "AW", "Westminster", ""},
		{"Brixton", gateway.Location{Lat: 51.4613, Lon: -0.1156}, "AS", "Lambeth", ""},
		{"Clapham Common", gateway.Location{Lat: 51.4584, Lon: -0.1479}, "AS", "Lambeth", ""},
		{"Heathrow", gateway.Location{Lat: 51.4700, Lon: -0.4543}, "WA", "Hillingdon", ""},
		{"Stratford", gateway.Location{Lat: 51.5416, Lon: -0.0042}, "NE", "Newham", ""},
		{"Bank, City of London", gateway.Location{Lat: 51.5133, Lon: -0.0890}, "", "", gateway.EOUTSIDE},
		{"Paris", gateway.Location{Lat: 48.8566, Lon: 2.3522}, "", "", gateway.EOUTSIDE},
		{"Null Island", gateway.Location{}, "", "", gateway.EOUTSIDE},
		{"Brighton, beyond the snap distance", gateway.Location{Lat: 50.8225, Lon: -0.1372}, "", "", gateway.EOUTSIDE},
		{"latitude NaN", gateway.Location{Lat: math.NaN(), Lon: 0}, "", "", gateway.EINVALID},
		{"longitude NaN", gateway.Location{Lat: 51.5, Lon: math.NaN()}, "", "", gateway.EINVALID},
		{"latitude infinite", gateway.Location{Lat: math.Inf(1), Lon: 0}, "", "", gateway.EINVALID},
		{"latitude over 90", gateway.Location{Lat: 90.5, Lon: 0}, "", "", gateway.EINVALID},
		{"latitude under -90", gateway.Location{Lat: -91, Lon: 0}, "", "", gateway.EINVALID},
		{"longitude over 180", gateway.Location{Lat: 51.5, Lon: 180.01}, "", "", gateway.EINVALID},
		{"longitude under -180", gateway.Location{Lat: 51.5, Lon: -200}, "", "", gateway.EINVALID},
		{"swapped coordinates", gateway.Location{Lat: -0.1281, Lon: 51.5080}, "", "", gateway.EOUTSIDE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			room, borough, err := s.Locate(tt.loc)
			if code := gateway.ErrorCode(err); code != tt.code {
				t.Fatalf("Locate(%v): error %v (code %q), want code %q", tt.loc, err, code, tt.code)
			}
			if err != nil {
				if gateway.ErrorMessage(err) == "internal error" {
					t.Errorf("Locate(%v): error %v has no client-safe message", tt.loc, err)
				}
				return
			}
			if room.ID != tt.room || borough != tt.borough {
				t.Errorf("Locate(%v) = %s, %q; want %s, %q", tt.loc, room.ID, borough, tt.room, tt.borough)
			}
			if !slices.Contains(room.Boroughs, borough) {
				t.Errorf("Locate(%v): borough %q not among room %s's %v", tt.loc, borough, room.ID, room.Boroughs)
			}
		})
	}
}

// TestLocateSnap checks points in no borough: the Thames, which the
// polygons leave out, and just beyond the edge of London.
func TestLocateSnap(t *testing.T) {
	s := mustDefault(t)
	tests := []struct {
		name  string
		loc   gateway.Location
		snap  float64
		rooms []string // any of these; none: EOUTSIDE
	}{
		{"Westminster Bridge, mid-river", gateway.Location{Lat: 51.5008, Lon: -0.1219}, DefaultSnap, []string{"AW", "AS"}},
		{"Westminster Bridge, snapping off", gateway.Location{Lat: 51.5008, Lon: -0.1219}, 0, nil},
		{"Thames at Woolwich, mid-river", gateway.Location{Lat: 51.4950, Lon: 0.0640}, DefaultSnap, []string{"SE", "NE", "EA"}},
		{"Epsom, outside London", gateway.Location{Lat: 51.3360, Lon: -0.2670}, DefaultSnap, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := *s
			s.Snap = tt.snap
			if _, _, err := s.Locate(tt.loc); err == nil {
				// The point must be in no polygon, or the case tests nothing.
				s0 := s
				s0.Snap = 0
				if _, _, err := s0.Locate(tt.loc); err == nil {
					t.Fatalf("%v is inside a borough: pick a point in none", tt.loc)
				}
			}
			room, _, err := s.Locate(tt.loc)
			if len(tt.rooms) == 0 {
				if code := gateway.ErrorCode(err); code != gateway.EOUTSIDE {
					t.Fatalf("Locate(%v) = %s, %v; want %s", tt.loc, room.ID, err, gateway.EOUTSIDE)
				}
				return
			}
			if err != nil {
				t.Fatalf("Locate(%v): %v", tt.loc, err)
			}
			if !slices.Contains(tt.rooms, room.ID) {
				t.Errorf("Locate(%v) = %s, want one of %v", tt.loc, room.ID, tt.rooms)
			}
		})
	}
}

func TestDefaultRooms(t *testing.T) {
	s := mustDefault(t)
	rooms := s.Rooms()
	if len(rooms) != 12 {
		t.Fatalf("%d default rooms, want the Met's 12 BCUs", len(rooms))
	}
	for _, r := range rooms {
		t.Run(r.ID, func(t *testing.T) {
			if len(r.Neighbours) == 0 {
				t.Errorf("no neighbours")
			}
			for _, n := range r.Neighbours {
				back, ok := s.Room(n)
				if !ok {
					t.Fatalf("neighbour %s is not a room", n)
				}
				if !slices.Contains(back.Neighbours, r.ID) {
					t.Errorf("neighbour %s does not list %s back: %v", n, r.ID, back.Neighbours)
				}
			}
			got := s.Neighbours(r.ID)
			if len(got) != len(r.Neighbours) {
				t.Fatalf("Neighbours(%s) gives %d rooms, the room lists %d", r.ID, len(got), len(r.Neighbours))
			}
			for i, n := range got {
				if n.ID != r.Neighbours[i] {
					t.Errorf("Neighbours(%s)[%d] = %s, want %s", r.ID, i, n.ID, r.Neighbours[i])
				}
			}
			byNumber, ok := s.ByNumber(r.Number)
			if !ok || byNumber.ID != r.ID {
				t.Errorf("ByNumber(%s) = %s, %v; want %s", r.Number, byNumber.ID, ok, r.ID)
			}
			if r.DeskNumber == r.Number {
				t.Errorf("desk number is the published number %s", r.Number)
			}
		})
	}
}

func TestLookups(t *testing.T) {
	s := mustDefault(t)
	aw, ok := s.Room("AW")
	if !ok {
		t.Fatal("no room AW")
	}
	tests := []struct {
		name   string
		number string
		want   string // "": no room
	}{
		{"E.164", aw.Number, "AW"},
		{"spaced", "+44 20 7946 " + aw.Number[len(aw.Number)-4:], "AW"},
		{"desk number is not published", aw.DeskNumber, ""},
		{"trunk prefix in brackets", "+44 (0)20 7946 " + aw.Number[len(aw.Number)-4:], "AW"},
		{"national form", "020 7946 " + aw.Number[len(aw.Number)-4:], ""},
		{"unknown", "+442079460999", ""},
		{"garbage", "+++", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := s.ByNumber(tt.number)
			if ok != (tt.want != "") || r.ID != tt.want {
				t.Errorf("ByNumber(%q) = %q, %v; want %q", tt.number, r.ID, ok, tt.want)
			}
		})
	}
	if _, ok := s.Room("XX"); ok {
		t.Error("Room(XX) found a room")
	}
	if ns := s.Neighbours("XX"); ns != nil {
		t.Errorf("Neighbours(XX) = %v, want nil", ns)
	}
	// The Set hands out copies: changing one changes nothing inside.
	aw.Boroughs[0] = "Nowhere"
	s.Rooms()[0].Neighbours[0] = "Nowhere"
	if again, _ := s.Room("AW"); again.Boroughs[0] == "Nowhere" {
		t.Error("Room returned a slice the Set shares")
	}
	if s.Rooms()[0].Neighbours[0] == "Nowhere" {
		t.Error("Rooms returned a slice the Set shares")
	}
}

// customRooms is a small force of two rooms over three of the London
// boroughs.
const customRooms = `{"rooms":[
 {"id":"north","name":"North","boroughs":["Camden","Islington"],"number":"+442079460901","desk_number":"+442079460902","neighbours":["south"]},
 {"id":"south","name":"South","boroughs":["Lambeth"],"number":"+442079460903","desk_number":"+442079460904","neighbours":["north"]}
]}`

func TestCustomRoomsReplaceTheSet(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rooms.json")
	if err := os.WriteFile(path, []byte(customRooms), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadFiles(path, "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range s.Rooms() {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"north", "south"}) {
		t.Errorf("rooms %v, want [north south]", ids)
	}
	tests := []struct {
		name string
		loc  gateway.Location
		room string
		code string
	}{
		{"Brixton", gateway.Location{Lat: 51.4613, Lon: -0.1156}, "south", ""},
		{"King's Cross", gateway.Location{Lat: 51.5308, Lon: -0.1238}, "north", ""},
		{"Trafalgar Square: Westminster is no room's", gateway.Location{Lat: 51.5080, Lon: -0.1281}, "", gateway.EOUTSIDE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := s.Locate(tt.loc)
			if code := gateway.ErrorCode(err); code != tt.code || r.ID != tt.room {
				t.Errorf("Locate = %q, %v; want %q, code %q", r.ID, err, tt.room, tt.code)
			}
		})
	}
	if _, ok := s.Room("AW"); ok {
		t.Error("the default room AW is still in the set")
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	if _, err := LoadFiles("", ""); err != nil {
		t.Fatalf("LoadFiles of the defaults: %v", err)
	}
	for _, tt := range []struct{ name, rooms, boundaries string }{
		{"missing rooms file", missing, ""},
		{"missing boundaries file", "", missing},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFiles(tt.rooms, tt.boundaries)
			if code := gateway.ErrorCode(err); code != gateway.EINVALID {
				t.Fatalf("error %v, code %q; want %q", err, code, gateway.EINVALID)
			}
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v does not wrap fs.ErrNotExist", err)
			}
		})
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"rooms":[{"id":"x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFiles(bad, ""); gateway.ErrorCode(err) != gateway.EINVALID {
		t.Errorf("LoadFiles of a bad rooms file: %v, want %s", err, gateway.EINVALID)
	}
}

// metRooms returns the embedded rooms file, changed by edit.
func metRooms(tb testing.TB, edit func(rooms []map[string]any) []map[string]any) []byte {
	tb.Helper()
	var f struct {
		Rooms []map[string]any `json:"rooms"`
	}
	if err := json.Unmarshal(embeddedRooms(), &f); err != nil {
		tb.Fatal(err)
	}
	f.Rooms = edit(f.Rooms)
	b, err := json.Marshal(f)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestLoadInvalid(t *testing.T) {
	boundaries := embeddedBoundaries()
	square := func(borough string) string {
		return `{"type":"Feature","properties":{"borough":"` + borough + `"},"geometry":{"type":"Polygon","coordinates":[[[0,51],[0.1,51],[0.1,51.1],[0,51.1],[0,51]]]}}`
	}
	oneRoom := []byte(`{"rooms":[{"id":"r","name":"R","boroughs":["A"],"number":"+442079460101","desk_number":"+442079460201"}]}`)
	tests := []struct {
		name       string
		rooms      []byte
		boundaries []byte
		mention    string // the message must name the problem
	}{
		{"duplicate room id", metRooms(t, func(r []map[string]any) []map[string]any {
			r[1]["id"] = r[0]["id"]
			return r
		}), boundaries, "appears twice"},
		{"borough in two rooms", metRooms(t, func(r []map[string]any) []map[string]any {
			r[1]["boroughs"] = append(r[1]["boroughs"].([]any), r[0]["boroughs"].([]any)[0])
			return r
		}), boundaries, "in two rooms"},
		{"borough with no polygon", metRooms(t, func(r []map[string]any) []map[string]any {
			r[0]["boroughs"] = append(r[0]["boroughs"].([]any), "Atlantis")
			return r
		}), boundaries, `"Atlantis" has no polygon`},
		{"neighbour not a room", metRooms(t, func(r []map[string]any) []map[string]any {
			r[0]["neighbours"] = append(r[0]["neighbours"].([]any), "ZZ")
			return r
		}), boundaries, `neighbour "ZZ" is not a room`},
		{"neighbour is the room itself", metRooms(t, func(r []map[string]any) []map[string]any {
			r[0]["neighbours"] = append(r[0]["neighbours"].([]any), r[0]["id"])
			return r
		}), boundaries, "itself"},
		{"number not E.164", metRooms(t, func(r []map[string]any) []map[string]any {
			r[0]["number"] = "020 7946 0101"
			return r
		}), boundaries, "E.164"},
		{"number too short", metRooms(t, func(r []map[string]any) []map[string]any {
			r[0]["number"] = "+4420794"
			return r
		}), boundaries, "E.164"},
		{"number not a valid number", metRooms(t, func(r []map[string]any) []map[string]any {
			r[0]["number"] = "+44207946010"
			return r
		}), boundaries, "not a valid phone number"},
		{"desk number missing", metRooms(t, func(r []map[string]any) []map[string]any {
			delete(r[0], "desk_number")
			return r
		}), boundaries, "desk_number"},
		{"two rooms with one number", metRooms(t, func(r []map[string]any) []map[string]any {
			r[1]["number"] = r[0]["number"]
			return r
		}), boundaries, "also room"},
		{"no rooms", []byte(`{"rooms":[]}`), boundaries, "no rooms"},
		{"malformed rooms JSON", []byte(`{"rooms":[`), boundaries, "rooms file"},
		{"unknown field", []byte(`{"rooms":[],"neighbors":[]}`), boundaries, "neighbors"},
		{"trailing data", append(embeddedRooms(), []byte(`{}`)...), boundaries, "after"},
		{"empty rooms file", nil, boundaries, "empty"},
		{"bad room id", metRooms(t, func(r []map[string]any) []map[string]any {
			r[0]["id"] = "has space"
			return r
		}), boundaries, "id"},
		{"malformed boundaries", oneRoom, []byte(`{"type":`), "boundaries file"},
		{"boundaries not a FeatureCollection", oneRoom, []byte(`{"type":"Feature"}`), "FeatureCollection"},
		{"feature without borough", oneRoom, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[0,51],[0.1,51],[0.1,51.1],[0,51]]]}}]}`), `no "borough" property`},
		{"point geometry", oneRoom, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"borough":"A"},"geometry":{"type":"Point","coordinates":[0,51]}}]}`), "not Polygon or MultiPolygon"},
		{"null geometry", oneRoom, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"borough":"A"},"geometry":null}]}`), "no geometry"},
		{"projected coordinates", oneRoom, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"borough":"A"},"geometry":{"type":"Polygon","coordinates":[[[530000,180000],[531000,180000],[531000,181000],[530000,180000]]]}}]}`), "WGS84"},
		{"position with one number", oneRoom, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"borough":"A"},"geometry":{"type":"Polygon","coordinates":[[[0],[0.1,51],[0.1,51.1],[0,51]]]}}]}`), "position"},
		{"only a degenerate ring", oneRoom, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"borough":"A"},"geometry":{"type":"Polygon","coordinates":[[[0,51],[0.1,51],[0,51]]]}}]}`), "no polygon with an area"},
		{"empty polygon", oneRoom, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"borough":"A"},"geometry":{"type":"Polygon","coordinates":[]}}]}`), "no polygon with an area"},
		{"no features", oneRoom, []byte(`{"type":"FeatureCollection","features":[]}`), "no features"},
		{"room's borough absent from custom boundaries", oneRoom, []byte(`{"type":"FeatureCollection","features":[` + square("B") + `]}`), `"A" has no polygon`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(tt.rooms, tt.boundaries)
			if code := gateway.ErrorCode(err); code != gateway.EINVALID {
				t.Fatalf("Load: %v (code %q), want %q", err, code, gateway.EINVALID)
			}
			if s != nil {
				t.Error("Load returned a Set with its error")
			}
			if msg := gateway.ErrorMessage(err); !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q does not mention %q", msg, tt.mention)
			}
		})
	}
}

// TestLoadReportsEveryProblem checks that one error names all problems.
func TestLoadReportsEveryProblem(t *testing.T) {
	rooms := metRooms(t, func(r []map[string]any) []map[string]any {
		r[0]["number"] = "12345"
		r[1]["neighbours"] = []any{"ZZ"}
		r[2]["boroughs"] = []any{"Atlantis"}
		return r
	})
	_, err := Load(rooms, embeddedBoundaries())
	msg := gateway.ErrorMessage(err)
	for _, want := range []string{"E.164", `"ZZ"`, `"Atlantis"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not mention %q", msg, want)
		}
	}
}

func TestLoadValid(t *testing.T) {
	tests := []struct {
		name       string
		boundaries string
		loc        gateway.Location
		want       string
	}{
		{"features of one borough merge", `{"type":"FeatureCollection","features":[
			{"type":"Feature","properties":{"borough":"A"},"geometry":{"type":"Polygon","coordinates":[[[0,51],[0.1,51],[0.1,51.1],[0,51.1],[0,51]]]}},
			{"type":"Feature","properties":{"borough":"A"},"geometry":{"type":"Polygon","coordinates":[[[1,51],[1.1,51],[1.1,51.1],[1,51.1],[1,51]]]}}]}`,
			gateway.Location{Lat: 51.05, Lon: 1.05}, "r"},
		{"a hole is outside", `{"type":"FeatureCollection","features":[
			{"type":"Feature","properties":{"borough":"A"},"geometry":{"type":"Polygon","coordinates":[
				[[0,51],[1,51],[1,52],[0,52],[0,51]],
				[[0.4,51.4],[0.6,51.4],[0.6,51.6],[0.4,51.6],[0.4,51.4]]]}}]}`,
			gateway.Location{Lat: 51.5, Lon: 0.5}, ""},
		{"degenerate rings are dropped", `{"type":"FeatureCollection","features":[
			{"type":"Feature","properties":{"borough":"A","name":"extra properties are fine"},"geometry":{"type":"MultiPolygon","coordinates":[
				[[[5,5],[6,6],[5,5]]],
				[[[0,51],[1,51],[1,52],[0,52],[0,51]],[[0.4,51.4],[0.6,51.4]]]]}}]}`,
			gateway.Location{Lat: 51.5, Lon: 0.5}, "r"},
	}
	rooms := []byte(`{"rooms":[{"id":"r","name":"R","boroughs":["A"],"number":"+442079460101","desk_number":"+442079460201"}]}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(rooms, []byte(tt.boundaries))
			if err != nil {
				t.Fatal(err)
			}
			s.Snap = 0
			r, _, err := s.Locate(tt.loc)
			if r.ID != tt.want {
				t.Errorf("Locate(%v) = %q, %v; want %q", tt.loc, r.ID, err, tt.want)
			}
			if tt.want == "" && gateway.ErrorCode(err) != gateway.EOUTSIDE {
				t.Errorf("Locate(%v): %v, want %s", tt.loc, err, gateway.EOUTSIDE)
			}
			if n := s.Rooms()[0].Neighbours; n == nil {
				t.Error("a room without neighbours has nil, not an empty list")
			}
		})
	}
}

func TestAttribution(t *testing.T) {
	a := Attribution()
	for _, want := range []string{"Open Government Licence v3", "© Crown copyright and database right (2015)", "fictional"} {
		if !strings.Contains(a, want) {
			t.Errorf("attribution lacks %q", want)
		}
	}
}
