// Package twilio is a fake of the two Twilio APIs the gateway uses, speaking
// Twilio's wire format: Programmable Voice's Calls resource and
// Programmable Messaging's Messages resource (api.twilio.com/2010-04-01;
// see messages.go) and Programmable Video's Rooms resource
// (video.twilio.com/v1), with HTTP Basic authentication, form bodies,
// Twilio's JSON resources and error bodies, and status callbacks posted back
// to the gateway as Twilio posts them: form bodies signed with
// X-Twilio-Signature over the callback URL as it was given.
//
// One http.Handler serves both hosts' paths; run it with httptest in tests
// or in-process for a demonstration. A created call is played out: the
// officer's phone rings and answers (or not: SetOfficer), then the
// <Dial><Number> of the call's TwiML rings the ops room's device or desk and
// is answered (or not: SetBridge), each step reported to the call's
// StatusCallback and the Number's statusCallback; hanging up through the
// API ends it. A created room (which can be fetched by SID or unique name)
// reports room-created, then the officer's and
// the device's participant-connected (SetJoins), and room-ended when
// completed through the API. A browser can join a room too, through a fake
// of the Twilio Video JavaScript SDK that the fake serves at SDKPath (see
// video.go). Knobs (latency, failures, malformed answers,
// hangs, callbacks off) are safe for concurrent use.
package twilio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/safeconnection/gateway/mocks/fault"
)

// Request is one API request the fake received, as recorded.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Form     url.Values // the parsed form body
	Body     []byte
	At       time.Time
}

// Delivery is one callback the fake posted to the gateway.
type Delivery struct {
	URL    string     // the callback URL as the gateway gave it (and as signed)
	Kind   string     // "call", "bridge", "dial-action" or "room"
	Event  string     // the status callback event: "initiated", "ringing", "answered", "completed", "room-created", ...
	Form   url.Values // the parameters posted
	Status int        // the gateway's HTTP status; 0 when the post failed
	Err    error      // the transport error, if any
}

// Never, as a join delay, means the participant never joins.
const Never time.Duration = -1

// Pickup is how a simulated phone behaves when it rings.
type Pickup int

// The pickups.
const (
	Answer   Pickup = iota // answers after one step
	NoAnswer               // rings out: no-answer after the ring timeout (capped by RingOut)
	Busy                   // busy
	Fail                   // the call fails (unreachable)
)

// Fake is a fake Twilio. Set its exported fields before serving; change its
// behaviour while serving with its methods.
//
// Its fault knobs are for the API requests, which are checked for
// credentials first: a request with wrong credentials gets 401 and uses up
// no knob. FailNext's failures carry Twilio's error body (code
// 20000+status: 20429, 20500, 20503...); a malformed answer is truncated
// JSON, and the request takes effect (the call or room exists); a hanging
// request takes no effect. NoWebhooks stops the callbacks, but the
// simulated calls and rooms go on regardless.
type Fake struct {
	AccountSID string // "AC" + 32 hex digits
	AuthToken  string // the Basic password and the callbacks' signing key
	// APIKeySID and APIKeySecret, if set, are also accepted as Basic
	// credentials (Twilio's API keys). They also check the access tokens
	// that browsers join rooms with through the fake SDK: without them,
	// every join is refused.
	APIKeySID    string
	APIKeySecret string
	// Step is the time between simulated events (default 20 ms).
	Step time.Duration
	// RingOut caps how long a phone that does not answer rings before
	// Twilio gives up (default 300 ms; Twilio itself waits the Timeout).
	RingOut time.Duration
	// HTTPClient posts callbacks (default: a client with a 5 s timeout).
	HTTPClient *http.Client
	// Now is the fake's clock (default time.Now).
	Now func() time.Time

	fault.Knobs
	fault.Record[Request]
	fault.Webhooks[Delivery]

	mu          sync.Mutex
	webhookBase *url.URL
	officer     Pickup
	bridge      Pickup
	officerJoin time.Duration
	deviceJoin  time.Duration
	calls       map[string]*call
	bridging    map[string]int // dialled number -> calls bridging to it now
	mostBridged map[string]int // dialled number -> most at once
	rooms       map[string]*room
	connects    []Connect
	msgs        messageBook
	life        *fault.Life
}

