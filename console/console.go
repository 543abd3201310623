// Package console is the supervisor console at /console: server-rendered
// pages (html/template, one stylesheet and one small script of its own)
// where supervisors and ops staff sign in with their credential and watch a
// live board of a room (its devices, its queue, every live verification
// with its reference shown large, the flagged ones), record outcomes, and
// look through the history.
//
// A session is a signed cookie (HMAC-SHA256 under the console's key)
// carrying the credential's ID and the session's expiry; the credential is
// read from the store again on every request, so a revoked one's session
// ends at once on every instance. Every form carries a per-session CSRF
// token, the HMAC of the session's ID, compared in constant time. The board
// works without JavaScript (a reload shows it as it is); with it, a server-
// sent event stream fed by the store's bus replaces its parts as they
// change.
package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/internal/httperror"
)

// Store is what the console reads: credentials, devices, verifications
// and their events, and the bus that says when they change.
type Store interface {
	// TokenByHash finds a token that is not revoked. ENOTFOUND.
	TokenByHash(ctx context.Context, hash string) (gateway.Token, error)
	// Token returns one token by its ID, revoked and expired ones too.
	// ENOTFOUND.
	Token(ctx context.Context, id string) (gateway.Token, error)
	// EndSessions ends a token's console sessions, on every instance (a
	// sign-out). ENOTFOUND.
	EndSessions(ctx context.Context, id string) error
	// Devices lists devices of one room, or of all when room is empty.
	Devices(ctx context.Context, room string, withRetired bool) ([]gateway.Device, error)
	// Verification returns one verification with its attempts. ENOTFOUND.
	Verification(ctx context.Context, id string) (gateway.Verification, error)
	// Verifications lists verifications with their attempts, oldest first.
	Verifications(ctx context.Context, f gateway.VerificationFilter) ([]gateway.Verification, error)
	// Events returns a verification's events with Seq > after, oldest
	// first; limit 0 is no limit.
	Events(ctx context.Context, verificationID string, after int64, limit int) ([]gateway.Event, error)
	gateway.Bus
}

// Rooms is the set of operations rooms.
type Rooms interface {
	// Rooms returns every room, in the force's order.
	Rooms() []gateway.Room
	// Room returns the room with the ID, and whether there is one.
	Room(id string) (gateway.Room, bool)
}

// Outcomes records a supervisor's outcome: httpapi.Server.RecordOutcome,
// the code path of POST /v1/verifications/{id}/outcome, so that the
// console and the API leave the same record.
type Outcomes interface {
	// RecordOutcome checks and records the outcome. EINVALID; ENOTFOUND;
	// ECONFLICT unless the call is connected.
	RecordOutcome(ctx context.Context, tok gateway.Token, id string, o httpapi.OutcomeRequest) (gateway.Verification, error)
}

// Words are the check words of the live check on her phone
// (httpapi.Server has them).
type Words interface {
	// CheckWord is verification id's check word; "" without the live
	// check.
	CheckWord(id string) string
	// RecordWordRead records, through the API's code path, that the
	// supervisor of tok read her the word. EFORBIDDEN; ENOTFOUND;
	// ECONFLICT before the call connected.
	RecordWordRead(ctx context.Context, tok gateway.Token, id string) (gateway.Event, error)
}

// FeedbackLister lists the public's feedback (gateway.FeedbackStore).
type FeedbackLister interface {
	// FeedbackSince returns the feedback given since, oldest first.
	FeedbackSince(ctx context.Context, since time.Time) ([]gateway.Feedback, error)
}

// RoomHealth counts every room's routable devices per channel
// (metrics.Routable).
type RoomHealth interface {
	// RoomHealth returns each room's routable devices per channel.
	RoomHealth(ctx context.Context) ([]gateway.RoomHealth, error)
}

// Defaults of the Console's fields.
const (
	DefaultSession    = 12 * time.Hour
	DefaultHeartbeat  = 15 * time.Second
	DefaultRefresh    = 30 * time.Second
	DefaultFlagWindow = 12 * time.Hour
	DefaultStale      = 90 * time.Second
	// MaxHistory bounds the rows of one history page.
	MaxHistory = 500
)

