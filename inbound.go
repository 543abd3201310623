package gateway

import (
	"context"
	"time"
)

// InboundCall is a call from the public to a room's published number, as a
// telephone provider's webhook has it. Her number reaches the router only
// masked and hashed.
type InboundCall struct {
	CallSID    string // the provider's ID of her call
	To         string // the number she dialled (E.164): a room's published number
	Caller     string // her number masked (MaskCaller); "" when withheld
	CallerHash string // her number's keyed hash (HashCaller); "" when withheld
}

// StepKind is what a public call does next.
type StepKind string

// The steps of a public call.
const (
	StepDial   StepKind = "dial"    // ring Number for Timeout
	StepWait   StepKind = "wait"    // hold, told her Position in the room's queue, then ask again
	StepGiveUp StepKind = "give_up" // no one was free within the budget: she is told to hang up and dial 999
	StepEnd    StepKind = "end"     // nothing more to do on her call: hang up
)

// InboundStep is the next step of a public call.
type InboundStep struct {
	Kind         StepKind
	Verification Verification
	Room         Room // the room she called
	// Greet: this is her call's first step, so she hears the greeting.
	Greet bool
	// StepDial: the attempt, the device number to ring and for how long.
	AttemptID string
	Number    string
	Timeout   time.Duration
	// StepWait: her place among those waiting for the room (1: next).
	Position int
}

// InboundService serves the public's calls to rooms' published numbers one
// step at a time, as the telephone provider's webhooks arrive (the
// router's Inbound methods).
type InboundService interface {
	// Inbound starts the verification of a call and returns its first
	// step; the same call again returns the step it is at. ENOTFOUND when
	// no room publishes the number called.
	Inbound(ctx context.Context, call InboundCall) (InboundStep, error)
	// InboundWait is her wait asking again. ENOTFOUND.
	InboundWait(ctx context.Context, id string) (InboundStep, error)
	// InboundDialed is the end of a dial to a device, by the provider's
	// dial status; hungUp says her own call has ended. ENOTFOUND;
	// EINVALID for an unknown status.
	InboundDialed(ctx context.Context, id, attemptID, dialStatus string, hungUp bool) (InboundStep, error)
	// InboundLeg records the status of the leg to a device (in-progress
	// connects; completed after that ends the call). ENOTFOUND.
	InboundLeg(ctx context.Context, id, attemptID, status string) error
}