// New returns a fake Twilio for one account. By default both phones answer,
// and in rooms the officer joins 50 ms and the device 100 ms after the room
// is created.
func New(accountSID, authToken string) *Fake {
	return &Fake{
		AccountSID:  accountSID,
		AuthToken:   authToken,
		Step:        20 * time.Millisecond,
		RingOut:     300 * time.Millisecond,
		HTTPClient:  &http.Client{Timeout: 5 * time.Second},
		Now:         time.Now,
		officerJoin: 50 * time.Millisecond,
		deviceJoin:  100 * time.Millisecond,
		calls:       map[string]*call{},
		bridging:    map[string]int{},
		mostBridged: map[string]int{},
		rooms:       map[string]*room{},
		life:        fault.NewLife(),
	}
}

// SetOfficer sets how the officer's phone (the call's To) behaves.
func (f *Fake) SetOfficer(p Pickup) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.officer = p
}

// SetBridge sets how the number the call's TwiML dials (the ops room's
// device or supervisor desk) behaves.
func (f *Fake) SetBridge(p Pickup) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bridge = p
}

// SetJoins sets how long after a room's creation the officer and the device
// connect to it; Never for never.
func (f *Fake) SetJoins(officer, device time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.officerJoin, f.deviceJoin = officer, device
}

// SetWebhookURL makes callbacks go to base's scheme and host (and path
// prefix) instead of the callback URL's own, keeping the path and query;
// the signature is still computed over the URL as the gateway gave it, as
// it is when a proxy stands between Twilio and the gateway. Empty restores
// direct delivery.
func (f *Fake) SetWebhookURL(base string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if base == "" {
		f.webhookBase = nil
		return nil
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return fmt.Errorf("twilio fake: bad webhook base %q", base)
	}
	f.webhookBase = u
	return nil
}

// Call returns a call's current status ("queued", "ringing",
// "in-progress", "completed", ...), or "" when there is no such call.
func (f *Fake) Call(sid string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.calls[sid]; ok {
		return c.status
	}
	return ""
}

// Room returns a room's status ("in-progress", "completed"), or "" when
// there is no such room.
func (f *Fake) Room(sid string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.rooms[sid]; ok {
		return r.status
	}
	return ""
}

// Close stops the callbacks not yet sent, releases hanging requests and
// waits for the fake's goroutines.
func (f *Fake) Close() { f.life.Close() }

func (f *Fake) now() time.Time { return fault.Now(f.Now) }

var (
	callsPath = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Calls\.json$`)
	callPath  = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Calls/([^/]+)\.json$`)
	roomPath  = regexp.MustCompile(`^/v1/Rooms/([^/]+)$`)
	e164      = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// ServeHTTP serves the Calls and Rooms APIs, and the fake SDK and its
// endpoints.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.serveBrowser(w, r) {
		return
	}
	form, _ := f.readRequest(r)
	path := r.URL.Path
	known := path == "/v1/Rooms" || callsPath.MatchString(path) || callPath.MatchString(path) || roomPath.MatchString(path) ||
		messagesPath.MatchString(path)
	if !known {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+path+" was not found", 0)
		return
	}
	if !f.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"code": 20003, "detail": "Your AccountSid or AuthToken was incorrect.",
			"message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401,
		})
		return
	}
	getRoom := r.Method == http.MethodGet && roomPath.MatchString(path)
	if r.Method != http.MethodPost && !getRoom {
		writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed", 0)
		return
	}
	act, fl, latency := fault.Decide(&f.Knobs)
	if !f.sleep(r.Context(), latency) {
		return
	}
	switch act {
	case fault.Hang:
		f.life.Hang(r.Context())
		return
	case fault.Fail:
		writeError(w, fl.Status, 20000+fl.Status, http.StatusText(fl.Status), fl.RetryAfter)
		return
	}
	if getRoom {
		status, body := f.fetchRoom(roomPath.FindStringSubmatch(path)[1], path)
		writeJSON(w, status, body)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		writeError(w, http.StatusUnsupportedMediaType, 20415, "Unsupported Media Type", 0)
		return
	}
	var status int
	var body any
	switch {
	case callsPath.MatchString(path):
		status, body = f.createCall(callsPath.FindStringSubmatch(path)[1], form)
	case messagesPath.MatchString(path):
		status, body = f.createMessage(messagesPath.FindStringSubmatch(path)[1], form)
	case callPath.MatchString(path):
		m := callPath.FindStringSubmatch(path)
		status, body = f.updateCall(m[1], m[2], form, path)
	case path == "/v1/Rooms":
		status, body = f.createRoom(form)
	default:
		status, body = f.updateRoom(roomPath.FindStringSubmatch(path)[1], form, path)
	}
	if act == fault.Malformed && status < 300 {
		b, _ := json.Marshal(body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(b[:len(b)/2])
		return
	}
	writeJSON(w, status, body)
}

