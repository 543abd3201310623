package httpapi

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/roster"
)

// MaxPhoto is the largest officer's photo served, in bytes.
const MaxPhoto = 8 << 20

// Roster is the duty roster as supervisors see it.
type Roster struct {
	// Source holds the roster; nil: none is configured.
	Source interface{ Snapshot() roster.Snapshot }
	// Photos is the directory of the officers' photos; empty: none.
	Photos string
	// Stale is the age past which the roster is shown as stale (0: never).
	Stale time.Duration
}

// RosterStatus answers GET /v1/roster: where the roster comes from, how old
// it is, and the rows it skipped.
type RosterStatus struct {
	Configured bool              `json:"configured"`
	Source     string            `json:"source,omitempty"`
	LoadedAt   *time.Time        `json:"loaded_at"` // null: never loaded
	AgeSeconds int64             `json:"age_seconds"`
	Stale      bool              `json:"stale"`
	LastError  string            `json:"last_error,omitempty"`
	Officers   int               `json:"officers"`
	Shifts     int               `json:"shifts"`
	Problems   []roster.RowError `json:"problems"`
	Checked    *time.Time        `json:"checked_at,omitempty"`
}

// RosterEntry answers GET /v1/roster/officers/{collar}: the officer's entry
// (never his warrant number: the check says whether his credential's
// matches), and whether a photo is on file.
type RosterEntry struct {
	Officer  roster.Officer `json:"officer"`
	HasPhoto bool           `json:"has_photo"`
	OnDuty   *roster.Shift  `json:"on_duty,omitempty"` // the shift covering now
}

func (s *Server) rosterStatus(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	st := RosterStatus{Problems: []roster.RowError{}}
	if src := s.Roster.Source; src != nil {
		snap := src.Snapshot()
		now := s.now()
		st.Configured, st.Source = true, snap.Source
		st.LoadedAt, st.Checked = timeOrNull(snap.LoadedAt), timeOrNull(snap.Checked)
		st.AgeSeconds = int64(snap.Age(now) / time.Second)
		st.Stale = snap.Stale(now, s.Roster.Stale)
		st.LastError = snap.LastError
		st.Officers, st.Shifts = snap.Roster.Len(), snap.Roster.Rows()
		if snap.Problems != nil {
			st.Problems = snap.Problems
		}
	}
	s.writeJSON(w, r, http.StatusOK, st)
	return nil
}

// rosterOfficer finds the path's collar number on the roster. ENOTFOUND.
func (s *Server) rosterOfficer(r *http.Request) (roster.Officer, error) {
	collar, err := checkText("collar", r.PathValue("collar"), roster.MaxCollar+8)
	if err != nil {
		return roster.Officer{}, err
	}
	if s.Roster.Source == nil {
		return roster.Officer{}, gateway.Errorf(gateway.ENOTFOUND, "no duty roster is configured")
	}
	o, ok := s.Roster.Source.Snapshot().Roster.Officer(collar)
	if !ok {
		return roster.Officer{}, gateway.Errorf(gateway.ENOTFOUND, "no officer with collar number %s is on the roster", roster.NormalizeCollar(collar))
	}
	return o, nil
}

func (s *Server) rosterEntry(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	o, err := s.rosterOfficer(r)
	if err != nil {
		return err
	}
	e := RosterEntry{Officer: o, HasPhoto: o.Photo != "" && s.Roster.Photos != ""}
	if sh, ok := o.ShiftAt(s.now()); ok {
		e.OnDuty = &sh
	}
	s.writeJSON(w, r, http.StatusOK, e)
	return nil
}

// rosterPhoto serves an officer's photo to a supervisor: only a JPEG or PNG
// (by its bytes, not its name), never cached, never framed or sniffed.
func (s *Server) rosterPhoto(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	o, err := s.rosterOfficer(r)
	if err != nil {
		return err
	}
	b, ct, err := s.officerPhoto(o)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-store, private")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'self'")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

// OfficerPhoto returns the photo on file of the officer with the collar
// number, and its content type (image/jpeg or image/png, by its bytes), for
// a supervisor's eyes only. ENOTFOUND when he is not on the roster or has
// no readable photo.
func (s *Server) OfficerPhoto(collar string) ([]byte, string, error) {
	if s.Roster.Source == nil {
		return nil, "", gateway.Errorf(gateway.ENOTFOUND, "no duty roster is configured")
	}
	o, ok := s.Roster.Source.Snapshot().Roster.Officer(collar)
	if !ok {
		return nil, "", gateway.Errorf(gateway.ENOTFOUND, "no officer with collar number %s is on the roster", roster.NormalizeCollar(collar))
	}
	return s.officerPhoto(o)
}

// officerPhoto reads o's photo. ENOTFOUND.
func (s *Server) officerPhoto(o roster.Officer) ([]byte, string, error) {
	if o.Photo == "" || s.Roster.Photos == "" {
		return nil, "", gateway.Errorf(gateway.ENOTFOUND, "no photo of %s is on file", o.Collar)
	}
	// The roster's photo names have no directory part (roster.Parse), so
	// the file is inside Photos.
	f, err := os.Open(filepath.Join(s.Roster.Photos, filepath.Base(o.Photo)))
	if err != nil {
		s.logPhotoError(o, err)
		return nil, "", gateway.Errorf(gateway.ENOTFOUND, "no photo of %s is on file", o.Collar)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxPhoto+1))
	if err != nil || len(b) > MaxPhoto {
		return nil, "", gateway.Errorf(gateway.ENOTFOUND, "no photo of %s is on file", o.Collar)
	}
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return b, "image/jpeg", nil
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return b, "image/png", nil
	}
	return nil, "", gateway.Errorf(gateway.ENOTFOUND, "no photo of %s is on file", o.Collar)
}

// logPhotoError logs that o's photo cannot be read, by the roster line of
// his first shift: never his collar number, nor the photo's file name
// (often his collar number or name), which the error's path would show.
func (s *Server) logPhotoError(o roster.Officer, err error) {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	log := s.logger().WithError(err)
	if len(o.Shifts) > 0 {
		log = log.WithField("roster_line", o.Shifts[0].Line)
	}
	log.Warn("roster: a photo the roster names cannot be read")
}
