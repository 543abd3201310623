// Package zoom is the gateway's adapter for the zoom channel: it creates an
// instant Zoom meeting through the Meetings API with Server-to-Server OAuth
// credentials, gives the meeting's start (host) link to the ops-room device
// through a JoinSender and the join link to the officer app, ends the meeting
// when the router abandons the leg, and turns Zoom's signed webhooks
// (meeting.participant_joined, meeting.ended) into reports.
//
// Every call to Zoom goes through the shared retrying client of
// adapters/httpx; errors are *gateway.CallError whose Fate says
// whether Zoom can have acted.
package zoom

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/internal/joinlink"
	"github.com/safeconnection/gateway/adapters/oauth"
	"github.com/sirupsen/logrus"
)

// Provider is the provider's name in errors and logs.
const Provider = "zoom"

// The real Zoom hosts, and the default host of the meetings.
const (
	DefaultOAuthURL = "https://zoom.us"
	DefaultAPIURL   = "https://api.zoom.us"
	// DefaultUserID hosts the meetings by default: the app's own user.
	DefaultUserID = "me"
)

// Adapter places legs on the zoom channel. Set its fields before use; it is
// safe for concurrent use afterwards.
type Adapter struct {
	// Server-to-Server OAuth app credentials.
	AccountID    string
	ClientID     string
	ClientSecret string
	// WebhookSecret is the app's Secret Token, which signs webhooks. With
	// none, every webhook is refused.
	WebhookSecret string
	// UserID is the Zoom user (ID or email) meetings are created for: the
	// host account the ops-room devices sign in with. Default "me".
	UserID string

	// OAuthURL and APIURL are Zoom's base URLs (defaults DefaultOAuthURL
	// and DefaultAPIURL): point them at a fake or a proxy.
	OAuthURL string
	APIURL   string

	// Client holds the HTTP client, the logger, the clock and how early a
	// token is replaced (defaults: oauth.Defaults).
	oauth.Client
	// JoinSender delivers the start link to the device. Nil delivers
	// nothing (tests only).
	JoinSender gateway.JoinSender
	// Reporter receives the reports made from webhooks.
	Reporter gateway.Reporter
	// Replays recognises webhooks delivered before, on every instance
	// sharing the store (gateway.ReportOnce): they are acknowledged and
	// not reported again. Nil recognises none.
	Replays gateway.ReplayStore

	// MaxSkew is how far a webhook's timestamp may be from Now (default 5
	// minutes); older or newer webhooks are refused.
	MaxSkew time.Duration

	tokens oauth.Cache
}

// New returns an Adapter for the Server-to-Server OAuth app's credentials,
// with the real Zoom URLs and the defaults above.
func New(accountID, clientID, clientSecret, webhookSecret string) *Adapter {
	return &Adapter{
		AccountID:     accountID,
		ClientID:      clientID,
		ClientSecret:  clientSecret,
		WebhookSecret: webhookSecret,
		UserID:        DefaultUserID,
		OAuthURL:      DefaultOAuthURL,
		APIURL:        DefaultAPIURL,
		Client:        oauth.Defaults(),
		MaxSkew:       5 * time.Minute,
	}
}

// Channel returns the package's Channel.
func (a *Adapter) Channel() gateway.Channel { return Channel }

// meetingSettings are the settings of a gateway meeting: the officer may
// join before the device, without a waiting room, both with video.
type meetingSettings struct {
	JoinBeforeHost   bool   `json:"join_before_host"`
	WaitingRoom      bool   `json:"waiting_room"`
	HostVideo        bool   `json:"host_video"`
	ParticipantVideo bool   `json:"participant_video"`
	ApprovalType     int    `json:"approval_type"` // 2: no registration required
	Audio            string `json:"audio"`
}

type createMeeting struct {
	Topic    string          `json:"topic"`
	Type     int             `json:"type"` // 1: instant
	Password string          `json:"password"`
	Settings meetingSettings `json:"settings"`
}

type meeting struct {
	ID       int64  `json:"id"`
	UUID     string `json:"uuid"`
	HostID   string `json:"host_id"`
	JoinURL  string `json:"join_url"`
	StartURL string `json:"start_url"`
}

