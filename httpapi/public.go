package httpapi

import (
	"context"
	"embed"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/ledger"
)

// The public's pages: the official numbers of the operations rooms, the
// check of a number, and the receipt of a verification. They need no
// credential, show nothing personal about anyone, and answer HTML, or JSON
// to a client that asks for it (Accept: application/json).

// Public configures the pages for the public. The zero value serves none.
type Public struct {
	// Force is the police force's name, as its pages show it.
	Force string
	// Rooms lists the rooms and finds the one a typed number is official
	// for. Nil: the public's pages are not served.
	Rooms NumberBook
	// Receipts finds a verification by its reference.
	Receipts ReceiptStore
	// Limiter limits each client's number checks and receipt lookups. Nil:
	// no limit.
	Limiter *ClientLimiter
	// Region is the region a number typed without its country code is
	// read in; empty: GB.
	Region string
	// Location is the time zone of the receipts' times; nil: UTC.
	Location *time.Location
	// Live is the live check on her phone; nil or without a key: none.
	Live *Live
}

// NumberBook is what the public's pages ask of the rooms.
type NumberBook interface {
	// Rooms returns every room, in the force's order.
	Rooms() []gateway.Room
	// OfficialOn returns the room the typed number or handle is an
	// official way to reach (its published number, in any notation, or
	// one of the video handles the numbers page lists, a WhatsApp number
	// say), the channel it is the room's on (gateway.VoiceLine for its
	// published number), the number in E.164 form when it is one, and
	// whether there is one.
	OfficialOn(typed, region string) (room gateway.Room, channel gateway.Channel, number string, ok bool)
}

// ReceiptStore is the part of the store receipts are read from.
type ReceiptStore interface {
	// VerificationByReference finds a verification by its public
	// reference. ENOTFOUND.
	VerificationByReference(ctx context.Context, ref string) (gateway.Verification, error)
}

// The outcomes a receipt shows.
const (
	ReceiptVerified     = "verified"
	ReceiptRefused      = "refused"
	ReceiptNotCompleted = "not completed"
)

// ReceiptRounding is how a receipt's time is rounded: to the nearest five
// minutes, enough for her to know it is her encounter, not enough to match
// it to anything else.
const ReceiptRounding = 5 * time.Minute

// Receipt is what a receipt shows: nothing else about the verification.
type Receipt struct {
	Reference string    `json:"reference"`
	Force     string    `json:"force"`
	Room      string    `json:"room"`
	Time      time.Time `json:"time"`
	Outcome   string    `json:"outcome"`
	// Officer is the officer's collar number, when verified.
	Officer string `json:"officer_collar,omitempty"`
	// Supervisor is the supervisor's rank and number, when verified.
	Supervisor string `json:"supervisor,omitempty"`
	// WordRead is whether the supervisor recorded that he read her the
	// check word of her live page.
	WordRead bool `json:"word_read,omitempty"`
	// Record is where the verification's record stands in the force's
	// tamper-evident log, so that what she was shown can be proved later;
	// absent until it is in a signed checkpoint.
	Record *ledger.Position `json:"record,omitempty"`
}

// NumberCheck is the answer of a number check.
type NumberCheck struct {
	Official bool `json:"official"`
	// Number is the official number in E.164 form, when official and a
	// number (the room's published number, or its WhatsApp number).
	Number string `json:"number,omitempty"`
	// Channel is what the number or handle is the room's on, when
	// official: "voice" for its published number, to call; a video
	// channel ("whatsapp", "facetime") for one of its video handles.
	Channel gateway.Channel `json:"channel,omitempty"`
	// Handle is the video handle as the room publishes it, when the
	// check is of one of its video handles.
	Handle string `json:"handle,omitempty"`
	// Room is the room it is the number of, when official.
	Room *NumberRoom `json:"room,omitempty"`
}

// NumberRoom is a room as the public's pages show it.
type NumberRoom struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Number   string   `json:"number"`
	Boroughs []string `json:"areas"`
	// Handles are the room's published video handles by channel (its
	// WhatsApp number, say), for the public to video-call it on; empty
	// when it has none. Never a handset's own number or handle.
	Handles map[gateway.Channel]string `json:"handles"`
}

