package rooms

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/paulmach/orb"

	"github.com/safeconnection/gateway"
)

// The boundaries file is decoded here rather than by orb/geojson, which would
// bring in a BSON library for nothing: only Polygon and MultiPolygon features
// with a "borough" property are wanted, and their positions need checking.

type featureCollection struct {
	Type     string    `json:"type"`
	Features []feature `json:"features"`
}

type feature struct {
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties"`
	Geometry   *geometry      `json:"geometry"`
}

type geometry struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

// parseBoundaries decodes a GeoJSON FeatureCollection of borough polygons.
// Features naming one borough are merged; rings of fewer than four positions
// enclose nothing and are dropped. Every area's room is -1.
func parseBoundaries(data []byte) ([]area, error) {
	const op = "rooms.Load"
	var fc featureCollection
	if err := json.Unmarshal(data, &fc); err != nil {
		return nil, &gateway.Error{Op: op, Code: gateway.EINVALID, Message: "boundaries file: " + err.Error()}
	}
	var p problems
	if fc.Type != "FeatureCollection" {
		p.add("boundaries file: type is %q, not a GeoJSON FeatureCollection", fc.Type)
	}
	if len(fc.Features) == 0 {
		p.add("boundaries file has no features")
	}
	var areas []area
	index := make(map[string]int)
	for i, f := range fc.Features {
		name := fmt.Sprintf("boundaries file: feature %d", i+1)
		borough, _ := f.Properties["borough"].(string)
		if borough == "" {
			p.add("%s has no \"borough\" property", name)
			continue
		}
		name = fmt.Sprintf("boundaries file: borough %q", borough)
		if f.Geometry == nil {
			p.add("%s has no geometry", name)
			continue
		}
		polys, err := decodePolygons(f.Geometry)
		if err != nil {
			p.add("%s: %v", name, err)
			continue
		}
		j, ok := index[borough]
		if !ok {
			j = len(areas)
			index[borough] = j
			areas = append(areas, area{borough: borough, room: -1})
		}
		areas[j].polys = append(areas[j].polys, polys...)
	}
	for _, a := range areas {
		if len(a.polys) == 0 {
			p.add("boundaries file: borough %q has no polygon with an area", a.borough)
		}
	}
	if err := p.err(op); err != nil {
		return nil, err
	}
	for i := range areas {
		areas[i].bound = areas[i].polys.Bound()
	}
	return areas, nil
}

// decodePolygons returns a Polygon's or MultiPolygon's polygons, without
// degenerate rings.
func decodePolygons(g *geometry) (orb.MultiPolygon, error) {
	var raw [][][][]float64
	switch g.Type {
	case "Polygon":
		var poly [][][]float64
		if err := json.Unmarshal(g.Coordinates, &poly); err != nil {
			return nil, fmt.Errorf("bad Polygon coordinates: %v", err)
		}
		raw = [][][][]float64{poly}
	case "MultiPolygon":
		if err := json.Unmarshal(g.Coordinates, &raw); err != nil {
			return nil, fmt.Errorf("bad MultiPolygon coordinates: %v", err)
		}
	default:
		return nil, fmt.Errorf("geometry type %q is not Polygon or MultiPolygon", g.Type)
	}
	var out orb.MultiPolygon
	for _, rawPoly := range raw {
		var poly orb.Polygon
		for k, rawRing := range rawPoly {
			ring := make(orb.Ring, 0, len(rawRing))
			for _, pos := range rawRing {
				if len(pos) < 2 {
					return nil, fmt.Errorf("a position has %d numbers, not longitude and latitude", len(pos))
				}
				lon, lat := pos[0], pos[1]
				if math.IsNaN(lon) || math.IsNaN(lat) || math.Abs(lon) > 180 || math.Abs(lat) > 90 {
					return nil, fmt.Errorf("position [%v, %v] is not WGS84 longitude and latitude in degrees", lon, lat)
				}
				ring = append(ring, orb.Point{lon, lat})
			}
			if len(ring) < 4 {
				if k == 0 {
					break // a degenerate outer ring: no polygon at all
				}
				continue // a degenerate hole: nothing to cut out
			}
			poly = append(poly, ring)
		}
		if len(poly) > 0 {
			out = append(out, poly)
		}
	}
	return out, nil
}
