// Package zoom is a fake of Zoom's Server-to-Server OAuth token endpoint and
// Meetings API, speaking Zoom's wire format: Basic-authenticated account
// credentials tokens, Bearer-authenticated meeting creation, status update and
// deletion, Zoom's error bodies, and signed webhooks (meeting.started,
// meeting.participant_joined, meeting.ended) posted back to the gateway.
//
// It serves both of Zoom's hosts (zoom.us for /oauth/token, api.zoom.us for
// /v2/...) from one http.Handler; run it with httptest in tests, or in-process
// for a demonstration. Knobs (latency, failures, malformed answers, hangs,
// webhooks off, who joins when) are safe for concurrent use.
package zoom

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
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

// Delivery is one webhook the fake posted to the gateway.
type Delivery = fault.Delivery

// Never, as a join delay, means the participant never joins.
const Never time.Duration = -1

// Fake is a fake Zoom. Set its exported fields before serving; change its
// behaviour while serving with its methods, its fault knobs (FailNext,
// HangNext, NoWebhooks, ...) among them, which fail with Zoom's error body.
type Fake struct {
	AccountID     string
	ClientID      string
	ClientSecret  string
	WebhookSecret string // the app's Secret Token, which signs webhooks
	// HostUserID and HostEmail name the one user meetings are created for
	// ("me" is accepted too).
	HostUserID string
	HostEmail  string
	// TokenTTL is the lifetime of the access tokens issued (default 1 h).
	TokenTTL time.Duration
	// HTTPClient posts webhooks (default: a client with a 5 s timeout).
	HTTPClient *http.Client
	// Now is the fake's clock (default time.Now).
	Now func() time.Time

	fault.Knobs
	fault.Record[Request]
	fault.Webhooks[Delivery]
	fault.Hook

	mu       sync.Mutex
	hostJoin time.Duration
	offJoin  time.Duration
	tokens   bearer.Tokens
	meetings map[int64]*meeting
	life     *fault.Life
}

type meeting struct {
	id       int64
	uuid     string
	topic    string
	password string
	started  bool
	ended    bool
}

// New returns a fake Zoom that accepts the given account credentials and
// signs its webhooks with webhookSecret. By default the host joins 50 ms and
// the officer 100 ms after a meeting is created.
func New(accountID, clientID, clientSecret, webhookSecret string) *Fake {
	return &Fake{
		AccountID:     accountID,
		ClientID:      clientID,
		ClientSecret:  clientSecret,
		WebhookSecret: webhookSecret,
		HostUserID:    "KDcuGIm1QgePTO8WbOqwIQ",
		HostEmail:     "ops.device@example.police.uk",
		TokenTTL:      time.Hour,
		HTTPClient:    &http.Client{Timeout: 5 * time.Second},
		Now:           time.Now,
		hostJoin:      50 * time.Millisecond,
		offJoin:       100 * time.Millisecond,
		meetings:      map[int64]*meeting{},
		life:          fault.NewLife(),
	}
}

// Close stops the webhooks not yet sent, releases hanging requests and waits
// for the fake's goroutines.
func (f *Fake) Close() { f.life.Close() }

// SetJoins sets how long after a meeting's creation the host (the ops-room
// device) and the officer join it; Never for never.
func (f *Fake) SetJoins(host, officer time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hostJoin, f.offJoin = host, officer
}

// ExpireTokens revokes every access token issued so far: the next API call
// with one gets Zoom's 401 "Invalid access token".
func (f *Fake) ExpireTokens() {
	f.tokens.Expire()
}

// Meeting reports whether a meeting exists and whether it has ended.
func (f *Fake) Meeting(id int64) (exists, ended bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.meetings[id]
	if !ok {
		return false, false
	}
	return true, m.ended
}

func (f *Fake) now() time.Time { return fault.Now(f.Now) }

// ServeHTTP serves Zoom's token endpoint and Meetings API.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := fault.ReadAndRecord(&f.Record, r, f.now)
	if r.URL.Path == "/oauth/token" {
		f.token(w, r, body)
		return
	}
	serve, malformed := fault.Apply(&f.Knobs, f.life, w, r, func(fl fault.Failure) {
		zoomError(w, fl.Status, fl.Status, http.StatusText(fl.Status))
	})
	if !serve {
		return
	}
	if !f.authorized(r) {
		zoomError(w, http.StatusUnauthorized, 124, "Invalid access token.")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/"), "/")
	switch {
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "users" && parts[2] == "meetings" && strings.HasPrefix(r.URL.Path, "/v2/"):
		f.create(w, parts[1], body, malformed)
	case r.Method == http.MethodPut && len(parts) == 3 && parts[0] == "meetings" && parts[2] == "status":
		f.status(w, parts[1], body)
	case r.Method == http.MethodDelete && len(parts) == 2 && parts[0] == "meetings":
		f.delete(w, parts[1])
	default:
		zoomError(w, http.StatusNotFound, 404, "Not Found")
	}
}

