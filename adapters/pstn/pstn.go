// Package pstn is the gateway's last resort: a voice call over the public
// telephone network, placed with Twilio's Programmable Voice through
// twilio-go. Twilio calls the officer's phone from the force's caller ID;
// when he answers, a short message tells him he is being connected, and
// <Dial><Number> bridges him to the ops room (the claimed device's number,
// or the supervisor desk's when no device is free).
//
// The leg counts as connected when the bridged call is answered (the device
// or the desk picked up), not when the officer answers. Twilio's status
// callbacks for both calls arrive at Webhook, are verified with
// X-Twilio-Signature, and are handed to the Reporter:
//
//	officer's call (/webhooks/twilio/voice)   queued, initiated -> dialling
//	                                          ringing -> ringing
//	                                          in-progress -> joined (party "officer")
//	                                          busy -> rejected, no-answer -> no_answer
//	                                          failed, canceled -> failed (PlacedFailed)
//	                                          completed -> ended
//	bridged call (/webhooks/twilio/voice/bridge)  ringing -> ringing
//	                                          in-progress, answered -> answered (connected)
//	                                          busy -> rejected, no-answer -> no_answer
//	                                          failed, canceled -> failed (PlacedFailed)
//
// The <Dial> action (/webhooks/twilio/voice/dial) answers TwiML that ends
// the officer's call politely when the ops room did not answer.
package pstn

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	twilio "github.com/twilio/twilio-go"
	api "github.com/twilio/twilio-go/rest/api/v2010"
	"github.com/twilio/twilio-go/twiml"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/twiliohook"
)

const provider = twiliohook.Provider

// Defaults.
const (
	DefaultAPIURL   = twiliohook.DefaultAPIURL
	DefaultGreeting = "This is Safe Connection. You are being connected to the police operations room. Please hold."
	DefaultMaxCall  = 30 * time.Minute
	// MinRing and MaxRing bound how long a phone is let ring, whatever the
	// leg's deadline says (Twilio accepts 1 to 600 seconds).
	MinRing = 5 * time.Second
	MaxRing = 600 * time.Second
)

// Webhook paths, under the gateway's public URL.
const (
	PathVoice  = "/webhooks/twilio/voice"        // the officer's call's status callbacks
	PathBridge = "/webhooks/twilio/voice/bridge" // the bridged call's status callbacks
	PathDial   = "/webhooks/twilio/voice/dial"   // the <Dial> action
)

// Adapter places PSTN legs through Twilio. Set its fields before use; it is
// safe for concurrent use afterwards.
type Adapter struct {
	// AccountSID and AuthToken are the Twilio account's credentials. The
	// token also verifies callbacks' X-Twilio-Signature.
	AccountSID string
	AuthToken  string
	// APIKeySID and APIKeySecret, if set, authenticate API calls instead
	// of the account's token (Twilio's recommendation for production).
	APIKeySID    string
	APIKeySecret string
	// CallerID is the force's Twilio number (E.164) the calls come from.
	CallerID string
	// APIURL is Twilio's REST base URL (default DefaultAPIURL): point it at
	// a fake or a proxy.
	APIURL string
	// PublicURL is the gateway's public base URL (e.g.
	// "https://gw.example.police.uk"), for callback URLs and signatures.
	PublicURL string
	// Greeting is what the officer hears before the ops room rings
	// (default DefaultGreeting).
	Greeting string
	// MaxCall limits a call's length (Twilio's TimeLimit; default
	// DefaultMaxCall).
	MaxCall time.Duration

	// Settings are the HTTP client, the logger and the clock (defaults:
	// httpx.DefaultSettings).
	httpx.Settings
	// Reporter receives the reports made from callbacks.
	Reporter gateway.Reporter
	// Replays recognises callbacks delivered before, on every instance
	// sharing the store (gateway.ReportOnce): they are acknowledged and
	// not reported again. Nil recognises none.
	Replays gateway.ReplayStore
}

// New returns an Adapter for a Twilio account calling from callerID, with
// callbacks under publicURL. Set Reporter before serving Webhook.
func New(accountSID, authToken, callerID, publicURL string) *Adapter {
	return &Adapter{
		AccountSID: accountSID,
		AuthToken:  authToken,
		CallerID:   callerID,
		APIURL:     DefaultAPIURL,
		PublicURL:  publicURL,
		Greeting:   DefaultGreeting,
		MaxCall:    DefaultMaxCall,
		Settings:   httpx.DefaultSettings(),
	}
}

// Channel returns gateway.ChannelPSTN.
func (a *Adapter) Channel() gateway.Channel { return gateway.ChannelPSTN }

func (a *Adapter) now() time.Time { return httpx.Now(a.Now) }

func (a *Adapter) log() logrus.FieldLogger { return httpx.Log(a.Logger) }

// callbackURL returns PublicURL + path + "?attempt=<id>".
func (a *Adapter) callbackURL(path, attemptID string) string {
	return strings.TrimSuffix(a.PublicURL, "/") + path + "?" + url.Values{"attempt": {attemptID}}.Encode()
}

// ringTime is how long to let a phone ring: until the leg's deadline,
// within MinRing and MaxRing.
func (a *Adapter) ringTime(leg gateway.Leg) time.Duration {
	d := MaxRing
	if !leg.Deadline.IsZero() {
		d = leg.Deadline.Sub(a.now())
	}
	return min(max(d, MinRing), MaxRing)
}

