package roster

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SignCode names a warning sign. Append only: records keep them.
type SignCode string

// The warning signs.
const (
	SignNotOnRoster     SignCode = "not_on_roster"     // no entry for his collar number
	SignNotOnDuty       SignCode = "not_on_duty"       // no shift covers the stop
	SignNotPlainClothes SignCode = "not_plain_clothes" // his shift is not plain-clothes duty
	SignOutsideArea     SignCode = "outside_area"      // the stop is outside his assigned area
	SignWarrantMismatch SignCode = "warrant_mismatch"  // his credential's warrant number is not the roster's
	SignNewCredential   SignCode = "new_credential"    // his credential was issued in the last few days
	SignManyChecks      SignCode = "many_checks"       // far more lone-woman checks than the force's median
	SignNeverConnected  SignCode = "never_connected"   // checks he opened that never connected, or he cancelled
	SignRefusals        SignCode = "refusals"          // other supervisors refused him
	SignRosterStale     SignCode = "roster_stale"      // the roster consulted is old
)

// Sign is one warning sign: what it is, in plain words, and the figures
// behind it. A sign is not a verdict: the supervisor decides.
type Sign struct {
	Code    SignCode          `json:"code"`
	Reason  string            `json:"reason"`
	Figures map[string]string `json:"figures,omitempty"`
}

// Thresholds say when a sign is raised.
type Thresholds struct {
	// NewCredential: a credential issued less than this long ago is new.
	NewCredential time.Duration
	// ChecksFactor and ChecksMin: his checks in a window are many when at
	// least ChecksMin and more than ChecksFactor times the force's median.
	ChecksFactor float64
	ChecksMin    int
	// NeverConnected: this many or more of his checks in 30 days never
	// connected or were cancelled before they did.
	NeverConnected int
	// Refusals: this many or more refusals by other supervisors in 90 days.
	Refusals int
	// RosterStale: a roster older than this is stale (0: never).
	RosterStale time.Duration
}

// DefaultThresholds are the thresholds without configuration.
func DefaultThresholds() Thresholds {
	return Thresholds{
		NewCredential: 72 * time.Hour, ChecksFactor: 3, ChecksMin: 5,
		NeverConnected: 2, Refusals: 1, RosterStale: 24 * time.Hour,
	}
}

// History is what the record says of an officer's earlier checks.
type History struct {
	Checks7, Checks30   int            // his checks in the last 7 and 30 days
	Median7, Median30   float64        // the force's median per officer over the same windows
	NeverConnected30    int            // his checks in 30 days that never connected (cancelled ones included)
	Cancelled30         int            // of those, the ones he cancelled
	RefusedByOthers90   int            // refusals recorded by other supervisors in 90 days
	RefusedBy           map[string]int // refusals in 90 days by every supervisor, who is looking included
	CredentialIssuedAt  time.Time
	CredentialWarrant   string // the warrant number on his credential
	RecordingSupervisor string // who is looking (his own refusals do not count against the officer)
}

// Stop is where and when the check happens.
type Stop struct {
	At      time.Time
	Borough string // the borough the stop is in; "" when not known
	RoomID  string // the ops room covering it
	// Boroughs, when Borough is not known (a check by radio or 999 with
	// no place given), are the boroughs the stop may be in (its room's): he
	// is outside his area only when none of them is in it.
	Boroughs []string
}

// inArea reports whether the stop is in one of areas: its borough or
// room, or, when its borough is not known, one of the boroughs it may be
// in.
func (s Stop) inArea(areas []string) bool {
	return slices.ContainsFunc(areas, func(a string) bool {
		if strings.EqualFold(a, s.RoomID) || s.Borough != "" && strings.EqualFold(a, s.Borough) {
			return true
		}
		return s.Borough == "" && slices.ContainsFunc(s.Boroughs, func(b string) bool { return strings.EqualFold(a, b) })
	})
}