// readRequest reads (at most 1 MiB of) the body, parses it as a form when
// it is one, and records the request.
func (f *Fake) readRequest(r *http.Request) (url.Values, []byte) {
	body := fault.ReadBody(r)
	form, err := url.ParseQuery(string(body))
	if err != nil {
		form = url.Values{}
	}
	fault.Add(&f.Record, Request{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Form: form, Body: body, At: f.now(),
	})
	return form, body
}

// sleep waits for d, or until ctx or the fake ends; it reports whether the
// full time passed, and at once whether ctx is still live when d is not
// positive.
func (f *Fake) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	return f.life.Wait(ctx, d)
}

func (f *Fake) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	if user == f.AccountSID && pass == f.AuthToken {
		return true
	}
	return f.APIKeySID != "" && user == f.APIKeySID && pass == f.APIKeySecret
}

// twilioError is Twilio's error body.
func twilioError(status, code int, msg string) map[string]any {
	return map[string]any{
		"code": code, "message": msg,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status,
	}
}

func writeError(w http.ResponseWriter, status, code int, msg string, retryAfter time.Duration) {
	fault.SetRetryAfter(w.Header(), retryAfter)
	writeJSON(w, status, twilioError(status, code, msg))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	fault.WriteJSON(w, status, "application/json", v)
}

// newSID returns a Twilio SID: the prefix and 32 hex digits.
func newSID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// rfc2822 formats t as the 2010 API does.
func rfc2822(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC1123Z)
}

// post posts a signed form callback to rawURL, unless callbacks are off,
// and records the delivery.
func (f *Fake) post(kind, event, rawURL string, form url.Values) {
	if rawURL == "" || fault.Off(&f.Webhooks) {
		return
	}
	target := rawURL
	f.mu.Lock()
	base := f.webhookBase
	f.mu.Unlock()
	if base != nil {
		if u, err := url.Parse(rawURL); err == nil {
			u.Scheme, u.Host = base.Scheme, base.Host
			u.Path = strings.TrimSuffix(base.Path, "/") + u.Path
			target = u.String()
		}
	}
	header := http.Header{}
	header.Set("Content-Type", "application/x-www-form-urlencoded")
	header.Set("User-Agent", "TwilioProxy/1.1")
	header.Set("X-Twilio-Signature", Sign(f.AuthToken, rawURL, form))
	status, _, err := fault.Post(f.life.Context(), f.HTTPClient, target, header, []byte(form.Encode()))
	fault.Delivered(&f.Webhooks, Delivery{URL: rawURL, Kind: kind, Event: event, Form: form, Status: status, Err: err})
}

// ---- Calls ----

type call struct {
	sid, to, from  string
	status         string
	answered       bool // the officer answered
	created        time.Time
	started, ended time.Time
	callback       string
	events         map[string]bool
	timeout        time.Duration
	dial           *dial
	hangup         chan struct{}
	hungUp         bool
	seq            int
}

type dial struct {
	number, action, callerID string
	timeout                  time.Duration
	callback                 string
	events                   map[string]bool
}

