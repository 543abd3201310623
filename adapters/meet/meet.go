// Package meet is the gateway's adapter for the meet channel when Google
// Meet API credentials are configured: it creates a Meet space through the
// Meet REST API v2 (spaces.create) with an OAuth 2.0 access token obtained
// from a refresh token, gives the space's meeting link to the ops-room
// device through a JoinSender and to the officer app, and ends the space's
// active conference when the router abandons the leg.
//
// Meet has no webhooks: whether both ends joined is known from their own
// reports (the router counts two distinct ReportJoined parties).
//
// Every call to Google goes through the shared retrying client of
// adapters/httpx; errors are *gateway.CallError whose Fate says
// whether Google can have acted.
package meet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/internal/joinlink"
	"github.com/safeconnection/gateway/adapters/oauth"
	"github.com/sirupsen/logrus"
)

// Provider is the provider's name in errors and logs.
const Provider = "meet"

// Google's real endpoints.
const (
	DefaultTokenURL = "https://oauth2.googleapis.com/token"
	DefaultAPIURL   = "https://meet.googleapis.com"
)

// Adapter places legs on the meet channel. Set its fields before use; it is
// safe for concurrent use afterwards.
type Adapter struct {
	// OAuth 2.0 client and the refresh token of the Workspace user who owns
	// the spaces (scope meetings.space.created).
	ClientID     string
	ClientSecret string
	RefreshToken string

	// TokenURL and APIURL are Google's endpoints (defaults DefaultTokenURL
	// and DefaultAPIURL): point them at a fake or a proxy.
	TokenURL string
	APIURL   string

	// AccessType and EntryPointAccess are the SpaceConfig of the spaces
	// created (defaults "TRUSTED" and "ALL"; the values of the API's
	// enums).
	AccessType       string
	EntryPointAccess string

	// Client holds the HTTP client, the logger, the clock and how early a
	// token is replaced (defaults: oauth.Defaults).
	oauth.Client
	// JoinSender delivers the meeting link to the device. Nil delivers
	// nothing (tests only).
	JoinSender gateway.JoinSender

	tokens oauth.Cache
}

// New returns an Adapter for the OAuth client and refresh token, with
// Google's real URLs and the defaults above.
func New(clientID, clientSecret, refreshToken string) *Adapter {
	return &Adapter{
		ClientID:         clientID,
		ClientSecret:     clientSecret,
		RefreshToken:     refreshToken,
		TokenURL:         DefaultTokenURL,
		APIURL:           DefaultAPIURL,
		AccessType:       "TRUSTED",
		EntryPointAccess: "ALL",
		Client:           oauth.Defaults(),
	}
}

// Channel returns the package's Channel.
func (a *Adapter) Channel() gateway.Channel { return Channel }

// Space is the part of Meet's Space resource the adapter uses.
type Space struct {
	Name        string       `json:"name,omitempty"`
	MeetingURI  string       `json:"meetingUri,omitempty"`
	MeetingCode string       `json:"meetingCode,omitempty"`
	Config      *SpaceConfig `json:"config,omitempty"`
}

// SpaceConfig is the part of Meet's SpaceConfig the adapter sets.
type SpaceConfig struct {
	AccessType       string `json:"accessType,omitempty"`
	EntryPointAccess string `json:"entryPointAccess,omitempty"`
}

// spaceName is the pattern of a space's resource name in the API's
// discovery document.
var spaceName = regexp.MustCompile(`^spaces/[^/]+$`)

