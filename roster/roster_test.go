package roster_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/safeconnection/gateway/roster"
)

func london(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

var knownAreas = map[string]bool{"westminster": true, "kensington and chelsea": true, "ce": true, "aw": true}

func options(t testing.TB) roster.Options {
	return roster.Options{Location: london(t), KnownArea: func(a string) bool { return knownAreas[strings.ToLower(a)] }}
}

func parseFile(t *testing.T, name string) (roster.Roster, []roster.RowError) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r, bad, err := roster.Parse(bytes.NewReader(b), options(t))
	if err != nil {
		t.Fatal(err)
	}
	return r, bad
}

func TestParseSample(t *testing.T) {
	r, bad := parseFile(t, "roster.csv")
	if len(bad) != 0 {
		t.Fatalf("the sample has bad rows: %v", bad)
	}
	if r.Len() != 3 || r.Rows() != 4 {
		t.Fatalf("officers %d shifts %d, want 3 and 4", r.Len(), r.Rows())
	}
	o, ok := r.Officer(" 1234 aw")
	if !ok {
		t.Fatal("1234AW not found by a typed collar")
	}
	if o.Name != "Sam Clarke" || o.Rank != "PC" || o.Warrant != "WC100234" || o.Photo != "1234aw.jpg" || len(o.Shifts) != 2 {
		t.Fatalf("entry: %+v", o)
	}
	s := o.Shifts[0]
	if want := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC); !s.Start.Equal(want) { // GMT in December
		t.Errorf("start %v, want %v", s.Start, want)
	}
	if !s.PlainClothes || s.Unit != "Central West CID" || len(s.Areas) != 2 || s.Line != 2 {
		t.Errorf("shift: %+v", s)
	}
	if p, _ := r.Officer("5678CE"); p.Shifts[0].PlainClothes {
		t.Error("5678CE is in uniform")
	}
	if n, _ := r.Officer("901NA"); !n.Shifts[0].Start.Equal(time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC)) || len(n.Shifts[0].Areas) != 0 {
		t.Errorf("901NA: %+v", n.Shifts[0])
	}
}

func TestParseBadRows(t *testing.T) {
	r, bad := parseFile(t, "bad.csv")
	if r.Len() != 1 || r.Rows() != 1 {
		t.Fatalf("loaded %d officers %d shifts, want the one good row", r.Len(), r.Rows())
	}
	want := map[int]string{
		3: "no collar number", 4: "no warrant", 5: "no name", 6: "no rank", 7: "shift_start",
		8: "ends before it starts", 9: "longer than", 10: "plain_clothes", 11: "areas",
		12: "warrant differs from line 2", 13: "fields", 14: "collar number",
		// Malformed quoting: a bare quote, text after a closing quote.
		15: `bare "`, 16: `extraneous or missing "`,
		17: "photo: a .jpg, .jpeg or .png file name with no directory", 18: "photo:",
		19: "name: at most 120 characters", 20: "rank: at most 120 characters, no control characters",
		21: "unit: at most 120 characters", 22: "warrant card number is longer than 24",
		23: "shift_end: not a time",
		24: "name: the name differs from line 2", 25: "rank: the rank differs from line 2", 26: "photo: the photo differs from line 2",
		27: "name: at most 120 characters, no control characters",
		// A quote never closed runs to the end of the file: one error, at
		// the line it opened on, that says which lines it took.
		28: `extraneous or missing " in quoted-field: a quote opened on line 28 runs to line 29, and lines 28 to 29 are skipped as one row`,
	}
	if len(bad) != len(want) {
		t.Fatalf("%d bad rows, want %d: %v", len(bad), len(want), bad)
	}
	for _, b := range bad {
		w, ok := want[b.Line]
		if !ok || !strings.Contains(b.Reason, w) {
			t.Errorf("line %d: %q, want one saying %q", b.Line, b.Reason, w)
		}
		if strings.Contains(b.Reason, "WC999999") || strings.Contains(b.Reason, "WC100234") || strings.Contains(b.Reason, "W111111") {
			t.Errorf("line %d names a warrant number: %q", b.Line, b.Reason)
		}
	}
	// The rows that conflict with his first change nothing of it.
	o, ok := r.Officer("1234AW")
	if !ok || o.Name != "Sam Clarke" || o.Rank != "PC" || o.Photo != "sam.jpg" || o.Warrant != "WC100234" || len(o.Shifts) != 1 {
		t.Errorf("his entry after conflicting rows: %+v", o)
	}
}

