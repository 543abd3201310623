package gateway

import "time"

// A DeskLease is one of a room's supervisor desk lines, held by the
// verification whose PSTN call rings the desk: a desk phone takes as many
// calls at once as it has lines, however many gateways share the store. A
// lease whose ExpiresAt has passed is free: a holder that stopped frees its
// line by not renewing it.
type DeskLease struct {
	RoomID    string    `json:"room"`
	Line      int       `json:"line"`   // 0 to the desk's lines - 1
	Holder    string    `json:"holder"` // the verification ringing the desk
	Fence     int64     `json:"fence"`  // grows with every claim of the line
	ClaimedAt time.Time `json:"claimed_at"`
	ExpiresAt time.Time `json:"expires_at"`
}
