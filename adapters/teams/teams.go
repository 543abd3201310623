// Package teams is the gateway's adapter for the teams channel when
// Microsoft Graph credentials are configured: it creates a Teams online
// meeting for the ops room's organizer account through Graph
// (POST /v1.0/users/{id}/onlineMeetings, application permission
// OnlineMeetings.ReadWrite.All under an application access policy) with a
// client-credentials token, gives the meeting's joinWebUrl to the ops-room
// device through a JoinSender and to the officer app, and deletes the
// meeting when the router abandons the leg.
//
// Whether both ends joined is known from their own reports (the router
// counts two distinct ReportJoined parties).
//
// Every call to Microsoft goes through the shared retrying client of
// adapters/httpx (Graph's 429 carries Retry-After); errors are
// *gateway.CallError whose Fate says whether Microsoft can have acted.
package teams

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/internal/joinlink"
	"github.com/safeconnection/gateway/adapters/oauth"
	"github.com/sirupsen/logrus"
)

// Provider is the provider's name in errors and logs.
const Provider = "teams"

// Microsoft's real endpoints, and the scope of an app-only Graph token.
const (
	DefaultLoginURL = "https://login.microsoftonline.com"
	DefaultGraphURL = "https://graph.microsoft.com"
	GraphScope      = "https://graph.microsoft.com/.default"
)

// Adapter places legs on the teams channel. Set its fields before use; it
// is safe for concurrent use afterwards.
type Adapter struct {
	// The Entra ID tenant and app registration (client credentials).
	TenantID     string
	ClientID     string
	ClientSecret string
	// UserID is the Entra object ID of the organizer the meetings are
	// created for: the account the ops-room devices sign in with.
	UserID string

	// LoginURL and GraphURL are Microsoft's endpoints (defaults
	// DefaultLoginURL and DefaultGraphURL): point them at a fake or a
	// sovereign cloud.
	LoginURL string
	GraphURL string

	// MeetingLength is the meeting's scheduled length, from now (default
	// 1 hour): Teams keeps the meeting usable for longer anyway.
	MeetingLength time.Duration

	// Client holds the HTTP client, the logger, the clock and how early a
	// token is replaced (defaults: oauth.Defaults).
	oauth.Client
	// JoinSender delivers the meeting link to the device. Nil delivers
	// nothing (tests only).
	JoinSender gateway.JoinSender

	tokens oauth.Cache
}

// New returns an Adapter for the tenant, app registration and organizer,
// with Microsoft's real URLs and the defaults above.
func New(tenantID, clientID, clientSecret, userID string) *Adapter {
	return &Adapter{
		TenantID:      tenantID,
		ClientID:      clientID,
		ClientSecret:  clientSecret,
		UserID:        userID,
		LoginURL:      DefaultLoginURL,
		GraphURL:      DefaultGraphURL,
		MeetingLength: time.Hour,
		Client:        oauth.Defaults(),
	}
}

// Channel returns the package's Channel.
func (a *Adapter) Channel() gateway.Channel { return Channel }

type lobbyBypass struct {
	Scope string `json:"scope"`
}

type createMeeting struct {
	StartDateTime       string      `json:"startDateTime"`
	EndDateTime         string      `json:"endDateTime"`
	Subject             string      `json:"subject"`
	LobbyBypassSettings lobbyBypass `json:"lobbyBypassSettings"`
}

type onlineMeeting struct {
	ID                    string `json:"id"`
	JoinWebURL            string `json:"joinWebUrl"`
	JoinMeetingIDSettings *struct {
		JoinMeetingID string  `json:"joinMeetingId"`
		Passcode      *string `json:"passcode"`
	} `json:"joinMeetingIdSettings"`
}