// TestParseTooManyRows checks that a roster of MaxRows rows is read and one
// of more is refused as a whole.
func TestParseTooManyRows(t *testing.T) {
	if testing.Short() {
		t.Skip("reads two rosters of 200,000 rows")
	}
	rows := func(n int) io.Reader {
		var b strings.Builder
		b.WriteString("collar,warrant,name,rank,shift_start,shift_end,plain_clothes\n")
		for i := 0; i < n; i++ {
			b.WriteString("x\n") // a bad row is still a row
		}
		return strings.NewReader(b.String())
	}
	if _, bad, err := roster.Parse(rows(roster.MaxRows), options(t)); err != nil || len(bad) != roster.MaxRows {
		t.Fatalf("%d rows: %v, %d bad", roster.MaxRows, err, len(bad))
	}
	if _, _, err := roster.Parse(rows(roster.MaxRows+1), options(t)); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("%d rows: %v, want too many", roster.MaxRows+1, err)
	}
}

func TestParseWholeFileErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          "",
		"missing column": "collar,warrant,name,rank,shift_start,shift_end\n",
		"unknown column": "collar,warrant,name,rank,shift_start,shift_end,plain_clothes,shoe_size\n",
		"twice":          "collar,collar,warrant,name,rank,shift_start,shift_end,plain_clothes\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := roster.Parse(strings.NewReader(in), options(t)); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"roster.csv", "bad.csv"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("collar,warrant,name,rank,shift_start,shift_end,plain_clothes\n\"1,2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, bad, err := roster.Parse(bytes.NewReader(b), roster.Options{})
		if err != nil {
			return
		}
		for _, c := range r.Collars() {
			o, ok := r.Officer(c)
			if !ok || len(o.Shifts) == 0 {
				t.Fatalf("collar %q listed but not found", c)
			}
			for _, s := range o.Shifts {
				if !s.End.After(s.Start) || s.End.Sub(s.Start) > roster.MaxShift {
					t.Fatalf("a bad shift loaded: %+v", s)
				}
			}
		}
		for _, e := range bad {
			if e.Line < 1 || e.Reason == "" {
				t.Fatalf("a row error without a line or reason: %+v", e)
			}
		}
	})
}

// pullServer serves a roster with an ETag, honours If-None-Match, and can
// fail.
type pullServer struct {
	mu       sync.Mutex
	body     string
	etag     string
	fail     int // answer 503 this many more times
	requests []http.Header
}

func (p *pullServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, r.Header.Clone())
	if p.fail > 0 {
		p.fail--
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("If-None-Match") == p.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", p.etag)
	w.Header().Set("Content-Type", "text/csv")
	_, _ = w.Write([]byte(p.body))
}

func (p *pullServer) set(body, etag string, fail int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.body, p.etag, p.fail = body, etag, fail
}

