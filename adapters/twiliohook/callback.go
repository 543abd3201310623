package twiliohook

import (
	"net/url"
	"regexp"
	"time"

	"github.com/safeconnection/gateway"
)

// AttemptID is the pattern of the attempt IDs the Twilio adapters put in
// their callback and join URLs.
var AttemptID = regexp.MustCompile(`^a_[A-Za-z0-9_-]{1,64}$`)

// Callback begins the report of a verified callback on ch, received at
// now: its attempt is the callback URL's "attempt" parameter (which the
// adapter set), its ProviderRef the form's sidField, which must match sid;
// event is the form's eventField (CallStatus, StatusCallbackEvent), which
// must be set. Errors are EINVALID.
func Callback(ch gateway.Channel, now time.Time, query, form url.Values, sidField string, sid *regexp.Regexp, eventField string) (rep gateway.Report, event string, err error) {
	rep = gateway.Report{Channel: ch, At: now}
	if id := query.Get("attempt"); id != "" {
		if !AttemptID.MatchString(id) {
			return rep, "", gateway.Errorf(gateway.EINVALID, "bad attempt ID")
		}
		rep.AttemptID = id
	}
	ref := form.Get(sidField)
	if !sid.MatchString(ref) {
		return rep, "", gateway.Errorf(gateway.EINVALID, "bad or missing %s", sidField)
	}
	event = form.Get(eventField)
	if event == "" {
		return rep, "", gateway.Errorf(gateway.EINVALID, "missing %s", eventField)
	}
	rep.ProviderRef = ref
	return rep, event, nil
}
