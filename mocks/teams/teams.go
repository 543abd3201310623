// Package teams is a fake of the Microsoft identity platform's
// client-credentials token endpoint and Microsoft Graph's onlineMeetings
// API (application permission, for one organizer), speaking their wire
// format: form-encoded token requests with Entra ID's error body
// ({"error","error_description","error_codes",...}), Bearer-authenticated
// JSON, the onlineMeeting resource, and Graph's error body
// {"error":{"code","message","innerError":{...}}}.
//
// Graph's change notifications are not faked: whether both ends joined is
// known from their own reports.
package teams

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/safeconnection/gateway/mocks/bearer"
	"github.com/safeconnection/gateway/mocks/fault"
)

// Request is one request the fake received, as recorded.
type Request = fault.Request

// Scope is the only scope a client-credentials request may ask for here.
const Scope = "https://graph.microsoft.com/.default"

// Fake is a fake Entra ID token endpoint and Graph onlineMeetings API. Set
// its exported fields before serving; change its behaviour while serving
// with its methods, its fault knobs (FailNext, HangNext, ...) among them,
// which fail with Microsoft Graph's error body.
type Fake struct {
	TenantID     string
	ClientID     string
	ClientSecret string
	// OrganizerID is the Entra object ID of the one user meetings may be
	// created for (the application access policy's user).
	OrganizerID string
	// TokenTTL is the lifetime of the access tokens issued (default 1 h).
	TokenTTL time.Duration
	// Now is the fake's clock (default time.Now).
	Now func() time.Time

	fault.Knobs
	fault.Record[Request]

	mu       sync.Mutex
	noPolicy bool
	tokens   bearer.Tokens
	meetings map[string]bool
	life     *fault.Life
}

// New returns a fake for the tenant, app registration and organizer.
func New(tenantID, clientID, clientSecret, organizerID string) *Fake {
	return &Fake{
		TenantID:     tenantID,
		ClientID:     clientID,
		ClientSecret: clientSecret,
		OrganizerID:  organizerID,
		TokenTTL:     time.Hour,
		Now:          time.Now,
		meetings:     map[string]bool{},
		life:         fault.NewLife(),
	}
}

// Close releases hanging requests.
func (f *Fake) Close() { f.life.Close() }

// NoAccessPolicy makes Graph refuse (true) or allow (false) the app to act
// for the organizer, as when the tenant's application access policy is
// missing: 403 "No application access policy found for this app".
func (f *Fake) NoAccessPolicy(missing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noPolicy = missing
}

// ExpireTokens revokes every access token issued so far.
func (f *Fake) ExpireTokens() {
	f.tokens.Expire()
}

// Meeting reports whether an online meeting exists.
func (f *Fake) Meeting(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.meetings[id]
}

func (f *Fake) now() time.Time { return fault.Now(f.Now) }

// graphCode is the Graph error code usual for an HTTP status.
func graphCode(status int) string {
	switch status {
	case 400:
		return "BadRequest"
	case 401:
		return "InvalidAuthenticationToken"
	case 403:
		return "Forbidden"
	case 404:
		return "NotFound"
	case 409:
		return "Conflict"
	case 429:
		return "TooManyRequests"
	case 503:
		return "ServiceNotAvailable"
	case 504:
		return "GatewayTimeout"
	}
	if status >= 500 {
		return "InternalServerError"
	}
	return "BadRequest"
}

// graphError writes Graph's error body.
func (f *Fake) graphError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    graphCode(status),
		"message": msg,
		"innerError": map[string]string{
			"date":              f.now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        uuid(),
			"client-request-id": uuid(),
		},
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	fault.WriteJSON(w, status, "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8", v)
}

