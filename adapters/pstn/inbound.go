package pstn

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twilio/twilio-go/twiml"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/twiliohook"
)

// Inbound webhook paths, under the gateway's public URL: a member of the
// public calling a room's published number.
const (
	PathInbound     = "/webhooks/twilio/inbound"      // the Voice URL of every room's published number
	PathInboundWait = "/webhooks/twilio/inbound/wait" // her wait's <Redirect>
	PathInboundDial = "/webhooks/twilio/inbound/dial" // the <Dial> action
	PathInboundLeg  = "/webhooks/twilio/inbound/leg"  // the status callbacks of the leg to a device
)

// DefaultInboundPause is how long a waiting caller holds between checks.
const DefaultInboundPause = 5 * time.Second

var (
	verificationID = regexp.MustCompile(`^v_[A-Za-z0-9_-]{1,64}$`)
	accountSID     = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
)

// What she hears.
const (
	sayNotInService = "This number is not in service. If you need the police, hang up and dial 999."
	sayGiveUp       = "I am sorry. No one in the operations room is free to take your call. Please hang up now and dial 999."
	sayFault        = "I am sorry. Your call cannot be connected. Please hang up now and dial 999."
)

// Inbound answers the public's calls to the rooms' published numbers:
// Twilio's Voice webhook (PathInbound, set as the Voice URL of each room's
// number) and the callbacks of the TwiML it answers. Each step is the
// Service's; Inbound turns Twilio's forms into its calls and its steps into
// TwiML: a greeting that names the force and the room, then <Dial> to the
// device's number (action PathInboundDial, the leg's answered and completed
// at PathInboundLeg); or her place in the queue, a <Pause> and a <Redirect>
// to PathInboundWait; or, when the budget is spent, the advice to hang up
// and dial 999.
//
// Every request's X-Twilio-Signature is checked as the adapter's callbacks'
// are (403, and nothing done, when it does not verify). Her number is
// passed on only masked and hashed with CallerKey, and never logged.
type Inbound struct {
	// AccountSID, AuthToken and PublicURL are the adapter's.
	AccountSID string
	AuthToken  string
	PublicURL  string
	// Force is the force's name, said in the greeting.
	Force string
	// CallerKey keys the hash of her number (gateway.HashCaller).
	CallerKey []byte
	// Service decides each step (the router).
	Service gateway.InboundService
	// Pause is how long a waiting caller holds between checks, in whole
	// seconds (default DefaultInboundPause).
	Pause time.Duration
	// MaxCall limits a bridged call's length (the <Dial>'s timeLimit).
	MaxCall time.Duration
	// Logger logs what is handled, never her number (default: discards).
	Logger logrus.FieldLogger
}

// Inbound returns the handler of the public's calls for the adapter's
// account, with steps from svc.
func (a *Adapter) Inbound(svc gateway.InboundService, force string, callerKey []byte) *Inbound {
	return &Inbound{AccountSID: a.AccountSID, AuthToken: a.AuthToken, PublicURL: a.PublicURL, Force: force,
		CallerKey: callerKey, Service: svc, Pause: DefaultInboundPause, MaxCall: a.MaxCall, Logger: a.Logger}
}

