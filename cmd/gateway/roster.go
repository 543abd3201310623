package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/roster"
	"github.com/safeconnection/gateway/router"
)

// wireRoster loads the duty roster GATEWAY_ROSTER names, keeps it loaded on
// its schedule while ctx lasts, and gives it to the API. A roster that
// cannot be loaded at start is not fatal: the gateway serves, and every
// check shows that no roster is loaded until a load succeeds.
// The demo, with no GATEWAY_ROSTER, writes its own (writeDemoRoster).
func (m *Main) wireRoster(ctx context.Context, srv *httpapi.Server, log logrus.FieldLogger) error {
	cfg := m.Config
	th := roster.Thresholds{
		NewCredential: cfg.SignNewCredential, ChecksFactor: float64(cfg.SignChecksFactor), ChecksMin: cfg.SignChecksMin,
		NeverConnected: cfg.SignNeverConnected, Refusals: cfg.SignRefusals, RosterStale: cfg.RosterStale,
	}
	if m.Demo && cfg.Roster == "" {
		// The demo's officer is on the demo's own roster, unless another
		// roster is configured.
		path, err := writeDemoRoster(cfg.DataDir, m.Rooms.Rooms(), time.Now())
		if err != nil {
			return err
		}
		m.Config.Roster, cfg.Roster = path, path
	}
	if cfg.Roster == "" {
		// No roster: every check says so, and the record's signs still show.
		m.Router.Assessor = rosterAssessor{a: roster.NewAssessor(noRoster{}, m.Store, th), tokens: m.Store}
		return nil
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return err // Validate has checked it
	}
	known := map[string]bool{}
	for _, r := range m.Rooms.Rooms() {
		known[strings.ToLower(r.ID)] = true
		for _, b := range r.Boroughs {
			known[strings.ToLower(b)] = true
		}
	}
	src := roster.NewSource(cfg.Roster, roster.Options{
		Location:  loc,
		KnownArea: func(a string) bool { return known[strings.ToLower(a)] },
	}, log)
	src.Interval = cfg.RosterInterval
	if cfg.RosterAuth != "" {
		src.Header = http.Header{"Authorization": {cfg.RosterAuth}}
	}
	_ = src.Load(ctx) // logged; the snapshot says why
	runCtx, stop := context.WithCancel(context.Background())
	m.closers = append(m.closers, func() error { stop(); return nil })
	go src.Run(runCtx)

	photos := cfg.RosterPhotos
	if photos == "" && !strings.Contains(cfg.Roster, "://") {
		photos = filepath.Dir(cfg.Roster)
	}
	srv.Roster = httpapi.Roster{Source: src, Photos: photos, Stale: cfg.RosterStale}
	m.RosterSource = src
	m.Router.Assessor = rosterAssessor{a: roster.NewAssessor(src, m.Store, th), photos: photos, tokens: m.Store}
	return nil
}

// rosterAssessor records, with each officer's verification, his roster
// entry and the warning signs as they were (router.Assessor).
type rosterAssessor struct {
	a      *roster.Assessor
	photos string
	// tokens finds the officer's credential, for when it was issued.
	tokens interface {
		Token(ctx context.Context, id string) (gateway.Token, error)
	}
}

// Assess implements router.Assessor.
func (ra rosterAssessor) Assess(ctx context.Context, v gateway.Verification, stop router.Stop) (doc, summary string, err error) {
	if v.Origin == gateway.OriginPublic || v.Officer.Collar == "" {
		return "", "", gateway.Errorf(gateway.EINVALID, "no officer to assess")
	}
	subject := roster.Subject{
		Collar: v.Officer.Collar, Warrant: v.Officer.Warrant,
		Stop:       roster.Stop{At: v.CreatedAt, Borough: stop.Borough, RoomID: v.RoomID, Boroughs: stop.Boroughs},
		Supervisor: stop.Supervisor,
		Exclude:    v.ID,
	}
	if ra.tokens != nil && v.RequestedBy != "" {
		if tok, err := ra.tokens.Token(ctx, v.RequestedBy); err == nil {
			subject.CredentialIssuedAt = tok.IssuedAt
		}
	}
	as, err := ra.a.Assess(ctx, subject)
	if err != nil {
		return "", "", err
	}
	if as.Entry != nil && as.Entry.Photo != "" && ra.photos != "" {
		if b, err := os.ReadFile(filepath.Join(ra.photos, filepath.Base(as.Entry.Photo))); err == nil {
			sum := sha256.Sum256(b)
			as.PhotoSHA256 = hex.EncodeToString(sum[:])
		}
	}
	b, err := json.Marshal(as)
	if err != nil {
		return "", "", err
	}
	return string(b), roster.Summary(as.Signs), nil
}

// noRoster is the roster of a gateway that has none.
type noRoster struct{}

func (noRoster) Snapshot() roster.Snapshot { return roster.Snapshot{} }
