package roster

import (
	"context"
	"sync"
	"time"

	"github.com/safeconnection/gateway"
)

// Records is what an Assessor reads of the record: the verifications made
// since a time, every room's.
type Records interface {
	Verifications(ctx context.Context, f gateway.VerificationFilter) ([]gateway.Verification, error)
}

// Assessor gives the warning signs for a verification from the roster and
// the record of earlier checks. The record's figures (every officer's
// counts, the force's medians) are read at most once per Refresh and shared
// by the checks in between: a busy night's checks do not each scan 90 days
// of records.
type Assessor struct {
	Source     interface{ Snapshot() Snapshot }
	Records    Records
	Thresholds Thresholds
	// Refresh is how long the record's figures are reused; NewAssessor
	// sets a minute.
	Refresh time.Duration
	Now     func() time.Time

	mu      sync.Mutex
	figures *figures
}

// NewAssessor returns an Assessor with its defaults.
func NewAssessor(src interface{ Snapshot() Snapshot }, rec Records, th Thresholds) *Assessor {
	return &Assessor{Source: src, Records: rec, Thresholds: th, Refresh: time.Minute, Now: time.Now}
}

// Subject is what the Assessor is asked about: the officer (from his
// credential), where and when, and who is looking.
type Subject struct {
	Collar             string
	Warrant            string    // the warrant number on his credential
	CredentialIssuedAt time.Time // when his credential was issued
	Stop               Stop
	// Supervisor identifies the supervisor looking, as outcomes record
	// him: his own refusals do not count as "refused by others".
	Supervisor string
	// Exclude is the verification being assessed: it is not counted in his
	// history.
	Exclude string
}

// Assessment is what a supervisor is shown: the roster's entry, if any, and
// the warning signs, with when the roster was loaded.
type Assessment struct {
	Entry          *Officer  `json:"entry,omitempty"`
	Shift          *Shift    `json:"shift,omitempty"` // the shift covering the stop
	Signs          []Sign    `json:"signs"`
	RosterLoadedAt time.Time `json:"roster_loaded_at"`
	At             time.Time `json:"at"`
	// PhotoSHA256 is the hex SHA-256 of the photo on file when the check
	// was made, so that which photo was shown can be proved later; empty:
	// none. The photo itself is served to supervisors only.
	PhotoSHA256 string `json:"photo_sha256,omitempty"`
	// RefusedBy is the refusals of him in the last 90 days by every
	// supervisor who recorded one, and RefusalsThreshold the threshold of
	// SignRefusals then: each supervisor is shown the sign without his own
	// (For). Empty in a record of before they were kept.
	RefusedBy map[string]int `json:"refused_by,omitempty"`
	// StopBorough is the borough the stop was judged to be in; when it
	// was not known, StopBoroughs are the boroughs it was judged against
	// (its room's: the officer is in his area in any of them).
	StopBorough       string   `json:"stop_borough,omitempty"`
	StopBoroughs      []string `json:"stop_boroughs,omitempty"`
	RefusalsThreshold int      `json:"refusals_threshold,omitempty"`
}

// For returns the assessment as the supervisor (as outcomes name him, "PS
// 42"; "" for one unknown) is shown it: SignRefusals counts the refusals
// recorded by supervisors other than him. It reports whether that changes
// what was recorded (made for another supervisor, or for none). A record
// of before RefusedBy was kept is shown as it is.
func (a Assessment) For(supervisor string) (Assessment, bool) {
	if a.RefusalsThreshold <= 0 {
		return a, false
	}
	n, _ := refusedByOthers(a.RefusedBy, supervisor)
	want := []Sign{}
	if n >= a.RefusalsThreshold {
		want = append(want, refusalsSign(n, a.RefusedBy, supervisor))
	}
	var had []Sign
	signs := make([]Sign, 0, len(a.Signs)+1)
	for _, s := range a.Signs {
		if s.Code == SignRefusals {
			had = append(had, s)
			continue
		}
		signs = append(signs, s)
	}
	if len(had) == len(want) && (len(had) == 0 || had[0].Reason == want[0].Reason) {
		return a, false
	}
	// SignRefusals is the last of the signs' fixed order.
	a.Signs = append(signs, want...)
	return a, true
}

