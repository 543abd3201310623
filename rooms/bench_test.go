package rooms

import (
	"testing"

	"github.com/safeconnection/gateway"
)

func BenchmarkLocate(b *testing.B) {
	s := mustDefault(b)
	points := []struct {
		name string
		loc  gateway.Location
	}{
		{"Trafalgar Square", gateway.Location{Lat: 51.5080, Lon: -0.1281}},
		{"Heathrow", gateway.Location{Lat: 51.4700, Lon: -0.4543}},
		{"Bank, uncovered", gateway.Location{Lat: 51.5133, Lon: -0.0890}},
		{"mid-Thames, snapped", gateway.Location{Lat: 51.5008, Lon: -0.1219}},
		{"Paris, far outside", gateway.Location{Lat: 48.8566, Lon: 2.3522}},
	}
	for _, p := range points {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Locate(p.loc)
			}
		})
	}
}

func BenchmarkDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Default(); err != nil {
			b.Fatal(err)
		}
	}
}