//go:embed public
var publicFiles embed.FS

// publicCSP allows the page its own stylesheet and its own forms, nothing
// else: no script, no other origin.
const publicCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// routePublic mounts the public's pages on mux, when they are configured.
func (s *Server) routePublic(mux *routeMux) {
	if s.Public.Rooms == nil {
		return
	}
	mux.HandleFunc("GET /numbers", s.numbersPage)
	mux.HandleFunc("GET /numbers/check", s.limited(s.numberCheckPage))
	mux.HandleFunc("GET /v1/numbers/check", s.limited(s.numberCheckJSON))
	mux.HandleFunc("GET /v1/numbers", s.numbersJSON)
	mux.HandleFunc("GET /receipt", s.limited(s.receiptForm))
	mux.HandleFunc("GET /receipt/{reference}", s.limited(s.receipt))
	mux.HandleFunc("GET /public.css", s.publicCSS)
	if s.Public.Live.On() {
		mux.HandleFunc("GET /live", s.limited(s.liveByReference))
		mux.HandleFunc("GET /live/{token}", s.livePage)
		mux.HandleFunc("GET /live/{token}/events", s.liveEvents)
		mux.HandleFunc("GET /live.js", s.liveJS)
	}
}

// limited refuses a client over its rate with a 429 and Retry-After.
func (s *Server) limited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if l := s.Public.Limiter; l != nil {
			if ok, wait := l.Allow(r); !ok {
				secs := wholeSeconds(wait)
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				err := gateway.Errorf(gateway.ERATELIMITED, "too many checks from this connection: wait %d seconds and try again", secs)
				if wantsJSON(r) {
					s.writeError(w, r, err)
					return
				}
				s.page(w, r, http.StatusTooManyRequests, "busy.html", map[string]any{"Wait": secs})
				return
			}
		}
		h(w, r)
	}
}

func (s *Server) numberRooms() []NumberRoom {
	var out []NumberRoom
	for _, room := range s.Public.Rooms.Rooms() {
		out = append(out, publicRoom(room))
	}
	return out
}

func publicRoom(room gateway.Room) NumberRoom {
	handles := map[gateway.Channel]string{}
	for c, h := range room.Handles {
		if h != "" {
			handles[c] = h
		}
	}
	return NumberRoom{ID: room.ID, Name: room.Name, Number: room.Number, Boroughs: room.Boroughs, Handles: handles}
}

// numbersData is what the numbers page shows: the rooms, and the names of
// the apps their video handles are on.
func (s *Server) numbersData() map[string]any {
	rooms := s.numberRooms()
	apps := map[gateway.Channel]string{}
	for _, room := range rooms {
		for c := range room.Handles {
			apps[c] = s.appTitle(c)
		}
	}
	return map[string]any{"Rooms": rooms, "Apps": apps}
}

func (s *Server) numbersPage(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) {
		s.numbersJSON(w, r)
		return
	}
	s.page(w, r, http.StatusOK, "numbers.html", s.numbersData())
}

func (s *Server) numbersJSON(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]any{"force": s.Public.Force, "rooms": s.numberRooms()})
}

// checkNumber checks the number in the query; EINVALID without one.
func (s *Server) checkNumber(r *http.Request) (NumberCheck, error) {
	typed := r.URL.Query().Get("number")
	if strings.TrimSpace(typed) == "" {
		return NumberCheck{}, gateway.Errorf(gateway.EINVALID, "number: give the number to check, as ?number=020 7946 0101")
	}
	room, channel, number, ok := s.Public.Rooms.OfficialOn(typed, s.Public.Region)
	if !ok {
		return NumberCheck{}, nil
	}
	pr := publicRoom(room)
	c := NumberCheck{Official: true, Number: number, Channel: channel, Room: &pr}
	if channel != gateway.VoiceLine {
		c.Handle = room.Handles[channel]
	}
	return c, nil
}