// Assess returns the assessment of s. EUNAVAILABLE when the record cannot be
// read.
func (a *Assessor) Assess(ctx context.Context, s Subject) (Assessment, error) {
	f, err := a.load(ctx)
	if err != nil {
		return Assessment{}, err
	}
	snap := a.Source.Snapshot()
	h := f.history(NormalizeCollar(s.Collar), s.Supervisor, s.Exclude)
	h.CredentialIssuedAt, h.CredentialWarrant = s.CredentialIssuedAt, s.Warrant
	out := Assessment{
		Signs:          Assess(snap, s.Collar, s.Stop, h, a.Thresholds),
		RosterLoadedAt: snap.LoadedAt, At: s.Stop.At,
		RefusedBy: h.RefusedBy, RefusalsThreshold: a.Thresholds.Refusals,
		StopBorough: s.Stop.Borough,
	}
	if s.Stop.Borough == "" {
		out.StopBoroughs = s.Stop.Boroughs
	}
	if o, ok := snap.Roster.Officer(s.Collar); ok {
		out.Entry = &o
		if sh, ok := o.ShiftAt(s.Stop.At); ok {
			out.Shift = &sh
		}
	}
	if out.Signs == nil {
		out.Signs = []Sign{}
	}
	return out, nil
}

// figures are the record's counts at one time.
type figures struct {
	at       time.Time
	checks   []check
	median7  float64
	median30 float64
}

// check is one officer's verification as the figures count it.
type check struct {
	id, collar, refusedBy string
	at                    time.Time
	neverConnected        bool
	cancelled             bool
}

func (a *Assessor) load(ctx context.Context) (*figures, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.Now()
	if a.figures != nil && now.Sub(a.figures.at) < a.Refresh {
		return a.figures, nil
	}
	vs, err := a.Records.Verifications(ctx, gateway.VerificationFilter{Since: now.Add(-90 * 24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	f := &figures{at: now}
	per7, per30 := map[string]int{}, map[string]int{}
	for _, v := range vs {
		if v.Origin == gateway.OriginPublic || v.Officer.Collar == "" {
			continue
		}
		c := check{id: v.ID, collar: NormalizeCollar(v.Officer.Collar), at: v.CreatedAt,
			neverConnected: v.NeverConnected(), cancelled: v.State == gateway.StateCancelled}
		if v.Outcome != nil && v.Outcome.Result == gateway.OutcomeRefused {
			c.refusedBy = v.Outcome.Supervisor
			if c.refusedBy == "" {
				c.refusedBy = "?"
			}
		}
		f.checks = append(f.checks, c)
		if now.Sub(c.at) <= 7*24*time.Hour {
			per7[c.collar]++
		}
		if now.Sub(c.at) <= 30*24*time.Hour {
			per30[c.collar]++
		}
	}
	f.median7, f.median30 = Median(values(per7)), Median(values(per30))
	a.figures = f
	return f, nil
}

// history is one officer's figures; the force's medians are over the
// officers who made a check in each window.
func (f *figures) history(collar, supervisor, exclude string) History {
	h := History{Median7: f.median7, Median30: f.median30, RecordingSupervisor: supervisor}
	for _, c := range f.checks {
		if c.collar != collar || c.id == exclude {
			continue
		}
		age := f.at.Sub(c.at)
		if age <= 7*24*time.Hour {
			h.Checks7++
		}
		if age <= 30*24*time.Hour {
			h.Checks30++
			if c.neverConnected {
				h.NeverConnected30++
				if c.cancelled {
					h.Cancelled30++
				}
			}
		}
		if c.refusedBy == "" {
			continue
		}
		if h.RefusedBy == nil {
			h.RefusedBy = map[string]int{}
		}
		h.RefusedBy[c.refusedBy]++
	}
	h.RefusedByOthers90, _ = refusedByOthers(h.RefusedBy, supervisor)
	return h
}

func values(m map[string]int) []int {
	out := make([]int, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