// CSP is the console's Content-Security-Policy: its own script, styles,
// forms and event stream, nothing from any other origin.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Console serves the supervisor console. Set the fields (New sets the
// defaults), then mount it at /console and /console/.
type Console struct {
	// Store is read for credentials, devices and verifications; its bus
	// wakes the boards. Required.
	Store Store
	// Rooms are the rooms that have boards. Required.
	Rooms Rooms
	// Outcomes records supervisors' outcomes. Required.
	Outcomes Outcomes
	// Key signs session cookies and derives CSRF tokens: at least 32
	// bytes, shared by the instances behind one address. Required.
	Key []byte
	// Session is how long a sign-in lasts. Default: DefaultSession.
	Session time.Duration
	// Secure marks the cookies Secure: set it when the public URL is https.
	Secure bool
	// Force is the police force's name, as the pages show it.
	Force string
	// Location is the time zone of the times shown and of the history's
	// dates. Nil: UTC.
	Location *time.Location
	// Stale is how old a device's last heartbeat may be before the board
	// says it has gone quiet. Default: DefaultStale.
	Stale time.Duration
	// Heartbeat is the interval of an event stream's comment lines and of
	// its session checks. Default: DefaultHeartbeat.
	Heartbeat time.Duration
	// Refresh is how often an open board is read again without a wake-up
	// (batteries and heartbeats change without one). Default:
	// DefaultRefresh.
	Refresh time.Duration
	// WriteTimeout is the HTTP server's write timeout, which an event
	// stream moves on as it writes. Zero: none.
	WriteTimeout time.Duration
	// FlagWindow is how far back the board shows flagged verifications.
	// Default: DefaultFlagWindow.
	FlagWindow time.Duration
	// Logger takes the console's errors. Default: the logrus standard
	// logger.
	Logger logrus.FieldLogger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Checks opens checks by radio or 999 and reads officers' photos for
	// supervisors' checks; nil: the console offers neither.
	Checks Checks
	// Grounds records supervisors' corrections of the grounds for a stop;
	// nil: the console offers no correction.
	Grounds httpapi.GroundsCorrector
	// Words shows the supervisor the check word of her live page, for
	// him to say to her; nil: no word.
	Words Words
	// Feedback lists her feedback, for the board to flag the misconduct
	// reports of the flag window; nil: none is flagged.
	Feedback FeedbackLister
	// Health judges devices for the board; nil: a policy of Stale and
	// gateway.DefaultBatteryFloor.
	Health *gateway.HealthPolicy
	// Routable says which channels no device of a room can serve now;
	// nil: the board does not say.
	Routable RoomHealth

	once sync.Once
	mux  *http.ServeMux

	hubsMu sync.Mutex
	hubs   map[string]*hub
}

// New returns a console over the store, rooms and outcome recorder, signing
// with key, its other fields at their defaults.
func New(st Store, rooms Rooms, outcomes Outcomes, key []byte) *Console {
	return &Console{
		Store: st, Rooms: rooms, Outcomes: outcomes, Key: key,
		Session: DefaultSession, Heartbeat: DefaultHeartbeat, Refresh: DefaultRefresh,
		FlagWindow: DefaultFlagWindow, Stale: DefaultStale,
		Logger: logrus.StandardLogger(), Now: time.Now,
	}
}

func (c *Console) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Console) logger() logrus.FieldLogger {
	if c.Logger == nil {
		return logrus.StandardLogger()
	}
	return c.Logger
}

func (c *Console) session() time.Duration { return orDefault(c.Session, DefaultSession) }
func (c *Console) heartbeat() time.Duration {
	d := orDefault(c.Heartbeat, DefaultHeartbeat)
	if c.WriteTimeout > 0 {
		d = min(d, c.WriteTimeout/2)
	}
	return d
}
func (c *Console) refresh() time.Duration { return orDefault(c.Refresh, DefaultRefresh) }
func (c *Console) stale() time.Duration   { return orDefault(c.Stale, DefaultStale) }
func (c *Console) flagWindow() time.Duration {
	return orDefault(c.FlagWindow, DefaultFlagWindow)
}

func (c *Console) location() *time.Location {
	if c.Location == nil {
		return time.UTC
	}
	return c.Location
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

//go:embed files
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"clock":   func(t time.Time) string { return t.Format("15:04:05") },
	"date":    func(t time.Time) string { return t.Format("2 Jan 2006 15:04:05") },
	"ago":     ago,
	"label":   label,
	"figures": figures,
	"checkArgs": func(v VerificationRow, csrf, room string) map[string]any {
		return map[string]any{"V": v, "CSRF": csrf, "Room": room}
	},
}).ParseFS(files, "files/*.html"))

