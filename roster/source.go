package roster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/sirupsen/logrus"
)

// MaxBytes is the largest roster Source reads.
const MaxBytes = 64 << 20

// Snapshot is the roster a Source holds now, and how it got it.
type Snapshot struct {
	Roster   Roster
	Source   string     // where it came from (a file path or URL)
	LoadedAt time.Time  // when the copy held was last confirmed (loaded, or a 304)
	Problems []RowError // the rows of that copy that were skipped
	// LastError is why the latest load failed, empty when it did not; the
	// copy held is then the last good one.
	LastError string
	Checked   time.Time // when the latest load was tried
}

// Age returns how old the copy is at now; zero before any load.
func (s Snapshot) Age(now time.Time) time.Duration {
	if s.LoadedAt.IsZero() {
		return 0
	}
	return now.Sub(s.LoadedAt)
}

// Stale reports whether the copy is older than max at now, or there is none.
// A max of zero never calls a loaded copy stale.
func (s Snapshot) Stale(now time.Time, max time.Duration) bool {
	if s.LoadedAt.IsZero() {
		return true
	}
	return max > 0 && s.Age(now) > max
}

// Source loads a roster from a file or an HTTP(S) URL and keeps the last
// good copy. A pull from a URL sends If-None-Match with the ETag of the copy
// held, and a 304 keeps it.
type Source struct {
	// Location is a file path or an http:// or https:// URL.
	Location string
	// Options say how to read it.
	Options Options
	// Client makes the HTTP pulls; NewSource gives one that retries
	// connection errors and 5xx a few times with backoff.
	Client *retryablehttp.Client
	// Header is added to every pull (an API key, say).
	Header http.Header
	// Interval is how often Run pulls; NewSource sets 5 minutes.
	Interval time.Duration
	Logger   logrus.FieldLogger
	Now      func() time.Time

	mu   sync.RWMutex
	snap Snapshot
	etag string
}

// NewSource returns a Source for location with its defaults.
func NewSource(location string, opt Options, logger logrus.FieldLogger) *Source {
	c := retryablehttp.NewClient()
	c.RetryMax = 3
	c.RetryWaitMin = 500 * time.Millisecond
	c.RetryWaitMax = 5 * time.Second
	c.HTTPClient.Timeout = 30 * time.Second
	c.Logger = nil
	if logger == nil {
		logger = logrus.New()
	}
	return &Source{
		Location: location, Options: opt, Client: c, Interval: 5 * time.Minute,
		Logger: logger, Now: time.Now,
		snap: Snapshot{Source: location},
	}
}

// Snapshot returns the copy held now.
func (s *Source) Snapshot() Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap
}

// Load loads the roster once. On failure it keeps the copy held, records
// why in the snapshot and returns the error.
func (s *Source) Load(ctx context.Context) error {
	now := s.Now()
	body, etag, unchanged, err := s.fetch(ctx)
	var r Roster
	var bad []RowError
	if err == nil && !unchanged {
		r, bad, err = Parse(bytes.NewReader(body), s.Options)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap.Checked = now
	if err != nil {
		s.snap.LastError = err.Error()
		s.Logger.WithField("roster", s.Location).WithError(err).Warn("roster: load failed; keeping the last good copy")
		return err
	}
	s.snap.LastError = ""
	s.snap.LoadedAt = now
	if unchanged {
		return nil
	}
	s.snap.Roster, s.snap.Problems, s.etag = r, bad, etag
	log := s.Logger.WithFields(logrus.Fields{"roster": s.Location, "officers": r.Len(), "shifts": r.Rows(), "skipped": len(bad)})
	for _, b := range bad {
		log.WithField("line", b.Line).Warn("roster: row skipped: " + b.Reason)
	}
	log.Info("roster: loaded")
	return nil
}

// fetch reads the roster's bytes; unchanged when the server answered 304.
func (s *Source) fetch(ctx context.Context) (body []byte, etag string, unchanged bool, err error) {
	if !strings.HasPrefix(s.Location, "http://") && !strings.HasPrefix(s.Location, "https://") {
		f, err := os.Open(s.Location)
		if err != nil {
			return nil, "", false, fmt.Errorf("roster: %w", err)
		}
		defer f.Close()
		body, err = io.ReadAll(io.LimitReader(f, MaxBytes+1))
		if err == nil && len(body) > MaxBytes {
			err = fmt.Errorf("roster: %s is larger than %d bytes", s.Location, MaxBytes)
		}
		return body, "", false, err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, s.Location, nil)
	if err != nil {
		return nil, "", false, fmt.Errorf("roster: %w", err)
	}
	for k, v := range s.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/csv")
	s.mu.RLock()
	if s.etag != "" {
		req.Header.Set("If-None-Match", s.etag)
	}
	s.mu.RUnlock()
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, "", false, fmt.Errorf("roster: pull: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, "", true, nil
	case http.StatusOK:
	default:
		return nil, "", false, fmt.Errorf("roster: pull: the server answered %s", resp.Status)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, MaxBytes+1))
	if err != nil {
		return nil, "", false, fmt.Errorf("roster: pull: %w", err)
	}
	if len(body) > MaxBytes {
		return nil, "", false, fmt.Errorf("roster: pull: larger than %d bytes", MaxBytes)
	}
	return body, resp.Header.Get("ETag"), false, nil
}

// Run loads the roster every Interval until ctx ends. It does not load at
// once: call Load first to start with a roster.
func (s *Source) Run(ctx context.Context) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.Load(ctx) // logged and kept in the snapshot
		}
	}
}
