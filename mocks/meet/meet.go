// Package meet is a fake of Google's OAuth 2.0 token endpoint (refresh-token
// grant) and the Google Meet REST API v2 spaces methods, speaking Google's
// wire format: form-encoded token requests, Bearer-authenticated JSON, the
// Space resource, and Google's error body
// {"error":{"code","message","status"}}.
//
// Meet has no webhooks: who joined is known from both ends' reports. The
// fake keeps a conference per space that StartConference opens and
// endActiveConference closes.
//
// The package also holds a small checker of Google discovery documents
// (Discovery, CheckingTransport), with which tests check the adapter's
// requests and the fake's answers against the Meet API's own description.
package meet

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/safeconnection/gateway/mocks/bearer"
	"github.com/safeconnection/gateway/mocks/fault"
)

// Request is one request the fake received, as recorded.
type Request = fault.Request

// Fake is a fake Google token endpoint and Meet API. Set its exported
// fields before serving; change its behaviour while serving with its
// methods, its fault knobs (FailNext, HangNext, ...) among them, which fail
// with Google's error body.
type Fake struct {
	ClientID     string
	ClientSecret string
	RefreshToken string
	// TokenTTL is the lifetime of the access tokens issued (default 1 h).
	TokenTTL time.Duration
	// Now is the fake's clock (default time.Now).
	Now func() time.Time

	fault.Knobs
	fault.Record[Request]

	mu     sync.Mutex
	tokens bearer.Tokens
	spaces map[string]*space
	life   *fault.Life
}

type space struct {
	name, code string
	config     map[string]any
	conference string // the active conference record, if any
	ended      int    // conferences ended
}

// New returns a fake that accepts the OAuth client and refresh token.
func New(clientID, clientSecret, refreshToken string) *Fake {
	return &Fake{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RefreshToken: refreshToken,
		TokenTTL:     time.Hour,
		Now:          time.Now,
		spaces:       map[string]*space{},
		life:         fault.NewLife(),
	}
}

// Close releases hanging requests.
func (f *Fake) Close() { f.life.Close() }

// ExpireTokens revokes every access token issued so far.
func (f *Fake) ExpireTokens() {
	f.tokens.Expire()
}

// StartConference opens a conference in the space named name ("spaces/..."),
// as the first participant joining would; it reports whether the space
// exists.
func (f *Fake) StartConference(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.spaces[name]
	if ok && s.conference == "" {
		s.conference = "conferenceRecords/" + randomID(12)
	}
	return ok
}

// Space reports whether a space exists, whether a conference is active in
// it, and how many conferences were ended in it.
func (f *Fake) Space(name string) (exists, active bool, ended int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.spaces[name]
	if !ok {
		return false, false, 0
	}
	return true, s.conference != "", s.ended
}

func (f *Fake) now() time.Time { return fault.Now(f.Now) }

// googleStatus is the canonical status of an HTTP code, in Google's errors.
func googleStatus(code int) string {
	switch code {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ALREADY_EXISTS"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

// googleError writes Google's error body.
func googleError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": msg, "status": googleStatus(code)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	fault.WriteJSON(w, status, "application/json; charset=UTF-8", v)
}

// ServeHTTP serves the token endpoint (/token) and the Meet API (/v2/...).
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := fault.ReadAndRecord(&f.Record, r, f.now)
	if r.URL.Path == "/token" {
		f.token(w, r, body)
		return
	}
	serve, malformed := fault.Apply(&f.Knobs, f.life, w, r, func(fl fault.Failure) {
		googleError(w, fl.Status, http.StatusText(fl.Status))
	})
	if !serve {
		return
	}
	if !f.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		googleError(w, http.StatusUnauthorized, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && path == "/v2/spaces":
		f.create(w, body, malformed)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/v2/spaces/") && strings.HasSuffix(path, ":endActiveConference"):
		f.end(w, strings.TrimSuffix(strings.TrimPrefix(path, "/v2/"), ":endActiveConference"), body)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v2/spaces/"):
		f.get(w, strings.TrimPrefix(path, "/v2/"))
	default:
		googleError(w, http.StatusNotFound, "The requested URL "+path+" was not found on this server.")
	}
}

// token serves the refresh-token grant.
func (f *Fake) token(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "Method not allowed"})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Invalid request body"})
		return
	}
	switch {
	case form.Get("client_id") != f.ClientID || form.Get("client_secret") != f.ClientSecret:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "The OAuth client was not found."})
		return
	case form.Get("grant_type") != "refresh_token":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "Invalid grant_type: " + form.Get("grant_type")})
		return
	case form.Get("refresh_token") != f.RefreshToken:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
		return
	}
	tok := "ya29.a0" + randomID(40)
	ttl := f.tokens.Issue(tok, f.TokenTTL, f.now())
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_in":   int(ttl/time.Second) - 1,
		"scope":        "https://www.googleapis.com/auth/meetings.space.created",
		"token_type":   "Bearer",
	})
}

