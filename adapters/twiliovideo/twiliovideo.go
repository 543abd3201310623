// Package twiliovideo places legs on the webrtc channel: a Twilio Video
// room that the officer's phone and the ops room's device both join in a
// browser. Place creates a small group room named for the attempt, mints one
// access token for each participant (identities "officer" and "device"),
// hands the device its join link through a JoinSender, and returns the
// officer's link as the placement's JoinURL.
//
// The links point at JoinPage (PathJoin): a page of the gateway's own that
// checks the link's token and joins the room in the phone's browser with
// the Twilio Video JavaScript SDK (from SDKURL) and a small script embedded
// in the gateway.
//
// Twilio's room status callbacks arrive at Webhook (/webhooks/twilio/video),
// are verified with X-Twilio-Signature and become reports:
// participant-connected -> joined (party "officer" or "device"; the router
// counts the two joins as connected), room-ended -> ended. HangUp completes
// the room.
//
// The REST calls go through httpx directly rather than through twilio-go's
// rest/video/v1: two form POSTs do not need the SDK, and httpx gives them
// the context, the Retry-After header and the raw status the classification
// needs, which twilio-go hides. twilio-go still mints the tokens
// (client/jwt) and verifies the callbacks' signatures.
package twiliovideo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/sirupsen/logrus"
	"github.com/twilio/twilio-go/client/jwt"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/twiliohook"
)

const provider = twiliohook.Provider

// Defaults.
const (
	DefaultAPIURL  = twiliohook.DefaultVideoURL
	DefaultMaxCall = 30 * time.Minute
	// DefaultEmptyRoomTimeout and DefaultUnusedRoomTimeout are the minutes
	// Twilio keeps a room open once everyone left, or when no one ever
	// joined (Twilio's range: 1 to 60).
	DefaultEmptyRoomTimeout  = 1
	DefaultUnusedRoomTimeout = 2
)

// PathCallback is where Twilio posts the rooms' status callbacks, under the
// gateway's public URL.
const PathCallback = "/webhooks/twilio/video"

// The participants' identities in access tokens: the names of the
// gateway's parties, which the joined reports carry.
const (
	PartyOfficer = string(gateway.PartyOfficer)
	PartyDevice  = string(gateway.PartyDevice)
)

// Adapter places webrtc legs in Twilio Video rooms. Set its fields before
// use; it is safe for concurrent use afterwards.
type Adapter struct {
	// AccountSID and AuthToken are the Twilio account's credentials: the
	// REST calls' Basic credentials (unless APIKeySID is set) and the key
	// that verifies callbacks' X-Twilio-Signature.
	AccountSID string
	AuthToken  string
	// APIKeySID ("SK...") and APIKeySecret sign the access tokens (Twilio
	// requires an API key for them) and, when set, authenticate the REST
	// calls.
	APIKeySID    string
	APIKeySecret string
	// APIURL is Twilio Video's base URL (default DefaultAPIURL): point it
	// at a fake or a proxy.
	APIURL string
	// PublicURL is the gateway's public base URL, for callback and join
	// URLs and signatures.
	PublicURL string
	// SDKURL is where the join page loads the Twilio Video JavaScript SDK
	// from (default DefaultSDKURL); its origin is allowed by the page's
	// Content-Security-Policy.
	SDKURL string
	// MaxCall is the longest a call may last: tokens expire at the leg's
	// deadline plus MaxCall (default DefaultMaxCall).
	MaxCall time.Duration
	// EmptyRoomTimeout and UnusedRoomTimeout, in minutes (defaults
	// DefaultEmptyRoomTimeout, DefaultUnusedRoomTimeout).
	EmptyRoomTimeout  int
	UnusedRoomTimeout int

	// Settings are the HTTP client, the logger and the clock (defaults:
	// httpx.DefaultSettings).
	httpx.Settings
	// JoinSender delivers the device's join link. Nil delivers nothing
	// (tests only).
	JoinSender gateway.JoinSender
	// Reporter receives the reports made from callbacks.
	Reporter gateway.Reporter
	// Replays recognises callbacks delivered before, on every instance
	// sharing the store (gateway.ReportOnce): they are acknowledged and
	// not reported again. Nil recognises none.
	Replays gateway.ReplayStore
}

