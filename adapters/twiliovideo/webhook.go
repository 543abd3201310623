package twiliovideo

import (
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/twiliohook"
)

// MaxBody is the largest callback body accepted.
const MaxBody = twiliohook.MaxBody

var roomSID = regexp.MustCompile(`^RM[0-9a-fA-F]{32}$`)

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
	if !twiliohook.Served(w, r, PathCallback) {
		return
	}
	form, ok := twiliohook.Form(w, r, a.AuthToken, a.PublicURL, a.log(), "twilio video")
	if !ok {
		return
	}
	rep, ok, err := callbackReport(r.URL.Query(), form, a.now())
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	log := a.log().WithFields(logrus.Fields{"attempt": rep.AttemptID, "room": rep.ProviderRef, "event": form.Get("StatusCallbackEvent")})
	reporter := gateway.ReportOnce(a.Reporter, a.Replays, twiliohook.DeliveryTTL, twiliohook.DeliveryKeys(a.PublicURL, r, form)...)
	twiliohook.Report(w, r, reporter, rep, ok, log, "twilio video")
}

// callbackReport turns a verified room callback into a report. ok is false
// for the events the gateway does not follow. Errors are EINVALID.
func callbackReport(query, form url.Values, now time.Time) (rep gateway.Report, ok bool, err error) {
	rep, event, err := twiliohook.Callback(Channel, now, query, form, "RoomSid", roomSID, "StatusCallbackEvent")
	if err != nil {
		return rep, false, err
	}
	switch event {
	case "participant-connected":
		switch who := form.Get("ParticipantIdentity"); who {
		case PartyOfficer, PartyDevice:
			rep.Status, rep.Party, rep.Detail = gateway.ReportJoined, gateway.Party(who), "the "+who+" joined the video room"
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
