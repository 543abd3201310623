package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Leg is one call leg an adapter is asked to place: between the officer's
// handle and the claimed device on one channel.
type Leg struct {
	VerificationID string
	AttemptID      string
	Reference      string  // the verification's public reference, for meeting titles
	Channel        Channel // the channel to place it on
	OfficerHandle  string  // the officer's handle in that channel's app (E.164 for phone apps)
	Device         Device  // the claimed device
	DeviceHandle   string  // the device's handle on the channel (its number for PSTN)
	Deadline       time.Time
}

// Placement is what an adapter returns once the provider accepted a leg.
type Placement struct {
	ProviderRef string // the provider's ID for the leg: call SID, meeting ID, dial-order ID
	JoinURL     string // for meeting-style channels: the link the officer app opens
	// Connected is true when the provider's answer already means connected
	// (no status report will follow).
	Connected bool
}

// Adapter places call legs on one channel through one provider. The router
// keeps a registry of adapters, one per channel.
type Adapter interface {
	// Channel is the channel this adapter serves.
	Channel() Channel
	// Place asks the provider to place the leg and returns once the provider
	// has accepted or refused it; whether the call connects arrives later as
	// a Report. Errors are *CallError, which say whether the provider can have
	// acted on the request.
	Place(ctx context.Context, leg Leg) (Placement, error)
}

// JoinSender delivers a meeting link to the ops-room device of a leg: the
// meeting-style adapters (zoom, meet, teams, webrtc) hand the device its link
// through one. The device-agent adapter implements it, and the WhatsApp
// sender for devices without a live agent.
type JoinSender interface {
	// SendJoin tells the leg's device to open joinURL. Errors are the
	// implementation's: *CallError or *Error (EUNAVAILABLE when the device
	// cannot be told).
	SendJoin(ctx context.Context, leg Leg, joinURL string) error
}

// Hanger is an optional adapter capability: end a leg that the router
// abandons (not answered in time, cancelled, unknown outcome).
type Hanger interface {
	HangUp(ctx context.Context, leg Leg, p Placement) error
}

// Fate says what a provider may have done with a request that failed.
// It is a typed fact: the router decides retry, hang-up and fail-over from it.
type Fate int

// The fates.
const (
	// NotPlaced: the provider cannot have acted (connection refused, 429, 503
	// before acceptance). Safe to retry within the attempt's deadline.
	NotPlaced Fate = iota + 1
	// PlacedFailed: the provider acted and the leg failed (rejected, not
	// answered, bad handle). Retrying the same leg is pointless: fail over.
	PlacedFailed
	// Unknown: the provider may have acted (a timeout after the request was
	// sent). Hang up where possible, then fail over.
	Unknown
)