// zoomError writes Zoom's error body.
func zoomError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	fault.WriteJSON(w, status, "application/json;charset=UTF-8", v)
}

// token serves POST /oauth/token?grant_type=account_credentials&account_id=...
func (f *Fake) token(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"reason": "Method Not Allowed", "error": "invalid_request"})
		return
	}
	q := r.URL.Query()
	if form, err := url.ParseQuery(string(body)); err == nil { // the parameters may come in the body too
		for k, v := range form {
			q[k] = append(q[k], v...)
		}
	}
	id, secret, ok := r.BasicAuth()
	if !ok || id != f.ClientID || secret != f.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"reason": "Invalid client_id or client_secret", "error": "invalid_client"})
		return
	}
	if q.Get("grant_type") != "account_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"reason": "Unsupported grant type", "error": "unsupported_grant_type"})
		return
	}
	if q.Get("account_id") != f.AccountID {
		writeJSON(w, http.StatusBadRequest, map[string]string{"reason": "Invalid request : Bad Request", "error": "invalid_request"})
		return
	}
	tok := "eyJzdiI6IjAwMDAwMSIsImFsZyI6IkhTNTEyIiwidiI6IjIuMCJ9." + randomHex(24)
	ttl := f.tokens.Issue(tok, f.TokenTTL, f.now())
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "bearer",
		"expires_in":   int(ttl / time.Second),
		"scope":        "meeting:write:meeting:admin meeting:update:status:admin meeting:delete:meeting:admin",
		"api_url":      "https://api.zoom.us",
	})
}

func (f *Fake) authorized(r *http.Request) bool {
	return f.tokens.Valid(r, f.now())
}

// createRequest is the create-meeting body; unknown fields are refused so
// that a misspelt field is caught.
type createRequest struct {
	Topic     string `json:"topic"`
	Type      int    `json:"type"`
	StartTime string `json:"start_time,omitempty"`
	Duration  int    `json:"duration,omitempty"`
	Timezone  string `json:"timezone,omitempty"`
	Password  string `json:"password,omitempty"`
	Agenda    string `json:"agenda,omitempty"`
	Settings  *struct {
		HostVideo        *bool  `json:"host_video,omitempty"`
		ParticipantVideo *bool  `json:"participant_video,omitempty"`
		JoinBeforeHost   *bool  `json:"join_before_host,omitempty"`
		WaitingRoom      *bool  `json:"waiting_room,omitempty"`
		MuteUponEntry    *bool  `json:"mute_upon_entry,omitempty"`
		ApprovalType     *int   `json:"approval_type,omitempty"`
		Audio            string `json:"audio,omitempty"`
		AutoRecording    string `json:"auto_recording,omitempty"`
	} `json:"settings,omitempty"`
}