// twimlDoc is the part of a TwiML document the fake plays out.
type twimlDoc struct {
	XMLName xml.Name `xml:"Response"`
	Dial    *struct {
		Action   string `xml:"action,attr"`
		Timeout  string `xml:"timeout,attr"`
		CallerID string `xml:"callerId,attr"`
		Numbers  []struct {
			Number   string `xml:",chardata"`
			Callback string `xml:"statusCallback,attr"`
			Events   string `xml:"statusCallbackEvent,attr"`
		} `xml:"Number"`
	} `xml:"Dial"`
}

func (f *Fake) createCall(account string, form url.Values) (int, any) {
	if account != f.AccountSID {
		return http.StatusNotFound, twilioError(404, 20404, "The requested resource /2010-04-01/Accounts/"+account+"/Calls.json was not found")
	}
	to, from := form.Get("To"), form.Get("From")
	switch {
	case to == "":
		return http.StatusBadRequest, twilioError(400, 21201, "No 'To' number is specified")
	case from == "":
		return http.StatusBadRequest, twilioError(400, 21603, "A 'From' phone number is required.")
	case form.Get("Url") == "" && form.Get("Twiml") == "" && form.Get("ApplicationSid") == "":
		return http.StatusBadRequest, twilioError(400, 21205, "Url parameter is required.")
	case !e164.MatchString(to):
		return http.StatusBadRequest, twilioError(400, 21211, "Invalid 'To' Phone Number: "+to)
	case !e164.MatchString(from):
		return http.StatusBadRequest, twilioError(400, 21212, "Invalid 'From' Phone Number: "+from)
	case len(form.Get("Twiml")) > 4000:
		return http.StatusBadRequest, twilioError(400, 21232, "Twiml is over 4000 characters")
	}
	c := &call{
		sid: newSID("CA"), to: to, from: from, status: "queued", created: f.now(),
		callback: form.Get("StatusCallback"), events: map[string]bool{"completed": true},
		timeout: 60 * time.Second, hangup: make(chan struct{}),
	}
	for _, e := range form["StatusCallbackEvent"] {
		for _, e := range strings.Fields(e) {
			c.events[e] = true
		}
	}
	if t := form.Get("Timeout"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 600 {
			return http.StatusBadRequest, twilioError(400, 21216, "Timeout must be between 1 and 600")
		}
		c.timeout = time.Duration(n) * time.Second
	}
	if tw := form.Get("Twiml"); tw != "" {
		var doc twimlDoc
		if err := xml.Unmarshal([]byte(tw), &doc); err != nil {
			return http.StatusBadRequest, twilioError(400, 12100, "Document parse failure")
		}
		if d := doc.Dial; d != nil && len(d.Numbers) > 0 {
			n := d.Numbers[0]
			c.dial = &dial{
				number: strings.TrimSpace(n.Number), action: d.Action, callerID: d.CallerID,
				timeout: 30 * time.Second, callback: n.Callback, events: map[string]bool{"completed": true},
			}
			if t, err := strconv.Atoi(d.Timeout); err == nil && t > 0 {
				c.dial.timeout = time.Duration(t) * time.Second
			}
			for _, e := range strings.Fields(n.Events) {
				c.dial.events[e] = true
			}
			if !e164.MatchString(c.dial.number) {
				return http.StatusBadRequest, twilioError(400, 13223, "Dial: Invalid phone number format")
			}
		}
	}
	f.mu.Lock()
	f.calls[c.sid] = c
	body := f.callJSON(c)
	f.mu.Unlock()
	f.life.Go(func() { f.playCall(c) })
	return http.StatusCreated, body
}

func (f *Fake) updateCall(account, sid string, form url.Values, path string) (int, any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.calls[sid]
	if account != f.AccountSID || !ok {
		return http.StatusNotFound, twilioError(404, 20404, "The requested resource "+path+" was not found")
	}
	switch st := form.Get("Status"); st {
	case "completed", "canceled":
		if !c.hungUp && c.ended.IsZero() {
			c.hungUp = true
			close(c.hangup)
			if c.answered {
				c.status = "completed"
			} else {
				c.status = "canceled"
			}
		}
	case "":
		if form.Get("Url") == "" && form.Get("Twiml") == "" {
			return http.StatusBadRequest, twilioError(400, 21218, "Invalid update: no Status, Url or Twiml")
		}
	default:
		return http.StatusBadRequest, twilioError(400, 21218, "Invalid Status: "+st)
	}
	return http.StatusOK, f.callJSON(c)
}