// Assess returns the warning signs for an officer, by collar number, at a
// stop, given the roster and his history. The signs come in a fixed order.
func Assess(snap Snapshot, collar string, stop Stop, h History, th Thresholds) []Sign {
	var out []Sign
	add := func(c SignCode, reason string, kv ...string) {
		s := Sign{Code: c, Reason: reason}
		if len(kv) > 0 {
			s.Figures = map[string]string{}
			for i := 0; i+1 < len(kv); i += 2 {
				s.Figures[kv[i]] = kv[i+1]
			}
		}
		out = append(out, s)
	}
	if snap.Stale(stop.At, th.RosterStale) {
		if snap.LoadedAt.IsZero() {
			add(SignRosterStale, "No duty roster has been loaded: nothing below could be checked against it.")
		} else {
			add(SignRosterStale, "The duty roster is "+age(snap.Age(stop.At))+" old: it may not show today's duties.",
				"roster_loaded_at", snap.LoadedAt.UTC().Format(time.RFC3339))
		}
	}
	o, ok := snap.Roster.Officer(collar)
	if !ok {
		add(SignNotOnRoster, fmt.Sprintf("No officer with collar number %s is on the duty roster.", NormalizeCollar(collar)))
	} else {
		shift, on := o.ShiftAt(stop.At)
		if !on {
			if n, ok := o.Nearest(stop.At); ok {
				add(SignNotOnDuty, "He is not on duty now: no shift on the roster covers this time.",
					"nearest_shift_start", n.Start.UTC().Format(time.RFC3339), "nearest_shift_end", n.End.UTC().Format(time.RFC3339))
			} else {
				add(SignNotOnDuty, "No shift is found for him on the roster.")
			}
		} else {
			if !shift.PlainClothes {
				add(SignNotPlainClothes, "His shift is not plain-clothes duty: he should be in uniform.",
					"shift_unit", shift.Unit)
			}
			switch {
			case len(shift.Areas) == 0 || stop.inArea(shift.Areas):
			case stop.Borough == "" && len(stop.Boroughs) > 0:
				add(SignOutsideArea, "The stop's place was not given, and none of its room's boroughs is in the area he is assigned to.",
					"stop_boroughs", strings.Join(stop.Boroughs, "; "), "stop_room", stop.RoomID, "assigned", strings.Join(shift.Areas, "; "))
			default:
				add(SignOutsideArea, "The stop is outside the area he is assigned to.",
					"stop_borough", stop.Borough, "stop_room", stop.RoomID, "assigned", strings.Join(shift.Areas, "; "))
			}
		}
		if h.CredentialWarrant != "" && NormalizeWarrant(h.CredentialWarrant) != o.Warrant {
			add(SignWarrantMismatch, "The warrant card number on his credential is not the one on the roster.")
		}
	}
	if !h.CredentialIssuedAt.IsZero() && th.NewCredential > 0 && stop.At.Sub(h.CredentialIssuedAt) < th.NewCredential {
		add(SignNewCredential, "His app's credential was issued "+age(stop.At.Sub(h.CredentialIssuedAt))+" ago.",
			"credential_issued_at", h.CredentialIssuedAt.UTC().Format(time.RFC3339))
	}
	for _, w := range []struct {
		days   string
		n      int
		median float64
	}{{"7", h.Checks7, h.Median7}, {"30", h.Checks30, h.Median30}} {
		if w.n >= th.ChecksMin && float64(w.n) > th.ChecksFactor*w.median {
			add(SignManyChecks, fmt.Sprintf("He has made %d checks in the last %s days; the force's median is %s.", w.n, w.days, num(w.median)),
				"days", w.days, "checks", strconv.Itoa(w.n), "force_median", num(w.median))
			break
		}
	}
	if th.NeverConnected > 0 && h.NeverConnected30 >= th.NeverConnected {
		add(SignNeverConnected, fmt.Sprintf("%d of his checks in the last 30 days never connected (%d he cancelled).", h.NeverConnected30, h.Cancelled30),
			"never_connected_30d", strconv.Itoa(h.NeverConnected30), "cancelled_30d", strconv.Itoa(h.Cancelled30))
	}
	if th.Refusals > 0 && h.RefusedByOthers90 >= th.Refusals {
		out = append(out, refusalsSign(h.RefusedByOthers90, h.RefusedBy, h.RecordingSupervisor))
	}
	return out
}

// refusalsSign is the sign of n refusals by supervisors other than viewer
// ("" when no one is looking: every refusal counts), naming who refused him
// and how often (by, from the record), so that a board every supervisor of
// the room sees still tells each one which refusals were his own.
func refusalsSign(n int, by map[string]int, viewer string) Sign {
	_, names := refusedByOthers(by, viewer)
	reason := fmt.Sprintf("Other supervisors refused him %d time(s) in the last 90 days", n)
	if len(names) > 0 {
		reason += ": " + strings.Join(names, ", ")
	}
	figures := map[string]string{"refusals_90d": strconv.Itoa(n)}
	if len(names) > 0 {
		figures["refused_by"] = strings.Join(names, ", ")
	}
	return Sign{Code: SignRefusals, Reason: reason + ".", Figures: figures}
}

// refusedByOthers counts the refusals of by (refusals by supervisor) that
// are not viewer's ("" for no one: every one counts), and names their
// supervisors with their counts ("PS 7 (2)"), sorted.
func refusedByOthers(by map[string]int, viewer string) (int, []string) {
	n, names := 0, []string{}
	for who, k := range by {
		if viewer == "" || !SameSupervisor(who, viewer) {
			n += k
			names = append(names, fmt.Sprintf("%s (%d)", who, k))
		}
	}
	sort.Strings(names)
	return n, names
}

// SameSupervisor reports whether a and b name the same supervisor as
// outcomes record him ("PS 42"), whatever the case and spacing.
func SameSupervisor(a, b string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " "))
}

// Summary is an assessment's event message: how many warning signs, and
// which.
func Summary(signs []Sign) string {
	if len(signs) == 0 {
		return "the supervisor's check: no warning signs"
	}
	codes := make([]string, len(signs))
	for i, s := range signs {
		codes[i] = string(s.Code)
	}
	return fmt.Sprintf("the supervisor's check: %d warning sign(s): %s", len(signs), strings.Join(codes, ", "))
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// age says a duration in words a person reads at a glance.
func age(d time.Duration) string {
	switch {
	case d < 2*time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 72*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// Median returns the median of counts; 0 for none.
func Median(counts []int) float64 {
	if len(counts) == 0 {
		return 0
	}
	c := slices.Clone(counts)
	slices.Sort(c)
	m := len(c) / 2
	if len(c)%2 == 1 {
		return float64(c[m])
	}
	return float64(c[m-1]+c[m]) / 2
}