func (f *Fake) authorized(r *http.Request) bool {
	return f.tokens.Valid(r, f.now())
}

// configEnum returns the values of a SpaceConfig enum field, as the Meet
// API's discovery document lists them.
func configEnum(field string) ([]string, bool) {
	switch field {
	case "accessType":
		return []string{"ACCESS_TYPE_UNSPECIFIED", "OPEN", "TRUSTED", "RESTRICTED"}, true
	case "entryPointAccess":
		return []string{"ENTRY_POINT_ACCESS_UNSPECIFIED", "ALL", "CREATOR_APP_ONLY"}, true
	case "moderation":
		return []string{"MODERATION_UNSPECIFIED", "OFF", "ON"}, true
	case "attendanceReportGenerationType":
		return []string{"ATTENDANCE_REPORT_GENERATION_TYPE_UNSPECIFIED", "GENERATE_REPORT", "DO_NOT_GENERATE"}, true
	}
	return nil, false
}

// create serves spaces.create: the body is a Space of which only config
// (and name, ignored) may be set.
func (f *Fake) create(w http.ResponseWriter, body []byte, malformed bool) {
	var req map[string]json.RawMessage
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			googleError(w, http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
			return
		}
	}
	config := map[string]any{}
	for k, v := range req {
		switch k {
		case "name":
		case "config":
			var c map[string]json.RawMessage
			if err := json.Unmarshal(v, &c); err != nil {
				googleError(w, http.StatusBadRequest, "Invalid JSON payload received. Invalid value at 'space.config'.")
				return
			}
			for ck, cv := range c {
				var s string
				allowed, known := configEnum(ck)
				if !known {
					googleError(w, http.StatusBadRequest, fmt.Sprintf("Invalid JSON payload received. Unknown name %q at 'space.config': Cannot find field.", ck))
					return
				}
				if json.Unmarshal(cv, &s) != nil || !contains(allowed, s) {
					googleError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value at 'space.config.%s', %s", ck, cv))
					return
				}
				config[ck] = s
			}
		case "meetingUri", "meetingCode", "activeConference", "phoneAccess", "gatewaySipAccess":
			googleError(w, http.StatusBadRequest, fmt.Sprintf("Request contains an invalid argument: %s is output only.", k))
			return
		default:
			googleError(w, http.StatusBadRequest, fmt.Sprintf("Invalid JSON payload received. Unknown name %q at 'space': Cannot find field.", k))
			return
		}
	}
	for k, def := range map[string]string{"accessType": "TRUSTED", "entryPointAccess": "ALL", "moderation": "OFF"} {
		if _, ok := config[k]; !ok {
			config[k] = def
		}
	}
	s := &space{name: "spaces/" + randomID(12), code: meetingCode(), config: config}
	f.mu.Lock()
	f.spaces[s.name] = s
	f.mu.Unlock()
	if malformed {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, `{"name":"%s","meetingUri":"https://meet.google.com/%s",`, s.name, s.code)
		return
	}
	writeJSON(w, http.StatusOK, f.resource(s))
}

func (f *Fake) resource(s *space) map[string]any {
	out := map[string]any{
		"name":        s.name,
		"meetingUri":  "https://meet.google.com/" + s.code,
		"meetingCode": s.code,
		"config":      s.config,
	}
	if s.conference != "" {
		out["activeConference"] = map[string]string{"conferenceRecord": s.conference}
	}
	return out
}

func (f *Fake) get(w http.ResponseWriter, name string) {
	f.mu.Lock()
	s, ok := f.spaces[name]
	var res map[string]any
	if ok {
		res = f.resource(s)
	}
	f.mu.Unlock()
	if !ok {
		googleError(w, http.StatusNotFound, "Requested entity was not found.")
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// end serves spaces.endActiveConference: the body is an empty
// EndActiveConferenceRequest; the answer is Empty.
func (f *Fake) end(w http.ResponseWriter, name string, body []byte) {
	if b := bytes.TrimSpace(body); len(b) > 0 && !bytes.Equal(b, []byte("{}")) {
		googleError(w, http.StatusBadRequest, "Invalid JSON payload received. EndActiveConferenceRequest has no fields.")
		return
	}
	f.mu.Lock()
	s, ok := f.spaces[name]
	if ok && s.conference != "" {
		s.conference = ""
		s.ended++
	}
	f.mu.Unlock()
	if !ok {
		googleError(w, http.StatusNotFound, "Requested entity was not found.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// meetingCode returns a code like "abc-mnop-xyz".
func meetingCode() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b[:3]) + "-" + string(b[3:7]) + "-" + string(b[7:])
}

// randomID returns n random characters of [0-9a-f].
func randomID(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// Interface guards
var _ http.Handler = (*Fake)(nil)