// callJSON is the api.v2010.account.call resource. f.mu must be held.
func (f *Fake) callJSON(c *call) map[string]any {
	base := "/2010-04-01/Accounts/" + f.AccountSID + "/Calls/" + c.sid
	var duration any
	if !c.ended.IsZero() && !c.started.IsZero() {
		duration = strconv.Itoa(int(c.ended.Sub(c.started).Seconds()))
	}
	return map[string]any{
		"sid": c.sid, "date_created": rfc2822(c.created), "date_updated": rfc2822(f.now()),
		"parent_call_sid": nil, "account_sid": f.AccountSID,
		"to": c.to, "to_formatted": c.to, "from": c.from, "from_formatted": c.from,
		"phone_number_sid": nil, "status": c.status,
		"start_time": rfc2822(c.started), "end_time": rfc2822(c.ended), "duration": duration,
		"price": nil, "price_unit": "USD", "direction": "outbound-api", "answered_by": nil,
		"api_version": "2010-04-01", "forwarded_from": nil, "group_sid": nil, "caller_name": nil,
		"queue_time": "0", "trunk_sid": nil, "uri": base + ".json",
		"subresource_uris": map[string]string{
			"notifications":                      base + "/Notifications.json",
			"recordings":                         base + "/Recordings.json",
			"payments":                           base + "/Payments.json",
			"events":                             base + "/Events.json",
			"siprec":                             base + "/Siprec.json",
			"streams":                            base + "/Streams.json",
			"transcriptions":                     base + "/Transcriptions.json",
			"user_defined_message_subscriptions": base + "/UserDefinedMessageSubscriptions.json",
			"user_defined_messages":              base + "/UserDefinedMessages.json",
		},
	}
}

// playCall plays a created call out, posting its callbacks in order.
func (f *Fake) playCall(c *call) {
	f.mu.Lock()
	officer, bridge, step, ringOut := f.officer, f.bridge, f.Step, f.RingOut
	f.mu.Unlock()
	if ringOut <= 0 {
		ringOut = 300 * time.Millisecond
	}
	// pause waits d; false when the call was hung up (or the fake closed).
	pause := func(d time.Duration) bool { return f.life.WaitUnless(c.hangup, d) }
	closed := func() bool {
		select {
		case <-f.life.Done():
			return true
		default:
			return false
		}
	}
	var child *childLeg
	hungUp := func() {
		if closed() {
			return
		}
		if child != nil && child.state != "" {
			final := "canceled"
			if child.state == "in-progress" {
				final = "completed"
			}
			f.childEvent(c, child, "completed", final)
		}
		f.finish(c, "")
	}

	if !pause(step) {
		hungUp()
		return
	}
	f.parentEvent(c, "initiated", "initiated")
	if !pause(step) {
		hungUp()
		return
	}
	f.setStatus(c, "ringing")
	f.parentEvent(c, "ringing", "ringing")
	switch officer {
	case Busy, Fail:
		if !pause(step) {
			hungUp()
			return
		}
		f.finish(c, map[Pickup]string{Busy: "busy", Fail: "failed"}[officer])
		return
	case NoAnswer:
		if !pause(min(ringOut, c.timeout)) {
			hungUp()
			return
		}
		f.finish(c, "no-answer")
		return
	}
	if !pause(step) {
		hungUp()
		return
	}
	f.mu.Lock()
	c.status, c.answered, c.started = "in-progress", true, f.now()
	f.mu.Unlock()
	f.parentEvent(c, "answered", "in-progress")
	if c.dial == nil {
		if pause(step) {
			f.finish(c, "completed")
		} else {
			hungUp()
		}
		return
	}
	child = &childLeg{sid: newSID("CA")}
	unbridge := f.dialling(c.dial.number)
	defer unbridge()
	if !pause(step) {
		hungUp()
		return
	}
	child.state = "initiated"
	f.childEvent(c, child, "initiated", "initiated")
	if !pause(step) {
		hungUp()
		return
	}
	child.state = "ringing"
	f.childEvent(c, child, "ringing", "ringing")
	var dialStatus string
	switch bridge {
	case Busy, Fail:
		if !pause(step) {
			hungUp()
			return
		}
		dialStatus = map[Pickup]string{Busy: "busy", Fail: "failed"}[bridge]
	case NoAnswer:
		if !pause(min(ringOut, c.dial.timeout)) {
			hungUp()
			return
		}
		dialStatus = "no-answer"
	default:
		if !pause(step) {
			hungUp()
			return
		}
		child.state, child.started = "in-progress", f.now()
		f.childEvent(c, child, "answered", "in-progress")
		select { // the call lasts until hung up through the API
		case <-c.hangup:
			unbridge()
			hungUp()
		case <-f.life.Done():
		}
		return
	}
	child.state = ""
	f.childEvent(c, child, "completed", dialStatus)
	if c.dial.action != "" {
		f.post("dial-action", dialStatus, c.dial.action, f.callParams(c, url.Values{
			"DialCallStatus": {dialStatus}, "DialCallSid": {child.sid}, "DialCallDuration": {"0"},
			"CallStatus": {"in-progress"},
		}))
	}
	if pause(step) {
		f.finish(c, "completed")
	} else {
		hungUp()
	}
}