// ServeHTTP serves PathInbound and the paths under it; any other is 404.
func (in *Inbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathInbound, PathInboundWait, PathInboundDial, PathInboundLeg:
	default:
		httpx.WriteError(w, gateway.Errorf(gateway.ENOTFOUND, "no such webhook"))
		return
	}
	log := httpx.Log(in.Logger)
	form, ok := twiliohook.Form(w, r, in.AuthToken, in.PublicURL, log, "twilio inbound")
	if !ok {
		return
	}
	if in.Service == nil {
		httpx.WriteError(w, gateway.Errorf(gateway.EUNAVAILABLE, "not ready"))
		return
	}
	ctx := r.Context()
	var (
		step gateway.InboundStep
		err  error
	)
	switch r.URL.Path {
	case PathInbound:
		var call gateway.InboundCall
		if call, err = DecodeInbound(form, in.AccountSID, in.CallerKey); err != nil {
			break
		}
		log = log.WithField("call", call.CallSID)
		step, err = in.Service.Inbound(ctx, call)
	case PathInboundWait:
		var id string
		if id, _, err = callbackIDs(r.URL.Query(), form, false); err != nil {
			break
		}
		step, err = in.Service.InboundWait(ctx, id)
	case PathInboundDial:
		var id, attempt string
		if id, attempt, err = callbackIDs(r.URL.Query(), form, true); err != nil {
			break
		}
		step, err = in.Service.InboundDialed(ctx, id, attempt, form.Get("DialCallStatus"), form.Get("CallStatus") == "completed")
	case PathInboundLeg:
		id, attempt, err := callbackIDs(r.URL.Query(), form, true)
		if err == nil {
			err = in.Service.InboundLeg(ctx, id, attempt, form.Get("CallStatus"))
		}
		in.answerLeg(w, err, log)
		return
	}
	in.answer(w, step, err, log)
}

// answerLeg answers a leg's status callback: 204 once recorded (also for
// an unknown verification: Twilio can do nothing about it), 400 for a bad
// form, 503 when the store cannot write now (Twilio sends it again).
func (in *Inbound) answerLeg(w http.ResponseWriter, err error, log logrus.FieldLogger) {
	switch code := gateway.ErrorCode(err); {
	case err == nil, code == gateway.ENOTFOUND:
		w.WriteHeader(http.StatusNoContent)
	case code == gateway.EINVALID:
		httpx.WriteError(w, err)
	default:
		log.WithError(err).Error("twilio inbound leg callback not recorded")
		httpx.WriteNotRecorded(w, err)
	}
}

