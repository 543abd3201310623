package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/roster"
)

// Checks opens checks asked for by radio or 999 and reads officers'
// photos: httpapi.Server, so that the console and the API leave the same
// record.
type Checks interface {
	// OpenCheck checks and opens a check by radio or 999. EINVALID.
	OpenCheck(ctx context.Context, tok gateway.Token, body httpapi.CheckRequest) (gateway.Verification, error)
	// OfficerPhoto returns the photo on file of an officer and its content
	// type. ENOTFOUND.
	OfficerPhoto(collar string) ([]byte, string, error)
}

// CheckView is the supervisor's check of a verification as it was
// recorded (never recomputed from the roster as it is now), with the
// grounds of the stop and their corrections.
type CheckView struct {
	// Recorded is whether the check has been recorded yet.
	Recorded bool
	Summary  string
	Entry    *roster.Officer
	Shift    *roster.Shift
	Signs    []roster.Sign
	// Areas is the area his shift covering the stop assigns him, as
	// people read it ("" without such a shift).
	Areas string
	// RosterLoadedAt is when the roster the check consulted was loaded
	// (zero: none was), and RosterAge how long before the check that was.
	RosterLoadedAt time.Time
	RosterAge      string
	// Photo is whether a photo was on file when the check was made.
	Photo       bool
	Grounds     string
	Corrections []httpapi.Correction
	// Word is the check word of her live page, for the supervisor to say
	// to her (a verification the officer asked for, on a gateway with the
	// live check); WordRead is whether he has recorded that he read it.
	Word     string
	WordRead bool
}

// checkOf reads verification id's recorded check from its events, as the
// supervisor of tok is shown it (httpapi.AssessmentFor); as it was
// recorded for a nil tok.
func checkOf(evs []gateway.Event, tok *gateway.Token) *CheckView {
	out := &CheckView{}
	for i, ev := range evs {
		if i == 0 {
			out.Grounds = ev.Data[gateway.DataGrounds]
		} else if c, ok := httpapi.CorrectionOf(ev); ok {
			out.Corrections = append(out.Corrections, c)
		}
		if ev.Type != gateway.EventCheck || out.Recorded {
			continue
		}
		var as roster.Assessment
		if err := json.Unmarshal([]byte(ev.Data[gateway.DataAssessment]), &as); err != nil {
			continue
		}
		// The first is what was shown when the check was made.
		out.Recorded, out.Summary = true, ev.Message
		if tok != nil {
			if mine, changed := as.For(httpapi.Viewer(*tok)); changed {
				as, out.Summary = mine, roster.Summary(mine.Signs)
			}
		}
		out.Entry, out.Shift, out.Signs, out.Photo = as.Entry, as.Shift, as.Signs, as.PhotoSHA256 != ""
		if as.Shift != nil {
			out.Areas = "anywhere: the roster assigns him no area"
			if len(as.Shift.Areas) > 0 {
				out.Areas = strings.Join(as.Shift.Areas, ", ")
			}
		}
		if !as.RosterLoadedAt.IsZero() {
			out.RosterLoadedAt, out.RosterAge = as.RosterLoadedAt, ago(as.At, as.RosterLoadedAt)
		}
	}
	return out
}

// recordedPhoto is the hex SHA-256 of the photo the check of a
// verification recorded: "" for none.
func recordedPhoto(evs []gateway.Event) string {
	for _, ev := range evs {
		if ev.Type != gateway.EventCheck {
			continue
		}
		var as roster.Assessment
		if json.Unmarshal([]byte(ev.Data[gateway.DataAssessment]), &as) == nil {
			return as.PhotoSHA256
		}
	}
	return ""
}

// checkFor reads v's check, as it was recorded, for a room's board, which
// every supervisor of the room shares.
func (c *Console) checkFor(ctx context.Context, v gateway.Verification) (*CheckView, error) {
	return c.checkForViewer(ctx, v, nil)
}

