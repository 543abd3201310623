package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
)

// The demo's duty roster: its officer (demoOfficer, whose credential the
// officer app uses) on plain-clothes duty in every demo room, on a shift
// around the demo's start, so that the supervisor's check finds him.
const (
	demoRosterFile = "demo-roster.csv"
	demoPhotoFile  = "demo-officer.png"
	demoName       = "Alex Morgan"
	demoRank       = "PC"
	demoUnit       = "Demo Central CID"
)

// demoShift is the demo officer's shift: it began an hour before the demo
// started and lasts the longest a roster allows.
func demoShift(now time.Time) (start, end time.Time) {
	start = now.Add(-time.Hour).UTC().Truncate(time.Minute)
	return start, start.Add(24 * time.Hour)
}

// writeDemoRoster writes the demo's roster, with its officer's photo beside
// it, into dir and returns the roster's path. It is written again at every
// start, so that the shift covers the time the demo runs.
func writeDemoRoster(dir string, rooms []gateway.Room, now time.Time) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	areas := make([]string, len(rooms))
	for i, r := range rooms {
		areas[i] = r.ID
	}
	start, end := demoShift(now)
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"collar", "warrant", "name", "rank", "unit", "shift_start", "shift_end", "plain_clothes", "areas", "photo"})
	_ = w.Write([]string{demoOfficer.Collar, demoOfficer.Warrant, demoName, demoRank, demoUnit,
		start.Format(time.RFC3339), end.Format(time.RFC3339), "yes", strings.Join(areas, ";"), demoPhotoFile})
	w.Flush()
	if err := os.WriteFile(filepath.Join(dir, demoPhotoFile), demoPhoto(), 0o600); err != nil {
		return "", fmt.Errorf("write the demo officer's photo: %w", err)
	}
	path := filepath.Join(dir, demoRosterFile)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		return "", fmt.Errorf("write the demo roster: %w", err)
	}
	return path, nil
}

// demoPhoto returns the demo officer's photo: a grey head and shoulders on
// a pale ground, as a PNG, so that the console has a face to show.
func demoPhoto() []byte {
	const w, h = 96, 120
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := uint8(225)
			dx, dy := x-w/2, y-46
			switch {
			case dx*dx+dy*dy <= 22*22: // the head
				c = 120
			case y >= 78 && dx*dx*4 <= (y-70)*(y-70)*9: // the shoulders
				c = 90
			}
			img.SetGray(x, y, color.Gray{Y: c})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img) // into memory: cannot fail
	return b.Bytes()
}