func (c createRequest) check() (field, msg string) {
	switch {
	case len(c.Topic) > 200:
		return "topic", "Topic is too long."
	case c.Type != 1 && c.Type != 2 && c.Type != 3 && c.Type != 8:
		return "type", "Invalid meeting type."
	case len(c.Password) > 10 || strings.Trim(c.Password, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@-_*") != "":
		return "password", "Password must be at most 10 characters from [a-z A-Z 0-9 @ - _ *]."
	}
	if s := c.Settings; s != nil {
		if s.ApprovalType != nil && (*s.ApprovalType < 0 || *s.ApprovalType > 2) {
			return "settings.approval_type", "Invalid field."
		}
		switch s.Audio {
		case "", "both", "telephony", "voip", "thirdParty":
		default:
			return "settings.audio", "Invalid field."
		}
	}
	return "", ""
}

func (f *Fake) create(w http.ResponseWriter, user string, body []byte, malformed bool) {
	if user != "me" && user != f.HostUserID && user != f.HostEmail {
		zoomError(w, http.StatusNotFound, 1001, "User does not exist: "+user+".")
		return
	}
	var req createRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 300, "message": "Request Body should be a valid JSON object."})
		return
	}
	if field, msg := req.check(); field != "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 300, "message": "Validation Failed.",
			"errors": []map[string]string{{"field": field, "message": msg}}})
		return
	}
	m := &meeting{id: meetingID(), uuid: base64.StdEncoding.EncodeToString(randomBytes(16)), topic: req.Topic, password: req.Password}
	f.mu.Lock()
	f.meetings[m.id] = m
	host, officer := f.hostJoin, f.offJoin
	f.mu.Unlock()
	hook := fault.URL(&f.Hook)

	now := f.now().UTC()
	settings := map[string]any{
		"host_video": true, "participant_video": true, "join_before_host": false, "waiting_room": true,
		"mute_upon_entry": false, "approval_type": 2, "audio": "voip", "auto_recording": "none",
	}
	if s := req.Settings; s != nil {
		set := func(k string, v *bool) {
			if v != nil {
				settings[k] = *v
			}
		}
		set("host_video", s.HostVideo)
		set("participant_video", s.ParticipantVideo)
		set("join_before_host", s.JoinBeforeHost)
		set("waiting_room", s.WaitingRoom)
		set("mute_upon_entry", s.MuteUponEntry)
		if s.ApprovalType != nil {
			settings["approval_type"] = *s.ApprovalType
		}
		if s.Audio != "" {
			settings["audio"] = s.Audio
		}
	}
	if malformed {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"uuid":"%s","id":%d,"host_id":"%s","join_url":"https://zoom.us/j/`, m.uuid, m.id, f.HostUserID)
		return
	}
	pwd := base64.RawURLEncoding.EncodeToString(randomBytes(18))
	writeJSON(w, http.StatusCreated, map[string]any{
		"uuid":               m.uuid,
		"id":                 m.id,
		"host_id":            f.HostUserID,
		"host_email":         f.HostEmail,
		"topic":              req.Topic,
		"type":               req.Type,
		"status":             "waiting",
		"start_time":         now.Format(time.RFC3339),
		"duration":           60,
		"timezone":           "Europe/London",
		"created_at":         now.Format(time.RFC3339),
		"start_url":          fmt.Sprintf("https://zoom.us/s/%d?zak=%s", m.id, randomHex(32)),
		"join_url":           fmt.Sprintf("https://zoom.us/j/%d?pwd=%s", m.id, pwd),
		"password":           req.Password,
		"h323_password":      "123456",
		"pstn_password":      "123456",
		"encrypted_password": pwd,
		"settings":           settings,
		"pre_schedule":       false,
	})
	if hook == "" {
		return
	}
	if host >= 0 {
		f.life.After(host, func(ctx context.Context) { f.join(ctx, m, true) })
	}
	if officer >= 0 {
		f.life.After(officer, func(ctx context.Context) { f.join(ctx, m, false) })
	}
}

// join posts meeting.started (for the first participant) and
// meeting.participant_joined for the host or the officer.
func (f *Fake) join(ctx context.Context, m *meeting, host bool) {
	f.mu.Lock()
	if m.ended {
		f.mu.Unlock()
		return
	}
	first := !m.started
	m.started = true
	f.mu.Unlock()
	now := f.now().UTC()
	object := map[string]any{
		"id": m.id, "uuid": m.uuid, "host_id": f.HostUserID, "topic": m.topic, "type": 1,
		"start_time": now.Format(time.RFC3339), "timezone": "Europe/London", "duration": 60,
	}
	if first {
		f.post(ctx, "meeting.started", object)
	}
	p := map[string]any{
		"user_id":          strconv.Itoa(16778240 + int(randomBytes(1)[0])),
		"participant_uuid": randomHex(16),
		"join_time":        now.Format(time.RFC3339),
		"email":            "",
		"registrant_id":    "",
		"customer_key":     "",
	}
	if host {
		p["id"], p["user_name"], p["participant_user_id"] = f.HostUserID, "Operations room", f.HostUserID
	} else {
		p["id"], p["user_name"], p["participant_user_id"] = "", "Officer", ""
	}
	object["participant"] = p
	f.post(ctx, "meeting.participant_joined", object)
}