// New returns an Adapter for a Twilio account and one of its API keys, with
// callbacks and join links under publicURL. Set Reporter and JoinSender
// before use.
func New(accountSID, authToken, apiKeySID, apiKeySecret, publicURL string) *Adapter {
	return &Adapter{
		AccountSID:        accountSID,
		AuthToken:         authToken,
		APIKeySID:         apiKeySID,
		APIKeySecret:      apiKeySecret,
		APIURL:            DefaultAPIURL,
		PublicURL:         publicURL,
		SDKURL:            DefaultSDKURL,
		MaxCall:           DefaultMaxCall,
		EmptyRoomTimeout:  DefaultEmptyRoomTimeout,
		UnusedRoomTimeout: DefaultUnusedRoomTimeout,
		Settings:          httpx.DefaultSettings(),
	}
}

// Channel returns the package's Channel.
func (a *Adapter) Channel() gateway.Channel { return Channel }

func (a *Adapter) now() time.Time { return httpx.Now(a.Now) }

func (a *Adapter) log() logrus.FieldLogger { return httpx.Log(a.Logger) }

func (a *Adapter) public() string { return strings.TrimSuffix(a.PublicURL, "/") }

// room is what the adapter reads of Twilio's video.v1.room resource.
type room struct {
	SID        string `json:"sid"`
	Status     string `json:"status"`
	UniqueName string `json:"unique_name"`
}

// Place creates the leg's room, mints the two tokens, sends the device its
// link and returns the room's SID and the officer's link. The calls are
// bounded by ctx and the leg's deadline. Errors are *gateway.CallError: as
// httpx.Classify says of Twilio's answers; Unknown for a malformed answer;
// the JoinSender's error (the room then completed) when the device cannot
// be given its link.
func (a *Adapter) Place(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
	if leg.AttemptID == "" || a.PublicURL == "" || a.APIKeySID == "" || a.APIKeySecret == "" {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.NotPlaced, Provider: provider,
			Err: gateway.Errorf(gateway.EINTERNAL, "twilio video needs an attempt ID, a public URL and an API key")}
	}
	if !leg.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, leg.Deadline)
		defer cancel()
	}
	rm, err := a.createRoom(ctx, leg)
	if err != nil {
		return gateway.Placement{}, err
	}
	log := a.log().WithFields(logrus.Fields{"attempt": leg.AttemptID, "verification": leg.VerificationID, "room": rm.SID})
	officerURL, err := a.joinURL(leg, rm, PartyOfficer)
	if err != nil {
		a.abandon(ctx, leg, rm.SID)
		return gateway.Placement{}, err
	}
	deviceURL, err := a.joinURL(leg, rm, PartyDevice)
	if err != nil {
		a.abandon(ctx, leg, rm.SID)
		return gateway.Placement{}, err
	}
	if a.JoinSender != nil {
		if err := a.JoinSender.SendJoin(ctx, leg, deviceURL); err != nil {
			log.WithError(err).Warn("could not give the device its join link; room completed")
			a.abandon(ctx, leg, rm.SID)
			var ce *gateway.CallError
			if errors.As(err, &ce) {
				return gateway.Placement{}, err
			}
			return gateway.Placement{}, &gateway.CallError{Fate: gateway.Unknown, Provider: "agent",
				Err: gateway.E("twiliovideo.Place", gateway.EUNAVAILABLE, err)}
		}
	}
	log.Info("twilio video room created")
	return gateway.Placement{ProviderRef: rm.SID, JoinURL: officerURL}, nil
}

// abandon completes a room the leg will not use, within a few seconds even
// when ctx has ended.
func (a *Adapter) abandon(ctx context.Context, leg gateway.Leg, sid string) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.HangUp(hctx, leg, gateway.Placement{ProviderRef: sid}); err != nil {
		a.log().WithError(err).WithField("room", sid).Warn("could not complete an abandoned room")
	}
}

func (a *Adapter) createRoom(ctx context.Context, leg gateway.Leg) (room, error) {
	empty, unused := a.EmptyRoomTimeout, a.UnusedRoomTimeout
	if empty <= 0 {
		empty = DefaultEmptyRoomTimeout
	}
	if unused <= 0 {
		unused = DefaultUnusedRoomTimeout
	}
	form := url.Values{
		"UniqueName":           {leg.AttemptID},
		"Type":                 {"group"},
		"MaxParticipants":      {"2"},
		"StatusCallback":       {a.public() + PathCallback + "?" + url.Values{"attempt": {leg.AttemptID}}.Encode()},
		"StatusCallbackMethod": {http.MethodPost},
		"EmptyRoomTimeout":     {strconv.Itoa(empty)},
		"UnusedRoomTimeout":    {strconv.Itoa(unused)},
	}
	rm, out, err := a.call(ctx, http.MethodPost, "/v1/Rooms", form)
	if err == nil {
		return rm, nil
	}
	// A room of that name in progress: an earlier try of this attempt made
	// it (its answer was lost); use it.
	if out.status == http.StatusBadRequest && out.code == codeRoomExists {
		if existing, _, ferr := a.call(ctx, http.MethodGet, "/v1/Rooms/"+url.PathEscape(leg.AttemptID), nil); ferr == nil && existing.Status == "in-progress" {
			return existing, nil
		}
	}
	return room{}, err
}

