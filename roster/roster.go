// Package roster reads a force's duty roster: who is on duty when, in plain
// clothes or not, where, under which warrant card, with a photo. Duty systems
// hand it over as a CSV export (Parse) or serve it over HTTP (Source pulls it
// on a schedule, keeping the last good copy). The supervisor's check compares
// an officer's credential and his stop with it (Assess).
//
// # The CSV columns
//
// The first row names the columns, in any order and any letter case. Required:
//
//	collar        the officer's collar number ("PC1234" or "1234AW"; spaces ignored)
//	warrant       his warrant card number
//	name          his name as the supervisor will see it
//	rank          "PC", "DC", "PS", "DS", "Insp" ...
//	shift_start   the start of the shift: RFC 3339 ("2026-12-03T18:00:00Z"), or
//	              "2006-01-02 15:04" in the roster's time zone (Europe/London)
//	shift_end     its end, after the start and at most 24 hours later
//	plain_clothes yes/no (also y/n, true/false, 1/0)
//
// Optional:
//
//	unit          his unit ("Central West CID")
//	areas         where he is assigned: borough names or ops-room IDs,
//	              separated by ";" (empty: anywhere)
//	photo         the file name of his photo in the photo directory (.jpg,
//	              .jpeg or .png, no directory part)
//
// One row is one shift: an officer with three shifts has three rows, whose
// warrant, name, rank and photo must agree. A row that breaks a rule is
// reported with its line number and the column at fault (never a value:
// the roster is personal) and skipped; the others load.
package roster

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Limits of a roster's fields.
const (
	MaxCollar  = 16
	MaxWarrant = 24
	MaxText    = 120
	MaxShift   = 24 * time.Hour
	MaxRows    = 200_000
)

// Shift is one duty period of an officer.
type Shift struct {
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	PlainClothes bool      `json:"plain_clothes"`
	Unit         string    `json:"unit,omitempty"`
	Areas        []string  `json:"areas,omitempty"` // boroughs or room IDs; none: anywhere
	Line         int       `json:"-"`               // the CSV line it came from
}

// Covers reports whether t falls in the shift: from its start, up to but
// not including its end.
func (s Shift) Covers(t time.Time) bool { return !t.Before(s.Start) && t.Before(s.End) }

// Officer is one officer's roster entry: who he is and his shifts, by start.
type Officer struct {
	Collar  string  `json:"collar"`
	Warrant string  `json:"-"` // personal, never in JSON, logs or public pages; NormalizeWarrant's form
	Name    string  `json:"name"`
	Rank    string  `json:"rank"`
	Photo   string  `json:"-"` // the photo's file name; served to supervisors only
	Shifts  []Shift `json:"shifts"`
}

// ShiftAt returns the shift covering t, the latest starting if several do.
func (o Officer) ShiftAt(t time.Time) (Shift, bool) {
	for i := len(o.Shifts) - 1; i >= 0; i-- {
		if o.Shifts[i].Covers(t) {
			return o.Shifts[i], true
		}
	}
	return Shift{}, false
}

// Nearest returns the shift that ended last before t or starts first after
// it, whichever is nearer: what the supervisor is told when no shift covers
// t.
func (o Officer) Nearest(t time.Time) (Shift, bool) {
	var best Shift
	var gap time.Duration = -1
	for _, s := range o.Shifts {
		d := s.Start.Sub(t)
		if s.End.Before(t) || s.End.Equal(t) {
			d = t.Sub(s.End)
		}
		if d < 0 {
			d = -d
		}
		if gap < 0 || d < gap {
			best, gap = s, d
		}
	}
	return best, gap >= 0
}

// Roster is a loaded roster, by collar number. The zero Roster is empty.
type Roster struct {
	officers map[string]Officer
	rows     int
}

// Officer returns the entry for the collar number, in any spacing and case.
func (r Roster) Officer(collar string) (Officer, bool) {
	o, ok := r.officers[NormalizeCollar(collar)]
	if !ok {
		return Officer{}, false
	}
	o.Shifts = slices.Clone(o.Shifts)
	return o, true
}