// ServeHTTP serves the token endpoint (/{tenant}/oauth2/v2.0/token) and
// Graph (/v1.0/...).
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := fault.ReadAndRecord(&f.Record, r, f.now)
	if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		f.token(w, r, body)
		return
	}
	serve, malformed := fault.Apply(&f.Knobs, f.life, w, r, func(fl fault.Failure) {
		f.graphError(w, fl.Status, http.StatusText(fl.Status))
	})
	if !serve {
		return
	}
	if !f.authorized(r) {
		f.graphError(w, http.StatusUnauthorized, "Access token is empty or invalid.")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1.0/"), "/")
	if !strings.HasPrefix(r.URL.Path, "/v1.0/users/") || len(parts) < 3 || parts[2] != "onlineMeetings" {
		f.graphError(w, http.StatusNotFound, "Resource not found for the segment '"+r.URL.Path+"'.")
		return
	}
	f.mu.Lock()
	noPolicy := f.noPolicy
	f.mu.Unlock()
	switch {
	case noPolicy:
		f.graphError(w, http.StatusForbidden, "No application access policy found for this app.")
	case parts[1] != f.OrganizerID:
		f.graphError(w, http.StatusNotFound, "User not found.")
	case r.Method == http.MethodPost && len(parts) == 3:
		f.create(w, body, malformed)
	case r.Method == http.MethodDelete && len(parts) == 4:
		f.delete(w, parts[3])
	default:
		f.graphError(w, http.StatusMethodNotAllowed, "Unsupported request.")
	}
}

// entraError writes the identity platform's error body.
func (f *Fake) entraError(w http.ResponseWriter, status int, errCode string, aadsts int, msg string) {
	writeJSON(w, status, map[string]any{
		"error":             errCode,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, msg, uuid(), uuid(), f.now().UTC().Format("2006-01-02 15:04:05Z")),
		"error_codes":       []int{aadsts},
		"timestamp":         f.now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":          uuid(),
		"correlation_id":    uuid(),
		"error_uri":         "https://login.microsoftonline.com/error?code=" + strconv.Itoa(aadsts),
	})
}