// Place creates a space and sends its meeting link to the device; it
// returns the space's resource name ("spaces/...") as ProviderRef and the
// meeting link for the officer. The leg's Deadline, when set, bounds the
// whole call. Errors are *gateway.CallError: NotPlaced when Google cannot
// have created the space (no token, refused, 429, 503, or the device could
// not be given the link), PlacedFailed when Google refused the request
// (4xx), Unknown when it may have created a space that the gateway cannot
// know (timeout, 5xx, malformed answer).
func (a *Adapter) Place(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
	ctx, cancel := httpx.WithDeadline(ctx, leg.Deadline)
	defer cancel()
	req := Space{Config: &SpaceConfig{AccessType: a.AccessType, EntryPointAccess: a.EntryPointAccess}}
	var s Space
	if err := a.call(ctx, "/v2/spaces", req, &s); err != nil {
		return gateway.Placement{}, err
	}
	if !spaceName.MatchString(s.Name) || !strings.HasPrefix(s.MeetingURI, "https://") {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.Unknown, Provider: Provider,
			Err: gateway.Errorf(gateway.EUNAVAILABLE, "malformed response from meet: space without a name or meetingUri")}
	}
	p := gateway.Placement{ProviderRef: s.Name, JoinURL: s.MeetingURI}
	log := a.log().WithFields(logrus.Fields{"attempt": leg.AttemptID, "device": leg.Device.ID, "space": s.Name})
	// A space nobody has the link of stays unused and is harmless: it is
	// not deleted.
	if err := (joinlink.Meeting{Provider: Provider, Placement: p, URL: s.MeetingURI}).Send(ctx, a.JoinSender, leg, log); err != nil {
		return gateway.Placement{}, err
	}
	log.Info("meet space created")
	return p, nil
}

// HangUp ends the active conference of the leg's space, removing everyone
// from it. A space that is gone, or has no active conference, is not an
// error. Errors are *gateway.CallError.
func (a *Adapter) HangUp(ctx context.Context, leg gateway.Leg, p gateway.Placement) error {
	if !spaceName.MatchString(p.ProviderRef) {
		return &gateway.CallError{Fate: gateway.PlacedFailed, Provider: Provider,
			Err: gateway.Errorf(gateway.EINVALID, "not a meet space name: %q", p.ProviderRef)}
	}
	err := a.call(ctx, "/v2/"+p.ProviderRef+":endActiveConference", struct{}{}, nil)
	var ge *googleError
	if errors.As(err, &ge) && (ge.HTTP == http.StatusNotFound || ge.Status == "FAILED_PRECONDITION" || ge.Status == "NOT_FOUND") {
		return nil
	}
	return err
}

// googleError is Google's error body, kept behind a CallError.
type googleError struct {
	HTTP    int    `json:"-"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"` // the canonical code: RESOURCE_EXHAUSTED, ...
	err     error
}

func (e *googleError) Error() string { return e.err.Error() }
func (e *googleError) Unwrap() error { return e.err }

// call POSTs one JSON request with a Bearer token and decodes the answer
// into out (nil: ignore it). On a 401 it drops the token, fetches a new one
// and tries once more.
func (a *Adapter) call(ctx context.Context, path string, in, out any) error {
	api := oauth.API{Provider: Provider, Client: a.HTTPClient, Tokens: &a.tokens, Fetch: a.fetchToken, Now: a.now, Refused: keepGoogleError}
	return api.Call(ctx, http.MethodPost, httpx.URL(a.APIURL, DefaultAPIURL, path), in, out)
}

// keepGoogleError is the API's Refused: a failure's Err is wrapped in the
// googleError of the answer's body, when there is an answer of 300 or more.
func keepGoogleError(resp *http.Response, err error) func(error) error {
	if err != nil || resp.StatusCode < 300 {
		return nil
	}
	ge := peekError(resp)
	return func(err error) error {
		ge.err = err
		return ge
	}
}

// peekError reads Google's error body from resp and puts the bytes back
// for Classify.
func peekError(resp *http.Response) *googleError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var e struct {
		Error googleError `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	e.Error.HTTP = resp.StatusCode
	return &e.Error
}

// fetchToken exchanges the refresh token for an access token.
func (a *Adapter) fetchToken(ctx context.Context) (string, time.Time, error) {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {a.ClientID},
		"client_secret": {a.ClientSecret},
		"refresh_token": {a.RefreshToken},
	}
	return oauth.ExchangeForm(ctx, a.HTTPClient, Provider, "google", httpx.URL(a.TokenURL, DefaultTokenURL, ""), form, a.now, a.TokenEarly)
}

func (a *Adapter) now() time.Time { return httpx.Now(a.Now) }

func (a *Adapter) log() logrus.FieldLogger { return httpx.Log(a.Logger) }

// Interface guards
var (
	_ gateway.Adapter = (*Adapter)(nil)
	_ gateway.Hanger  = (*Adapter)(nil)
)
