package twilio

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Calls from the public: CallIn rings one of the account's numbers (a
// room's published number) as a caller would. The fake posts the number's
// Voice URL (SetVoiceURL) as Twilio does, signed, and plays the TwiML it
// gets: <Say> (recorded), <Pause>, <Redirect> (fetched, signed), <Dial>
// with <Number> (the number rings and is answered or not by SetNumber,
// its statusCallbacks and the <Dial> action are posted, signed, and the
// action's TwiML is played) and <Hangup>. A call whose TwiML runs out
// ends. What was said and dialled is kept on the InboundCall.

// InboundPath is the fake's endpoint that places a call from the public:
// POST {"from": "+44...", "to": "+44..."} answers 201 with the call as
// InboundView once the Voice URL has answered; GET ?sid= shows a call;
// POST {"sid": "CA...", "hangup": true} hangs it up.
const InboundPath = "/fake/inbound"

// inbound is the fake's state of calls from the public.
type inbound struct {
	mu        sync.Mutex
	voiceURL  string
	numbers   map[string]Pickup
	pauseUnit time.Duration
	calls     map[string]*InboundCall
}

// SetVoiceURL sets the Voice URL of every number of the account: where a
// call from the public is posted ("" for none: CallIn fails).
func (f *Fake) SetVoiceURL(u string) {
	f.inbound.mu.Lock()
	defer f.inbound.mu.Unlock()
	f.inbound.voiceURL = u
}

// SetNumber sets how a number a call from the public dials behaves
// (default Answer).
func (f *Fake) SetNumber(number string, p Pickup) {
	f.inbound.mu.Lock()
	defer f.inbound.mu.Unlock()
	if f.inbound.numbers == nil {
		f.inbound.numbers = map[string]Pickup{}
	}
	f.inbound.numbers[number] = p
}

// SetPauseUnit sets how long one second of a <Pause> lasts in the fake
// (default a second), for tests that cannot wait.
func (f *Fake) SetPauseUnit(d time.Duration) {
	f.inbound.mu.Lock()
	defer f.inbound.mu.Unlock()
	f.inbound.pauseUnit = d
}

// InboundCall is a call from the public the fake places.
type InboundCall struct {
	SID      string
	From, To string

	f       *Fake
	mu      sync.Mutex
	said    []string
	dialled []string
	bridged string // the number that answered, while bridged
	status  string // ringing, in-progress, completed
	err     error
	hangup  chan struct{}
	unhook  chan struct{}
	done    chan struct{}
	once    sync.Once
	endOnce sync.Once
}

// InboundView is a call from the public as InboundPath shows it.
type InboundView struct {
	SID     string   `json:"sid"`
	Status  string   `json:"status"`
	Said    []string `json:"said"`
	Dialled []string `json:"dialled"`
	Bridged bool     `json:"bridged"`
	Error   string   `json:"error,omitempty"`
}

// Said returns what the call has heard, in order.
func (c *InboundCall) Said() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.said...)
}

// Dialled returns the numbers the call's TwiML dialled, in order.
func (c *InboundCall) Dialled() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.dialled...)
}

// Bridged returns the number she is talking to, "" when none.
func (c *InboundCall) Bridged() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bridged
}

