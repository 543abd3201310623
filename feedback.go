package gateway

import (
	"context"
	"encoding/json"
	"time"
)

// Feedback is what she told the force of how a check went, from her
// receipt: anonymous (nothing of her, her phone or her connection is
// kept), one per verification.
type Feedback struct {
	VerificationID string
	// Treated is how she was treated: FeedbackWell, FeedbackPoorly or
	// FeedbackBadly.
	Treated string
	// Explained is whether the officer explained why he stopped her:
	// "yes", "no" or "" (she did not say).
	Explained string
	// Misconduct is whether she reports misconduct.
	Misconduct bool
	// Report is what she wrote, at most MaxFeedbackReport characters; it
	// goes to the force's professional standards with a misconduct report
	// and is in no event, log line or page.
	Report string
	At     time.Time
}

// How she was treated.
const (
	FeedbackWell   = "well"
	FeedbackPoorly = "poorly"
	FeedbackBadly  = "badly"
)

// MaxFeedbackReport is the longest report kept.
const MaxFeedbackReport = 1000

// FeedbackStore keeps her feedback.
type FeedbackStore interface {
	// AddFeedback keeps f, written in one transaction with ev (the
	// verification's event that records it, without her words) and, when
	// f reports misconduct and the store delivers to an incident system,
	// an outbox entry of type OutboxMisconduct. The store's clock sets
	// f.At. ECONFLICT when the verification has feedback already;
	// ENOTFOUND.
	AddFeedback(ctx context.Context, f Feedback, ev Event) (Feedback, error)
	// FeedbackSince returns the feedback given since, oldest first.
	FeedbackSince(ctx context.Context, since time.Time) ([]Feedback, error)
}

// OutboxMisconduct is the outbox entry of feedback that reports
// misconduct, for the force's professional standards.
const OutboxMisconduct = "verification.misconduct"

// MisconductBody is what professional standards are told of feedback that
// reports misconduct: the check (as OutboxBody tells it) and what she said,
// nothing of her.
type MisconductBody struct {
	Type         string    `json:"type"`
	Verification string    `json:"verification"`
	Reference    string    `json:"reference"`
	Room         string    `json:"room"`
	Origin       Origin    `json:"origin"`
	State        State     `json:"state"`
	Officer      string    `json:"officer,omitempty"` // his collar number
	Force        string    `json:"force,omitempty"`
	Supervisor   string    `json:"supervisor,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	Treated      string    `json:"treated"`
	Explained    string    `json:"explained,omitempty"`
	Report       string    `json:"report,omitempty"`
	ReportedAt   time.Time `json:"reported_at"`
}

// MisconductMessage is the outbox entry of f, feedback on v that reports
// misconduct, pending from at.
func MisconductMessage(v Verification, f Feedback, at time.Time) (OutboxEntry, error) {
	b := MisconductBody{Type: OutboxMisconduct, Verification: v.ID, Reference: v.Reference, Room: v.RoomID, Origin: v.Origin,
		State: v.State, Officer: v.Officer.Collar, Force: v.Officer.Force, CreatedAt: v.CreatedAt.UTC(),
		Treated: f.Treated, Explained: f.Explained, Report: f.Report, ReportedAt: f.At.UTC()}
	if b.Origin == "" {
		b.Origin = OriginOfficer
	}
	if v.Outcome != nil {
		b.Supervisor = v.Outcome.Supervisor
	}
	body, err := json.Marshal(b)
	if err != nil {
		return OutboxEntry{}, err
	}
	return pendingEntry(v.ID, OutboxMisconduct, body, at), nil
}