// figures are a warning sign's figures as people read them, by name:
// "assigned: Camden; stop borough: Westminster".
func figures(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = label(k) + ": " + m[k]
	}
	return strings.Join(parts, "; ")
}

// ServeHTTP serves the console's paths, all under /console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.once.Do(c.route)
	c.mux.ServeHTTP(w, r)
}

func (c *Console) route() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console", c.home)
	mux.HandleFunc("GET /console/{$}", c.home)
	mux.HandleFunc("GET /console/sign-in", c.signInPage)
	mux.HandleFunc("POST /console/sign-in", c.signInPost)
	mux.HandleFunc("POST /console/sign-out", c.signedIn(c.signOut))
	mux.HandleFunc("GET /console/rooms", c.signedIn(c.roomsPage))
	mux.HandleFunc("GET /console/rooms/{room}", c.signedIn(c.boardPage))
	mux.HandleFunc("GET /console/rooms/{room}/events", c.signedIn(c.boardEvents))
	mux.HandleFunc("POST /console/verifications/{id}/outcome", c.signedIn(c.outcomePost))
	mux.HandleFunc("GET /console/verifications/{id}", c.signedIn(c.recordPage))
	mux.HandleFunc("GET /console/history", c.signedIn(c.historyPage))
	mux.HandleFunc("GET /console/verifications/{id}/photo", c.signedIn(c.photo))
	mux.HandleFunc("POST /console/verifications/{id}/grounds", c.signedIn(c.groundsPost))
	mux.HandleFunc("POST /console/verifications/{id}/word-read", c.signedIn(c.wordReadPost))
	mux.HandleFunc("GET /console/checks/new", c.signedIn(c.openCheckPage))
	mux.HandleFunc("POST /console/checks", c.signedIn(c.openCheckPost))
	mux.HandleFunc("GET /console/console.css", c.asset("files/console.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /console/console.js", c.asset("files/console.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, gateway.Errorf(gateway.ENOTFOUND, "there is no such page in the console"))
	})
	c.mux = mux
}

// handler is a console page that needs a session.
type handler func(w http.ResponseWriter, r *http.Request, s session) error

// signedIn runs h with the request's session; without one a page request
// is sent to the sign-in page, anything else answered 401. Every POST must
// carry the session's CSRF token (403 without it, or with another's).
func (c *Console) signedIn(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.readSession(r)
		if err != nil {
			if gateway.ErrorCode(err) == gateway.EUNAUTHORIZED {
				c.clearCookie(w, SessionCookie)
				if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/events") {
					http.Redirect(w, r, "/console/sign-in?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
			}
			c.fail(w, r, err)
			return
		}
		if r.Method == http.MethodPost && !c.checkCSRF(r, s.ID) {
			c.fail(w, r, gateway.Errorf(gateway.EFORBIDDEN, "this form has expired or did not come from this session: open the page again and retry"))
			return
		}
		if err := h(w, r, s); err != nil {
			if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
				return // the browser has gone
			}
			c.fail(w, r, err)
		}
	}
}

// headers sets the headers of every console answer.
func headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

// view is what every page's layout needs.
type view struct {
	Title   string
	Force   string
	Signed  bool
	Name    string
	Role    gateway.Role
	CSRF    string
	Rooms   []gateway.Room
	RoomID  string
	Message string
	Data    any
}

// view returns the layout's data for a page of the session.
func (c *Console) view(s session, title string, data any) view {
	return view{Title: title, Force: c.Force, Signed: s.ID != "", Name: s.Token.Name, Role: s.Token.Role,
		CSRF: c.csrfToken(s.ID), Rooms: c.Rooms.Rooms(), Data: data}
}

// render writes a page.
func (c *Console) render(w http.ResponseWriter, status int, name string, v view) error {
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, v); err != nil {
		return gateway.E("console.render", gateway.EINTERNAL, err)
	}
	headers(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
	return nil
}