// codeRoomExists is Twilio's error code for a unique name in use.
const codeRoomExists = 53113

// outcome is the HTTP status of an answer and, for an error, Twilio's code.
type outcome struct {
	status int
	code   int
}

// call sends one request to the Rooms API and decodes the room it answers.
func (a *Adapter) call(ctx context.Context, method, path string, form url.Values) (room, outcome, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, httpx.URL(a.APIURL, DefaultAPIURL, path), body)
	if err != nil {
		return room{}, outcome{}, &gateway.CallError{Fate: gateway.NotPlaced, Provider: provider, Err: gateway.E("twiliovideo", gateway.EINTERNAL, err)}
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	user, pass := a.AccountSID, a.AuthToken
	if a.APIKeySID != "" {
		user, pass = a.APIKeySID, a.APIKeySecret
	}
	req.SetBasicAuth(user, pass)
	hc := a.HTTPClient
	if hc == nil {
		hc = httpx.NewClient(nil)
	}
	resp, err := hc.Do(req)
	var out outcome
	if err == nil && resp != nil {
		out.status = resp.StatusCode
		if resp.StatusCode >= 300 {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			var e struct {
				Code int `json:"code"`
			}
			if json.Unmarshal(b, &e) == nil {
				out.code = e.Code
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
		}
	}
	if err := httpx.Classify(provider, resp, err); err != nil {
		return room{}, out, err
	}
	var rm room
	if err := httpx.DecodeJSON(provider, resp, &rm); err != nil {
		return room{}, out, err
	}
	if len(rm.SID) != 34 || !strings.HasPrefix(rm.SID, "RM") {
		return room{}, out, &gateway.CallError{Fate: gateway.Unknown, Provider: provider,
			Err: gateway.Errorf(gateway.EUNAVAILABLE, "malformed response from twilio: no room SID")}
	}
	return rm, out, nil
}

// Token returns an access token for identity to room rm.UniqueName, valid
// from now until the leg's deadline plus MaxCall (twilio-go's TTL cannot be
// under an hour, so the expiry is set with ValidUntil).
func (a *Adapter) Token(leg gateway.Leg, roomName, identity string) (string, error) {
	now := a.now()
	maxCall := a.MaxCall
	if maxCall <= 0 {
		maxCall = DefaultMaxCall
	}
	until := leg.Deadline
	if until.IsZero() || until.Before(now) {
		until = now
	}
	until = until.Add(maxCall)
	t := jwt.CreateAccessToken(jwt.AccessTokenParams{
		AccountSid:    a.AccountSID,
		SigningKeySid: a.APIKeySID,
		Secret:        a.APIKeySecret,
		Identity:      identity,
		Nbf:           float64(now.Unix()),
		ValidUntil:    float64(until.Unix()),
	})
	t.AddGrant(&jwt.VideoGrant{Room: roomName})
	return t.ToJwt()
}

// joinURL returns <PublicURL>/join/webrtc/<attempt>?token=<jwt> for one
// participant.
func (a *Adapter) joinURL(leg gateway.Leg, rm room, identity string) (string, error) {
	name := rm.UniqueName
	if name == "" {
		name = leg.AttemptID
	}
	tok, err := a.Token(leg, name, identity)
	if err != nil {
		return "", &gateway.CallError{Fate: gateway.Unknown, Provider: provider,
			Err: gateway.E("twiliovideo.Place", gateway.EINTERNAL, err)}
	}
	return a.public() + "/join/webrtc/" + url.PathEscape(leg.AttemptID) + "?" + url.Values{"token": {tok}}.Encode(), nil
}

// HangUp completes the leg's room (POST /v1/Rooms/{Sid}, Status=completed).
// A room that no longer exists counts as completed. Errors are
// *gateway.CallError.
func (a *Adapter) HangUp(ctx context.Context, leg gateway.Leg, p gateway.Placement) error {
	if p.ProviderRef == "" {
		return nil
	}
	_, out, err := a.call(ctx, http.MethodPost, "/v1/Rooms/"+url.PathEscape(p.ProviderRef), url.Values{"Status": {"completed"}})
	if out.status == http.StatusNotFound {
		return nil
	}
	return err
}

// Interface guards
var (
	_ gateway.Adapter = (*Adapter)(nil)
	_ gateway.Hanger  = (*Adapter)(nil)
)