func sample(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join("testdata", "roster.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newSource(t *testing.T, url string, now *time.Time) (*roster.Source, *test.Hook) {
	logger, hook := test.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	s := roster.NewSource(url, options(t), logger)
	s.Client.RetryMax = 1
	s.Client.RetryWaitMin, s.Client.RetryWaitMax = time.Millisecond, time.Millisecond
	s.Now = func() time.Time { return *now }
	return s, hook
}

func TestSourcePull(t *testing.T) {
	ps := &pullServer{}
	ps.set(sample(t), `"v1"`, 0)
	srv := httptest.NewServer(ps)
	defer srv.Close()
	now := time.Date(2026, 12, 3, 19, 0, 0, 0, time.UTC)
	s, hook := newSource(t, srv.URL, &now)
	ctx := context.Background()

	if !s.Snapshot().Stale(now, time.Hour) {
		t.Fatal("no roster yet, yet not stale")
	}
	if err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.Snapshot(); got.Roster.Len() != 3 || got.Stale(now, time.Hour) {
		t.Fatalf("after the first pull: %d officers, stale %v", got.Roster.Len(), got.Stale(now, time.Hour))
	}

	// 304: the copy is kept, and counts as confirmed.
	now = now.Add(30 * time.Minute)
	if err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if h := ps.requests[len(ps.requests)-1]; h.Get("If-None-Match") != `"v1"` {
		t.Fatalf("If-None-Match %q, want the ETag", h.Get("If-None-Match"))
	}
	if got := s.Snapshot(); got.Roster.Len() != 3 || !got.LoadedAt.Equal(now) {
		t.Fatalf("after a 304: %d officers, loaded at %v", got.Roster.Len(), got.LoadedAt)
	}

	// A failed pull keeps the last good copy and says why; it goes stale.
	ps.set(sample(t), `"v2"`, 10)
	now = now.Add(2 * time.Hour)
	if err := s.Load(ctx); err == nil {
		t.Fatal("a failing server, yet no error")
	}
	got := s.Snapshot()
	if got.Roster.Len() != 3 || got.LastError == "" || !got.Stale(now, time.Hour) || got.Age(now) != 2*time.Hour {
		t.Fatalf("after a failed pull: %d officers, error %q, stale %v, age %v", got.Roster.Len(), got.LastError, got.Stale(now, time.Hour), got.Age(now))
	}

	// A new copy replaces it, bad rows reported and logged by line.
	ps.set("collar,warrant,name,rank,shift_start,shift_end,plain_clothes\n7AW,W7,Al Ng,PC,2026-12-03 18:00,2026-12-04 02:00,yes\n8AW,,x,PC,2026-12-03 18:00,2026-12-04 02:00,yes\n", `"v3"`, 0)
	if err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	got = s.Snapshot()
	if _, ok := got.Roster.Officer("7AW"); !ok || got.Roster.Len() != 1 || len(got.Problems) != 1 || got.Problems[0].Line != 3 || got.LastError != "" {
		t.Fatalf("after a new copy: %+v", got)
	}
	logged := false
	for _, e := range hook.AllEntries() {
		if e.Data["line"] == 3 && strings.Contains(e.Message, "no warrant") {
			logged = true
		}
	}
	if !logged {
		t.Error("the skipped row was not logged with its line")
	}
}

func TestSourceRunOnSchedule(t *testing.T) {
	ps := &pullServer{}
	ps.set(sample(t), `"a"`, 0)
	srv := httptest.NewServer(ps)
	defer srv.Close()
	now := time.Now()
	s, _ := newSource(t, srv.URL, &now)
	s.Interval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	deadline := time.After(10 * time.Second)
	for s.Snapshot().Roster.Len() != 3 {
		select {
		case <-deadline:
			t.Fatal("the scheduled pull never loaded the roster")
		case <-time.After(5 * time.Millisecond):
		}
	}
	ps.set("collar,warrant,name,rank,shift_start,shift_end,plain_clothes\n7AW,W7,Al Ng,PC,2026-12-03 18:00,2026-12-04 02:00,yes\n", `"b"`, 0)
	for s.Snapshot().Roster.Len() != 1 {
		select {
		case <-deadline:
			t.Fatal("the scheduled pull never replaced the roster")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestSourceFile(t *testing.T) {
	now := time.Now()
	s, _ := newSource(t, filepath.Join("testdata", "roster.csv"), &now)
	if err := s.Load(context.Background()); err != nil || s.Snapshot().Roster.Len() != 3 {
		t.Fatalf("load: %v, %d officers", err, s.Snapshot().Roster.Len())
	}
	s.Location = filepath.Join(t.TempDir(), "missing.csv")
	if err := s.Load(context.Background()); err == nil || s.Snapshot().Roster.Len() != 3 {
		t.Fatalf("a missing file: %v, %d officers kept", err, s.Snapshot().Roster.Len())
	}
}

// TestBadRowsNotLogged checks that a skipped row is logged by its line and
// the column at fault, never with any of its values: a roster's fields are
// personal.
func TestBadRowsNotLogged(t *testing.T) {
	photos := filepath.Join(t.TempDir(), "photos.csv")
	if err := os.WriteFile(photos, []byte("collar,warrant,name,rank,shift_start,shift_end,plain_clothes,photo\n"+
		"12LL,WX120012,Lee Hart,PC,2026-12-03 18:00,2026-12-04 04:00,yes,../lee-hart.jpg\n"+
		"13MM,WX130013,Kim Shaw,PC,2026-12-03 18:00,2026-12-04 04:00,yes,kim-shaw.gif\n"+
		"14NN,WX140014,Ray Dunn,PC,2026-12-03 18:00,in the morning,yes,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join("testdata", "bad.csv"), photos} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			now := time.Now()
			s, hook := newSource(t, path, &now)
			if err := s.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r := csv.NewReader(bytes.NewReader(in))
			r.FieldsPerRecord = -1
			r.LazyQuotes = true // bad.csv's malformed quoting: its values all the same
			rows, err := r.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			var values []string
			for _, row := range rows[1:] {
				for _, v := range row {
					// Words the reasons use of their own accord.
					if v = strings.TrimSpace(v); v != "" && v != "yes" && v != "PC" {
						values = append(values, v)
					}
				}
			}
			skipped := 0
			for _, e := range hook.AllEntries() {
				line := e.Message + " " + fmt.Sprint(e.Data)
				if strings.Contains(e.Message, "row skipped") {
					skipped++
					if _, ok := e.Data["line"].(int); !ok {
						t.Errorf("a skipped row logged without its line: %s", line)
					}
				}
				for _, v := range values {
					if strings.Contains(line, v) {
						t.Errorf("the log shows the roster's %q: %s", v, line)
					}
				}
			}
			if want := len(s.Snapshot().Problems); skipped != want || want == 0 {
				t.Errorf("%d skipped rows logged, want %d", skipped, want)
			}
		})
	}
}