// fail answers an error: a page for a browser, the API's JSON error for
// anything else. Internal errors are logged and shown as such.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := gateway.ErrorCode(err)
	status := httperror.Status(code)
	msg := gateway.ErrorMessage(err)
	if status >= 500 {
		if code != gateway.EUNAVAILABLE {
			c.logger().WithFields(logrus.Fields{"method": r.Method, "path": r.URL.Path}).WithError(err).Error("console: internal error")
			code, msg = gateway.EINTERNAL, "something went wrong in the gateway; try again"
		}
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		headers(w)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_ = writeJSON(w, httperror.NewBody(code, msg))
		return
	}
	v := view{Title: http.StatusText(status), Force: c.Force, Message: msg}
	if rerr := c.render(w, status, "error.html", v); rerr != nil {
		http.Error(w, msg, status)
	}
}

// asset serves one of the console's files.
func (c *Console) asset(name, ctype string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := files.ReadFile(name)
		if err != nil {
			c.fail(w, r, gateway.E("console.asset", gateway.EINTERNAL, err))
			return
		}
		headers(w)
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	}
}

// home sends a signed-in console to its rooms, anyone else to sign in.
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	if _, err := c.readSession(r); err != nil {
		http.Redirect(w, r, "/console/sign-in", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/console/rooms", http.StatusSeeOther)
}

// signInData is the sign-in page's.
type signInData struct{ Next string }

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	id := c.preLogin(w, r)
	v := view{Title: "Sign in", Force: c.Force, CSRF: c.csrfToken(id), Data: signInData{Next: safeNext(r.URL.Query().Get("next"))}}
	if err := c.render(w, http.StatusOK, "signin.html", v); err != nil {
		c.fail(w, r, err)
	}
}

func (c *Console) signInPost(w http.ResponseWriter, r *http.Request) {
	id, ok := c.readPreLogin(r)
	if !ok || !c.checkCSRF(r, id) {
		c.fail(w, r, gateway.Errorf(gateway.EFORBIDDEN, "this sign-in form has expired: open the sign-in page again"))
		return
	}
	next := safeNext(r.PostFormValue("next"))
	tok, err := c.signIn(r.Context(), r.PostFormValue("credential"))
	if err != nil {
		code := gateway.ErrorCode(err)
		if code != gateway.EUNAUTHORIZED && code != gateway.EFORBIDDEN {
			c.fail(w, r, err)
			return
		}
		v := view{Title: "Sign in", Force: c.Force, CSRF: c.csrfToken(id), Message: gateway.ErrorMessage(err), Data: signInData{Next: next}}
		if err := c.render(w, httperror.Status(code), "signin.html", v); err != nil {
			c.fail(w, r, err)
		}
		return
	}
	c.clearCookie(w, PreLoginCookie)
	c.startSession(w, tok)
	c.logger().WithFields(logrus.Fields{"token": tok.ID, "role": tok.Role}).Info("console: signed in")
	if next == "" {
		next = "/console/rooms"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext is where a sign-in may go on to: a console path, or nowhere.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") || len(next) > 300 {
		return ""
	}
	if strings.Contains(next, "/events") {
		return ""
	}
	return next
}

// signOut ends every console session of the session's credential, on
// every instance and copies of the cookie too (the store counts up its
// SessionsEnded, which readSession checks), then clears the browser's
// cookie. The cookie is kept when the store fails, so that the sign-out can
// be tried again.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s session) error {
	if err := c.Store.EndSessions(r.Context(), s.TokenID); err != nil && gateway.ErrorCode(err) != gateway.ENOTFOUND {
		return err
	}
	c.clearCookie(w, SessionCookie)
	c.logger().WithField("token", s.TokenID).Info("console: signed out, the credential's console sessions ended")
	http.Redirect(w, r, "/console/sign-in", http.StatusSeeOther)
	return nil
}

func (c *Console) roomsPage(w http.ResponseWriter, r *http.Request, s session) error {
	return c.render(w, http.StatusOK, "rooms.html", c.view(s, "Rooms", nil))
}

// room returns the room named in the path. ENOTFOUND.
func (c *Console) room(r *http.Request) (gateway.Room, error) {
	id := r.PathValue("room")
	room, ok := c.Rooms.Room(id)
	if !ok {
		return gateway.Room{}, gateway.Errorf(gateway.ENOTFOUND, "there is no operations room %.20q", id)
	}
	return room, nil
}
