package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/router"
)

// Live is the live check on her phone: every verification's page on the
// force's own address, reached by a link whose token only the gateway can
// make, showing her how the check goes and the check word that proves the
// person on the video sits in a real ops room. The token and the word are
// both made from Key and the verification's ID, so nothing of them is
// stored and every instance sharing Key makes the same.
type Live struct {
	// Key makes the links' tokens and the check words. Empty: no live
	// check.
	Key []byte
	// BaseURL is the gateway's public address (GATEWAY_PUBLIC_URL): the
	// links are made on it and the page tells her to look for its host.
	BaseURL string
	// After is how long after the verification ends its link still shows
	// how it ended; after that the page sends her to her receipt.
	After time.Duration
}

// LiveTokenBytes is how many bytes of the HMAC a live link carries: 128
// bits, beyond guessing.
const LiveTokenBytes = 16

// DefaultLiveAfter is how long a live link works after its verification
// ends when nothing says otherwise.
const DefaultLiveAfter = 15 * time.Minute

// On reports whether the live check is configured.
func (l *Live) On() bool { return l != nil && len(l.Key) > 0 }

func (l *Live) mac(label, id string) []byte {
	m := hmac.New(sha256.New, l.Key)
	m.Write([]byte("safeconnection live v1\x00" + label + "\x00" + id))
	return m.Sum(nil)
}

// Token is the live link's token of verification id: its ID and 128 bits
// of its HMAC, "v_….<22 characters>".
func (l *Live) Token(id string) string {
	return id + "." + base64.RawURLEncoding.EncodeToString(l.mac("link", id)[:LiveTokenBytes])
}

// URL is the live link of verification id on BaseURL; "" when the live
// check is off.
func (l *Live) URL(id string) string {
	if !l.On() {
		return ""
	}
	return strings.TrimRight(l.BaseURL, "/") + "/live/" + l.Token(id)
}

