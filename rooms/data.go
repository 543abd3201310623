package rooms

import "embed"

// data holds the default rooms and boundaries and their attribution.
//
//go:embed data/met-rooms.json data/london-boroughs.geojson data/met-bcus.json data/README.md
var data embed.FS

func mustRead(name string) []byte {
	b, err := data.ReadFile(name)
	if err != nil {
		panic("rooms: embedded " + name + " missing: " + err.Error()) // cannot happen: the embed directive names it
	}
	return b
}

func embeddedRooms() []byte      { return mustRead("data/met-rooms.json") }
func embeddedBoundaries() []byte { return mustRead("data/london-boroughs.geojson") }

// Attribution returns the notice that must ship with the embedded data: its
// sources and licences (the borough boundaries are Crown copyright, under the
// UK Open Government Licence v3).
func Attribution() string { return string(mustRead("data/README.md")) }
