package gateway

import (
	"context"
	"time"
)

// HandsetCall is a call from the public that reached a room's handset
// directly: she video-called the room's WhatsApp or FaceTime handle, and the
// handset's device agent reports it ringing. Her identity in the app reaches
// the router only masked and hashed.
type HandsetCall struct {
	DeviceID string  // the handset whose agent reports it: its credential's subject, never the body's
	Channel  Channel // the app she called in
	// CallID is the agent's ID of the call: the same call reported again
	// is the same verification.
	CallID string
	// Caller is her identity in the app masked (MaskCaller): the last
	// three digits of a number, "" for an Apple ID, a user name or none.
	Caller string
	// CallerHash is its keyed hash (HashCaller); "" when withheld.
	CallerHash string
}

// HandsetRequester is the RequestedBy of a verification rung in on a
// handset, followed by the device ID: a CallID is the agent's, unique on
// its handset.
const HandsetRequester = "handset:"

// DeviceClaim asks for one named device: a call that rang it directly.
type DeviceClaim struct {
	DeviceID string
	Channel  Channel // the device must support it
	Holder   string  // the verification that will hold the lease
	TTL      time.Duration
}

// HandsetService records the public's calls that reach a handset directly,
// as its device agent reports them (the router's Handset methods).
type HandsetService interface {
	// RingIn records a call ringing on a handset: a verification of
	// origin public in room of the handset, one attempt on it in the
	// call's channel (dialling), and the handset claimed for it, so that
	// nothing else is sent to it while the call lasts. The same CallID
	// again returns the verification it made and false, and claims
	// nothing. ENOTFOUND for no such device; EINVALID for no CallID or a
	// channel the handset has no handle for; ECONFLICT when the handset is
	// in another call or not in service (nothing is recorded or claimed).
	RingIn(ctx context.Context, call HandsetCall) (Verification, bool, error)
	// HandsetReport is the agent's report on a call it rang in: ringing
	// keeps the claim; answered connects the verification on the call's
	// channel and handset; ended frees the handset (a call never answered
	// ends failed); no_answer, rejected and failed end it failed and free
	// the handset. A report again changes nothing more. ENOTFOUND when id
	// is not a call rung in on deviceID; EINVALID for another status.
	HandsetReport(ctx context.Context, deviceID, id string, status ReportStatus, detail string) (Verification, error)
	// HandsetAlive renews the claim of the call rung in on d, if d's
	// lease is one (its agent's heartbeat says it is alive).
	HandsetAlive(ctx context.Context, d Device) error
}

// CheckClaim reports why d, read with its live lease, cannot be claimed by
// name for a call on ch (ClaimStore.ClaimDevice): ECONFLICT when it is not
// in service or in another call, EINVALID when it has no handle for ch.
func (d Device) CheckClaim(ch Channel) error {
	switch {
	case d.Status != DeviceInService:
		return Errorf(ECONFLICT, "device %s is %s", d.ID, d.Status)
	case !d.Supports(ch):
		return Errorf(EINVALID, "device %s has no %.32s handle", d.ID, ch)
	case d.Lease != nil:
		return Errorf(ECONFLICT, "device %s is in another call", d.ID)
	}
	return nil
}
