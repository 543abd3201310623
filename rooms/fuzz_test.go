package rooms

import (
	"testing"

	"github.com/safeconnection/gateway"
)

// FuzzLoad checks that Load never panics, rejects bad input with EINVALID
// only, and returns a Set whose every method works.
func FuzzLoad(f *testing.F) {
	rooms, boundaries := embeddedRooms(), embeddedBoundaries()
	one := []byte(`{"rooms":[{"id":"r","name":"R","boroughs":["A"],"number":"+442079460101","desk_number":"+442079460201","neighbours":[]}]}`)
	square := []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"borough":"A"},"geometry":{"type":"Polygon","coordinates":[[[0,51],[0.1,51],[0.1,51.1],[0,51.1],[0,51]]]}}]}`)
	seeds := []struct{ rooms, boundaries []byte }{
		{rooms, boundaries},
		{one, square},
		{one, boundaries},
		{rooms, square},
		{rooms[:len(rooms)/2], boundaries},
		{rooms, boundaries[:len(boundaries)/2]},
		{nil, nil},
		{[]byte(`{"rooms":null}`), []byte(`{"type":"FeatureCollection","features":null}`)},
		{one, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"borough":"A"},"geometry":{"type":"Polygon","coordinates":[[]]}}]}`)},
		{one, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"borough":"A"},"geometry":{"type":"MultiPolygon","coordinates":[[],[[]],[[[0,0]]]]}}]}`)},
		{one, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"borough":"A"},"geometry":{"type":"Polygon","coordinates":[[[0,1e308],[1e308,0],[0,0],[0,1e308]]]}}]}`)},
		{one, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"borough":7},"geometry":{"type":"Polygon","coordinates":"x"}}]}`)},
		{[]byte(`{"rooms":[{"id":"r","boroughs":["A","A"],"number":"+1","neighbours":["r","q","q"]}]}`), square},
		{[]byte(`[]`), []byte(`[]`)},
	}
	for _, s := range seeds {
		f.Add(s.rooms, s.boundaries)
	}
	f.Fuzz(func(t *testing.T, roomsJSON, boundariesJSON []byte) {
		s, err := Load(roomsJSON, boundariesJSON)
		if err != nil {
			if s != nil {
				t.Fatal("a Set with an error")
			}
			if code := gateway.ErrorCode(err); code != gateway.EINVALID {
				t.Fatalf("error code %q, want %q: %v", code, gateway.EINVALID, err)
			}
			return
		}
		rs := s.Rooms()
		if len(rs) == 0 {
			t.Fatal("a Set with no rooms")
		}
		for _, r := range rs {
			if _, ok := s.Room(r.ID); !ok {
				t.Fatalf("Room(%q) not found", r.ID)
			}
			if got, ok := s.ByNumber(r.Number); !ok || got.ID != r.ID {
				t.Fatalf("ByNumber(%q) = %q, %v", r.Number, got.ID, ok)
			}
			if len(s.Neighbours(r.ID)) != len(r.Neighbours) {
				t.Fatalf("Neighbours(%q) differs from the room's list", r.ID)
			}
		}
		for _, a := range s.areas {
			for _, loc := range []gateway.Location{
				{Lat: a.bound.Center()[1], Lon: a.bound.Center()[0]},
				{Lat: a.bound.Min[1], Lon: a.bound.Min[0]},
				{Lat: a.bound.Max[1] + 0.001, Lon: a.bound.Max[0]},
			} {
				if _, _, err := s.Locate(loc); err != nil {
					if code := gateway.ErrorCode(err); code != gateway.EOUTSIDE && code != gateway.EINVALID {
						t.Fatalf("Locate(%v): code %q: %v", loc, code, err)
					}
				}
			}
		}
	})
}