// token serves the client-credentials grant.
func (f *Fake) token(w http.ResponseWriter, r *http.Request, body []byte) {
	tenant := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/oauth2/v2.0/token")
	form, err := url.ParseQuery(string(body))
	switch {
	case r.Method != http.MethodPost || err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		f.entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	case tenant != f.TenantID:
		f.entraError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
	case form.Get("grant_type") != "client_credentials":
		f.entraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
	case form.Get("client_id") != f.ClientID:
		f.entraError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory.", form.Get("client_id")))
	case form.Get("client_secret") != f.ClientSecret:
		f.entraError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided.")
	case form.Get("scope") != Scope:
		f.entraError(w, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid.", form.Get("scope")))
	default:
		tok := "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + randomB64(48) + "." + randomB64(64)
		ttl := f.tokens.Issue(tok, f.TokenTTL, f.now())
		secs := int(ttl/time.Second) - 1
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
	}
}

func (f *Fake) authorized(r *http.Request) bool {
	return f.tokens.Valid(r, f.now())
}

// createRequest holds the onlineMeeting properties the fake accepts.
type createRequest struct {
	StartDateTime       *string `json:"startDateTime"`
	EndDateTime         *string `json:"endDateTime"`
	Subject             *string `json:"subject"`
	ExternalID          *string `json:"externalId"`
	LobbyBypassSettings *struct {
		Scope                 *string `json:"scope"`
		IsDialInBypassEnabled *bool   `json:"isDialInBypassEnabled"`
	} `json:"lobbyBypassSettings"`
	JoinMeetingIDSettings *struct {
		IsPasscodeRequired *bool `json:"isPasscodeRequired"`
	} `json:"joinMeetingIdSettings"`
	AllowedPresenters *string `json:"allowedPresenters"`
}

func lobbyScope(s string) bool {
	switch s {
	case "organizer", "organization", "organizationAndFederated", "everyone", "invited", "organizationExcludingGuests":
		return true
	}
	return false
}

func (f *Fake) create(w http.ResponseWriter, body []byte, malformed bool) {
	var req createRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		msg := "Invalid request body: " + err.Error()
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			msg = fmt.Sprintf("The property %s does not exist on type 'microsoft.graph.onlineMeeting'. Make sure to only use property names that are defined by the type or mark the type as open type.", strings.ReplaceAll(name, `"`, "'"))
		}
		f.graphError(w, http.StatusBadRequest, msg)
		return
	}
	now := f.now().UTC()
	start, end := now, now.Add(time.Hour)
	var err error
	if req.StartDateTime != nil {
		if start, err = time.Parse(time.RFC3339Nano, *req.StartDateTime); err != nil {
			f.graphError(w, http.StatusBadRequest, "Cannot convert the literal '"+*req.StartDateTime+"' to the expected type 'Edm.DateTimeOffset'.")
			return
		}
	}
	if req.EndDateTime != nil {
		if end, err = time.Parse(time.RFC3339Nano, *req.EndDateTime); err != nil {
			f.graphError(w, http.StatusBadRequest, "Cannot convert the literal '"+*req.EndDateTime+"' to the expected type 'Edm.DateTimeOffset'.")
			return
		}
	}
	if !end.After(start) {
		f.graphError(w, http.StatusBadRequest, "The meeting's end time must be after its start time.")
		return
	}
	scope := "organization"
	if l := req.LobbyBypassSettings; l != nil && l.Scope != nil {
		if !lobbyScope(*l.Scope) {
			f.graphError(w, http.StatusBadRequest, "Requested value '"+*l.Scope+"' was not found.")
			return
		}
		scope = *l.Scope
	}
	subject := ""
	if req.Subject != nil {
		subject = *req.Subject
	}
	thread := "19:meeting_" + randomB64(45) + "@thread.v2"
	id := base64.RawURLEncoding.EncodeToString([]byte("1*" + f.OrganizerID + "*0**" + thread))
	f.mu.Lock()
	f.meetings[id] = true
	f.mu.Unlock()
	joinID := digits(12)
	tenantCtx := url.QueryEscape(fmt.Sprintf(`{"Tid":"%s","Oid":"%s"}`, f.TenantID, f.OrganizerID))
	joinURL := "https://teams.microsoft.com/l/meetup-join/" + url.PathEscape(thread) + "/0?context=" + tenantCtx
	if malformed {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"%s","joinWebUrl":`, id)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"@odata.context":                "https://graph.microsoft.com/v1.0/$metadata#users('" + f.OrganizerID + "')/onlineMeetings/$entity",
		"id":                            id,
		"creationDateTime":              now.Format(time.RFC3339Nano),
		"startDateTime":                 start.UTC().Format(time.RFC3339Nano),
		"endDateTime":                   end.UTC().Format(time.RFC3339Nano),
		"joinUrl":                       joinURL,
		"joinWebUrl":                    joinURL,
		"meetingCode":                   joinID,
		"subject":                       subject,
		"isBroadcast":                   false,
		"autoAdmittedUsers":             "everyoneInCompany",
		"outerMeetingAutoAdmittedUsers": nil,
		"isEntryExitAnnounced":          true,
		"allowedPresenters":             "everyone",
		"allowMeetingChat":              "enabled",
		"allowTeamworkReactions":        true,
		"recordAutomatically":           false,
		"videoTeleconferenceId":         nil,
		"externalId":                    nil,
		"audioConferencing":             nil,
		"meetingInfo":                   nil,
		"joinMeetingIdSettings":         map[string]any{"isPasscodeRequired": false, "joinMeetingId": joinID, "passcode": nil},
		"lobbyBypassSettings":           map[string]any{"scope": scope, "isDialInBypassEnabled": false},
		"participants": map[string]any{
			"organizer": map[string]any{"upn": "ops.device@example.police.uk", "role": "presenter",
				"identity": map[string]any{"user": map[string]any{"id": f.OrganizerID, "displayName": nil, "tenantId": f.TenantID, "identityProvider": "AAD"}}},
			"attendees": []any{},
		},
		"chatInfo": map[string]any{"threadId": thread, "messageId": "0", "replyChainMessageId": nil},
	})
}

func (f *Fake) delete(w http.ResponseWriter, id string) {
	id, _ = url.PathUnescape(id)
	f.mu.Lock()
	ok := f.meetings[id]
	delete(f.meetings, id)
	f.mu.Unlock()
	if !ok {
		f.graphError(w, http.StatusNotFound, "The requested onlineMeeting was not found.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// digits returns n random decimal digits, the first not 0.
func digits(n int) string {
	b := randomBytes(n)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	if b[0] == '0' {
		b[0] = '7'
	}
	return string(b)
}

func randomB64(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n))[:n] }

// uuid returns a random UUID in its text form.
func uuid() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Interface guards
var _ http.Handler = (*Fake)(nil)
