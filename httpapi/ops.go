package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/handle"
)

// Limits of a device's fields.
const (
	MaxRoomID     = 64
	MaxDeviceName = 64
)

// deviceBody is the wire form of a new device.
type deviceBody struct {
	Room    string            `json:"room"`
	Name    string            `json:"name"`
	Number  string            `json:"number"`
	Handles map[string]string `json:"handles"`
}

// devicePatch is the wire form of a rotation: only the fields present
// change; handles, when present, replace the device's handles.
type devicePatch struct {
	Name             *string            `json:"name"`
	Number           *string            `json:"number"`
	Handles          *map[string]string `json:"handles"`
	Status           *string            `json:"status"`
	RotateCredential bool               `json:"rotate_credential"`
}

// Credential is a device agent's credential. The secret is shown once.
type Credential struct {
	Token  string `json:"token"`  // the token's ID
	Secret string `json:"secret"` // the bearer secret for the agent
}

// DeviceReply answers a device's creation or rotation; Credential is set
// when a new one was issued.
type DeviceReply struct {
	Device     DeviceView  `json:"device"`
	Credential *Credential `json:"credential,omitempty"`
	// Pending reports that the change waits for the device's call in
	// progress to end; Changes says what will change then (empty when
	// nothing waits).
	Pending bool           `json:"pending"`
	Changes map[string]any `json:"changes"`
}

// DevicesReply answers a listing of devices.
type DevicesReply struct {
	Devices []DeviceView `json:"devices"`
}

// checkHandles checks a device's handles by channel. PSTN is the device's
// number, not a handle.
func checkHandles(channels *gateway.Registry, in map[string]string) (map[gateway.Channel]string, error) {
	out := make(map[gateway.Channel]string, len(in))
	for name, h := range in {
		c, err := channels.Parse(name)
		if err != nil {
			return nil, invalid("handles: %s", gateway.ErrorMessage(err))
		}
		if c == gateway.ChannelPSTN {
			return nil, invalid("handles.pstn: a device's PSTN number is its number field")
		}
		if h, err = channels.CheckHandle(c, h); err != nil {
			return nil, invalid("handles.%s: %s", c, gateway.ErrorMessage(err))
		}
		out[c] = h
	}
	return out, nil
}

// checkNumber checks a device's SIM number; empty means none.
func checkNumber(n string) (string, error) {
	n = strings.TrimSpace(n)
	if n == "" {
		return "", nil
	}
	n, err := handle.E164(n)
	if err != nil {
		return "", invalid("number %s", gateway.ErrorMessage(err))
	}
	return n, nil
}

// GET /v1/devices?room=&retired=true
func (s *Server) listDevices(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	q := r.URL.Query()
	room, err := s.roomParam(q.Get("room"))
	if err != nil {
		return err
	}
	var retired bool
	switch q.Get("retired") {
	case "", "false", "0":
	case "true", "1":
		retired = true
	default:
		return invalid("retired must be true or false")
	}
	ds, err := s.Devices.Devices(r.Context(), room, retired)
	if err != nil {
		return err
	}
	views := make([]DeviceView, 0, len(ds))
	now := s.storeNow(r.Context())
	for _, d := range ds {
		views = append(views, s.deviceView(d, now))
	}
	s.writeJSON(w, r, http.StatusOK, DevicesReply{Devices: views})
	return nil
}

// GET /v1/devices/{id}
func (s *Server) getDevice(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	d, err := s.Devices.Device(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, DeviceReply{Device: s.deviceView(d, s.storeNow(r.Context())), Changes: map[string]any{}})
	return nil
}

// POST /v1/devices
func (s *Server) createDevice(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	var body deviceBody
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	d := gateway.Device{ID: gateway.NewID("d_"), Status: gateway.DeviceInService, Battery: -1}
	var err error
	if d.RoomID, err = checkText("room", body.Room, MaxRoomID); err != nil {
		return err
	}
	if s.Rooms != nil {
		if _, ok := s.Rooms.Room(d.RoomID); !ok {
			return invalid("room %q is not one of the operations rooms", d.RoomID)
		}
	}
	if d.Name, err = checkOptionalText("name", body.Name, MaxDeviceName); err != nil {
		return err
	}
	if d.Number, err = checkNumber(body.Number); err != nil {
		return err
	}
	if d.Handles, err = checkHandles(s.Channels, body.Handles); err != nil {
		return err
	}
	if err := d.CheckCallable(); err != nil {
		return err
	}
	if s.Ops != nil {
		d, err = s.Ops.AddDevice(r.Context(), d, opsEvent(tok, gateway.OpsDeviceAdd, ""))
	} else {
		d, err = s.Devices.CreateDevice(r.Context(), d)
	}
	if err != nil {
		return err
	}
	cred, err := s.issueCredential(r.Context(), d)
	if err != nil {
		return err
	}
	s.logger().WithFields(logrus.Fields{"device": d.ID, "room": d.RoomID, "token": tok.ID}).Info("device created")
	s.writeJSON(w, r, http.StatusCreated, DeviceReply{Device: s.deviceView(d, s.storeNow(r.Context())), Credential: cred, Changes: map[string]any{}})
	return nil
}