// String names the fate as stored and shown.
func (f Fate) String() string {
	switch f {
	case NotPlaced:
		return "not_placed"
	case PlacedFailed:
		return "placed_failed"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("fate(%d)", int(f))
}

// ParseFate returns the fate named s (as String names it), or an EINVALID
// error. The empty string is the zero Fate: no fate given.
func ParseFate(s string) (Fate, error) {
	switch s {
	case "":
		return 0, nil
	case "not_placed":
		return NotPlaced, nil
	case "placed_failed":
		return PlacedFailed, nil
	case "unknown":
		return Unknown, nil
	}
	return 0, Errorf(EINVALID, "unknown fate %.40q (known: not_placed, placed_failed, unknown)", s)
}

// MarshalText names the fate; the zero Fate is empty.
func (f Fate) MarshalText() ([]byte, error) {
	if f == 0 {
		return nil, nil
	}
	if _, err := ParseFate(f.String()); err != nil {
		return nil, err
	}
	return []byte(f.String()), nil
}

// UnmarshalText is ParseFate.
func (f *Fate) UnmarshalText(b []byte) error {
	v, err := ParseFate(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// CallError is an adapter's error: what the provider may have done, how long it
// asked us to wait before trying again, and the cause.
type CallError struct {
	Fate       Fate
	RetryAfter time.Duration // from the provider's Retry-After, if any
	Provider   string        // "zoom", "twilio", "agent"
	// Skipped: the adapter refused without contacting the provider (its
	// circuit breaker is open). The router records the attempt as skipped
	// and moves on at once.
	Skipped bool
	Err     error
}

// Error describes the failure for logs and attempt records.
func (e *CallError) Error() string {
	msg := e.Fate.String()
	if e.Provider != "" {
		msg = e.Provider + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *CallError) Unwrap() error { return e.Err }

// FateOf returns the fate of err: the Fate of a *CallError in its chain, and
// Unknown for any other error (the provider may have acted).
func FateOf(err error) Fate {
	var ce *CallError
	if errors.As(err, &ce) && ce.Fate != 0 {
		return ce.Fate
	}
	return Unknown
}

// RetryAfterOf returns the Retry-After a *CallError in err's chain carries.
func RetryAfterOf(err error) time.Duration {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.RetryAfter
	}
	return 0
}

// SkippedOf reports whether a *CallError in err's chain says the adapter
// refused without contacting the provider (its circuit breaker is open).
func SkippedOf(err error) bool {
	var ce *CallError
	return errors.As(err, &ce) && ce.Skipped
}

// Request is an officer app's request for a verification, decoded and
// checked by the HTTP layer.
type Request struct {
	Officer  Officer
	Location Location
	Contacts []Contact // in the officer's order of preference
	// Grounds is the officer's stated reason for the stop, part of the
	// record as a stop-and-search record's would be; empty: not stated.
	Grounds        string
	RequestedBy    string // the token ID of the officer app
	IdempotencyKey string
	// Fingerprint identifies the request's content (officer, location,
	// contacts), so that its idempotency key used again with other content
	// is refused (EIDEMPOTENCY); empty is not checked.
	Fingerprint string
}

// Reporter takes status reports for legs: adapters' webhook handlers and the
// device-agent protocol hand their reports to it (the router implements it).
type Reporter interface {
	// Report records r and wakes whoever waits on its attempt. ENOTFOUND when
	// no attempt matches; EINVALID for a report that makes no sense.
	Report(ctx context.Context, r Report) error
}

// ReportStatus is a status a provider or device agent reports for a leg, or
// a messaging service for a message the gateway sent.
type ReportStatus string

// The report statuses. Append only.
const (
	ReportDialling  ReportStatus = "dialling"  // accepted, placing the call
	ReportRinging   ReportStatus = "ringing"   // the far end is ringing
	ReportAnswered  ReportStatus = "answered"  // connected: both ends are on the call
	ReportRejected  ReportStatus = "rejected"  // the far end declined or was busy
	ReportNoAnswer  ReportStatus = "no_answer" // rang out
	ReportFailed    ReportStatus = "failed"    // could not be placed or failed; see Fate
	ReportEnded     ReportStatus = "ended"     // a connected call ended
	ReportJoined    ReportStatus = "joined"    // one side joined a meeting (see Party)
	ReportCancelled ReportStatus = "cancelled" // the leg was withdrawn

	// The statuses of a message sent (a join link): Report.MessageID names it.
	ReportSent      ReportStatus = "sent"      // the service took it
	ReportDelivered ReportStatus = "delivered" // it reached the phone
	ReportRead      ReportStatus = "read"      // it was opened
	// A message that could not be delivered is ReportFailed with its MessageID.
)

// ParseReportStatus returns the status named s, or an EINVALID error.
func ParseReportStatus(s string) (ReportStatus, error) {
	switch r := ReportStatus(s); r {
	case ReportDialling, ReportRinging, ReportAnswered, ReportRejected, ReportNoAnswer,
		ReportFailed, ReportEnded, ReportJoined, ReportCancelled, ReportSent, ReportDelivered, ReportRead:
		return r, nil
	}
	return "", Errorf(EINVALID, "unknown status %.40q", s)
}

// Party is a side of a meeting-style call.
type Party string

// The parties. A meeting connects when both have joined.
const (
	PartyOfficer Party = "officer" // the officer (his app, or his join of the meeting)
	PartyDevice  Party = "device"  // the ops room's handset
)

// Report is a status report for one leg, from a provider webhook or a device
// agent, after the adapter has turned it into the gateway's terms; or a
// messaging service's report on a message the gateway sent (MessageID set).
// It is stored as it is, with its event (Event.Report).
type Report struct {
	AttemptID   string       `json:"attempt,omitempty"` // set when the source knows it (agent reports, callbacks with our parameters)
	Channel     Channel      `json:"channel,omitempty"`
	ProviderRef string       `json:"ref,omitempty"`     // otherwise the leg is found by the provider's reference
	MessageID   string       `json:"message,omitempty"` // a message's status: the service's ID of the message
	Status      ReportStatus `json:"status"`
	Fate        Fate         `json:"fate,omitempty"`   // for ReportFailed: NotPlaced or PlacedFailed
	Party       Party        `json:"party,omitempty"`  // for ReportJoined: who joined; empty when not known
	Detail      string       `json:"detail,omitempty"` // a short, safe description (no member of the public's number)
	At          time.Time    `json:"-"`
}