func (f *Fake) status(w http.ResponseWriter, idText string, body []byte) {
	var req struct {
		Action string `json:"action"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || (req.Action != "end" && req.Action != "recover") {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 300, "message": "Validation Failed.",
			"errors": []map[string]string{{"field": "action", "message": "Invalid field."}}})
		return
	}
	m := f.lookup(idText)
	if m == nil {
		zoomError(w, http.StatusNotFound, 3001, "Meeting does not exist: "+idText+".")
		return
	}
	if req.Action == "end" {
		f.end(m)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *Fake) delete(w http.ResponseWriter, idText string) {
	m := f.lookup(idText)
	if m == nil {
		zoomError(w, http.StatusNotFound, 3001, "Meeting does not exist: "+idText+".")
		return
	}
	f.end(m)
	f.mu.Lock()
	delete(f.meetings, m.id)
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// end marks m ended and posts meeting.ended if it had started.
func (f *Fake) end(m *meeting) {
	f.mu.Lock()
	was := m.started && !m.ended
	m.ended = true
	f.mu.Unlock()
	if !was {
		return
	}
	object := map[string]any{"id": m.id, "uuid": m.uuid, "host_id": f.HostUserID, "topic": m.topic, "type": 1,
		"end_time": f.now().UTC().Format(time.RFC3339)}
	f.life.After(0, func(ctx context.Context) { f.post(ctx, "meeting.ended", object) })
}

func (f *Fake) lookup(idText string) *meeting {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.meetings[id]
}

// post signs and posts one event to the webhook URL and records the
// delivery.
func (f *Fake) post(ctx context.Context, event string, object map[string]any) {
	hook := fault.URL(&f.Hook)
	if hook == "" || fault.Off(&f.Webhooks) {
		return
	}
	now := f.now()
	body, _ := json.Marshal(map[string]any{
		"event":    event,
		"event_ts": now.UnixMilli(),
		"payload":  map[string]any{"account_id": f.AccountID, "object": object},
	})
	status, _, err := f.send(ctx, hook, now, body)
	fault.Delivered(&f.Webhooks, Delivery{Event: event, Body: body, Status: status, Err: err})
}

func (f *Fake) send(ctx context.Context, hook string, now time.Time, body []byte) (int, []byte, error) {
	ts := strconv.FormatInt(now.Unix(), 10)
	header := http.Header{}
	header.Set("Content-Type", "application/json; charset=utf-8")
	header.Set("User-Agent", "Zoom Marketplace/1.0a")
	header.Set("x-zm-request-timestamp", ts)
	header.Set("x-zm-signature", Sign(f.WebhookSecret, ts, body))
	return fault.Post(ctx, f.HTTPClient, hook, header, body)
}

// ValidateEndpoint sends Zoom's endpoint.url_validation challenge to the
// webhook URL, as Zoom does when the URL is saved and every 72 hours, and
// checks the answer.
func (f *Fake) ValidateEndpoint(ctx context.Context) error {
	hook := fault.URL(&f.Hook)
	if hook == "" {
		return errors.New("zoom fake: no webhook URL")
	}
	plain := base64.RawURLEncoding.EncodeToString(randomBytes(16))
	now := f.now()
	body, _ := json.Marshal(map[string]any{
		"payload":  map[string]string{"plainToken": plain},
		"event_ts": now.UnixMilli(),
		"event":    "endpoint.url_validation",
	})
	status, answer, err := f.send(ctx, hook, now, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("zoom fake: url validation answered %d", status)
	}
	var got struct {
		PlainToken     string `json:"plainToken"`
		EncryptedToken string `json:"encryptedToken"`
	}
	if err := json.Unmarshal(answer, &got); err != nil {
		return fmt.Errorf("zoom fake: url validation answer: %w", err)
	}
	if got.PlainToken != plain || got.EncryptedToken != EncryptToken(f.WebhookSecret, plain) {
		return errors.New("zoom fake: url validation answer does not match")
	}
	return nil
}

// Sign returns the x-zm-signature of a webhook: "v0=" and the hex
// HMAC-SHA256, keyed with the Secret Token, of "v0:{timestamp}:{body}".
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// EncryptToken returns the encryptedToken of a URL validation answer: the
// hex HMAC-SHA256 of plainToken keyed with the Secret Token.
func EncryptToken(secret, plainToken string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(plainToken))
	return hex.EncodeToString(mac.Sum(nil))
}

// meetingID returns a random 11-digit meeting number, as Zoom's are.
func meetingID() int64 {
	n, _ := rand.Int(rand.Reader, big.NewInt(89_999_999_999))
	return 10_000_000_000 + n.Int64()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

// Interface guards
var _ http.Handler = (*Fake)(nil)
