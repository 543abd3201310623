package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/handle"
)

// Limits of the ops API's inputs.
const (
	MaxReason       = 500
	DefaultOpsLimit = 100
	MaxOpsLimit     = 1000
)

// OpsStore is the part of the store that keeps what ops staff change, with
// the ops record (gateway.OpsStore).
type OpsStore interface {
	// AddDevice adds a device with its first version and ev. ECONFLICT,
	// EINVALID.
	AddDevice(ctx context.Context, d gateway.Device, ev gateway.OpsEvent) (gateway.Device, error)
	// ChangeDevice makes a change, or keeps it for when the device's call
	// ends, with ev. ENOTFOUND, EINVALID, ECONFLICT.
	ChangeDevice(ctx context.Context, id string, c gateway.DeviceChange, ev gateway.OpsEvent) (gateway.DeviceOutcome, error)
	// DeviceHistory lists every version of a device, oldest first.
	// ENOTFOUND.
	DeviceHistory(ctx context.Context, id string) ([]gateway.DeviceVersion, error)
	// RoomOverrides lists the stored room overrides.
	RoomOverrides(ctx context.Context) ([]gateway.RoomOverride, error)
	// PutRoomOverride stores a room override with ev. EINVALID.
	PutRoomOverride(ctx context.Context, o gateway.RoomOverride, ev gateway.OpsEvent) (gateway.RoomOverride, error)
	// OpsEvents lists the ops record, oldest first.
	OpsEvents(ctx context.Context, f gateway.OpsEventFilter) ([]gateway.OpsEvent, error)
	// AppendOpsEvent writes an entry of the ops record on its own, for an
	// action whose change is stored elsewhere (a credential's issue).
	AppendOpsEvent(ctx context.Context, ev gateway.OpsEvent) (gateway.OpsEvent, error)
}

// RoomEditor is the set of rooms the ops API lists and changes
// (rooms.Set).
type RoomEditor interface {
	// Rooms returns every room as it is now.
	Rooms() []gateway.Room
	// Room returns the room with the ID, and whether there is one.
	Room(id string) (gateway.Room, bool)
	// Check reports what is wrong with r as its room's new details.
	// EINVALID; ENOTFOUND.
	Check(r gateway.Room) error
	// Override puts the overrides over the rooms file. EINVALID for one
	// refused (the others applied).
	Override(os []gateway.RoomOverride) error
}

// RoomView is a room as the ops API shows it.
type RoomView struct {
	ID         string                     `json:"id"`
	Name       string                     `json:"name"`
	Boroughs   []string                   `json:"boroughs"`
	Number     string                     `json:"number"`
	DeskNumber string                     `json:"desk_number"`
	Handles    map[gateway.Channel]string `json:"handles"`
	Neighbours []string                   `json:"neighbours"`
	UpdatedAt  *time.Time                 `json:"updated_at"` // null: as the rooms file has it
}

// NewRoomView returns the API's view of r.
func NewRoomView(r gateway.Room) RoomView {
	v := RoomView{ID: r.ID, Name: r.Name, Boroughs: r.Boroughs, Number: r.Number, DeskNumber: r.DeskNumber,
		Handles: r.Handles, Neighbours: r.Neighbours, UpdatedAt: timeOrNull(r.UpdatedAt)}
	if v.Boroughs == nil {
		v.Boroughs = []string{}
	}
	if v.Handles == nil {
		v.Handles = map[gateway.Channel]string{}
	}
	if v.Neighbours == nil {
		v.Neighbours = []string{}
	}
	return v
}

// RoomsReply answers a listing of rooms.
type RoomsReply struct {
	Rooms []RoomView `json:"rooms"`
}

// RoomReply answers a room's reading or change.
type RoomReply struct {
	Room RoomView `json:"room"`
}

// HistoryReply answers a device's history.
type HistoryReply struct {
	Versions []gateway.DeviceVersion `json:"versions"`
}

// OpsEventsReply answers a listing of the ops record.
type OpsEventsReply struct {
	Events []gateway.OpsEvent `json:"events"`
}

// VerificationsReply answers a listing of verifications.
type VerificationsReply struct {
	Verifications []VerificationView `json:"verifications"`
}

// roomPatch is the wire form of a room's change.
type roomPatch struct {
	Number     *string            `json:"number"`
	DeskNumber *string            `json:"desk_number"`
	Handles    *map[string]string `json:"handles"`
	Neighbours *[]string          `json:"neighbours"`
	Reason     string             `json:"reason"`
}