// Status returns the call's status: ringing, in-progress or completed.
func (c *InboundCall) Status() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Err returns why the call ended badly (a webhook that failed or answered
// what is not TwiML), nil otherwise.
func (c *InboundCall) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done is closed when the call has ended.
func (c *InboundCall) Done() <-chan struct{} { return c.done }

// HangUp hangs up her end of the call.
func (c *InboundCall) HangUp() { c.once.Do(func() { close(c.hangup) }) }

// EndBridge hangs up the dialled number's end of a bridged call: her call
// goes on with the <Dial> action's TwiML.
func (c *InboundCall) EndBridge() { c.endOnce.Do(func() { close(c.unhook) }) }

func (c *InboundCall) view() InboundView {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := InboundView{SID: c.SID, Status: c.status, Said: append([]string{}, c.said...),
		Dialled: append([]string{}, c.dialled...), Bridged: c.bridged != ""}
	if c.err != nil {
		v.Error = c.err.Error()
	}
	return v
}

// CallIn rings to, one of the account's numbers, from a caller's number,
// as Twilio does: the Voice URL is posted, signed, and once it has
// answered with TwiML (an error otherwise: the call ends at once), the
// call plays on in the background.
func (f *Fake) CallIn(ctx context.Context, from, to string) (*InboundCall, error) {
	if !e164.MatchString(to) {
		return nil, fmt.Errorf("twilio fake: bad number called %q", to)
	}
	f.inbound.mu.Lock()
	voice := f.inbound.voiceURL
	f.inbound.mu.Unlock()
	if voice == "" {
		return nil, errors.New("twilio fake: no Voice URL set for the account's numbers")
	}
	c := &InboundCall{SID: newSID("CA"), From: from, To: to, f: f, status: "ringing",
		hangup: make(chan struct{}), unhook: make(chan struct{}), done: make(chan struct{})}
	f.inbound.mu.Lock()
	if f.inbound.calls == nil {
		f.inbound.calls = map[string]*InboundCall{}
	}
	f.inbound.calls[c.SID] = c
	f.inbound.mu.Unlock()
	doc, err := c.fetch(ctx, "voice", "ringing", "ringing", voice, nil)
	if err != nil {
		c.end(err)
		return c, err
	}
	c.setStatus("in-progress")
	f.life.Go(func() { c.play(doc) })
	return c, nil
}

// params are the parameters Twilio posts about her call, with extra.
func (c *InboundCall) params(status string, extra url.Values) url.Values {
	v := url.Values{
		"AccountSid": {c.f.AccountSID}, "ApiVersion": {"2010-04-01"}, "CallSid": {c.SID},
		"CallStatus": {status}, "Direction": {"inbound"},
		"From": {c.From}, "Caller": {c.From}, "To": {c.To}, "Called": {c.To},
	}
	for k, vs := range extra {
		v[k] = vs
	}
	return v
}

// fetch posts her call's parameters to rawURL and parses the TwiML answer.
// The delivery is recorded as of kind and event; status is her call's.
func (c *InboundCall) fetch(ctx context.Context, kind, event, status, rawURL string, extra url.Values) (*twimlResponse, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	d, body := c.f.deliver(kind, event, rawURL, c.params(status, extra))
	if d.Err != nil {
		return nil, fmt.Errorf("twilio fake: %s webhook: %w", kind, d.Err)
	}
	if d.Status != http.StatusOK {
		return nil, fmt.Errorf("twilio fake: %s webhook answered %d: %s", kind, d.Status, strings.TrimSpace(string(body)))
	}
	var doc twimlResponse
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("twilio fake: %s webhook answered no TwiML (12100 Document parse failure): %w", kind, err)
	}
	return &doc, nil
}

// twimlResponse is a TwiML document, its verbs in order.
type twimlResponse struct {
	XMLName xml.Name    `xml:"Response"`
	Verbs   []twimlVerb `xml:",any"`
}

type twimlVerb struct {
	XMLName xml.Name
	Attrs   []xml.Attr  `xml:",any,attr"`
	Text    string      `xml:",chardata"`
	Inner   []twimlVerb `xml:",any"`
}

func (v twimlVerb) attr(name string) string {
	for _, a := range v.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (c *InboundCall) setStatus(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status = s
}

// end ends the call, with why when it went wrong.
func (c *InboundCall) end(err error) {
	c.mu.Lock()
	c.status, c.bridged = "completed", ""
	if err != nil && c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	select {
	case <-c.done:
	default:
		close(c.done)
	}
}

// wait waits d; false when she hung up or the fake closed.
func (c *InboundCall) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.hangup:
		return false
	case <-c.f.life.Done():
		return false
	}
}