// appTitle names a video channel for people: "WhatsApp".
func (s *Server) appTitle(c gateway.Channel) string {
	if in, ok := s.Channels.Info(c); ok && in.Title != "" {
		return in.Title
	}
	return string(c)
}

func (s *Server) numberCheckJSON(w http.ResponseWriter, r *http.Request) {
	c, err := s.checkNumber(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, c)
}

func (s *Server) numberCheckPage(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) {
		s.numberCheckJSON(w, r)
		return
	}
	c, err := s.checkNumber(r)
	if err != nil {
		// An empty form: show the form again, asking for the number.
		data := s.numbersData()
		data["Empty"] = true
		s.page(w, r, http.StatusBadRequest, "numbers.html", data)
		return
	}
	data := map[string]any{"Check": c}
	if c.Official && c.Channel != gateway.VoiceLine {
		data["App"] = s.appTitle(c.Channel)
	}
	s.page(w, r, http.StatusOK, "check.html", data)
}

func (s *Server) receiptForm(w http.ResponseWriter, r *http.Request) {
	if ref := r.URL.Query().Get("reference"); ref != "" {
		s.answerReceipt(w, r, ref)
		return
	}
	s.page(w, r, http.StatusOK, "receipt-form.html", nil)
}

func (s *Server) receipt(w http.ResponseWriter, r *http.Request) {
	s.answerReceipt(w, r, r.PathValue("reference"))
}

// answerReceipt shows the receipt of the reference typed. A reference that
// is not well formed and one that matches nothing get the same answer, but
// for the reference echoed: the answer says nothing of which references
// exist beyond the one asked about.
func (s *Server) answerReceipt(w http.ResponseWriter, r *http.Request, typed string) {
	w.Header().Set("Cache-Control", "no-store")
	rec, err := s.findReceipt(r.Context(), typed)
	if err != nil {
		if gateway.ErrorCode(err) != gateway.ENOTFOUND {
			s.writeError(w, r, err)
			return
		}
		echo := echoReference(typed)
		if wantsJSON(r) {
			s.writeError(w, r, gateway.Errorf(gateway.ENOTFOUND, "no receipt has the reference %q", echo))
			return
		}
		s.page(w, r, http.StatusNotFound, "receipt-none.html", map[string]any{"Reference": echo})
		return
	}
	if wantsJSON(r) {
		s.writeJSON(w, r, http.StatusOK, rec)
		return
	}
	s.page(w, r, http.StatusOK, "receipt.html", map[string]any{"Receipt": rec, "Feedback": s.Feedback != nil})
}

func (s *Server) findReceipt(ctx context.Context, typed string) (Receipt, error) {
	ref := gateway.NormalizeReference(typed)
	if ref == "" || s.Public.Receipts == nil {
		return Receipt{}, gateway.Errorf(gateway.ENOTFOUND, "no such reference")
	}
	v, err := s.Public.Receipts.VerificationByReference(ctx, ref)
	if err != nil {
		return Receipt{}, err
	}
	rec := s.receiptOf(v)
	rec.Record = s.receiptPosition(ctx, v)
	if rec.WordRead, err = s.wordWasRead(ctx, v.ID); err != nil {
		return Receipt{}, err
	}
	return rec, nil
}

// receiptOf is what the receipt of v shows.
func (s *Server) receiptOf(v gateway.Verification) Receipt {
	loc := s.Public.Location
	if loc == nil {
		loc = time.UTC
	}
	rec := Receipt{
		Reference: v.Reference, Force: s.Public.Force, Room: v.RoomID,
		Time: v.CreatedAt.Round(ReceiptRounding).In(loc), Outcome: ReceiptNotCompleted,
	}
	if room, ok := s.roomByID(v.RoomID); ok {
		rec.Room = room.Name
	}
	if o := v.Outcome; o != nil {
		switch o.Result {
		case gateway.OutcomeVerified:
			rec.Outcome = ReceiptVerified
			rec.Officer = v.Officer.Collar
			rec.Supervisor = RankAndNumber(o.Supervisor)
			if o.Rank != "" && o.Number != "" { // as his credential names him
				rec.Supervisor = RankAndNumber(o.Rank + " " + o.Number)
			}
		case gateway.OutcomeRefused:
			rec.Outcome = ReceiptRefused
		}
	}
	return rec
}

