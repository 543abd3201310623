package twiliovideo

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

	"github.com/safeconnection/gateway"
)

// MaxBody is the largest callback body accepted.
const MaxBody = 64 << 10

var (
	roomSID   = regexp.MustCompile(`^RM[0-9a-fA-F]{32}$`)
	attemptID = regexp.MustCompile(`^a_[A-Za-z0-9_-]{1,64}$`)
)

// Webhook returns the handler of Twilio Video's room status callbacks at
// PathCallback, to mount under /webhooks/twilio/ without stripping the
// prefix (with the PSTN adapter's handler, which serves
// /webhooks/twilio/voice...). Any other path is 404.
//
// Each callback's X-Twilio-Signature is checked against PublicURL + the
// request URI with the account's AuthToken: a missing or wrong signature is
// refused with 403 and a JSON error ("bad_signature"), and nothing is
// reported. Bodies are limited to MaxBody and parsed strictly. Callbacks
// are answered 204 once reported (also for an unknown attempt, and for the
// events the gateway does not follow, such as track-added).
func (a *Adapter) Webhook() http.Handler { return http.HandlerFunc(a.serveWebhook) }

func (a *Adapter) serveWebhook(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != PathCallback {
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
	if !verifySignature(a.AuthToken, a.PublicURL, r, form) {
		a.log().WithField("path", r.URL.Path).Warn("twilio video callback refused: bad signature")
		writeError(w, http.StatusForbidden, gateway.ESIGNATURE, "X-Twilio-Signature does not verify")
		return
	}
	rep, ok, err := callbackReport(r.URL.Query(), form, a.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, gateway.ErrorCode(err), gateway.ErrorMessage(err))
		return
	}
	log := a.log().WithFields(logrus.Fields{"attempt": rep.AttemptID, "room": rep.ProviderRef, "event": form.Get("StatusCallbackEvent")})
	if !ok {
		log.Debug("twilio video callback ignored")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if a.Reporter == nil {
		log.Error("twilio video callback dropped: no reporter")
		writeError(w, http.StatusServiceUnavailable, gateway.EUNAVAILABLE, "not ready")
		return
	}
	if err := a.Reporter.Report(r.Context(), rep); err != nil {
		if gateway.ErrorCode(err) == gateway.ENOTFOUND {
			log.Info("twilio video callback for an unknown attempt")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		log.WithError(err).Error("twilio video callback not recorded")
		writeError(w, http.StatusInternalServerError, gateway.EINTERNAL, "the report could not be recorded")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// callbackReport turns a verified room callback into a report. ok is false
// for the events the gateway does not follow. Errors are EINVALID.
func callbackReport(query, form url.Values, now time.Time) (rep gateway.Report, ok bool, err error) {
	rep = gateway.Report{Channel: gateway.ChannelWebRTC, At: now}
	if id := query.Get("attempt"); id != "" {
		if !attemptID.MatchString(id) {
			return rep, false, gateway.Errorf(gateway.EINVALID, "bad attempt ID")
		}
		rep.AttemptID = id
	}
	sid, event := form.Get("RoomSid"), form.Get("StatusCallbackEvent")
	if !roomSID.MatchString(sid) {
		return rep, false, gateway.Errorf(gateway.EINVALID, "bad or missing RoomSid")
	}
	if event == "" {
		return rep, false, gateway.Errorf(gateway.EINVALID, "missing StatusCallbackEvent")
	}
	rep.ProviderRef = sid
	switch event {
	case "participant-connected":
		switch who := form.Get("ParticipantIdentity"); who {
		case PartyOfficer, PartyDevice:
			rep.Status, rep.Party, rep.Detail = gateway.ReportJoined, who, "the "+who+" joined the video room"
		case "":
			return rep, false, gateway.Errorf(gateway.EINVALID, "missing ParticipantIdentity")
		default:
			return rep, false, nil // not one of the gateway's tokens
		}
	case "room-ended":
		rep.Status, rep.Detail = gateway.ReportEnded, "the video room ended"
	default:
		return rep, false, nil
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

// verifySignature checks X-Twilio-Signature over publicURL + r's request
// URI and the form parameters with twilio-go's RequestValidator, as the
// PSTN adapter's VerifySignature does (a repeated parameter is handed to
// the validator as one value that yields the text Twilio signs).
func verifySignature(authToken, publicURL string, r *http.Request, form url.Values) bool {
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