// Host is the host her address bar shows on the live page: BaseURL's.
func (l *Live) Host() string {
	u, err := url.Parse(l.BaseURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// verify returns the verification ID a token names when its HMAC is
// right, compared in constant time.
func (l *Live) verify(token string) (string, bool) {
	if !l.On() || len(token) > 128 {
		return "", false
	}
	id, sum, ok := strings.Cut(token, ".")
	if !ok || id == "" {
		return "", false
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sum)
	if err != nil || len(got) != LiveTokenBytes {
		return "", false
	}
	return id, hmac.Equal(got, l.mac("link", id)[:LiveTokenBytes])
}

// Word is verification id's check word: a plain English word from the
// list and a two-digit number, "amber 42". Only a holder of Key can make
// it, so only the gateway (and the ops room it shows it to) knows it.
func (l *Live) Word(id string) string {
	if !l.On() {
		return ""
	}
	words := checkWords()
	sum := l.mac("word", id)
	w := words[int(binary.BigEndian.Uint32(sum[:4])%uint32(len(words)))]
	return fmt.Sprintf("%s %02d", w, 10+int(binary.BigEndian.Uint32(sum[4:8])%90))
}

// CheckWords returns the list check words are drawn from.
func CheckWords() []string { return append([]string(nil), checkWords()...) }

var checkWords = sync.OnceValue(func() []string {
	b, err := publicFiles.ReadFile("public/words.txt")
	if err != nil {
		panic("httpapi: the check words are not embedded: " + err.Error())
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if w := strings.TrimSpace(line); w != "" && !strings.HasPrefix(w, "#") {
			out = append(out, w)
		}
	}
	return out
})

// LiveView is what the live page shows, and its JSON: nothing personal of
// anyone but, once verified, the officer's collar number and the
// supervisor's rank and number.
type LiveView struct {
	Force string `json:"force"`
	Room  string `json:"room"`
	// Stage is where the check is: connecting, connected, verified,
	// refused or ended (not completed).
	Stage string `json:"stage"`
	// Word is the check word: the supervisor says it to her.
	Word string `json:"word"`
	// WordRead is whether the supervisor has recorded that he read it
	// to her.
	WordRead bool `json:"word_read"`
	// Officer is his collar number and Supervisor the supervisor's rank
	// and number, once verified.
	Officer    string `json:"officer_collar,omitempty"`
	Supervisor string `json:"supervisor,omitempty"`
	// Reference is the receipt's reference, once the check has ended.
	Reference string `json:"reference,omitempty"`
	// Host is the force's address her address bar should show.
	Host string `json:"host"`
	// Token is the link's token, for the page's own links.
	Token string `json:"-"`
	// Final is whether nothing more will change.
	Final bool `json:"final"`
}

// The stages of the live page.
const (
	LiveConnecting = "connecting"
	LiveConnected  = "connected"
	LiveVerified   = "verified"
	LiveRefused    = "refused"
	LiveEnded      = "ended"
)

// liveStage is the stage v's page shows.
func liveStage(v gateway.Verification) string {
	switch v.State {
	case gateway.StateConnected:
		return LiveConnected
	case gateway.StateVerified:
		return LiveVerified
	case gateway.StateRefused:
		return LiveRefused
	case gateway.StateFailed, gateway.StateCancelled:
		return LiveEnded
	}
	return LiveConnecting
}

// WordRead reports whether evs record that the check word was read to
// her (router.RecordWordRead).
func WordRead(evs []gateway.Event) bool {
	for _, ev := range evs {
		if ev.Data[router.DataWordRead] != "" {
			return true
		}
	}
	return false
}

// eventReader reads a verification's events: the store the receipts come
// from has it.
type eventReader interface {
	Events(ctx context.Context, id string, after int64, limit int) ([]gateway.Event, error)
}

// liveView reads what v's live page shows.
func (s *Server) liveView(ctx context.Context, v gateway.Verification) (LiveView, error) {
	l := s.Public.Live
	out := LiveView{Force: s.Public.Force, Room: v.RoomID, Stage: liveStage(v), Word: l.Word(v.ID), Host: l.Host(),
		Token: l.Token(v.ID), Final: v.State.Terminal()}
	if room, ok := s.roomByID(v.RoomID); ok {
		out.Room = room.Name
	}
	if out.Stage == LiveVerified {
		rec := s.receiptOf(v)
		out.Officer, out.Supervisor = rec.Officer, rec.Supervisor
	}
	if out.Final {
		out.Reference = v.Reference
	}
	var err error
	if out.WordRead, err = s.wordWasRead(ctx, v.ID); err != nil {
		return LiveView{}, err
	}
	return out, nil
}

// wordWasRead reports whether verification id's record says the check
// word was read to her; false when the receipts' store has no events.
func (s *Server) wordWasRead(ctx context.Context, id string) (bool, error) {
	er, ok := s.Public.Receipts.(eventReader)
	if !ok {
		return false, nil
	}
	evs, err := er.Events(ctx, id, 0, 0)
	if err != nil {
		return false, err
	}
	return WordRead(evs), nil
}

// liveFor reads the verification a live link's token names, while its
// link works: live, or ended less than After ago. ENOTFOUND, one answer
// for a wrong token, a guessed one and an expired one alike.
func (s *Server) liveFor(ctx context.Context, token string) (gateway.Verification, error) {
	none := gateway.Errorf(gateway.ENOTFOUND, "this live check link does not work (now)")
	l := s.Public.Live
	id, ok := l.verify(token)
	if !ok || s.Verifications == nil {
		return gateway.Verification{}, none
	}
	v, err := s.Verifications.Verification(ctx, id)
	if gateway.ErrorCode(err) == gateway.ENOTFOUND {
		return gateway.Verification{}, none
	}
	if err != nil {
		return gateway.Verification{}, err
	}
	after := l.After
	if after <= 0 {
		after = DefaultLiveAfter
	}
	if v.State.Terminal() && s.now().Sub(v.UpdatedAt) > after {
		return gateway.Verification{}, none
	}
	return v, nil
}

// liveCSP is the public pages' policy with the live page's own script
// and its event stream.
const liveCSP = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// GET /live/{token}: the live check, as a page (refreshing itself without
// JavaScript, by its event stream with it) or as JSON.
func (s *Server) livePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	v, err := s.liveFor(r.Context(), r.PathValue("token"))
	if err == nil {
		var lv LiveView
		if lv, err = s.liveView(r.Context(), v); err == nil {
			if wantsJSON(r) {
				s.writeJSON(w, r, http.StatusOK, lv)
				return
			}
			w.Header().Set("Content-Security-Policy", liveCSP)
			data := map[string]any{"Live": lv, "Script": "/live.js"}
			if !lv.Final {
				data["Refresh"] = 5
			}
			s.page(w, r, http.StatusOK, "live.html", data)
			return
		}
	}
	s.liveGone(w, r, err)
}

// liveGone answers a link that does not work, or an error.
func (s *Server) liveGone(w http.ResponseWriter, r *http.Request, err error) {
	if gateway.ErrorCode(err) != gateway.ENOTFOUND || wantsJSON(r) {
		s.writeError(w, r, err)
		return
	}
	s.page(w, r, http.StatusNotFound, "live-none.html", nil)
}

// GET /live?reference=: the live check found by the reference typed
// (rate-limited): 303 to its link while it works.
func (s *Server) liveByReference(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	typed := r.URL.Query().Get("reference")
	if strings.TrimSpace(typed) == "" {
		s.page(w, r, http.StatusOK, "live-form.html", nil)
		return
	}
	ref := gateway.NormalizeReference(typed)
	var err error = gateway.Errorf(gateway.ENOTFOUND, "no live check has that reference")
	if ref != "" && s.Public.Receipts != nil {
		var v gateway.Verification
		if v, err = s.Public.Receipts.VerificationByReference(r.Context(), ref); err == nil {
			token := s.Public.Live.Token(v.ID)
			if _, err = s.liveFor(r.Context(), token); err == nil {
				http.Redirect(w, r, "/live/"+token, http.StatusSeeOther)
				return
			}
		}
		if gateway.ErrorCode(err) == gateway.ENOTFOUND {
			err = gateway.Errorf(gateway.ENOTFOUND, "no live check has that reference")
		}
	}
	s.liveGone(w, r, err)
}

// GET /live/{token}/events: the live page's part that changes, as
// server-sent events ("live", whose data is the part's HTML), at once and
// on every change, until it is final.
func (s *Server) liveEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	wake, stop := s.Bus.Subscribe(gateway.TopicEvents)
	defer stop()
	token := r.PathValue("token")
	v, err := s.liveFor(ctx, token)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// In the page's language: its data-events URL carries ?lang=, and the
	// stream reads it (or the cookie, or Accept-Language) as the page did.
	lang, _ := RequestLang(r)
	rc := http.NewResponseController(w)
	s.extendWrite(rc, 0)
	h := w.Header()
	h.Set("Vary", "Accept-Language, Cookie")
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(s.sseHeartbeat())
	defer tick.Stop()
	last := ""
	for {
		lv, err := s.liveView(ctx, v)
		if err != nil {
			return
		}
		var b strings.Builder
		if err := publicPages[lang].ExecuteTemplate(&b, "livebody", lv); err != nil {
			return
		}
		if html := b.String(); html != last {
			last = html
			s.extendWrite(rc, 0)
			if _, err := fmt.Fprint(w, sseData("live", html)); err != nil || rc.Flush() != nil {
				return
			}
		}
		if lv.Final {
			return
		}
		if err := s.awaitEvent(ctx, w, rc, wake, tick.C, v.ID); err != nil {
			return
		}
		if v, err = s.Verifications.Verification(ctx, v.ID); err != nil {
			return
		}
	}
}

