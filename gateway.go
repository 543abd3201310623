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
	"slices"
	"strings"
	"time"
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

// VoiceLine is what a number check names a room's published number: the
// line the public calls. It is no channel of the registry, and no video
// handle's.
const VoiceLine Channel = "voice"

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
	// RoleHandler is a 999 call handler: he opens the checks a member of
	// the public asks for by radio or over a 999 call, and judges them as
	// a supervisor does; the rest (officers' own requests, public calls to
	// a room) are for supervisors.
	RoleHandler Role = "handler"
)

// Judges reports whether a credential of role r judges an officer on a
// verification of origin o: is shown his check (the roster entry, photo
// and warning signs), corrects the grounds of the stop and records the
// outcome. A supervisor judges every verification, a 999 call handler
// the checks asked for by radio or 999; nobody else judges any.
func (r Role) Judges(o Origin) bool {
	switch r {
	case RoleSupervisor:
		return true
	case RoleHandler:
		return o.Spoken()
	}
	return false
}

// OpensChecks reports whether a credential of role r opens checks asked
// for by radio or over a 999 call: a supervisor's or a 999 call
// handler's.
func (r Role) OpensChecks() bool { return r == RoleSupervisor || r == RoleHandler }

// Staff reports whether a credential of role r is issued to one named
// member of staff whom what he records names (rank or title, number,
// rooms): a supervisor's or a 999 call handler's.
func (r Role) Staff() bool { return r == RoleSupervisor || r == RoleHandler }

// ParseRole returns the role named s, or an EINVALID error.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleOfficer, RoleSupervisor, RoleOps, RoleAgent, RoleHandler:
		return r, nil
	}
	return "", Errorf(EINVALID, "unknown role %q (known: officer, supervisor, handler, ops, agent)", s)
}

// Token is a stored credential. Only the SHA-256 of the secret is kept.
type Token struct {
	ID      string
	Role    Role
	Name    string // who or what holds it: "officer app 7", "PS 42", "ops desk"
	Subject string // for agent tokens, the device ID
	Hash    string // hex SHA-256 of the secret
	Revoked bool
	// Officer is the officer an officer-app credential is issued to: a
	// verification's officer is taken from it. Nil for other roles (and for
	// an officer credential issued before identities, which may no longer
	// ask for a verification).
	Officer *OfficerIdentity
	// Supervisor is the supervisor a supervisor credential is issued to, or
	// the 999 call handler a handler credential is (his title as Rank): an
	// outcome records him. Nil for other roles.
	Supervisor *SupervisorIdentity
	// IssuedAt is when the credential was stored (the store's clock).
	IssuedAt time.Time
	// ExpiresAt is when it stops working (the store's clock); zero: never.
	ExpiresAt time.Time
	// RevokedAt is when it was revoked; zero while it is not.
	RevokedAt time.Time
	// SessionsEnded counts the times its console sessions were ended (a
	// sign-out ends every one of them): a console session carries the count
	// it was issued at and is refused once the credential's is higher.
	SessionsEnded int64
}

// OfficerIdentity is the officer an officer-app credential belongs to.
type OfficerIdentity struct {
	Force   string `json:"force"`   // the force's name
	Collar  string `json:"collar"`  // his collar number: "PC 1234"
	Warrant string `json:"warrant"` // his warrant card number: personal, shown to supervisors only
}

// SupervisorIdentity is the supervisor a supervisor credential belongs to.
type SupervisorIdentity struct {
	Rank   string   `json:"rank"`   // "PS", "Insp"
	Number string   `json:"number"` // "42"
	Rooms  []string `json:"rooms"`  // the room IDs he may record outcomes for; empty: every room
}

// Name is the supervisor's rank and number: "PS 42".
func (s SupervisorIdentity) Name() string { return strings.TrimSpace(s.Rank + " " + s.Number) }

// Covers reports whether the supervisor may act for the room: his rooms
// include it, or he has none (every room).
func (s SupervisorIdentity) Covers(room string) bool {
	return len(s.Rooms) == 0 || slices.Contains(s.Rooms, room)
}

// Usable reports whether the credential works at now: not revoked and not
// expired.
func (t Token) Usable(now time.Time) bool {
	return !t.Revoked && t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// String returns a short description for logs; it never includes the secret.
func (t Token) String() string { return fmt.Sprintf("%s(%s %s)", t.ID, t.Role, t.Name) }