// TwiML returns the TwiML of a leg's call: the greeting, then <Dial> to
// the device's (or desk's) number with answerOnBridge, a timeout from the
// leg's deadline, the action URL, and status callbacks for the bridged call.
func (a *Adapter) TwiML(leg gateway.Leg) (string, error) {
	greeting := a.Greeting
	if greeting == "" {
		greeting = DefaultGreeting
	}
	return twiml.Voice([]twiml.Element{
		twiml.VoiceSay{Message: greeting, Language: "en-GB"},
		twiml.VoiceDial{
			AnswerOnBridge: "true",
			Timeout:        strconv.Itoa(int(a.ringTime(leg) / time.Second)),
			Action:         a.callbackURL(PathDial, leg.AttemptID),
			Method:         "POST",
			CallerId:       a.CallerID,
			InnerElements: []twiml.Element{twiml.VoiceNumber{
				PhoneNumber:          leg.DeviceHandle,
				StatusCallback:       a.callbackURL(PathBridge, leg.AttemptID),
				StatusCallbackEvent:  "initiated ringing answered completed",
				StatusCallbackMethod: "POST",
			}},
		},
	})
}

// credentials returns the Basic credentials of API calls.
func (a *Adapter) credentials() (string, string) {
	if a.APIKeySID != "" {
		return a.APIKeySID, a.APIKeySecret
	}
	return a.AccountSID, a.AuthToken
}

// service returns twilio-go's 2010 API service for one call bounded by ctx,
// and its BaseClient.
func (a *Adapter) service(ctx context.Context) (*api.ApiService, *baseClient, error) {
	raw := a.APIURL
	if raw == "" {
		raw = DefaultAPIURL
	}
	base, err := url.Parse(raw)
	if err != nil || base.Host == "" {
		return nil, nil, &gateway.CallError{Fate: gateway.NotPlaced, Provider: provider,
			Err: gateway.Errorf(gateway.EINTERNAL, "bad Twilio API URL %q", raw)}
	}
	hc := a.HTTPClient
	if hc == nil {
		hc = httpx.NewClient(nil)
	}
	user, pass := a.credentials()
	bc := newBaseClient(ctx, base, hc, a.AccountSID, user, pass)
	rc := twilio.NewRestClientWithParams(twilio.ClientParams{Client: bc})
	return rc.Api, bc, nil
}

// Place asks Twilio to call the officer (leg.OfficerHandle) and bridge him
// to leg.DeviceHandle. The request is bounded by ctx and by the leg's
// deadline. It returns the call's SID as ProviderRef once Twilio accepted
// the call; the outcome arrives at Webhook. Errors are *gateway.CallError:
// PlacedFailed (EINVALID) without a call for a leg with no officer or
// device number; otherwise as httpx.Classify says of Twilio's answer.
func (a *Adapter) Place(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
	if leg.OfficerHandle == "" || leg.DeviceHandle == "" {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.PlacedFailed, Provider: provider,
			Err: gateway.Errorf(gateway.EINVALID, "a PSTN leg needs the officer's and the ops room's numbers")}
	}
	if a.PublicURL == "" {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.NotPlaced, Provider: provider,
			Err: gateway.Errorf(gateway.EINTERNAL, "no public URL for Twilio's callbacks")}
	}
	if !leg.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, leg.Deadline)
		defer cancel()
	}
	tw, err := a.TwiML(leg)
	if err != nil {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.NotPlaced, Provider: provider,
			Err: gateway.E("pstn.Place", gateway.EINTERNAL, err)}
	}
	svc, bc, err := a.service(ctx)
	if err != nil {
		return gateway.Placement{}, err
	}
	maxCall := a.MaxCall
	if maxCall <= 0 {
		maxCall = DefaultMaxCall
	}
	p := &api.CreateCallParams{}
	p.SetTo(leg.OfficerHandle)
	p.SetFrom(a.CallerID)
	p.SetTwiml(tw)
	p.SetStatusCallback(a.callbackURL(PathVoice, leg.AttemptID))
	p.SetStatusCallbackEvent([]string{"initiated", "ringing", "answered", "completed"})
	p.SetStatusCallbackMethod("POST")
	p.SetTimeout(int(a.ringTime(leg) / time.Second))
	p.SetTimeLimit(int(maxCall / time.Second))
	call, err := svc.CreateCall(p)
	if cerr := classify(bc, err); cerr != nil {
		return gateway.Placement{}, cerr
	}
	if call == nil || call.Sid == nil || *call.Sid == "" {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.Unknown, Provider: provider,
			Err: gateway.Errorf(gateway.EUNAVAILABLE, "malformed response from twilio: no call SID")}
	}
	a.log().WithFields(logrus.Fields{"attempt": leg.AttemptID, "verification": leg.VerificationID, "call": *call.Sid}).
		Info("twilio call created")
	return gateway.Placement{ProviderRef: *call.Sid}, nil
}

// HangUp ends a leg's call: Status=completed, which Twilio applies to a
// call in any state (a queued or ringing call is cancelled, one in progress
// is ended); the adapter keeps no state that would say which, and
// "canceled" would leave a call in progress up. A call that no longer
// exists counts as hung up. Errors are *gateway.CallError.
func (a *Adapter) HangUp(ctx context.Context, leg gateway.Leg, p gateway.Placement) error {
	if p.ProviderRef == "" {
		return nil
	}
	svc, bc, err := a.service(ctx)
	if err != nil {
		return err
	}
	up := &api.UpdateCallParams{}
	up.SetStatus("completed")
	_, err = svc.UpdateCall(p.ProviderRef, up)
	if err == nil {
		return nil
	}
	if rec := bc.lastResponse(); rec != nil && rec.status == 404 {
		return nil
	}
	return classify(bc, err)
}

// Interface guards
var (
	_ gateway.Adapter = (*Adapter)(nil)
	_ gateway.Hanger  = (*Adapter)(nil)
)