// sseData is one server-sent event of the named type whose data is text,
// line by line.
func sseData(event, text string) string {
	var b strings.Builder
	b.WriteString("event: " + event + "\n")
	for _, line := range strings.Split(text, "\n") {
		b.WriteString("data: " + strings.TrimRight(line, "\r") + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

// GET /live.js: the live page's script.
func (s *Server) liveJS(w http.ResponseWriter, r *http.Request) {
	js, err := publicFiles.ReadFile("public/live.js")
	if err != nil {
		s.writeError(w, r, gateway.E("httpapi.liveJS", gateway.EINTERNAL, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(js)
}

// CheckWord is verification id's check word ("" without the live check),
// for the console to show the supervisor.
func (s *Server) CheckWord(id string) string { return s.Public.Live.Word(id) }

// WordRecorder is the router's ability to record that the supervisor read
// her the check word (router.Router has it).
type WordRecorder interface {
	RecordWordRead(ctx context.Context, id string, by router.Corrector) (gateway.Event, error)
}

// RecordWordRead records, for whoever judges verification id (a
// supervisor; a 999 call handler for a check asked for by radio or 999),
// that he read her the check word: the console's button and POST
// /v1/verifications/{id}/word-read both come here. ENOIDENTITY;
// EFORBIDDEN; ENOTFOUND; ECONFLICT before the call connected;
// EUNAVAILABLE without the live check.
func (s *Server) RecordWordRead(ctx context.Context, tok gateway.Token, id string) (gateway.Event, error) {
	wr, ok := s.Router.(WordRecorder)
	if !ok || !s.Public.Live.On() {
		return gateway.Event{}, gateway.Errorf(gateway.EUNAVAILABLE, "this gateway has no live check, so no check word")
	}
	v, err := s.Verifications.Verification(ctx, id)
	if err != nil {
		return gateway.Event{}, err
	}
	by, err := judgeFor(tok, v, "record that the check word was read")
	if err != nil {
		return gateway.Event{}, err
	}
	return wr.RecordWordRead(ctx, v.ID, by)
}

// WordReadReply answers POST /v1/verifications/{id}/word-read: the event
// that records it (never the word).
type WordReadReply struct {
	Verification string    `json:"verification"`
	By           string    `json:"by"`
	At           time.Time `json:"at"`
}

// POST /v1/verifications/{id}/word-read (supervisor; call handler)
func (s *Server) wordRead(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	v, err := s.verificationFor(r, tok)
	if err != nil {
		return err
	}
	ev, err := s.RecordWordRead(r.Context(), tok, v.ID)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, WordReadReply{Verification: v.ID, By: ev.Data[router.DataWordRead], At: ev.At})
	return nil
}

// GET /v1/verifications/{id}/qr: the live link as a QR code (PNG), for
// the officer app to show her.
func (s *Server) verificationQR(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	v, err := s.verificationFor(r, tok)
	if err != nil {
		return err
	}
	link := s.Public.Live.URL(v.ID)
	if link == "" {
		return gateway.Errorf(gateway.EUNAVAILABLE, "this gateway has no live check")
	}
	png, err := qrcode.Encode(link, qrcode.Medium, 320)
	if err != nil {
		return gateway.E("httpapi.verificationQR", gateway.EINTERNAL, err)
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", "no-store, private")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(png)
	return nil
}
