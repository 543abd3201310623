package pstn

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twilio/twilio-go/twiml"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/twiliohook"
)

// MaxBody is the largest callback body accepted.
const MaxBody = twiliohook.MaxBody

var callSID = regexp.MustCompile(`^CA[0-9a-fA-F]{32}$`)

// Webhook returns the handler of Twilio's voice callbacks: PathVoice,
// PathBridge and PathDial, to mount under /webhooks/twilio/ without
// stripping the prefix (with the Twilio Video adapter's handler, which
// serves /webhooks/twilio/video). Any other path is 404.
//
// Each callback's X-Twilio-Signature is checked against PublicURL +
// the request URI with the account's AuthToken: a missing or wrong
// signature is refused with 403 and a JSON error ("bad_signature"), and
// nothing is reported. Bodies are limited to MaxBody and parsed strictly.
// Status callbacks are answered 204 once reported (also when the attempt
// is unknown: Twilio can do nothing about it); the <Dial> action is
// answered with TwiML.
func (a *Adapter) Webhook() http.Handler { return http.HandlerFunc(a.serveWebhook) }

func (a *Adapter) serveWebhook(w http.ResponseWriter, r *http.Request) {
	if !twiliohook.Served(w, r, PathVoice, PathBridge, PathDial) {
		return
	}
	form, ok := twiliohook.Form(w, r, a.AuthToken, a.PublicURL, a.log(), "twilio")
	if !ok {
		return
	}
	if r.URL.Path == PathDial {
		a.serveDialAction(w, form)
		return
	}
	rep, ok, err := callbackReport(r.URL.Path, r.URL.Query(), form, a.now())
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	log := a.log().WithFields(logrus.Fields{"attempt": rep.AttemptID, "call": rep.ProviderRef, "status": form.Get("CallStatus")})
	reporter := gateway.ReportOnce(a.Reporter, a.Replays, twiliohook.DeliveryTTL, twiliohook.DeliveryKeys(a.PublicURL, r, form)...)
	twiliohook.Report(w, r, reporter, rep, ok, log, "twilio")
}

// serveDialAction answers the <Dial> action: the officer's call ends,
// with a word when the ops room did not answer.
func (a *Adapter) serveDialAction(w http.ResponseWriter, form url.Values) {
	var verbs []twiml.Element
	switch form.Get("DialCallStatus") {
	case "completed", "answered":
	default:
		verbs = append(verbs, twiml.VoiceSay{Message: "The operations room could not be reached. Goodbye.", Language: "en-GB"})
	}
	verbs = append(verbs, twiml.VoiceHangup{})
	doc, err := twiml.Voice(verbs)
	if err != nil {
		httpx.WriteError(w, gateway.Errorf(gateway.EINTERNAL, "could not build TwiML"))
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = io.WriteString(w, doc)
}

// callbackReport turns a verified status callback into a report. ok is
// false for a callback that reports nothing new (the bridged call's
// initiated and completed: the officer's call reports the end). Errors are
// EINVALID.
func callbackReport(path string, query, form url.Values, now time.Time) (rep gateway.Report, ok bool, err error) {
	rep, status, err := twiliohook.Callback(gateway.ChannelPSTN, now, query, form, "CallSid", callSID, "CallStatus")
	if err != nil {
		return rep, false, err
	}
	bridge := path == PathBridge
	if bridge {
		parent := form.Get("ParentCallSid")
		if !callSID.MatchString(parent) {
			return rep, false, gateway.Errorf(gateway.EINVALID, "bad or missing ParentCallSid")
		}
		rep.ProviderRef = parent
	}
	switch status {
	case "queued", "initiated":
		if bridge {
			return rep, false, nil
		}
		rep.Status, rep.Detail = gateway.ReportDialling, "calling the officer"
	case "ringing":
		rep.Status, rep.Detail = gateway.ReportRinging, "the officer's phone is ringing"
		if bridge {
			rep.Detail = "the operations room's phone is ringing"
		}
	case "in-progress", "answered":
		if bridge {
			rep.Status, rep.Detail = gateway.ReportAnswered, "the operations room answered"
		} else {
			rep.Status, rep.Party, rep.Detail = gateway.ReportJoined, "officer", "the officer answered; calling the operations room"
		}
	case "busy":
		rep.Status, rep.Detail = gateway.ReportRejected, "the officer's line was busy or declined"
		if bridge {
			rep.Detail = "the operations room's line was busy or declined"
		}
	case "no-answer":
		rep.Status, rep.Detail = gateway.ReportNoAnswer, "the officer did not answer"
		if bridge {
			rep.Detail = "the operations room did not answer"
		}
	case "failed", "canceled":
		rep.Status, rep.Fate, rep.Detail = gateway.ReportFailed, gateway.PlacedFailed, "the call "+status
		if bridge {
			rep.Detail = "the call to the operations room " + status
		}
	case "completed":
		if bridge {
			return rep, false, nil
		}
		rep.Status, rep.Detail = gateway.ReportEnded, "the call ended"
	default:
		return rep, false, gateway.Errorf(gateway.EINVALID, "unknown CallStatus %q", status)
	}
	return rep, true, nil
}

// VerifySignature reports whether r carries a valid X-Twilio-Signature for
// its form body, signed with authToken over publicURL + r's request URI:
// twiliohook.VerifySignature, which says how.
func VerifySignature(authToken, publicURL string, r *http.Request, form url.Values) bool {
	return twiliohook.VerifySignature(authToken, publicURL, r, form)
}
