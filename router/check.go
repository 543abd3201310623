package router

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
)

// Assessor gives what the supervisor is shown of the officer behind a
// verification: his duty-roster entry and the warning signs, as a JSON
// document the record keeps as it was (gateway.EventCheck), and a summary
// for the event's message. The officer never sees either.
type Assessor interface {
	Assess(ctx context.Context, v gateway.Verification, stop Stop) (doc, summary string, err error)
}

// Stop is what the router knows, as a verification is made, of where its
// stop is and who is checking the officer, for its assessment.
type Stop struct {
	Borough string // the borough the stop is in; "" when not known
	// Boroughs, when Borough is not known, are the boroughs the stop may
	// be in (its room's): the officer is in his area in any of them.
	Boroughs []string
	// Supervisor is the supervisor making the check, as outcomes name him
	// ("PS 42"), when he is known as it is made (he opened it): his own
	// refusals are not counted as other supervisors'.
	Supervisor string
}

// AssessTimeout bounds an assessment.
const AssessTimeout = 10 * time.Second

// assessLater records the assessment of a new verification in the
// background, so that its call is placed at once: the supervisor reads it
// when the call connects, seconds later.
func (r *Router) assessLater(v gateway.Verification, borough string) {
	if r.Assessor == nil {
		return
	}
	r.mu.Lock()
	if r.ctx == nil || r.ctx.Err() != nil {
		r.mu.Unlock()
		return
	}
	ctx := r.ctx
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(ctx, AssessTimeout)
		defer cancel()
		if err := r.assess(ctx, v, Stop{Borough: borough}); err != nil {
			r.Logger.WithField("verification", v.ID).WithError(err).Warn("the warning signs could not be assessed")
		}
	}()
}

// assess records v's assessment now.
func (r *Router) assess(ctx context.Context, v gateway.Verification, stop Stop) error {
	doc, summary, err := r.Assessor.Assess(ctx, v, stop)
	if err != nil {
		return err
	}
	_, err = r.Record.AppendEvent(context.WithoutCancel(ctx), gateway.Event{
		VerificationID: v.ID, Type: gateway.EventCheck, Message: summary,
		Data: map[string]string{gateway.DataAssessment: doc}, Instance: r.Instance,
	})
	return err
}

// Corrector is the supervisor correcting the grounds for a stop, as his
// credential names him, as an outcome records him.
type Corrector struct {
	Supervisor string // his rank and number: "PS 42"
	Rank       string
	Number     string
	Room       string // the room he corrected them for (the verification's)
	By         string // the ID of his credential
}

// The Data keys of a correction of the grounds, besides DataGrounds and
// DataCorrectedBy (the supervisor's rank and number).
const (
	DataCorrectorRank   = "rank"
	DataCorrectorNumber = "number"
	DataCorrectorRoom   = "room"
	DataCorrectorBy     = "by"
)

// CorrectGrounds records a supervisor's correction of the stated grounds
// for the stop of verification id (by is the supervisor): the officer's
// statement stays in the record beside it. ENOTFOUND; EINVALID without
// grounds or the supervisor's rank and number.
func (r *Router) CorrectGrounds(ctx context.Context, id, grounds string, by Corrector) (gateway.Event, error) {
	const op = "router.CorrectGrounds"
	if grounds == "" || by.Supervisor == "" {
		return gateway.Event{}, gateway.Errorf(gateway.EINVALID, "the corrected grounds and the supervisor are required")
	}
	if _, err := r.Record.Verification(ctx, id); err != nil {
		return gateway.Event{}, gateway.E(op, gateway.ErrorCode(err), err)
	}
	ev, err := r.Record.AppendEvent(context.WithoutCancel(ctx), gateway.Event{
		VerificationID: id, Type: gateway.EventNote, Message: "the grounds for the stop corrected by " + by.Supervisor,
		Data: map[string]string{gateway.DataGrounds: grounds, gateway.DataCorrectedBy: by.Supervisor,
			DataCorrectorRank: by.Rank, DataCorrectorNumber: by.Number, DataCorrectorRoom: by.Room, DataCorrectorBy: by.By},
		Instance: r.Instance,
	})
	if err != nil {
		return gateway.Event{}, gateway.E(op, gateway.ErrorCode(err), err)
	}
	return ev, nil
}

