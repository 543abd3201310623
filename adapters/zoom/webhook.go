package zoom

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
)

// MaxWebhookBytes bounds a webhook's body.
const MaxWebhookBytes = 64 << 10

// The Zoom events the adapter acts on.
const (
	EventURLValidation     = "endpoint.url_validation"
	EventParticipantJoined = "meeting.participant_joined"
	EventMeetingEnded      = "meeting.ended"
)

// The parties of a Zoom meeting. The ops-room device joins with the start
// link under the host account, so the host is the device; the meeting's join
// link (with its passcode) goes to the officer only, so any other
// participant is the officer's side.
const (
	PartyDevice  = gateway.PartyDevice
	PartyOfficer = gateway.PartyOfficer
)

// Webhook returns the handler of Zoom's webhooks, to be mounted at
// /webhooks/zoom/. It answers endpoint.url_validation challenges, turns
// meeting.participant_joined into a ReportJoined and meeting.ended into a
// ReportEnded for the meeting's ID, and ignores other events. Requests
// whose x-zm-signature does not verify, or whose x-zm-request-timestamp is
// more than MaxSkew away, are refused with 403 and change nothing. A
// verified webhook delivered again (the same timestamp and signature, seen
// by Replays within the time its timestamp passes) is answered 204 and not
// reported again.
func (a *Adapter) Webhook() http.Handler { return http.HandlerFunc(a.serveWebhook) }