// answer writes the TwiML of a step. A bad form is 400; a number no room
// publishes and any failure of the gateway are spoken (she must hear
// something she can act on, not Twilio's application error).
func (in *Inbound) answer(w http.ResponseWriter, s gateway.InboundStep, err error, log logrus.FieldLogger) {
	var verbs []twiml.Element
	switch code := gateway.ErrorCode(err); {
	case err == nil:
		verbs = in.verbs(s)
		log.WithFields(logrus.Fields{"verification": s.Verification.ID, "step": s.Kind}).Info("twilio inbound call step")
	case code == gateway.EINVALID:
		httpx.WriteError(w, err)
		return
	case code == gateway.ENOTFOUND:
		log.Warn("twilio inbound call to a number no room publishes, or for no call")
		verbs = []twiml.Element{say(sayNotInService), twiml.VoiceHangup{}}
	default:
		log.WithError(err).Error("twilio inbound call step failed")
		verbs = []twiml.Element{say(sayFault), twiml.VoiceHangup{}}
	}
	doc, err := twiml.Voice(verbs)
	if err != nil {
		httpx.WriteError(w, gateway.Errorf(gateway.EINTERNAL, "could not build TwiML"))
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = io.WriteString(w, doc)
}

func say(msg string) twiml.Element { return twiml.VoiceSay{Message: msg, Language: "en-GB"} }

// verbs is a step's TwiML.
func (in *Inbound) verbs(s gateway.InboundStep) []twiml.Element {
	var verbs []twiml.Element
	if s.Greet {
		verbs = append(verbs, say(in.greeting(s.Room)))
	}
	switch s.Kind {
	case gateway.StepDial:
		q := url.Values{"v": {s.Verification.ID}, "attempt": {s.AttemptID}}
		dial := twiml.VoiceDial{
			Action:   in.url(PathInboundDial, q),
			Method:   "POST",
			Timeout:  strconv.Itoa(int(min(max(s.Timeout, MinRing), MaxRing) / time.Second)),
			CallerId: s.Room.Number, // the device sees the room's number, never hers
			InnerElements: []twiml.Element{twiml.VoiceNumber{
				PhoneNumber:          s.Number,
				StatusCallback:       in.url(PathInboundLeg, q),
				StatusCallbackEvent:  "answered completed",
				StatusCallbackMethod: "POST",
			}},
		}
		if in.MaxCall > 0 {
			dial.TimeLimit = strconv.Itoa(int(in.MaxCall / time.Second))
		}
		verbs = append(verbs, dial)
	case gateway.StepWait:
		verbs = append(verbs, say(position(s.Position)),
			twiml.VoicePause{Length: strconv.Itoa(in.pauseSeconds())},
			twiml.VoiceRedirect{Method: "POST", Url: in.url(PathInboundWait, url.Values{"v": {s.Verification.ID}})})
	case gateway.StepGiveUp:
		verbs = append(verbs, say(sayGiveUp), twiml.VoiceHangup{})
	default:
		verbs = append(verbs, twiml.VoiceHangup{})
	}
	return verbs
}

// greeting names the force and the room she called.
func (in *Inbound) greeting(room gateway.Room) string {
	force := strings.TrimSpace(in.Force)
	if force == "" {
		force = "the police"
	}
	name := room.Name
	if name == "" {
		name = room.ID
	}
	return fmt.Sprintf("You have reached %s, %s operations room. Please hold while we connect you to a supervisor.", force, name)
}

// position is what a waiting caller is told of her place.
func position(n int) string {
	if n <= 1 {
		return "Every supervisor is busy. You are next in the queue. Please stay on the line."
	}
	return fmt.Sprintf("Every supervisor is busy. You are number %d in the queue. Please stay on the line.", n)
}

func (in *Inbound) pauseSeconds() int {
	p := in.Pause
	if p <= 0 {
		p = DefaultInboundPause
	}
	return max(int(p/time.Second), 1)
}

// url is PublicURL + path + "?" + q.
func (in *Inbound) url(path string, q url.Values) string {
	return strings.TrimSuffix(in.PublicURL, "/") + path + "?" + q.Encode()
}

// DecodeInbound reads the Voice webhook of a call to a room's number: the
// call's SID, the account (which must be account when given), an inbound
// Direction and the E.164 number called. Her number (From) is kept only
// masked and hashed with key: a withheld one ("anonymous", "", anything
// not E.164) is neither. Errors are EINVALID, and never quote From.
func DecodeInbound(form url.Values, account string, key []byte) (gateway.InboundCall, error) {
	var call gateway.InboundCall
	sid := form.Get("CallSid")
	if !callSID.MatchString(sid) {
		return call, gateway.Errorf(gateway.EINVALID, "bad or missing CallSid")
	}
	acct := form.Get("AccountSid")
	if !accountSID.MatchString(acct) || (account != "" && acct != account) {
		return call, gateway.Errorf(gateway.EINVALID, "bad or missing AccountSid")
	}
	if d := form.Get("Direction"); d != "inbound" {
		return call, gateway.Errorf(gateway.EINVALID, "not an inbound call (Direction %.20q)", d)
	}
	if form.Get("CallStatus") == "" {
		return call, gateway.Errorf(gateway.EINVALID, "missing CallStatus")
	}
	to := form.Get("To")
	if !e164.MatchString(to) {
		return call, gateway.Errorf(gateway.EINVALID, "bad or missing To: the number called must be E.164")
	}
	call.CallSID, call.To = sid, to
	if from := form.Get("From"); e164.MatchString(from) {
		call.Caller, call.CallerHash = gateway.MaskCaller(from), gateway.HashCaller(key, from)
	}
	return call, nil
}

// callbackIDs reads the verification (and, with attempt, the attempt) a
// callback's URL names, and checks the form is of a call. Errors are
// EINVALID.
func callbackIDs(query, form url.Values, attempt bool) (id, aid string, err error) {
	id = query.Get("v")
	if !verificationID.MatchString(id) {
		return "", "", gateway.Errorf(gateway.EINVALID, "bad or missing verification ID")
	}
	if attempt {
		aid = query.Get("attempt")
		if !twiliohook.AttemptID.MatchString(aid) {
			return "", "", gateway.Errorf(gateway.EINVALID, "bad or missing attempt ID")
		}
	}
	if !callSID.MatchString(form.Get("CallSid")) {
		return "", "", gateway.Errorf(gateway.EINVALID, "bad or missing CallSid")
	}
	return id, aid, nil
}