// dialling counts a call dialling or bridged to number until the returned
// function is called (once or more).
func (f *Fake) dialling(number string) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bridging[number]++
	f.mostBridged[number] = max(f.mostBridged[number], f.bridging[number])
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.bridging[number]--
		})
	}
}

// MostBridged returns the most calls that were at once dialling or bridged
// to number (a handset's or a supervisor desk's), from the dial's start to
// its end or the call's hang-up.
func (f *Fake) MostBridged(number string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mostBridged[number]
}

type childLeg struct {
	sid     string
	state   string // "", initiated, ringing, in-progress
	started time.Time
	seq     int
}

func (f *Fake) setStatus(c *call, st string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.status = st
}

// finish ends the call with status (or, when status is "", the status the
// hang-up set) and posts its completed callback.
func (f *Fake) finish(c *call, status string) {
	f.mu.Lock()
	if status == "" {
		status = c.status
	}
	c.status, c.ended = status, f.now()
	dur := 0
	if !c.started.IsZero() {
		dur = int(c.ended.Sub(c.started).Seconds())
	}
	f.mu.Unlock()
	f.parentEvent(c, "completed", status, "CallDuration", strconv.Itoa(dur), "Duration", strconv.Itoa((dur+59)/60))
}

// callParams adds the parameters Twilio sends about a call to extra.
func (f *Fake) callParams(c *call, extra url.Values) url.Values {
	v := url.Values{
		"AccountSid": {f.AccountSID}, "ApiVersion": {"2010-04-01"}, "CallSid": {c.sid},
		"Called": {c.to}, "Caller": {c.from}, "Direction": {"outbound-api"},
		"From": {c.from}, "To": {c.to},
	}
	for k, vs := range extra {
		v[k] = vs
	}
	return v
}

func (f *Fake) parentEvent(c *call, event, status string, kv ...string) {
	if !c.events[event] {
		return
	}
	f.mu.Lock()
	seq := c.seq
	c.seq++
	f.mu.Unlock()
	extra := url.Values{
		"CallStatus": {status}, "CallbackSource": {"call-progress-events"},
		"SequenceNumber": {strconv.Itoa(seq)}, "Timestamp": {f.now().UTC().Format(time.RFC1123Z)},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		extra.Set(kv[i], kv[i+1])
	}
	f.post("call", event, c.callback, f.callParams(c, extra))
}