// rotateBody is the wire form of a rotation.
type rotateBody struct {
	Name             *string            `json:"name"`
	Number           *string            `json:"number"`
	Handles          *map[string]string `json:"handles"`
	RotateCredential bool               `json:"rotate_credential"`
	Reason           string             `json:"reason"`
}

// reasonBody is the wire form of a change that needs only a reason.
type reasonBody struct {
	Reason string `json:"reason"`
}

// decodeReason reads a reasonBody and checks its reason.
func (s *Server) decodeReason(w http.ResponseWriter, r *http.Request) (string, error) {
	var b reasonBody
	if err := s.decodeBody(w, r, &b); err != nil {
		return "", err
	}
	return checkText("reason", b.Reason, MaxReason)
}

// opsEvent is the entry of the ops record of an action by tok.
func opsEvent(tok gateway.Token, action, reason string) gateway.OpsEvent {
	return gateway.OpsEvent{Actor: gateway.Actor{ID: tok.ID, Name: tok.Name}, Action: action, Reason: reason}
}

func (s *Server) opsStore() (OpsStore, error) {
	if s.Ops == nil {
		return nil, gateway.Errorf(gateway.EUNAVAILABLE, "the ops record is not kept here")
	}
	return s.Ops, nil
}

func (s *Server) roomEditor() (RoomEditor, error) {
	if s.RoomEditor == nil {
		return nil, gateway.Errorf(gateway.EUNAVAILABLE, "rooms cannot be changed here")
	}
	return s.RoomEditor, nil
}