func (s *Server) roomByID(id string) (gateway.Room, bool) {
	for _, room := range s.Public.Rooms.Rooms() {
		if room.ID == id {
			return room, true
		}
	}
	return gateway.Room{}, false
}

// rankAndNumber matches a rank, in the abbreviations a force uses (or a
// 999 call handler's title), and a number: "PS 42", "Sgt 1234", "Insp.
// 77", "Call handler 3012".
var rankAndNumber = regexp.MustCompile(`^(?i)(PC|PS|DC|DS|Sgt|Sergeant|Insp|Inspector|DI|CI|Ch ?Insp|Supt|DSupt|Ch ?Supt|Call handler|CH)\.? ?[0-9]{1,6}$`)

// RankAndNumber returns the supervisor's rank and number as a receipt may
// show them, or "" when what was recorded is anything else (a name, say):
// a receipt names no one.
func RankAndNumber(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if !rankAndNumber.MatchString(s) {
		return ""
	}
	return s
}

// echoReference is the reference as typed, as an answer may repeat it:
// trimmed, at most 20 characters, letters, digits, spaces and dashes only.
func echoReference(typed string) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.TrimSpace(typed) {
		if n == 20 {
			b.WriteString("…")
			break
		}
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == '-') {
			b.WriteRune(r)
		} else {
			b.WriteRune('?')
		}
		n++
	}
	return b.String()
}

// wantsJSON reports whether the client asks for JSON rather than a page.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// pageTitles are the keys of the pages' titles in the message files.
var pageTitles = map[string]string{
	"numbers.html":      "title.numbers",
	"check.html":        "title.check",
	"receipt-form.html": "title.receipt-form",
	"receipt.html":      "title.receipt",
	"receipt-none.html": "title.receipt-none",
	"busy.html":         "title.busy",
	"live.html":         "title.live",
	"live-none.html":    "title.live-none",
	"live-form.html":    "title.live-form",
}

// bareSwitch are the pages whose language switch carries nothing of
// their address but ?lang=: they answer what was typed (a reference, a
// token) alike, however it was typed.
var bareSwitch = map[string]bool{"receipt-none.html": true, "live-none.html": true}

// page renders one of the public's pages, in the language r asks for
// (RequestLang).
func (s *Server) page(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	lang, chosen := RequestLang(r)
	title, err := message(lang, false, pageTitles[name])
	if err != nil {
		s.writeError(w, r, gateway.E("httpapi.page", gateway.EINTERNAL, err))
		return
	}
	data["Force"], data["Title"], data["LiveOn"] = s.Public.Force, title, s.Public.Live.On()
	data["Lang"], data["HTMLLang"], data["LangChosen"] = lang, lang.HTML(), chosen
	data["SwitchURL"], data["SwitchLang"] = switchURL(r, lang.other(), bareSwitch[name]), lang.other().HTML()
	setLang(w, r, lang)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	if h.Get("Content-Security-Policy") == "" {
		h.Set("Content-Security-Policy", publicCSP)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	var b strings.Builder
	if err := publicPages[lang].ExecuteTemplate(&b, name, data); err != nil {
		s.writeError(w, r, gateway.E("httpapi.page", gateway.EINTERNAL, err))
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func (s *Server) publicCSS(w http.ResponseWriter, r *http.Request) {
	css, err := publicFiles.ReadFile("public/public.css")
	if err != nil {
		s.writeError(w, r, gateway.E("httpapi.publicCSS", gateway.EINTERNAL, err))
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(css)
}

// nationalNumber formats an E.164 number as people dial it in its country
// ("020 7946 0101"); the number as given when it cannot be read.
func nationalNumber(e164 string) string {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return e164
	}
	return phonenumbers.Format(n, phonenumbers.NATIONAL)
}