func (a *Adapter) serveWebhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		httpx.RefuseMethod(w, http.MethodPost, "webhooks are POSTed")
		return
	}
	body, err := httpx.ReadBody(w, r, MaxWebhookBytes)
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	if err := a.verify(r.Header, body); err != nil {
		a.log().WithError(err).Warn("zoom webhook refused")
		httpx.WriteError(w, err)
		return
	}
	ev, err := ParseEvent(body)
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	switch ev.Event {
	case EventURLValidation:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"plainToken":     ev.PlainToken,
			"encryptedToken": encryptToken(a.WebhookSecret, ev.PlainToken),
		})
		return
	case EventParticipantJoined, EventMeetingEnded:
	default:
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rep := gateway.Report{Channel: Channel, ProviderRef: ev.MeetingID, At: ev.At}
	if rep.At.IsZero() {
		rep.At = a.now()
	}
	if ev.Event == EventParticipantJoined {
		rep.Status, rep.Party = gateway.ReportJoined, ev.Party()
		rep.Detail = "participant joined the zoom meeting"
	} else {
		rep.Status, rep.Detail = gateway.ReportEnded, "zoom meeting ended"
	}
	log := a.log().WithFields(map[string]any{"meeting": ev.MeetingID, "event": ev.Event})
	if a.Reporter == nil {
		log.Warn("zoom webhook with no reporter")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	reporter := gateway.ReportOnce(a.Reporter, a.Replays, a.deliveryTTL(), deliveryKey(r.Header))
	if err := reporter.Report(r.Context(), rep); err != nil {
		switch {
		case errors.Is(err, gateway.ErrReplay):
			log.Info("zoom webhook delivered again: acknowledged, not reported again")
		case gateway.ErrorCode(err) == gateway.ENOTFOUND, gateway.ErrorCode(err) == gateway.EINVALID:
			// Not ours, or stale: Zoom sending it again will not help.
			log.WithError(err).Info("zoom webhook not reported")
		default:
			log.WithError(err).Error("zoom webhook could not be reported")
			httpx.WriteNotRecorded(w, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// verify checks the x-zm-signature of body and that its timestamp is within
// MaxSkew of Now. Errors are ESIGNATURE.
func (a *Adapter) verify(h http.Header, body []byte) error {
	if a.WebhookSecret == "" {
		return gateway.Errorf(gateway.ESIGNATURE, "zoom webhooks are not configured")
	}
	ts, sig := h.Get("x-zm-request-timestamp"), h.Get("x-zm-signature")
	if ts == "" || sig == "" {
		return gateway.Errorf(gateway.ESIGNATURE, "missing x-zm-signature or x-zm-request-timestamp")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return gateway.Errorf(gateway.ESIGNATURE, "bad x-zm-request-timestamp")
	}
	skew := a.maxSkew()
	if d := a.now().Sub(time.Unix(secs, 0)); d > skew || d < -skew {
		return gateway.Errorf(gateway.ESIGNATURE, "x-zm-request-timestamp too far from now")
	}
	if !hmac.Equal([]byte(sig), []byte(signature(a.WebhookSecret, ts, body))) {
		return gateway.Errorf(gateway.ESIGNATURE, "x-zm-signature does not verify")
	}
	return nil
}

// maxSkew is MaxSkew or its default, 5 minutes.
func (a *Adapter) maxSkew() time.Duration {
	if a.MaxSkew <= 0 {
		return 5 * time.Minute
	}
	return a.MaxSkew
}

// deliveryKey names one delivery of a verified webhook, for
// gateway.ReportOnce: its x-zm-request-timestamp and x-zm-signature, both
// signed (the signature covers the timestamp and the body).
func deliveryKey(h http.Header) string {
	return "zoom:" + h.Get("x-zm-request-timestamp") + ":" + h.Get("x-zm-signature")
}

// deliveryTTL is how long a webhook's key is remembered: as long as its
// timestamp can pass verify's check, which accepts one up to maxSkew ahead
// of the clock and up to maxSkew behind, and a minute more for the
// instances' clocks.
func (a *Adapter) deliveryTTL() time.Duration { return 2*a.maxSkew() + time.Minute }

// signature returns "v0=" and the hex HMAC-SHA256 of "v0:{ts}:{body}".
func signature(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// encryptToken returns the hex HMAC-SHA256 of plainToken.
func encryptToken(secret, plainToken string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(plainToken))
	return hex.EncodeToString(mac.Sum(nil))
}

// Event is a Zoom webhook, reduced to what the gateway uses.
type Event struct {
	Event      string
	PlainToken string    // endpoint.url_validation
	MeetingID  string    // meeting events: the meeting number, in decimal
	HostID     string    // the meeting host's user ID
	At         time.Time // the participant's join time, else the event's time
	// The participant of a participant event.
	ParticipantUserID string // the participant's ID for this meeting
	ParticipantID     string // the Zoom user ID, for signed-in users
	ParticipantName   string
}

// Party names the side that joined: PartyDevice for the meeting's host,
// PartyOfficer for any other participant, "" for a participant event that
// names no participant.
func (e Event) Party() gateway.Party {
	switch {
	case e.ParticipantID != "" && e.ParticipantID == e.HostID:
		return PartyDevice
	case e.ParticipantUserID != "" || e.ParticipantID != "" || e.ParticipantName != "":
		return PartyOfficer
	}
	return ""
}

type rawEvent struct {
	Event   string `json:"event"`
	EventTS *int64 `json:"event_ts"`
	Payload *struct {
		PlainToken string `json:"plainToken"`
		Object     *struct {
			ID          json.RawMessage `json:"id"`
			HostID      string          `json:"host_id"`
			Participant *struct {
				UserID   string `json:"user_id"`
				ID       string `json:"id"`
				UserName string `json:"user_name"`
				JoinTime string `json:"join_time"`
			} `json:"participant"`
		} `json:"object"`
	} `json:"payload"`
}

// ParseEvent decodes a webhook body: one JSON object, at most
// MaxWebhookBytes, with the fields its event needs (unknown fields are
// allowed: Zoom adds them over time). A meeting ID may be a JSON string or
// number; it is kept exactly, never through a float. Errors are EINVALID.
func ParseEvent(body []byte) (Event, error) {
	if len(body) > MaxWebhookBytes {
		return Event{}, gateway.Errorf(gateway.ETOOLARGE, "body over %d bytes", MaxWebhookBytes)
	}
	var raw rawEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Event{}, gateway.Errorf(gateway.EINVALID, "malformed zoom event: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Event{}, gateway.Errorf(gateway.EINVALID, "malformed zoom event: data after the object")
	}
	if raw.Event == "" || raw.Payload == nil {
		return Event{}, gateway.Errorf(gateway.EINVALID, "zoom event without event or payload")
	}
	ev := Event{Event: raw.Event}
	if raw.EventTS != nil {
		ev.At = time.UnixMilli(*raw.EventTS).UTC()
	}
	switch raw.Event {
	case EventURLValidation:
		if raw.Payload.PlainToken == "" || len(raw.Payload.PlainToken) > 256 {
			return Event{}, gateway.Errorf(gateway.EINVALID, "url validation without a plainToken")
		}
		ev.PlainToken = raw.Payload.PlainToken
		return ev, nil
	case EventParticipantJoined, EventMeetingEnded:
	default:
		return ev, nil
	}
	obj := raw.Payload.Object
	if obj == nil {
		return Event{}, gateway.Errorf(gateway.EINVALID, "%s without payload.object", raw.Event)
	}
	id, err := meetingID(obj.ID)
	if err != nil {
		return Event{}, err
	}
	ev.MeetingID, ev.HostID = id, obj.HostID
	if raw.Event == EventParticipantJoined {
		p := obj.Participant
		if p == nil || (p.UserID == "" && p.ID == "" && p.UserName == "") {
			return Event{}, gateway.Errorf(gateway.EINVALID, "participant event without a participant")
		}
		ev.ParticipantUserID, ev.ParticipantID, ev.ParticipantName = p.UserID, p.ID, p.UserName
		if t, err := time.Parse(time.RFC3339, p.JoinTime); err == nil {
			ev.At = t.UTC()
		}
	}
	return ev, nil
}

// meetingID returns a meeting number given as a JSON number or string, in
// decimal; Zoom's numbers have 9 to 12 digits, beyond a float's exactness
// for some.
func meetingID(raw json.RawMessage) (string, error) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", gateway.Errorf(gateway.EINVALID, "bad meeting id")
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return "", gateway.Errorf(gateway.EINVALID, "bad meeting id %.20q", s)
	}
	return strconv.FormatInt(n, 10), nil
}

// String describes the event for logs.
func (e Event) String() string { return fmt.Sprintf("%s %s", e.Event, e.MeetingID) }