// Len returns the number of officers.
func (r Roster) Len() int { return len(r.officers) }

// Rows returns the number of shifts (good rows) loaded.
func (r Roster) Rows() int { return r.rows }

// Collars returns every collar number, sorted.
func (r Roster) Collars() []string {
	out := make([]string, 0, len(r.officers))
	for c := range r.officers {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// NormalizeCollar returns a collar number as the roster keys it: upper case,
// without spaces.
func NormalizeCollar(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// NormalizeWarrant returns a warrant card number as the roster compares it:
// its letters and digits, upper case ("wc-100 234" is "WC100234").
func NormalizeWarrant(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// RowError is a row that was skipped, and why.
type RowError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Error says the line and the reason.
func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Options says how to read a roster.
type Options struct {
	// Location is the time zone of times written without one; nil is UTC.
	Location *time.Location
	// KnownArea reports whether an area names a borough or room the
	// gateway knows; nil accepts any.
	KnownArea func(string) bool
}

// The columns.
var (
	required = []string{"collar", "warrant", "name", "rank", "shift_start", "shift_end", "plain_clothes"}
	optional = []string{"unit", "areas", "photo"}
)

// Parse reads a roster CSV. It returns the good rows as a Roster and each
// bad row as a RowError; an error when the file as a whole cannot be read
// (no header, a required column missing, an unknown column, too many rows).
func Parse(r io.Reader, opt Options) (Roster, []RowError, error) {
	loc := opt.Location
	if loc == nil {
		loc = time.UTC
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return Roster{}, nil, errors.New("roster: the file is empty: the first row must name the columns")
	}
	if err != nil {
		return Roster{}, nil, fmt.Errorf("roster: the header row: %w", err)
	}
	col, err := columns(header)
	if err != nil {
		return Roster{}, nil, err
	}
	out := Roster{officers: map[string]Officer{}}
	first := map[string]int{} // collar -> line of its first row
	var bad []RowError
	for n := 0; ; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			reason := pe.Err.Error()
			if pe.Line > pe.StartLine {
				// A quote left open runs on: say which lines it took, so
				// that none is skipped silently.
				reason += fmt.Sprintf(": a quote opened on line %d runs to line %d, and lines %d to %d are skipped as one row",
					pe.StartLine, pe.Line, pe.StartLine, pe.Line)
			}
			bad = append(bad, RowError{Line: pe.StartLine, Reason: reason})
			continue
		}
		if err != nil {
			return Roster{}, nil, fmt.Errorf("roster: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if n >= MaxRows {
			return Roster{}, nil, fmt.Errorf("roster: more than %d rows", MaxRows)
		}
		if len(rec) != len(header) {
			bad = append(bad, RowError{line, fmt.Sprintf("%d fields, the header names %d", len(rec), len(header))})
			continue
		}
		o, reason := parseRow(rec, col, loc, opt.KnownArea)
		if reason == "" {
			reason = out.add(o, line, first)
		}
		if reason != "" {
			bad = append(bad, RowError{line, reason})
			continue
		}
		out.rows++
	}
	for c, o := range out.officers {
		slices.SortFunc(o.Shifts, func(a, b Shift) int { return a.Start.Compare(b.Start) })
		out.officers[c] = o
	}
	return out, bad, nil
}

// add adds a parsed row's officer and shift, or says why it conflicts with
// the officer's earlier rows.
func (r *Roster) add(o Officer, line int, first map[string]int) string {
	prev, ok := r.officers[o.Collar]
	if !ok {
		o.Shifts[0].Line = line
		r.officers[o.Collar] = o
		first[o.Collar] = line
		return ""
	}
	for _, f := range []struct{ name, a, b string }{
		{"warrant", prev.Warrant, o.Warrant}, {"name", prev.Name, o.Name},
		{"rank", prev.Rank, o.Rank}, {"photo", prev.Photo, o.Photo},
	} {
		if f.a != f.b {
			return fmt.Sprintf("%s: the %s differs from line %d's, a row with the same collar number", f.name, f.name, first[o.Collar])
		}
	}
	s := o.Shifts[0]
	s.Line = line
	prev.Shifts = append(prev.Shifts, s)
	r.officers[o.Collar] = prev
	return ""
}

// columns maps each known column to its index; every required one must be
// there, and nothing unknown or twice.
func columns(header []string) (map[string]int, error) {
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !slices.Contains(required, h) && !slices.Contains(optional, h) {
			return nil, fmt.Errorf("roster: the header names an unknown column %q (known: %s, %s)",
				h, strings.Join(required, ", "), strings.Join(optional, ", "))
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("roster: the header names %q twice", h)
		}
		col[h] = i
	}
	var missing []string
	for _, h := range required {
		if _, ok := col[h]; !ok {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("roster: the header lacks the column(s) %s", strings.Join(missing, ", "))
	}
	return col, nil
}

// parseRow reads one row, or says what is wrong with it.
func parseRow(rec []string, col map[string]int, loc *time.Location, known func(string) bool) (Officer, string) {
	get := func(name string) string {
		if i, ok := col[name]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	o := Officer{
		Collar: NormalizeCollar(get("collar")), Warrant: NormalizeWarrant(get("warrant")),
		Name: get("name"), Rank: get("rank"), Photo: get("photo"),
	}
	switch {
	case o.Collar == "":
		return o, "no collar number"
	case len(o.Collar) > MaxCollar || !alnum(o.Collar):
		return o, fmt.Sprintf("collar: the collar number must be letters and digits only, at most %d", MaxCollar)
	case o.Warrant == "":
		return o, "no warrant card number"
	case len(o.Warrant) > MaxWarrant:
		return o, fmt.Sprintf("the warrant card number is longer than %d letters and digits", MaxWarrant)
	case o.Name == "":
		return o, "no name"
	case o.Rank == "":
		return o, "no rank"
	}
	for _, f := range []struct{ name, v string }{{"name", o.Name}, {"rank", o.Rank}, {"unit", get("unit")}} {
		if len(f.v) > MaxText || strings.ContainsFunc(f.v, unicode.IsControl) {
			return o, fmt.Sprintf("%s: at most %d characters, no control characters", f.name, MaxText)
		}
	}
	if o.Photo != "" {
		ext := strings.ToLower(path.Ext(o.Photo))
		if strings.ContainsAny(o.Photo, `/\`) || strings.HasPrefix(o.Photo, ".") || len(o.Photo) > MaxText ||
			(ext != ".jpg" && ext != ".jpeg" && ext != ".png") {
			return o, "photo: a .jpg, .jpeg or .png file name with no directory"
		}
	}
	start, err := parseTime(get("shift_start"), loc)
	if err != nil {
		return o, "shift_start: " + err.Error()
	}
	end, err := parseTime(get("shift_end"), loc)
	if err != nil {
		return o, "shift_end: " + err.Error()
	}
	if !end.After(start) {
		return o, "shift_end: the shift ends before it starts"
	}
	if end.Sub(start) > MaxShift {
		return o, fmt.Sprintf("shift_end: the shift is longer than %s", MaxShift)
	}
	plain, ok := parseBool(get("plain_clothes"))
	if !ok {
		return o, "plain_clothes: yes or no"
	}
	var areas []string
	for i, a := range strings.Split(get("areas"), ";") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if known != nil && !known(a) {
			return o, fmt.Sprintf("areas: area %d of the list is no borough or ops room the gateway knows", i+1)
		}
		areas = append(areas, a)
	}
	o.Shifts = []Shift{{Start: start, End: end, PlainClothes: plain, Unit: get("unit"), Areas: areas}}
	return o, ""
}

// parseTime reads RFC 3339, or "2006-01-02 15:04" in loc.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a time (RFC 3339, or 2006-01-02 15:04)")
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "yes", "y", "true", "1":
		return true, true
	case "no", "n", "false", "0":
		return false, true
	}
	return false, false
}

func alnum(s string) bool {
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