// change checks the patch's fields and returns the change they ask for.
func (p devicePatch) change(channels *gateway.Registry) (gateway.DeviceChange, error) {
	c := gateway.DeviceChange{RotateCredential: p.RotateCredential}
	if p.Name != nil {
		name, err := checkOptionalText("name", *p.Name, MaxDeviceName)
		if err != nil {
			return c, err
		}
		c.Name = &name
	}
	if p.Number != nil {
		number, err := checkNumber(*p.Number)
		if err != nil {
			return c, err
		}
		c.Number = &number
	}
	if p.Handles != nil {
		handles, err := checkHandles(channels, *p.Handles)
		if err != nil {
			return c, err
		}
		if handles == nil {
			handles = map[gateway.Channel]string{} // present and empty: no handles
		}
		c.Handles = handles
	}
	if p.Status != nil {
		status, err := gateway.ParseDeviceStatus(*p.Status)
		if err != nil {
			return c, err
		}
		c.Status = &status
	}
	return c, nil
}

// PATCH /v1/devices/{id}: what a change may do is the domain's
// (gateway.DeviceChange, Device.Plan); the handler decodes it and has the
// store make it (or keep it for when the device's call ends), with the
// ops record's entry. Without Ops it has it applied at once and issues or
// revokes the credentials it calls for itself.
func (s *Server) updateDevice(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	var p devicePatch
	if err := s.decodeBody(w, r, &p); err != nil {
		return err
	}
	change, err := p.change(s.Channels)
	if err != nil {
		return err
	}
	if err := change.Check(); err != nil {
		return err // before the device is looked up: no device could take it
	}
	if s.Ops != nil {
		return s.changeDevice(w, r, tok, change, gateway.OpsDevicePatch, "")
	}
	ctx, id := r.Context(), r.PathValue("id")
	var d gateway.Device
	if change.Edits() {
		d, err = s.Devices.UpdateDevice(ctx, id, func(d *gateway.Device) error { return d.Apply(change) })
	} else if d, err = s.Devices.Device(ctx, id); err == nil {
		err = d.Apply(change) // a new credential alone: refused for a retired device
	}
	if err != nil {
		return err
	}

	reply := DeviceReply{Device: s.deviceView(d, s.storeNow(r.Context())), Changes: map[string]any{}}
	log := s.logger().WithFields(logrus.Fields{"device": d.ID, "room": d.RoomID, "token": tok.ID, "version": d.Version})
	switch change.Credentials() {
	case gateway.CredentialRenewed:
		if reply.Credential, err = s.issueCredential(ctx, d); err != nil {
			return err
		}
		if err := s.revokeAgentTokens(ctx, d.ID, reply.Credential.Token); err != nil {
			return err
		}
		log.Info("device rotated with a new credential")
	case gateway.CredentialRevoked:
		if err := s.revokeAgentTokens(ctx, d.ID, ""); err != nil {
			return err
		}
		log.Info("device retired")
	default:
		log.Info("device rotated")
	}
	s.writeJSON(w, r, http.StatusOK, reply)
	return nil
}

// issueCredential stores a new agent token for the device.
func (s *Server) issueCredential(ctx context.Context, d gateway.Device) (*Credential, error) {
	secret, hash := gateway.NewSecret()
	t := gateway.Token{
		ID:      gateway.NewID("t_"),
		Role:    gateway.RoleAgent,
		Name:    "agent " + d.ID,
		Subject: d.ID,
		Hash:    hash,
	}
	if err := s.Tokens.CreateToken(ctx, t); err != nil {
		return nil, err
	}
	return &Credential{Token: t.ID, Secret: secret}, nil
}

// revokeAgentTokens revokes every live agent token of the device but keep.
func (s *Server) revokeAgentTokens(ctx context.Context, deviceID, keep string) error {
	ts, err := s.Tokens.Tokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.Role != gateway.RoleAgent || t.Subject != deviceID || t.Revoked || t.ID == keep {
			continue
		}
		if err := s.Tokens.RevokeToken(ctx, t.ID); err != nil {
			return err
		}
	}
	return nil
}