// Place creates an instant meeting titled "Safe Connection <reference>",
// sends its start link to the device and returns the meeting's ID as
// ProviderRef and its join link for the officer. The leg's Deadline, when
// set, bounds the whole call. Errors are *gateway.CallError: NotPlaced when
// Zoom cannot have created the meeting (no token, refused, 429, 503, or the
// device could not be given the link and the meeting was deleted),
// PlacedFailed when Zoom refused the request (4xx), Unknown when it may
// have created a meeting that the gateway cannot know (timeout, 5xx,
// malformed answer).
func (a *Adapter) Place(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
	ctx, cancel := httpx.WithDeadline(ctx, leg.Deadline)
	defer cancel()
	body := createMeeting{
		Topic:    strings.TrimSpace("Safe Connection " + leg.Reference),
		Type:     1,
		Password: password(),
		Settings: meetingSettings{JoinBeforeHost: true, WaitingRoom: false, HostVideo: true,
			ParticipantVideo: true, ApprovalType: 2, Audio: "voip"},
	}
	var m meeting
	if err := a.call(ctx, http.MethodPost, "/v2/users/"+url.PathEscape(a.userID())+"/meetings", body, &m); err != nil {
		return gateway.Placement{}, err
	}
	if m.ID <= 0 || m.JoinURL == "" || m.StartURL == "" {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.Unknown, Provider: Provider,
			Err: gateway.Errorf(gateway.EUNAVAILABLE, "malformed response from zoom: meeting without id, join_url or start_url")}
	}
	p := gateway.Placement{ProviderRef: strconv.FormatInt(m.ID, 10), JoinURL: m.JoinURL}
	log := a.log().WithFields(logrus.Fields{"attempt": leg.AttemptID, "device": leg.Device.ID, "meeting": p.ProviderRef})
	// The device opens the start link, the host's.
	if err := (joinlink.Meeting{Provider: Provider, Placement: p, URL: m.StartURL, Delete: a}).Send(ctx, a.JoinSender, leg, log); err != nil {
		return gateway.Placement{}, err
	}
	log.Info("zoom meeting created")
	return p, nil
}

// HangUp ends the leg's meeting and deletes it, so that its links stop
// working. A meeting that no longer exists is not an error. Errors are
// *gateway.CallError.
func (a *Adapter) HangUp(ctx context.Context, leg gateway.Leg, p gateway.Placement) error {
	if _, err := strconv.ParseInt(p.ProviderRef, 10, 64); err != nil {
		return &gateway.CallError{Fate: gateway.PlacedFailed, Provider: Provider,
			Err: gateway.Errorf(gateway.EINVALID, "not a zoom meeting ID: %q", p.ProviderRef)}
	}
	path := "/v2/meetings/" + p.ProviderRef
	err := a.call(ctx, http.MethodPut, path+"/status", map[string]string{"action": "end"}, nil)
	if err != nil && !oauth.NotFound(err) {
		return err
	}
	if err := a.call(ctx, http.MethodDelete, path, nil, nil); err != nil && !oauth.NotFound(err) {
		return err
	}
	return nil
}

// call sends one API request with a Bearer token and decodes the answer
// into out (nil: none expected). On a 401 it drops the token, fetches a new
// one and tries once more.
func (a *Adapter) call(ctx context.Context, method, path string, in, out any) error {
	api := oauth.API{Provider: Provider, Client: a.HTTPClient, Tokens: &a.tokens, Fetch: a.fetchToken, Now: a.now, Refused: oauth.KeepStatus}
	return api.Call(ctx, method, httpx.URL(a.APIURL, DefaultAPIURL, path), in, out)
}

// fetchToken asks Zoom's token endpoint for an account credentials token.
func (a *Adapter) fetchToken(ctx context.Context) (string, time.Time, error) {
	q := url.Values{"grant_type": {"account_credentials"}, "account_id": {a.AccountID}}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, httpx.URL(a.OAuthURL, DefaultOAuthURL, "/oauth/token?"+q.Encode()), nil)
	if err != nil {
		return "", time.Time{}, err
	}
	req.SetBasicAuth(a.ClientID, a.ClientSecret)
	return oauth.Exchange(a.HTTPClient, Provider, "zoom", req, a.now, a.TokenEarly)
}

func (a *Adapter) userID() string {
	if a.UserID == "" {
		return DefaultUserID
	}
	return a.UserID
}

func (a *Adapter) now() time.Time { return httpx.Now(a.Now) }

func (a *Adapter) log() logrus.FieldLogger { return httpx.Log(a.Logger) }

// passwordAlphabet avoids characters that are easily confused.
const passwordAlphabet = "abcdefghjkmnpqrstuvwxyzACDEFGHJKMNPQRTWXY34679"

// password returns a random 10-character meeting passcode (Zoom's maximum).
func password() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	var s bytes.Buffer
	for _, c := range b {
		s.WriteByte(passwordAlphabet[int(c)%len(passwordAlphabet)])
	}
	return s.String()
}

// Interface guards
var (
	_ gateway.Adapter = (*Adapter)(nil)
	_ gateway.Hanger  = (*Adapter)(nil)
)
