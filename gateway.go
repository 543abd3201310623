// Package gateway holds the domain of the Safe Connection gateway: the types
// (rooms, devices, verifications, attempts, outcomes), their states, the one
// error type, and the small interfaces at which the other packages meet.
//
// A lone plain-clothes officer asks the gateway for a verification; the router
// picks the local operations room from his location, claims a free dedicated
// device there under a lease, and places a video call over the first channel
// that works, falling over to the next channel, device or neighbouring room.
// Every change is written to the store as an event before anyone is told.
//
// This package imports only the standard library.
package gateway

import (
	"fmt"
)

// Channel is a way to connect, named for what the officer has on his
// phone: "zoom", "whatsapp". The adapter package that serves a channel
// declares its name and describes it (ChannelInfo); stored records name
// channels, so a name once used is never given to another.
type Channel string

// ChannelPSTN is the telephone: the router's last resort, which rings the
// officer's phone and bridges it to the room when every video channel has
// failed.
const ChannelPSTN Channel = "pstn"

// IsVideo reports whether the channel carries video (every channel but PSTN).
func (c Channel) IsVideo() bool { return c != ChannelPSTN }

// State is where a verification is in its life:
//
//	routing -> dialling -> connected -> verified | refused
//
// with queued (no free device near yet), failed (every channel tried: the
// officer is told to use 999) and cancelled.
type State string

// The verification states. Append only.
const (
	StateRouting   State = "routing"
	StateQueued    State = "queued"
	StateDialling  State = "dialling"
	StateConnected State = "connected"
	StateVerified  State = "verified"
	StateRefused   State = "refused"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

// Terminal reports whether no further change of state can follow s, apart from
// a supervisor's outcome on a call that ended without one.
func (s State) Terminal() bool {
	switch s {
	case StateVerified, StateRefused, StateFailed, StateCancelled:
		return true
	}
	return false
}

// Live reports whether the router is still working on a verification in state s.
func (s State) Live() bool {
	switch s {
	case StateRouting, StateQueued, StateDialling:
		return true
	}
	return false
}

// Advice999 is what the officer is told when every channel has failed.
const Advice999 = "No supervisor could be reached: tell her to dial 999 now and ask the operator to confirm you."

// Role is what a credential may do.
type Role string

// The roles. Append only.
const (
	RoleOfficer    Role = "officer"
	RoleSupervisor Role = "supervisor"
	RoleOps        Role = "ops"
	RoleAgent      Role = "agent"
)

// ParseRole returns the role named s, or an EINVALID error.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleOfficer, RoleSupervisor, RoleOps, RoleAgent:
		return r, nil
	}
	return "", Errorf(EINVALID, "unknown role %q (known: officer, supervisor, ops, agent)", s)
}

// Token is a stored credential. Only the SHA-256 of the secret is kept.
type Token struct {
	ID      string
	Role    Role
	Name    string // who or what holds it: "officer app 7", "PS 42", "ops desk"
	Subject string // for agent tokens, the device ID
	Hash    string // hex SHA-256 of the secret
	Revoked bool
}

// String returns a short description for logs; it never includes the secret.
func (t Token) String() string { return fmt.Sprintf("%s(%s %s)", t.ID, t.Role, t.Name) }
