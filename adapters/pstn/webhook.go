package pstn

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	twclient "github.com/twilio/twilio-go/client"
	"github.com/twilio/twilio-go/twiml"

	"github.com/safeconnection/gateway"
)

// MaxBody is the largest callback body accepted.
const MaxBody = 64 << 10

var (
	callSID   = regexp.MustCompile(`^CA[0-9a-fA-F]{32}$`)
	attemptID = regexp.MustCompile(`^a_[A-Za-z0-9_-]{1,64}$`)
)

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
	switch r.URL.Path {
	case PathVoice, PathBridge, PathDial:
	default:
		writeError(w, http.StatusNotFound, gateway.ENOTFOUND, "no such webhook")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, gateway.EINVALID, "callbacks are POSTed")
		return
	}
	form, err := readForm(w, r)
	if err != nil {
		status := http.StatusBadRequest
		if gateway.ErrorCode(err) == gateway.ETOOLARGE {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, gateway.ErrorCode(err), gateway.ErrorMessage(err))
		return
	}
	if !VerifySignature(a.AuthToken, a.PublicURL, r, form) {
		a.log().WithField("path", r.URL.Path).Warn("twilio callback refused: bad signature")
		writeError(w, http.StatusForbidden, gateway.ESIGNATURE, "X-Twilio-Signature does not verify")
		return
	}
	if r.URL.Path == PathDial {
		a.serveDialAction(w, form)
		return
	}
	rep, ok, err := callbackReport(r.URL.Path, r.URL.Query(), form, a.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, gateway.ErrorCode(err), gateway.ErrorMessage(err))
		return
	}
	log := a.log().WithFields(logrus.Fields{"attempt": rep.AttemptID, "call": rep.ProviderRef, "status": form.Get("CallStatus")})
	if !ok {
		log.Debug("twilio callback ignored")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if a.Reporter == nil {
		log.Error("twilio callback dropped: no reporter")
		writeError(w, http.StatusServiceUnavailable, gateway.EUNAVAILABLE, "not ready")
		return
	}
	if err := a.Reporter.Report(r.Context(), rep); err != nil {
		if gateway.ErrorCode(err) == gateway.ENOTFOUND {
			log.Info("twilio callback for an unknown attempt")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		log.WithError(err).Error("twilio callback not recorded")
		writeError(w, http.StatusInternalServerError, gateway.EINTERNAL, "the report could not be recorded")
		return
	}
	w.WriteHeader(http.StatusNoContent)
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
		writeError(w, http.StatusInternalServerError, gateway.EINTERNAL, "could not build TwiML")
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
	rep = gateway.Report{Channel: gateway.ChannelPSTN, At: now}
	if id := query.Get("attempt"); id != "" {
		if !attemptID.MatchString(id) {
			return rep, false, gateway.Errorf(gateway.EINVALID, "bad attempt ID")
		}
		rep.AttemptID = id
	}
	sid, status := form.Get("CallSid"), form.Get("CallStatus")
	if !callSID.MatchString(sid) {
		return rep, false, gateway.Errorf(gateway.EINVALID, "bad or missing CallSid")
	}
	if status == "" {
		return rep, false, gateway.Errorf(gateway.EINVALID, "missing CallStatus")
	}
	bridge := path == PathBridge
	rep.ProviderRef = sid
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

// readForm reads a form body of at most MaxBody bytes. Errors are
// ETOOLARGE or EINVALID.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, gateway.Errorf(gateway.EINVALID, "expected a form body")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, gateway.Errorf(gateway.ETOOLARGE, "body over %d bytes", MaxBody)
		}
		return nil, gateway.Errorf(gateway.EINVALID, "could not read the body")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, gateway.Errorf(gateway.EINVALID, "malformed form body")
	}
	return form, nil
}

// VerifySignature reports whether r carries a valid X-Twilio-Signature for
// its form body: computed with authToken over publicURL + r's request URI
// (never r's Host: the gateway runs behind proxies) followed by the
// parameters, with twilio-go's RequestValidator (which accepts the URL with
// or without its default port). A repeated parameter is signed as Twilio
// signs it, each distinct value in order after its name; it is handed to
// the validator as one value that yields the same text.
func VerifySignature(authToken, publicURL string, r *http.Request, form url.Values) bool {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" || authToken == "" || publicURL == "" {
		return false
	}
	full := strings.TrimSuffix(publicURL, "/") + r.URL.RequestURI()
	params := make(map[string]string, len(form))
	for k, vs := range form {
		if len(vs) == 1 {
			params[k] = vs[0]
			continue
		}
		vs = slices.Clone(vs)
		slices.Sort(vs)
		params[k] = strings.Join(slices.Compact(vs), k)
	}
	v := twclient.NewRequestValidator(authToken)
	return v.Validate(full, params, sig)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