// play plays documents until the call ends.
func (c *InboundCall) play(doc *twimlResponse) {
	var err error
	for doc != nil && err == nil {
		doc, err = c.playDoc(doc)
	}
	c.end(err)
}

// playDoc plays one document's verbs and returns the next document (a
// <Redirect>'s or a <Dial> action's), nil when the call ends.
func (c *InboundCall) playDoc(doc *twimlResponse) (*twimlResponse, error) {
	f := c.f
	ctx := f.life.Context()
	for _, v := range doc.Verbs {
		switch v.XMLName.Local {
		case "Say":
			c.mu.Lock()
			c.said = append(c.said, strings.TrimSpace(v.Text))
			c.mu.Unlock()
			if !c.wait(f.Step) {
				return nil, nil
			}
		case "Pause":
			n := 1
			if l := v.attr("length"); l != "" {
				var err error
				if n, err = strconv.Atoi(l); err != nil || n < 0 {
					return nil, fmt.Errorf("twilio fake: bad Pause length %q", l)
				}
			}
			if !c.wait(time.Duration(n) * c.pauseUnit()) {
				return nil, nil
			}
		case "Redirect":
			return c.fetch(ctx, "redirect", "in-progress", "in-progress", strings.TrimSpace(v.Text), nil)
		case "Dial":
			next, done, err := c.dial(ctx, v)
			if err != nil || done || next != nil {
				return next, err
			}
		case "Hangup":
			return nil, nil
		default:
			return nil, fmt.Errorf("twilio fake: verb <%s> not played", v.XMLName.Local)
		}
	}
	return nil, nil
}

func (c *InboundCall) pauseUnit() time.Duration {
	c.f.inbound.mu.Lock()
	defer c.f.inbound.mu.Unlock()
	if c.f.inbound.pauseUnit > 0 {
		return c.f.inbound.pauseUnit
	}
	return time.Second
}