func (f *Fake) childEvent(c *call, ch *childLeg, event, status string) {
	if !c.dial.events[event] {
		return
	}
	from := c.dial.callerID
	if from == "" {
		from = c.to
	}
	seq := ch.seq
	ch.seq++
	v := url.Values{
		"AccountSid": {f.AccountSID}, "ApiVersion": {"2010-04-01"}, "CallSid": {ch.sid},
		"ParentCallSid": {c.sid}, "CallStatus": {status}, "Called": {c.dial.number},
		"Caller": {from}, "From": {from}, "To": {c.dial.number}, "Direction": {"outbound-dial"},
		"CallbackSource": {"call-progress-events"}, "SequenceNumber": {strconv.Itoa(seq)},
		"Timestamp": {f.now().UTC().Format(time.RFC1123Z)},
	}
	if event == "completed" {
		dur := 0
		if !ch.started.IsZero() {
			dur = int(f.now().Sub(ch.started).Seconds())
		}
		v.Set("CallDuration", strconv.Itoa(dur))
	}
	f.post("bridge", event, c.dial.callback, v)
}

// ---- Rooms ----

type room struct {
	sid, uniqueName, typ string
	callback, method     string
	maxParticipants      int
	emptyTimeout         int
	unusedTimeout        int
	status               string
	created, ended       time.Time
	end                  chan struct{}
	seq                  int
	// participants are the connected participants' SIDs by identity.
	participants map[string]string
}

func roomType(t string) bool {
	switch t {
	case "group", "go", "peer-to-peer", "group-small":
		return true
	}
	return false
}