// DataWordRead marks the event of a supervisor's record that he read her
// the check word of her live page: its value is his rank and number, the
// rest of the event's Data as a correction's (DataCorrectorRank and the
// others). The word itself is in no record.
const DataWordRead = "word_read_by"

// RecordWordRead records that the supervisor by read her the check word
// of verification id, once: a second record returns the first. ENOTFOUND;
// EINVALID without the supervisor's rank and number; ECONFLICT before
// the call has connected.
func (r *Router) RecordWordRead(ctx context.Context, id string, by Corrector) (gateway.Event, error) {
	const op = "router.RecordWordRead"
	if by.Supervisor == "" {
		return gateway.Event{}, gateway.Errorf(gateway.EINVALID, "the supervisor is required")
	}
	v, err := r.Record.Verification(ctx, id)
	if err != nil {
		return gateway.Event{}, gateway.E(op, gateway.ErrorCode(err), err)
	}
	switch v.State {
	case gateway.StateConnected, gateway.StateVerified, gateway.StateRefused:
	default:
		return gateway.Event{}, gateway.Errorf(gateway.ECONFLICT, "verification %s is %s: the check word is read on the call", id, v.State)
	}
	evs, err := r.Record.Events(ctx, id, 0, 0)
	if err != nil {
		return gateway.Event{}, gateway.E(op, gateway.ErrorCode(err), err)
	}
	for _, ev := range evs {
		if ev.Data[DataWordRead] != "" {
			return ev, nil
		}
	}
	ev, err := r.Record.AppendEvent(context.WithoutCancel(ctx), gateway.Event{
		VerificationID: id, Type: gateway.EventNote, Message: "the check word read to her by " + by.Supervisor,
		Data: map[string]string{DataWordRead: by.Supervisor, DataCorrectorRank: by.Rank, DataCorrectorNumber: by.Number,
			DataCorrectorRoom: by.Room, DataCorrectorBy: by.By},
		Instance: r.Instance,
	})
	if err != nil {
		return gateway.Event{}, gateway.E(op, gateway.ErrorCode(err), err)
	}
	return ev, nil
}

// OpenCheck is a check asked for by another route than the officer app:
// over the officer's radio on loudspeaker, or by dialling 999. A supervisor
// (or 999 call handler) opens it from the console while speaking to them.
type OpenCheck struct {
	Origin  gateway.Origin // gateway.OriginRadio or gateway.Origin999
	Collar  string         // the officer's collar number, as he gave it
	RoomID  string         // the room whose supervisor is making the check
	Grounds string         // the stated grounds for the stop; optional
	By      string         // the credential ID of who opened it
	Name    string         // who opened it, as the record names him
	// Supervisor is who opened it as outcomes name him ("PS 42"); "" for
	// a credential that names no supervisor.
	Supervisor string
	// Location is where the stop is, and Borough the borough it is in, one
	// of the room's, when the caller says (at most one of them): the
	// officer's assigned area is judged against it. With neither, it is
	// judged against all of the room's boroughs.
	Location *gateway.Location
	Borough  string
}