// Place creates an online meeting titled "Safe Connection <reference>"
// whose lobby everyone bypasses, sends its joinWebUrl to the device, and
// returns the meeting's ID as ProviderRef and the joinWebUrl for the
// officer. The leg's Deadline, when set, bounds the whole call. Errors are
// *gateway.CallError: NotPlaced when Microsoft cannot have created the
// meeting (no token, refused, 429, 503, 401/403 of our credentials, or the
// device could not be given the link and the meeting was deleted),
// PlacedFailed when Graph refused the request (other 4xx), Unknown when it
// may have created a meeting that the gateway cannot know (timeout, 5xx,
// malformed answer).
func (a *Adapter) Place(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
	ctx, cancel := httpx.WithDeadline(ctx, leg.Deadline)
	defer cancel()
	now := a.now().UTC()
	length := a.MeetingLength
	if length <= 0 {
		length = time.Hour
	}
	body := createMeeting{
		StartDateTime:       now.Format(time.RFC3339),
		EndDateTime:         now.Add(length).Format(time.RFC3339),
		Subject:             strings.TrimSpace("Safe Connection " + leg.Reference),
		LobbyBypassSettings: lobbyBypass{Scope: "everyone"},
	}
	var m onlineMeeting
	if err := a.call(ctx, http.MethodPost, a.meetingsPath(), body, &m); err != nil {
		return gateway.Placement{}, err
	}
	if m.ID == "" || !strings.HasPrefix(m.JoinWebURL, "https://") {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.Unknown, Provider: Provider,
			Err: gateway.Errorf(gateway.EUNAVAILABLE, "malformed response from teams: onlineMeeting without id or joinWebUrl")}
	}
	p := gateway.Placement{ProviderRef: m.ID, JoinURL: m.JoinWebURL}
	log := a.log().WithFields(logrus.Fields{"attempt": leg.AttemptID, "device": leg.Device.ID})
	if err := (joinlink.Meeting{Provider: Provider, Placement: p, URL: m.JoinWebURL, Delete: a}).Send(ctx, a.JoinSender, leg, log); err != nil {
		return gateway.Placement{}, err
	}
	log.Info("teams meeting created")
	return p, nil
}

// HangUp deletes the leg's online meeting, so that its link stops working.
// A meeting that no longer exists is not an error. Errors are
// *gateway.CallError.
func (a *Adapter) HangUp(ctx context.Context, leg gateway.Leg, p gateway.Placement) error {
	if p.ProviderRef == "" {
		return &gateway.CallError{Fate: gateway.PlacedFailed, Provider: Provider,
			Err: gateway.Errorf(gateway.EINVALID, "no teams meeting ID")}
	}
	err := a.call(ctx, http.MethodDelete, a.meetingsPath()+"/"+url.PathEscape(p.ProviderRef), nil, nil)
	if oauth.NotFound(err) {
		return nil
	}
	return err
}

func (a *Adapter) meetingsPath() string {
	return "/v1.0/users/" + url.PathEscape(a.UserID) + "/onlineMeetings"
}

// call sends one Graph request with a Bearer token and decodes the answer
// into out (nil: none expected). On a 401 it drops the token, fetches a new
// one and tries once more.
func (a *Adapter) call(ctx context.Context, method, path string, in, out any) error {
	api := oauth.API{Provider: Provider, Client: a.HTTPClient, Tokens: &a.tokens, Fetch: a.fetchToken, Now: a.now, Refused: oauth.KeepStatus}
	return api.Call(ctx, method, httpx.URL(a.GraphURL, DefaultGraphURL, path), in, out)
}

// fetchToken asks the tenant's token endpoint for an app-only Graph token.
func (a *Adapter) fetchToken(ctx context.Context) (string, time.Time, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {a.ClientID},
		"client_secret": {a.ClientSecret},
		"scope":         {GraphScope},
	}
	u := httpx.URL(a.LoginURL, DefaultLoginURL, "/"+url.PathEscape(a.TenantID)+"/oauth2/v2.0/token")
	return oauth.ExchangeForm(ctx, a.HTTPClient, Provider, "microsoft", u, form, a.now, a.TokenEarly)
}

func (a *Adapter) now() time.Time { return httpx.Now(a.Now) }

func (a *Adapter) log() logrus.FieldLogger { return httpx.Log(a.Logger) }

// Interface guards
var (
	_ gateway.Adapter = (*Adapter)(nil)
	_ gateway.Hanger  = (*Adapter)(nil)
)