// checkForViewer reads v's check for the record page of the supervisor of
// tok, as he is shown it: the refusals by supervisors other than him. As
// it was recorded for a nil tok.
func (c *Console) checkForViewer(ctx context.Context, v gateway.Verification, tok *gateway.Token) (*CheckView, error) {
	if v.Origin == gateway.OriginPublic {
		return nil, nil
	}
	evs, err := c.Store.Events(ctx, v.ID, 0, 0)
	if err != nil {
		return nil, err
	}
	out := checkOf(evs, tok)
	if c.Words != nil && (v.Origin == gateway.OriginOfficer || v.Origin == "") {
		out.Word, out.WordRead = c.Words.CheckWord(v.ID), httpapi.WordRead(evs)
	}
	if !out.RosterLoadedAt.IsZero() {
		out.RosterLoadedAt = out.RosterLoadedAt.In(c.location())
	}
	return out, nil
}

// photo serves, to a supervisor, the photo of the officer of a
// verification: the one the check recorded, and only while the photo on
// file is still that one (its hash is what was recorded), never cached.
func (c *Console) photo(w http.ResponseWriter, r *http.Request, s session) error {
	if !s.Token.Role.Staff() {
		return gateway.Errorf(gateway.EFORBIDDEN, "only a supervisor or a 999 call handler sees the officer's photo")
	}
	if c.Checks == nil {
		return gateway.Errorf(gateway.ENOTFOUND, "no photo is on file")
	}
	v, err := c.Store.Verification(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := httpapi.Judging(s.Token, v.Origin, v.RoomID, "see the officer's photo"); err != nil {
		return err
	}
	evs, err := c.Store.Events(r.Context(), v.ID, 0, 0)
	if err != nil {
		return err
	}
	want := recordedPhoto(evs)
	if want == "" || v.Officer.Collar == "" {
		return gateway.Errorf(gateway.ENOTFOUND, "no photo was on file when the check was made")
	}
	b, ct, err := c.Checks.OfficerPhoto(v.Officer.Collar)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want {
		return gateway.Errorf(gateway.ENOTFOUND, "the photo on file has changed since the check was made")
	}
	headers(w)
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-store, private")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

// groundsPost records a supervisor's correction of the grounds from the
// check's form, and goes back to where it came from.
func (c *Console) groundsPost(w http.ResponseWriter, r *http.Request, s session) error {
	if !s.Token.Role.Staff() {
		return gateway.Errorf(gateway.EFORBIDDEN, "only a supervisor or a 999 call handler corrects the grounds")
	}
	if c.Grounds == nil {
		return gateway.Errorf(gateway.EUNAVAILABLE, "this gateway cannot record corrections")
	}
	grounds := strings.Join(strings.Fields(r.PostFormValue("grounds")), " ")
	if grounds == "" {
		return gateway.Errorf(gateway.EINVALID, "grounds: write the corrected grounds for the stop")
	}
	if len(grounds) > httpapi.MaxGrounds {
		return gateway.Errorf(gateway.EINVALID, "grounds: at most %d characters", httpapi.MaxGrounds)
	}
	v, err := c.Store.Verification(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	by, err := httpapi.CorrectorFor(s.Token, v)
	if err != nil {
		return err
	}
	if _, err := c.Grounds.CorrectGrounds(r.Context(), v.ID, grounds, by); err != nil {
		return err
	}
	c.back(w, r, v.ID, "grounds")
	return nil
}

// wordReadPost records that the supervisor read her the check word, and
// goes back to where it came from.
func (c *Console) wordReadPost(w http.ResponseWriter, r *http.Request, s session) error {
	if c.Words == nil {
		return gateway.Errorf(gateway.EUNAVAILABLE, "this gateway has no live check, so no check word")
	}
	if !s.Token.Role.Staff() {
		return gateway.Errorf(gateway.EFORBIDDEN, "only a supervisor records that he read her the check word")
	}
	id := r.PathValue("id")
	if _, err := c.Words.RecordWordRead(r.Context(), s.Token, id); err != nil {
		return err
	}
	c.back(w, r, id, "word")
	return nil
}

// OpenCheckData is the "Open a check" page's data.
type OpenCheckData struct {
	Room    string
	Collar  string
	Origin  string
	Grounds string
	// Lat and Lon are the stop's location, or Borough its borough, as
	// typed: optional.
	Lat, Lon string
	Borough  string
}

func (c *Console) openCheckPage(w http.ResponseWriter, r *http.Request, s session) error {
	if !s.Token.Role.OpensChecks() {
		return gateway.Errorf(gateway.EFORBIDDEN, "only a supervisor or a 999 call handler opens a check")
	}
	d := OpenCheckData{Room: r.URL.Query().Get("room"), Origin: string(gateway.OriginRadio)}
	if s.Token.Role == gateway.RoleHandler {
		d.Origin = string(gateway.Origin999)
	}
	v := c.view(s, "Open a check", d)
	v.RoomID = d.Room
	return c.render(w, http.StatusOK, "opencheck.html", v)
}

// openCheckPost opens a check by radio or 999 and shows its record, where
// the outcome is recorded as for any other.
func (c *Console) openCheckPost(w http.ResponseWriter, r *http.Request, s session) error {
	if !s.Token.Role.OpensChecks() {
		return gateway.Errorf(gateway.EFORBIDDEN, "only a supervisor or a 999 call handler opens a check")
	}
	if c.Checks == nil {
		return gateway.Errorf(gateway.EUNAVAILABLE, "this gateway cannot open checks")
	}
	d := OpenCheckData{Origin: r.PostFormValue("origin"), Collar: r.PostFormValue("collar"), Room: r.PostFormValue("room"),
		Grounds: r.PostFormValue("grounds"), Lat: strings.TrimSpace(r.PostFormValue("lat")),
		Lon: strings.TrimSpace(r.PostFormValue("lon")), Borough: r.PostFormValue("borough")}
	body := httpapi.CheckRequest{Origin: d.Origin, Collar: d.Collar, Room: d.Room, Grounds: d.Grounds, Borough: d.Borough}
	if err := httpapi.CoversRoom(s.Token, body.Room, "open checks"); err != nil {
		return err
	}
	var v gateway.Verification
	loc, err := stopLocation(d.Lat, d.Lon)
	if err == nil {
		body.Location = loc
		v, err = c.Checks.OpenCheck(r.Context(), s.Token, body)
	}
	if err != nil {
		status := http.StatusBadRequest
		switch gateway.ErrorCode(err) {
		case gateway.EINVALID:
		case gateway.EOUTSIDE:
			status = http.StatusUnprocessableEntity
		default:
			return err
		}
		pv := c.view(s, "Open a check", d)
		pv.RoomID, pv.Message = body.Room, gateway.ErrorMessage(err)
		return c.render(w, status, "opencheck.html", pv)
	}
	http.Redirect(w, r, "/console/verifications/"+url.PathEscape(v.ID)+"?done=opened", http.StatusSeeOther)
	return nil
}

// stopLocation is the stop's location as the open-check form gives it:
// nil for none (both empty). EINVALID for one of them alone or a number
// that is not one; the API checks the range.
func stopLocation(lat, lon string) (*httpapi.StopLocation, error) {
	if lat == "" && lon == "" {
		return nil, nil
	}
	if lat == "" || lon == "" {
		return nil, gateway.Errorf(gateway.EINVALID, "location: give both the latitude and the longitude of the stop, or neither")
	}
	la, err1 := strconv.ParseFloat(lat, 64)
	lo, err2 := strconv.ParseFloat(lon, 64)
	if err1 != nil || err2 != nil {
		return nil, gateway.Errorf(gateway.EINVALID, "location: the latitude and longitude are numbers, such as 51.5080 and -0.1281")
	}
	return &httpapi.StopLocation{Lat: &la, Lon: &lo}, nil
}