// GET /v1/rooms
func (s *Server) listRooms(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	rooms, err := s.roomEditor()
	if err != nil {
		return err
	}
	out := RoomsReply{Rooms: []RoomView{}}
	for _, room := range rooms.Rooms() {
		out.Rooms = append(out.Rooms, NewRoomView(room))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// GET /v1/rooms/{id}
func (s *Server) getRoom(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	rooms, err := s.roomEditor()
	if err != nil {
		return err
	}
	room, ok := rooms.Room(r.PathValue("id"))
	if !ok {
		return gateway.Errorf(gateway.ENOTFOUND, "no operations room %q", cut(r.PathValue("id")))
	}
	s.writeJSON(w, r, http.StatusOK, RoomReply{Room: NewRoomView(room)})
	return nil
}

// cut is outside input cut short, for a message.
func cut(s string) string {
	if len(s) > MaxRoomID {
		return s[:MaxRoomID] + "…"
	}
	return s
}

// change checks the patch's fields and returns the change they ask for.
func (p roomPatch) change(channels *gateway.Registry) (gateway.RoomChange, error) {
	var c gateway.RoomChange
	number := func(field string, v *string) (*string, error) {
		if v == nil {
			return nil, nil
		}
		n, err := handle.E164(strings.TrimSpace(*v))
		if err != nil {
			return nil, invalid("%s %s", field, gateway.ErrorMessage(err))
		}
		return &n, nil
	}
	var err error
	if c.Number, err = number("number", p.Number); err != nil {
		return c, err
	}
	if c.DeskNumber, err = number("desk_number", p.DeskNumber); err != nil {
		return c, err
	}
	if p.Handles != nil {
		if c.Handles, err = checkHandles(channels, *p.Handles); err != nil {
			return c, err
		}
	}
	if p.Neighbours != nil {
		c.Neighbours = []string{}
		for _, n := range *p.Neighbours {
			c.Neighbours = append(c.Neighbours, strings.TrimSpace(n))
		}
	}
	if c.Empty() {
		return c, invalid("nothing to change: give number, desk_number, handles or neighbours")
	}
	return c, nil
}

// PATCH /v1/rooms/{id}: the room's new details are checked beside the
// other rooms, stored over the rooms file with the ops record's entry, and
// applied here at once (and on the other instances by the store's
// wake-up).
func (s *Server) updateRoom(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	rooms, err := s.roomEditor()
	if err != nil {
		return err
	}
	ops, err := s.opsStore()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	before, ok := rooms.Room(id)
	if !ok {
		return gateway.Errorf(gateway.ENOTFOUND, "no operations room %q", cut(id))
	}
	var p roomPatch
	if err := s.decodeBody(w, r, &p); err != nil {
		return err
	}
	reason, err := checkOptionalText("reason", p.Reason, MaxReason)
	if err != nil {
		return err
	}
	c, err := p.change(s.Channels)
	if err != nil {
		return err
	}
	after := c.Apply(before)
	if err := rooms.Check(after); err != nil {
		return err
	}
	ev := opsEvent(tok, gateway.OpsRoomUpdate, reason)
	ev.Before, _ = json.Marshal(NewRoomView(before))
	after.UpdatedAt = time.Time{}
	o, err := ops.PutRoomOverride(r.Context(), gateway.OverrideOf(after), ev)
	if err != nil {
		return err
	}
	if err := s.refreshRooms(r.Context()); err != nil {
		s.logger().WithError(err).WithField("room", id).Warn("room overrides not all applied")
	}
	room, _ := rooms.Room(id)
	if room.UpdatedAt.IsZero() { // refused beside another room changed meanwhile: show what was stored
		room = o.On(before)
	}
	s.logger().WithFields(logrus.Fields{"room": id, "token": tok.ID}).Info("room updated")
	s.writeJSON(w, r, http.StatusOK, RoomReply{Room: NewRoomView(room)})
	return nil
}

// refreshRooms reads the room overrides again and applies them.
func (s *Server) refreshRooms(ctx context.Context) error {
	os, err := s.Ops.RoomOverrides(ctx)
	if err != nil {
		return err
	}
	return s.RoomEditor.Override(os)
}

// change checks the rotation's fields and returns the change they ask for.
func (b rotateBody) change(channels *gateway.Registry) (gateway.DeviceChange, error) {
	return devicePatch{Name: b.Name, Number: b.Number, Handles: b.Handles, RotateCredential: b.RotateCredential}.change(channels)
}

// POST /v1/devices/{id}/rotate
func (s *Server) rotateDevice(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	var b rotateBody
	if err := s.decodeBody(w, r, &b); err != nil {
		return err
	}
	reason, err := checkOptionalText("reason", b.Reason, MaxReason)
	if err != nil {
		return err
	}
	c, err := b.change(s.Channels)
	if err != nil {
		return err
	}
	return s.changeDevice(w, r, tok, c, gateway.OpsDeviceRotate, reason)
}

// statusChange is the handler of a change of status that needs a reason.
func (s *Server) statusChange(status gateway.DeviceStatus, action string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
		reason, err := s.decodeReason(w, r)
		if err != nil {
			return err
		}
		return s.changeDevice(w, r, tok, gateway.DeviceChange{Status: &status}, action, reason)
	}
}

// changeDevice has the store make change c (or keep it for when the
// device's call ends: what waits is the domain's rule, Device.Plan), and
// answers what it did. A new credential is issued first, so that the
// revocation of the others spares it; a change refused revokes it again.
func (s *Server) changeDevice(w http.ResponseWriter, r *http.Request, tok gateway.Token, c gateway.DeviceChange, action, reason string) error {
	ops, err := s.opsStore()
	if err != nil {
		return err
	}
	if err := c.Check(); err != nil {
		return err
	}
	ctx, id := r.Context(), r.PathValue("id")
	d, err := s.Devices.Device(ctx, id)
	if err != nil {
		return err
	}
	if d.Status == gateway.DeviceRetired {
		return gateway.Errorf(gateway.ECONFLICT, "device %s is retired", d.ID)
	}
	var cred *Credential
	if c.RotateCredential {
		if cred, err = s.issueCredential(ctx, d); err != nil {
			return err
		}
		c.KeepCredential = cred.Token
	}
	out, err := ops.ChangeDevice(ctx, id, c, opsEvent(tok, action, reason))
	if err != nil {
		if cred != nil {
			if rerr := s.Tokens.RevokeToken(context.WithoutCancel(ctx), cred.Token); rerr != nil {
				s.logger().WithError(rerr).WithField("device", id).Error("new credential of a refused change not revoked")
			}
		}
		return err
	}
	reply := DeviceReply{Device: s.deviceView(out.Device, s.storeNow(r.Context())), Credential: cred, Changes: map[string]any{}}
	if out.Pending != nil {
		reply.Pending, reply.Changes = true, out.Pending.Changes()
	}
	s.logger().WithFields(logrus.Fields{"device": id, "room": out.Device.RoomID, "token": tok.ID,
		"version": out.Device.Version, "action": action, "pending": reply.Pending}).Info("device changed")
	s.writeJSON(w, r, http.StatusOK, reply)
	return nil
}

// GET /v1/devices/{id}/history
func (s *Server) deviceHistory(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	ops, err := s.opsStore()
	if err != nil {
		return err
	}
	vs, err := ops.DeviceHistory(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []gateway.DeviceVersion{}
	}
	for i := range vs {
		if vs[i].Handles == nil {
			vs[i].Handles = map[gateway.Channel]string{}
		}
	}
	s.writeJSON(w, r, http.StatusOK, HistoryReply{Versions: vs})
	return nil
}

// timeParam reads an RFC 3339 time from the query; zero when absent.
func timeParam(q map[string][]string, name string) (time.Time, error) {
	v := ""
	if vs := q[name]; len(vs) > 0 {
		v = vs[0]
	}
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, invalid("%s must be an RFC 3339 time (2026-12-03T16:00:00Z)", name)
	}
	return t, nil
}