func (f *Fake) createRoom(form url.Values) (int, any) {
	r := &room{
		sid: newSID("RM"), uniqueName: form.Get("UniqueName"), typ: form.Get("Type"),
		callback: form.Get("StatusCallback"), method: form.Get("StatusCallbackMethod"),
		maxParticipants: 50, emptyTimeout: 5, unusedTimeout: 5,
		status: "in-progress", created: f.now(), end: make(chan struct{}),
		participants: map[string]string{},
	}
	if r.typ == "" {
		r.typ = "group"
	}
	if !roomType(r.typ) {
		return http.StatusBadRequest, twilioError(400, 53105, "Room type is invalid")
	}
	if r.method == "" {
		r.method = "POST"
	}
	for name, p := range map[string]*int{"MaxParticipants": &r.maxParticipants, "EmptyRoomTimeout": &r.emptyTimeout, "UnusedRoomTimeout": &r.unusedTimeout} {
		v := form.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		limit := 60
		if name == "MaxParticipants" {
			limit = 50
		}
		if err != nil || n < 1 || n > limit {
			return http.StatusBadRequest, twilioError(400, 53123, name+" is out of range")
		}
		*p = n
	}
	if r.callback != "" {
		if u, err := url.Parse(r.callback); err != nil || u.Host == "" {
			return http.StatusBadRequest, twilioError(400, 53120, "StatusCallback is not a valid URL")
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.uniqueName == "" {
		r.uniqueName = r.sid
	}
	for _, o := range f.rooms {
		if o.uniqueName == r.uniqueName && o.status == "in-progress" {
			return http.StatusBadRequest, twilioError(400, 53113, "Room exists")
		}
	}
	f.rooms[r.sid] = r
	officer, device := f.officerJoin, f.deviceJoin
	f.life.Go(func() { f.playRoom(r, officer, device) })
	return http.StatusCreated, f.roomJSON(r)
}

// findRoom finds a room by SID, or an in-progress room by unique name.
// f.mu must be held.
func (f *Fake) findRoom(id string) (*room, bool) {
	if r, ok := f.rooms[id]; ok {
		return r, true
	}
	for _, o := range f.rooms {
		if o.uniqueName == id && o.status == "in-progress" {
			return o, true
		}
	}
	return nil, false
}

func (f *Fake) fetchRoom(id, path string) (int, any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.findRoom(id)
	if !ok {
		return http.StatusNotFound, twilioError(404, 20404, "The requested resource "+path+" was not found")
	}
	return http.StatusOK, f.roomJSON(r)
}

func (f *Fake) updateRoom(id string, form url.Values, path string) (int, any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.findRoom(id)
	if !ok {
		return http.StatusNotFound, twilioError(404, 20404, "The requested resource "+path+" was not found")
	}
	if st := form.Get("Status"); st != "completed" {
		return http.StatusBadRequest, twilioError(400, 53106, "Room status can only be set to completed, not "+strconv.Quote(st))
	}
	if r.status == "in-progress" {
		r.status, r.ended = "completed", f.now()
		close(r.end)
	}
	return http.StatusAccepted, f.roomJSON(r)
}

// roomJSON is the video.v1.room resource. f.mu must be held.
func (f *Fake) roomJSON(r *room) map[string]any {
	u := "https://video.twilio.com/v1/Rooms/" + r.sid
	var end any
	dur := 0
	if !r.ended.IsZero() {
		end = r.ended.UTC().Format(time.RFC3339)
		dur = int(r.ended.Sub(r.created).Seconds())
	}
	var cb any
	if r.callback != "" {
		cb = r.callback
	}
	return map[string]any{
		"sid": r.sid, "status": r.status,
		"date_created": r.created.UTC().Format(time.RFC3339), "date_updated": f.now().UTC().Format(time.RFC3339),
		"account_sid": f.AccountSID, "enable_turn": true, "unique_name": r.uniqueName,
		"status_callback": cb, "status_callback_method": r.method, "end_time": end, "duration": dur,
		"type": r.typ, "max_participants": r.maxParticipants, "max_participant_duration": 14400,
		"max_concurrent_published_tracks": 170, "record_participants_on_connect": false,
		"video_codecs": []string{"VP8", "H264"}, "media_region": "gll", "audio_only": false,
		"empty_room_timeout": r.emptyTimeout, "unused_room_timeout": r.unusedTimeout,
		"large_room": false, "url": u,
		"links": map[string]string{
			"participants":    u + "/Participants",
			"recordings":      u + "/Recordings",
			"transcriptions":  u + "/Transcriptions",
			"recording_rules": u + "/RecordingRules",
		},
	}
}

// playRoom posts a room's callbacks: created, the participants' joins, ended.
func (f *Fake) playRoom(r *room, officer, device time.Duration) {
	f.mu.Lock()
	step := f.Step
	f.mu.Unlock()
	wait := func(d time.Duration) bool { return f.life.WaitUnless(r.end, d) }
	ended := func() {
		select {
		case <-f.life.Done():
			return
		default:
		}
		f.mu.Lock()
		dur := int(r.ended.Sub(r.created).Seconds())
		f.mu.Unlock()
		f.roomEvent(r, "room-ended", "", "RoomDuration", strconv.Itoa(dur))
	}
	start := time.Now()
	if !wait(step) {
		ended()
		return
	}
	f.roomEvent(r, "room-created", "")
	type join struct {
		who string
		at  time.Duration
	}
	var joins []join
	if officer >= 0 {
		joins = append(joins, join{"officer", officer})
	}
	if device >= 0 {
		joins = append(joins, join{"device", device})
	}
	if len(joins) == 2 && joins[1].at < joins[0].at {
		joins[0], joins[1] = joins[1], joins[0]
	}
	for _, j := range joins {
		if d := j.at - time.Since(start); d > 0 && !wait(d) {
			ended()
			return
		}
		f.roomEvent(r, "participant-connected", j.who,
			"ParticipantSid", f.join(r, j.who), "ParticipantStatus", "connected")
	}
	select {
	case <-r.end:
		ended()
	case <-f.life.Done():
	}
}

func (f *Fake) roomEvent(r *room, event, identity string, kv ...string) {
	f.mu.Lock()
	seq := r.seq
	r.seq++
	status := r.status
	f.mu.Unlock()
	v := url.Values{
		"AccountSid": {f.AccountSID}, "RoomName": {r.uniqueName}, "RoomSid": {r.sid},
		"RoomStatus": {status}, "RoomType": {r.typ}, "StatusCallbackEvent": {event},
		"SequenceNumber": {strconv.Itoa(seq)}, "Timestamp": {f.now().UTC().Format(time.RFC3339Nano)},
	}
	if identity != "" {
		v.Set("ParticipantIdentity", identity)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	f.post("room", event, r.callback, v)
}

// Interface guards
var _ http.Handler = (*Fake)(nil)