// OpenCheck records a check made by radio or over a 999 call: a
// verification with that origin, connected at once (the supervisor is
// already speaking to them; no call is placed), with the officer's
// assessment recorded before it returns, awaiting its outcome like any
// other. An unknown collar number is allowed: the check shows him not on
// the roster. EINVALID for another origin, no collar number, an unknown
// room, both a location and a borough, a borough not the room's, or
// impossible coordinates; EOUTSIDE for a location no room covers.
func (r *Router) OpenCheck(ctx context.Context, c OpenCheck) (gateway.Verification, error) {
	const op = "router.OpenCheck"
	if !c.Origin.Spoken() {
		return gateway.Verification{}, gateway.Errorf(gateway.EINVALID, "origin must be radio or 999")
	}
	if c.Collar == "" || c.By == "" {
		return gateway.Verification{}, gateway.Errorf(gateway.EINVALID, "the officer's collar number and who opened the check are required")
	}
	room, ok := r.Rooms.Room(c.RoomID)
	if !ok {
		return gateway.Verification{}, gateway.Errorf(gateway.EINVALID, "there is no operations room %.20q", c.RoomID)
	}
	stop, where, err := r.stopPlace(c, room)
	if err != nil {
		return gateway.Verification{}, gateway.E(op, gateway.ErrorCode(err), err)
	}
	now := r.Now()
	v := gateway.Verification{
		ID:          gateway.NewID("v_"),
		Reference:   gateway.NewReference(),
		State:       gateway.StateConnected,
		Origin:      c.Origin,
		Officer:     gateway.Officer{Collar: c.Collar},
		Location:    derefLocation(c.Location),
		RoomID:      room.ID,
		RequestedBy: c.By,
		CreatedAt:   now,
		UpdatedAt:   now,
		Deadline:    now.Add(r.Budget),
	}
	how := "over the officer's radio"
	if c.Origin == gateway.Origin999 {
		how = "by a 999 call"
	}
	name := c.Name
	if name == "" {
		name = c.By
	}
	ev := gateway.Event{
		Type:     gateway.EventState,
		Message:  fmt.Sprintf("a check of %s asked for %s, opened by %s in %s; %s", c.Collar, how, name, room.Name, where),
		Data:     map[string]string{"room": room.ID, "origin": string(c.Origin), "borough": stop.Borough},
		Instance: r.Instance,
	}
	if c.Grounds != "" {
		ev.Data[gateway.DataGrounds] = c.Grounds
	}
	got, _, err := r.Record.CreateVerification(ctx, v, "", ev)
	if err != nil {
		return gateway.Verification{}, gateway.E(op, gateway.ErrorCode(err), err)
	}
	if r.Assessor != nil {
		actx, cancel := context.WithTimeout(ctx, AssessTimeout)
		if err := r.assess(actx, got, stop); err != nil {
			r.Logger.WithField("verification", got.ID).WithError(err).Warn("the warning signs could not be assessed")
		}
		cancel()
	}
	return got, nil
}

// stopPlace is where a check's stop was, for its assessment, and how the
// record says so: the borough of its location or the one named (one of
// the room's), else all of the room's boroughs. EINVALID for both, or a
// borough not the room's; Locate's errors for a location.
func (r *Router) stopPlace(c OpenCheck, room gateway.Room) (Stop, string, error) {
	stop := Stop{Supervisor: c.Supervisor}
	switch {
	case c.Location != nil && c.Borough != "":
		return stop, "", gateway.Errorf(gateway.EINVALID, "give the stop's location or its borough, not both")
	case c.Location != nil:
		_, b, err := r.Rooms.Locate(*c.Location)
		if err != nil {
			return stop, "", err
		}
		stop.Borough = b
		return stop, "the stop in " + b, nil
	case c.Borough != "":
		i := slices.IndexFunc(room.Boroughs, func(b string) bool { return strings.EqualFold(b, c.Borough) })
		if i < 0 {
			return stop, "", gateway.Errorf(gateway.EINVALID, "borough %.40q is not one of %s's: %s",
				c.Borough, room.Name, strings.Join(room.Boroughs, ", "))
		}
		stop.Borough = room.Boroughs[i]
		return stop, "the stop in " + stop.Borough, nil
	}
	stop.Boroughs = slices.Clone(room.Boroughs)
	return stop, "the stop's place not given: his area judged against all of the room's boroughs (" + strings.Join(room.Boroughs, ", ") + ")", nil
}

// derefLocation is *loc; the zero Location for nil.
func derefLocation(loc *gateway.Location) gateway.Location {
	if loc == nil {
		return gateway.Location{}
	}
	return *loc
}
