package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
)

// VerificationView is a verification as the API shows it: no officer's or
// public's handles, only what the officer app and the supervisor need.
type VerificationView struct {
	ID        string          `json:"id"`
	Reference string          `json:"reference"`
	State     gateway.State   `json:"state"`
	Origin    gateway.Origin  `json:"origin"`           // officer, or public: a member of the public called the room
	Caller    string          `json:"caller,omitempty"` // a public caller's number, masked to its last 3 digits
	Room      string          `json:"room"`
	Device    string          `json:"device"`   // the device that connected
	Channel   gateway.Channel `json:"channel"`  // the channel that connected
	JoinURL   string          `json:"join_url"` // for meeting channels: the link to open
	Reason    string          `json:"reason"`
	Advice    string          `json:"advice"` // what to do now, when it failed
	Outcome   *OutcomeView    `json:"outcome"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	Deadline  time.Time       `json:"deadline"`
	Attempts  []AttemptView   `json:"attempts"`
	// PublicURL is the live check's link for her phone, for the officer
	// app to show as a QR code; absent without the live check.
	PublicURL string `json:"public_url,omitempty"`
}

// viewOf is NewVerificationView(v) with its live link.
func (s *Server) viewOf(v gateway.Verification) VerificationView {
	out := NewVerificationView(v)
	out.PublicURL = s.Public.Live.URL(v.ID)
	return out
}

// OutcomeView is the supervisor's record of the check.
type OutcomeView struct {
	Outcome    gateway.OutcomeResult `json:"outcome"`
	Supervisor string                `json:"supervisor"`
	Note       string                `json:"note"`
	At         time.Time             `json:"at"`
}

// AttemptView is one try on one channel with one device.
type AttemptView struct {
	Channel   gateway.Channel       `json:"channel"`
	Device    string                `json:"device"`
	Room      string                `json:"room"`
	StartedAt time.Time             `json:"started_at"`
	EndedAt   *time.Time            `json:"ended_at"`
	Tries     int                   `json:"tries"`
	Result    gateway.AttemptResult `json:"result"`
	Error     string                `json:"error"`
}

// NewVerificationView returns the API's view of v.
func NewVerificationView(v gateway.Verification) VerificationView {
	out := VerificationView{
		ID:        v.ID,
		Reference: v.Reference,
		State:     v.State,
		Origin:    v.Origin,
		Caller:    v.Caller,
		Room:      v.RoomID,
		Device:    v.DeviceID,
		Channel:   v.Channel,
		JoinURL:   v.JoinURL,
		Reason:    v.Reason,
		CreatedAt: v.CreatedAt,
		UpdatedAt: v.UpdatedAt,
		Deadline:  v.Deadline,
		Attempts:  make([]AttemptView, 0, len(v.Attempts)),
	}
	if out.Origin == "" {
		out.Origin = gateway.OriginOfficer
	}
	if v.State == gateway.StateFailed && out.Origin == gateway.OriginOfficer {
		out.Advice = gateway.Advice999 // the officer's: a public caller was told by phone
	}
	if o := v.Outcome; o != nil {
		out.Outcome = &OutcomeView{Outcome: o.Result, Supervisor: o.Supervisor, Note: o.Note, At: o.At}
	}
	for _, a := range v.Attempts {
		out.Attempts = append(out.Attempts, AttemptView{
			Channel:   a.Channel,
			Device:    a.DeviceID,
			Room:      a.RoomID,
			StartedAt: a.StartedAt,
			EndedAt:   a.EndedAt,
			Tries:     a.Tries,
			Result:    a.Result,
			Error:     attemptError(a),
		})
	}
	return out
}

// attemptError is what the API says of how an attempt ended: a plain,
// fixed phrase for its result. The provider's own words (URLs, error
// bodies, handles) stay in the log and the record for staff.
func attemptError(a gateway.Attempt) string {
	switch a.Result {
	case gateway.ResultNotPlaced:
		return "the call could not be placed"
	case gateway.ResultRejected:
		return "the call was declined"
	case gateway.ResultNoAnswer:
		return "the call was not answered in time"
	case gateway.ResultFailed:
		return "the call failed"
	case gateway.ResultUnknown:
		return "the provider did not say whether the call was placed; it was hung up"
	case gateway.ResultCancelled:
		return "the call was withdrawn"
	case gateway.ResultSkipped:
		return "skipped: " + string(a.Channel) + " breaker open"
	}
	return ""
}

// EventView is one entry of a verification's record as an event stream
// sends it. State is the verification's state after the event.
type EventView struct {
	Seq          int64             `json:"seq"`
	Verification string            `json:"verification"`
	Type         gateway.EventType `json:"type"`
	State        gateway.State     `json:"state"`
	Attempt      string            `json:"attempt,omitempty"`
	Message      string            `json:"message"`
	Data         EventData         `json:"data,omitempty"`
	Report       *ReportView       `json:"report,omitempty"`
	At           time.Time         `json:"at"`
}

// ReportView is what a provider or device agent reported, as an event
// stream shows it.
type ReportView struct {
	Status gateway.ReportStatus `json:"status"`
	Fate   gateway.Fate         `json:"fate,omitempty"`
	Party  gateway.Party        `json:"party,omitempty"`
	Detail string               `json:"detail,omitempty"`
}

// visible reports whether tok may see v: the officer who asked, any
// supervisor, 999 call handler or ops credential (the check within it is
// for those who judge it: eventVisible).
func visible(tok gateway.Token, v gateway.Verification) bool {
	switch tok.Role {
	case gateway.RoleSupervisor, gateway.RoleHandler, gateway.RoleOps:
		return true
	case gateway.RoleOfficer:
		return v.RequestedBy == tok.ID
	}
	return false
}

// verificationFor reads the verification named in the path, answering
// ENOTFOUND for one the caller may not see, so as not to reveal it exists.
func (s *Server) verificationFor(r *http.Request, tok gateway.Token) (gateway.Verification, error) {
	id := r.PathValue("id")
	v, err := s.Verifications.Verification(r.Context(), id)
	if err == nil && !visible(tok, v) {
		err = gateway.Errorf(gateway.ENOTFOUND, "hidden")
	}
	if gateway.ErrorCode(err) == gateway.ENOTFOUND {
		// One answer for missing and hidden alike.
		return gateway.Verification{}, &gateway.Error{Code: gateway.ENOTFOUND, Message: fmt.Sprintf("no verification %q", id), Err: err}
	}
	return v, err
}

// POST /v1/verifications
func (s *Server) createVerification(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if err := checkIdempotencyKey(key); err != nil {
		return err
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	max := s.maxBody()
	if r.ContentLength > max {
		return gateway.Errorf(gateway.ETOOLARGE, "request body over %d bytes", max)
	}
	req, err := DecodeRequest(http.MaxBytesReader(w, r.Body, max), max, s.Channels)
	if err != nil {
		return err
	}
	if req.Officer, err = s.officerOf(r.Context(), tok, req); err != nil {
		return err
	}
	req.RequestedBy = tok.ID
	req.IdempotencyKey = key
	if key != "" {
		if req.Fingerprint, err = fingerprint(req); err != nil {
			return err
		}
	}
	v, created, err := s.Router.Request(r.Context(), req)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/v1/verifications/"+v.ID)
	s.writeJSON(w, r, status, s.viewOf(v))
	return nil
}

// fingerprint identifies a request's content once decoded and checked (so
// not its spacing or the order of its fields): the hex SHA-256 of its
// officer, location and contacts as JSON. The store keeps it with the
// idempotency key and refuses the key used again with another
// (EIDEMPOTENCY, 422).
func fingerprint(req gateway.Request) (string, error) {
	b, err := json.Marshal(struct {
		Officer  gateway.Officer   `json:"officer"`
		Location gateway.Location  `json:"location"`
		Contacts []gateway.Contact `json:"contacts"`
		Grounds  string            `json:"grounds,omitempty"` // omitted when empty: keys stored before grounds keep their fingerprints
	}{req.Officer, req.Location, req.Contacts, req.Grounds})
	if err != nil {
		return "", gateway.E("httpapi.fingerprint", gateway.EINTERNAL, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// GET /v1/verifications/{id}
func (s *Server) getVerification(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	v, err := s.verificationFor(r, tok)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, s.viewOf(v))
	return nil
}

// outcomeBody is the wire form of a supervisor's outcome.
type outcomeBody struct {
	Outcome    string `json:"outcome"`
	Supervisor string `json:"supervisor"`
	Note       string `json:"note"`
}

// Limits of an outcome.
const (
	MaxSupervisor = 32
	MaxNote       = 1000
)

// POST /v1/verifications/{id}/outcome
func (s *Server) recordOutcome(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	var body outcomeBody
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	v, err := s.RecordOutcome(r.Context(), tok, r.PathValue("id"), OutcomeRequest(body))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, s.viewOf(v))
	return nil
}

// OutcomeRequest is a supervisor's outcome as a client gives it: the
// result (verified or refused) and a note. Supervisor is taken and
// ignored: who records it is the credential's supervisor.
type OutcomeRequest struct {
	Outcome    string
	Supervisor string
	Note       string
}

// RecordOutcome checks a supervisor's outcome and records it through the
// router, as POST /v1/verifications/{id}/outcome does: the console's
// buttons call it, so that both leave the same record. The supervisor is
// the credential's (rank, number, the verification's room, the
// credential's ID); body.Supervisor is ignored. EINVALID for a bad outcome
// or note; ENOIDENTITY for a credential that names no supervisor;
// EFORBIDDEN when his rooms do not cover the verification's; ENOTFOUND;
// the router's errors as they are.
func (s *Server) RecordOutcome(ctx context.Context, tok gateway.Token, id string, body OutcomeRequest) (gateway.Verification, error) {
	if !tok.Role.Staff() {
		return gateway.Verification{}, gateway.Errorf(gateway.EFORBIDDEN, "only a supervisor or a 999 call handler records outcomes")
	}
	sup, err := staffOf(tok)
	if err != nil {
		return gateway.Verification{}, err
	}
	o := gateway.Outcome{Result: gateway.OutcomeResult(body.Outcome), At: s.now(),
		Supervisor: sup.Name(), Rank: sup.Rank, Number: sup.Number, By: tok.ID}
	switch o.Result {
	case gateway.OutcomeVerified, gateway.OutcomeRefused:
	case "":
		return gateway.Verification{}, invalid("outcome is required: verified or refused")
	default:
		return gateway.Verification{}, invalid("outcome must be verified or refused")
	}
	if o.Note, err = checkOptionalText("note", body.Note, MaxNote); err != nil {
		return gateway.Verification{}, err
	}
	v, err := s.Verifications.Verification(ctx, id)
	if err != nil {
		return gateway.Verification{}, err
	}
	if err := Judging(tok, v.Origin, v.RoomID, "record outcomes"); err != nil {
		return gateway.Verification{}, err
	}
	o.Room = v.RoomID
	return s.Router.RecordOutcome(ctx, id, o)
}

// POST /v1/verifications/{id}/cancel
func (s *Server) cancelVerification(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	if _, err := s.verificationFor(r, tok); err != nil {
		return err
	}
	v, err := s.Router.Cancel(r.Context(), r.PathValue("id"), tok.ID)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, s.viewOf(v))
	return nil
}

// POST /v1/verifications/{id}/joined
//
// The officer app says it has opened the meeting link of the current
// attempt: with the device's own report, the call counts as connected.
// It is idempotent: for a verification already connected (a provider's
// webhooks said so first, or the app said it twice) it is a 204 that
// changes nothing, since the app need not know which report came first.
// For one that has ended it is a 409 saying so.
func (s *Server) officerJoined(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	v, err := s.verificationFor(r, tok)
	if err != nil {
		return err
	}
	switch {
	case v.State == gateway.StateConnected:
		w.WriteHeader(http.StatusNoContent)
		return nil
	case v.State.Terminal():
		return gateway.Errorf(gateway.ECONFLICT, "verification %s has ended (%s): there is no call to join", v.ID, v.State)
	}
	if err := s.Router.Joined(r.Context(), v.ID); err != nil {
		if gateway.ErrorCode(err) == gateway.ECONFLICT {
			// It may have connected or ended meanwhile: answer by its
			// state now.
			if now, rerr := s.Verifications.Verification(r.Context(), v.ID); rerr == nil {
				if now.State == gateway.StateConnected {
					w.WriteHeader(http.StatusNoContent)
					return nil
				}
			}
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET /v1/verifications/{id}/events
//
// The stream subscribes to the bus before its first read, and on every
// wake-up (or heartbeat, should a wake-up have been missed) reads the
// events after the last one sent: nothing is missed or sent twice. It reads
// the verification before its events, so once that read shows a terminal
// state the events read after it hold the whole record, and the stream ends.
func (s *Server) verificationEvents(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	ctx := r.Context()
	var after int64
	if h := strings.TrimSpace(r.Header.Get("Last-Event-ID")); h != "" {
		n, err := strconv.ParseInt(h, 10, 64)
		if err != nil || n < 0 {
			return invalid("Last-Event-ID must be an event's id")
		}
		after = n
	}

	wake, stop := s.Bus.Subscribe(gateway.TopicEvents)
	defer stop()

	v, err := s.verificationFor(r, tok)
	if err != nil {
		return err
	}
	if !s.openStream(tok.ID) {
		return errTooManyStreams
	}
	defer s.closeStream(tok.ID)

	// A stream outlives the server's write timeout: each write moves the
	// write deadline on, and heartbeats keep it writing.
	rc := http.NewResponseController(w)
	s.extendWrite(rc, 0)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return gateway.E("httpapi.verificationEvents", gateway.EINTERNAL, err)
	}

	tick := time.NewTicker(s.sseHeartbeat())
	defer tick.Stop()
	for {
		evs, err := s.Verifications.Events(ctx, v.ID, after, 0)
		if err != nil {
			return err
		}
		if len(evs) > 0 {
			s.extendWrite(rc, 0)
		}
		for _, ev := range evs {
			if !eventVisible(tok, v.Origin, ev) {
				after = ev.Seq
				continue
			}
			if err := writeEvent(w, ev, v.State); err != nil {
				return nil // the client has gone
			}
			after = ev.Seq
		}
		if len(evs) > 0 {
			if err := rc.Flush(); err != nil {
				return nil
			}
		}
		if v.State.Terminal() {
			return nil
		}
		if err := s.awaitEvent(ctx, w, rc, wake, tick.C, v.ID); err != nil {
			return nil // the client or the bus has gone
		}
		if v, err = s.Verifications.Verification(ctx, v.ID); err != nil {
			return err
		}
	}
}

// awaitEvent waits for a wake-up for the verification, or a heartbeat
// (which it sends); it returns an error when the client or the bus has gone.
func (s *Server) awaitEvent(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, wake <-chan string, tick <-chan time.Time, id string) error {
	for {
		select {
		case <-ctx.Done():
			return errGone
		case p, ok := <-wake:
			if !ok {
				return errGone
			}
			if p == id {
				return nil
			}
		case <-tick:
			s.extendWrite(rc, 0)
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return err
			}
			if err := rc.Flush(); err != nil {
				return err
			}
			return nil
		}
	}
}

// errTooManyStreams answers an event stream over the credential's cap.
var errTooManyStreams = gateway.Errorf(gateway.ERATELIMITED, "too many event streams open with this credential: close one first")

var errGone = gateway.Errorf(gateway.EUNAVAILABLE, "stream ended")

// shownData is an event's data as the API shows it: the messaging service's
// ID of a message sent (gateway.DataMessage) stays in the record, since a
// WhatsApp message ID is base64 of a text that holds the recipient's
// number.
func shownData(d map[string]string) EventData {
	if _, ok := d[gateway.DataMessage]; !ok {
		return EventData(d)
	}
	out := make(EventData, len(d))
	for k, v := range d {
		if k != gateway.DataMessage {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// writeEvent writes one server-sent event: id is the Seq, event the type,
// data the event as JSON with the verification's state.
func writeEvent(w http.ResponseWriter, ev gateway.Event, current gateway.State) error {
	view := EventView{
		Seq:          ev.Seq,
		Verification: ev.VerificationID,
		Type:         ev.Type,
		State:        ev.State,
		Attempt:      ev.AttemptID,
		Message:      ev.Message,
		Data:         shownData(ev.Data),
		At:           ev.At,
	}
	if r := ev.Report; r != nil {
		view.Report = &ReportView{Status: r.Status, Fate: r.Fate, Party: r.Party, Detail: r.Detail}
	}
	if view.State == "" {
		view.State = current
	}
	data, err := marshal(view)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n", ev.Seq, sseField(string(ev.Type)), data)
	return err
}

// sseField keeps a value on one line of the stream.
func sseField(s string) string {
	return strings.NewReplacer("\r", "", "\n", "").Replace(s)
}

// roomLocator finds the room covering a location (rooms.Set).
type roomLocator interface {
	// Locate returns the room covering loc. EOUTSIDE, EINVALID.
	Locate(loc gateway.Location) (gateway.Room, string, error)
}

// sameCollar reports whether two collar numbers name the same officer:
// "PC 1234", "pc1234" and "PC  1234" do.
func sameCollar(a, b string) bool {
	norm := func(s string) string { return strings.ToUpper(strings.Join(strings.Fields(s), "")) }
	return norm(a) == norm(b)
}

// officerOf is the officer a verification is asked for in the name of: the
// credential's. ENOIDENTITY for a credential that names none; EMISMATCH,
// recorded for the room covering the request's location, for a request
// that states another collar number (a phone passed on, or stolen).
func (s *Server) officerOf(ctx context.Context, tok gateway.Token, req gateway.Request) (gateway.Officer, error) {
	id := tok.Officer
	if id == nil || strings.TrimSpace(id.Collar) == "" {
		return gateway.Officer{}, gateway.Errorf(gateway.ENOIDENTITY,
			"this officer credential does not say whose it is: ask ops staff for a credential issued to you")
	}
	stated := req.Officer.Collar
	if stated == "" || sameCollar(stated, id.Collar) {
		return gateway.Officer{Collar: id.Collar, Warrant: id.Warrant, Force: id.Force}, nil
	}
	ref := gateway.Refusal{TokenID: tok.ID, Reason: gateway.RefusalOfficerMismatch, Officer: id.Collar, Stated: stated}
	if loc, ok := s.Rooms.(roomLocator); ok {
		if room, _, err := loc.Locate(req.Location); err == nil {
			ref.RoomID = room.ID
		}
	}
	if s.Refusals != nil {
		if _, err := s.Refusals.RecordRefusal(context.WithoutCancel(ctx), ref); err != nil {
			s.logger().WithError(err).WithField("token", tok.ID).Error("refusal not recorded")
		}
	}
	s.logger().WithField("token", tok.ID).WithField("room", ref.RoomID).Warn("verification refused: the request named another officer than the credential's")
	return gateway.Officer{}, gateway.Errorf(gateway.EMISMATCH,
		"this credential is %s's: a check cannot be asked for in another officer's name", id.Collar)
}