// dial plays a <Dial> with a <Number>: the number rings, answers or not,
// its statusCallbacks are posted and then the action. It returns the
// action's TwiML, or done when her call has ended.
func (c *InboundCall) dial(ctx context.Context, v twimlVerb) (next *twimlResponse, done bool, err error) {
	f := c.f
	var num *twimlVerb
	for i := range v.Inner {
		if v.Inner[i].XMLName.Local == "Number" {
			num = &v.Inner[i]
			break
		}
	}
	if num == nil {
		return nil, false, errors.New("twilio fake: <Dial> without a <Number> not played")
	}
	number := strings.TrimSpace(num.Text)
	if !e164.MatchString(number) {
		return nil, false, fmt.Errorf("twilio fake: Dial: invalid phone number %q (13223)", number)
	}
	timeout := 30 * time.Second
	if t, err := strconv.Atoi(v.attr("timeout")); err == nil && t > 0 {
		timeout = time.Duration(t) * time.Second
	}
	events := map[string]bool{"completed": true}
	for _, e := range strings.Fields(num.attr("statusCallbackEvent")) {
		events[e] = true
	}
	callerID := v.attr("callerId")
	if callerID == "" {
		callerID = c.From
	}
	c.mu.Lock()
	c.dialled = append(c.dialled, number)
	c.mu.Unlock()
	f.inbound.mu.Lock()
	pickup := f.inbound.numbers[number]
	f.inbound.mu.Unlock()
	f.mu.Lock()
	ringOut := f.RingOut
	f.mu.Unlock()
	if ringOut <= 0 {
		ringOut = 300 * time.Millisecond
	}

	child := newSID("CA")
	seq := 0
	leg := func(event, status string, kv ...string) {
		if !events[event] {
			return
		}
		form := url.Values{
			"AccountSid": {f.AccountSID}, "ApiVersion": {"2010-04-01"}, "CallSid": {child},
			"ParentCallSid": {c.SID}, "CallStatus": {status}, "Called": {number},
			"Caller": {callerID}, "From": {callerID}, "To": {number}, "Direction": {"outbound-dial"},
			"CallbackSource": {"call-progress-events"}, "SequenceNumber": {strconv.Itoa(seq)},
			"Timestamp": {f.now().UTC().Format(time.RFC1123Z)},
		}
		for i := 0; i+1 < len(kv); i += 2 {
			form.Set(kv[i], kv[i+1])
		}
		seq++
		f.post("bridge", event, num.attr("statusCallback"), form)
	}
	leg("initiated", "initiated")
	leg("ringing", "ringing")
	var status string
	hungUp := false
	var started time.Time
	switch pickup {
	case Busy, Fail:
		hungUp = !c.wait(f.Step)
		status = map[Pickup]string{Busy: "busy", Fail: "failed"}[pickup]
	case NoAnswer:
		hungUp = !c.wait(min(ringOut, timeout))
		status = "no-answer"
	default:
		if hungUp = !c.wait(f.Step); hungUp {
			break
		}
		started = f.now()
		c.mu.Lock()
		c.bridged = number
		c.mu.Unlock()
		leg("answered", "in-progress")
		select { // the call lasts until one end hangs up
		case <-c.hangup:
			hungUp = true
		case <-c.unhook:
		case <-f.life.Done():
			return nil, true, nil
		}
		c.mu.Lock()
		c.bridged = ""
		c.mu.Unlock()
		status = "completed"
	}
	if hungUp && status == "" {
		status = "canceled" // she hung up while it rang
	}
	dur := 0
	if !started.IsZero() {
		dur = int(f.now().Sub(started).Seconds())
	}
	leg("completed", status, "CallDuration", strconv.Itoa(dur))
	action := v.attr("action")
	extra := url.Values{"DialCallStatus": {status}, "DialCallSid": {child}, "DialCallDuration": {strconv.Itoa(dur)}}
	if action == "" {
		return nil, hungUp, nil
	}
	if hungUp {
		// Twilio requests the action of a call that has ended; what it
		// answers is not played.
		_, _ = c.fetch(ctx, "dial-action", status, "completed", action, extra)
		c.setStatus("completed")
		return nil, true, nil
	}
	next, err = c.fetch(ctx, "dial-action", status, "in-progress", action, extra)
	return next, false, err
}

// serveInbound serves InboundPath; false for any other path.
func (f *Fake) serveInbound(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != InboundPath {
		return false
	}
	switch r.Method {
	case http.MethodGet:
		f.inbound.mu.Lock()
		c := f.inbound.calls[r.URL.Query().Get("sid")]
		f.inbound.mu.Unlock()
		if c == nil {
			writeError(w, http.StatusNotFound, 20404, "no such call", 0)
			return true
		}
		writeJSON(w, http.StatusOK, c.view())
	case http.MethodPost:
		var req struct {
			From   string `json:"from"`
			To     string `json:"to"`
			SID    string `json:"sid"`
			HangUp bool   `json:"hangup"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, 20001, "a JSON body {\"from\", \"to\"} is required", 0)
			return true
		}
		if req.HangUp {
			f.inbound.mu.Lock()
			c := f.inbound.calls[req.SID]
			f.inbound.mu.Unlock()
			if c == nil {
				writeError(w, http.StatusNotFound, 20404, "no such call", 0)
				return true
			}
			c.HangUp()
			writeJSON(w, http.StatusOK, c.view())
			return true
		}
		c, err := f.CallIn(r.Context(), req.From, req.To)
		if c == nil {
			writeError(w, http.StatusBadRequest, 21211, err.Error(), 0)
			return true
		}
		status := http.StatusCreated
		if err != nil {
			status = http.StatusBadGateway
		}
		writeJSON(w, status, c.view())
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed", 0)
	}
	return true
}