// limitParam reads the limit from the query: DefaultOpsLimit when absent,
// at most MaxOpsLimit.
func limitParam(v string) (int, error) {
	if v == "" {
		return DefaultOpsLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxOpsLimit {
		return 0, invalid("limit must be a whole number from 1 to %d", MaxOpsLimit)
	}
	return n, nil
}

// roomParam reads a listing's room: optional, and a known room when the
// server has the rooms. ENOTFOUND for another.
func (s *Server) roomParam(v string) (string, error) {
	room, err := checkOptionalText("room", v, MaxRoomID)
	if err != nil || room == "" || s.Rooms == nil {
		return room, err
	}
	if _, ok := s.Rooms.Room(room); !ok {
		return "", gateway.Errorf(gateway.ENOTFOUND, "no operations room %q", cut(room))
	}
	return room, nil
}

// window reads since, until and limit.
func window(q map[string][]string, get func(string) string) (since, until time.Time, limit int, err error) {
	if since, err = timeParam(q, "since"); err != nil {
		return
	}
	if until, err = timeParam(q, "until"); err != nil {
		return
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		err = invalid("until must be after since")
		return
	}
	limit, err = limitParam(get("limit"))
	return
}

// GET /v1/ops-events?room=&device=&since=&until=&limit=
func (s *Server) listOpsEvents(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	ops, err := s.opsStore()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var f gateway.OpsEventFilter
	if f.RoomID, err = s.roomParam(q.Get("room")); err != nil {
		return err
	}
	if f.DeviceID, err = checkOptionalText("device", q.Get("device"), MaxRoomID); err != nil {
		return err
	}
	if f.Since, f.Until, f.Limit, err = window(q, q.Get); err != nil {
		return err
	}
	evs, err := ops.OpsEvents(r.Context(), f)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []gateway.OpsEvent{}
	}
	s.writeJSON(w, r, http.StatusOK, OpsEventsReply{Events: evs})
	return nil
}

// GET /v1/verifications?room=&since=&until=&outcome=&channel=&origin=&limit=
func (s *Server) listVerifications(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	q := r.URL.Query()
	f := gateway.VerificationFilter{Newest: true}
	var err error
	if f.RoomID, err = s.roomParam(q.Get("room")); err != nil {
		return err
	}
	if f.Since, f.Until, f.Limit, err = window(q, q.Get); err != nil {
		return err
	}
	switch o := gateway.OutcomeResult(q.Get("outcome")); o {
	case "", gateway.OutcomeVerified, gateway.OutcomeRefused:
		f.Outcome = o
	default:
		return invalid("outcome must be verified or refused")
	}
	if c := q.Get("channel"); c != "" {
		if f.Channel, err = s.Channels.Parse(c); err != nil {
			return invalid("channel: %s", gateway.ErrorMessage(err))
		}
	}
	switch o := gateway.Origin(q.Get("origin")); o {
	case "", gateway.OriginOfficer, gateway.OriginPublic, gateway.OriginRadio, gateway.Origin999:
		f.Origin = o
	default:
		return invalid("origin must be officer, public, radio or 999")
	}
	vs, err := s.Verifications.Verifications(r.Context(), f)
	if err != nil {
		return err
	}
	out := VerificationsReply{Verifications: make([]VerificationView, 0, len(vs))}
	for _, v := range vs {
		out.Verifications = append(out.Verifications, s.viewOf(v))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}
