// Package whatsapp is a fake of the WhatsApp Business Cloud API's messages
// endpoint (Meta Graph API), speaking its wire format: Bearer-authenticated
// JSON text and template messages to POST /{version}/{phone-number-id}/messages,
// the send response, Meta's error body
// {"error":{"message","type","code","error_subcode","fbtrace_id"}}, and the
// messages webhook: statuses sent, delivered and read (or failed) posted to
// the gateway, signed with X-Hub-Signature-256, after the GET subscribe
// handshake if asked.
//
// The package also loads the Cloud API's official OpenAPI document and
// checks exchanges against it (Spec, CheckingTransport).
package whatsapp

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
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/safeconnection/gateway/mocks/fault"
)

// Request is one request the fake received, as recorded.
type Request = fault.Request

// Delivery is one webhook the fake posted to the gateway.
type Delivery = fault.Delivery

// Never, as a status delay, means the status is never sent.
const Never time.Duration = -1

// Fake is a fake Cloud API. Set its exported fields before serving; change
// its behaviour while serving with its methods, its fault knobs (FailNext,
// ErrorNext, HangNext, NoWebhooks, ...) among them, which fail with Meta's
// error body.
type Fake struct {
	AccessToken   string
	PhoneNumberID string
	AppSecret     string // signs the webhooks
	// WABAID is the WhatsApp Business Account ID put in webhooks.
	WABAID string
	// DisplayNumber is the business number shown in webhooks' metadata.
	DisplayNumber string
	// HTTPClient posts webhooks (default: a client with a 5 s timeout).
	HTTPClient *http.Client
	// Now is the fake's clock (default time.Now).
	Now func() time.Time

	fault.Knobs
	fault.Record[Request]
	fault.Webhooks[Delivery]
	fault.Hook

	mu           sync.Mutex
	sent         time.Duration
	delivered    time.Duration
	read         time.Duration
	failDelivery int
	messages     map[string]string // message ID -> recipient wa_id
	life         *fault.Life
}

// New returns a fake for the access token and business phone number ID,
// signing webhooks with appSecret. By default a message is sent after
// 10 ms, delivered after 30 ms and read after 60 ms.
func New(accessToken, phoneNumberID, appSecret string) *Fake {
	return &Fake{
		AccessToken:   accessToken,
		PhoneNumberID: phoneNumberID,
		AppSecret:     appSecret,
		WABAID:        "102290129340398",
		DisplayNumber: "15550783881",
		HTTPClient:    &http.Client{Timeout: 5 * time.Second},
		Now:           time.Now,
		sent:          10 * time.Millisecond,
		delivered:     30 * time.Millisecond,
		read:          60 * time.Millisecond,
		messages:      map[string]string{},
		life:          fault.NewLife(),
	}
}

// ErrorNext makes the next n API requests fail with the HTTP status and
// Meta's error body carrying the error code (130429 for a throughput
// limit, 131030 for a recipient not allowed, ...).
func (f *Fake) ErrorNext(n, status, code int) {
	fault.Queue(&f.Knobs, n, fault.Failure{Status: status, Code: code})
}

// Close stops the webhooks not yet sent, releases hanging requests and waits
// for the fake's goroutines.
func (f *Fake) Close() { f.life.Close() }

// SetStatusDelays sets how long after a message is accepted each status
// webhook is posted; Never leaves that status (and the later ones) out.
func (f *Fake) SetStatusDelays(sent, delivered, read time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent, f.delivered, f.read = sent, delivered, read
}

// FailDeliveryNext makes the next n messages accepted end with a "failed"
// status (131026, message undeliverable) instead of delivered and read.
func (f *Fake) FailDeliveryNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failDelivery += n
}

func (f *Fake) now() time.Time { return fault.Now(f.Now) }

// metaCode is Meta's usual error code and type for an HTTP status.
func metaCode(status int) (int, string, string) {
	switch status {
	case 400:
		return 100, "OAuthException", "(#100) Invalid parameter"
	case 401:
		return 190, "OAuthException", "Invalid OAuth access token - Cannot parse access token"
	case 403:
		return 10, "OAuthException", "(#10) Application does not have permission for this action"
	case 404:
		return 100, "GraphMethodException", "Unsupported post request."
	case 429:
		return 130429, "OAuthException", "(#130429) Rate limit hit"
	case 503:
		return 131016, "OAuthException", "(#131016) Service unavailable"
	}
	return 131000, "OAuthException", "(#131000) Something went wrong"
}

// metaError writes Meta's error body.
func metaError(w http.ResponseWriter, status, code, subcode int, typ, msg string) {
	e := map[string]any{"message": msg, "type": typ, "code": code, "fbtrace_id": "A" + randomB64(22)}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	w.Header().Set("WWW-Authenticate", `OAuth "Facebook Platform" "invalid_request" "`+msg+`"`)
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	fault.WriteJSON(w, status, "application/json; charset=UTF-8", v)
}

// ServeHTTP serves POST /{version}/{phone-number-id}/messages.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := fault.ReadAndRecord(&f.Record, r, f.now)
	serve, malformed := fault.Apply(&f.Knobs, f.life, w, r, func(fl fault.Failure) {
		code, typ, msg := metaCode(fl.Status)
		if fl.Code != 0 {
			code, msg = fl.Code, fmt.Sprintf("(#%d) %s", fl.Code, http.StatusText(fl.Status))
		}
		metaError(w, fl.Status, code, 0, typ, msg)
	})
	if !serve {
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok != f.AccessToken {
		metaError(w, http.StatusUnauthorized, 190, 0, "OAuthException", "Invalid OAuth access token - Cannot parse access token")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 3 || !versionRE.MatchString(parts[0]) || parts[2] != "messages" || r.Method != http.MethodPost {
		metaError(w, http.StatusBadRequest, 100, 0, "GraphMethodException", "Unknown path components: "+r.URL.Path)
		return
	}
	if parts[1] != f.PhoneNumberID {
		metaError(w, http.StatusBadRequest, 100, 33, "GraphMethodException", fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", parts[1]))
		return
	}
	f.send(w, body, malformed)
}

// versionRE matches a Graph API version path segment ("v23.0").
var versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)

// message holds the fields of the message types the fake accepts.
type message struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type"`
	To               string `json:"to"`
	Type             string `json:"type"`
	BizOpaque        string `json:"biz_opaque_callback_data,omitempty"`
	Text             *struct {
		Body       string `json:"body"`
		PreviewURL bool   `json:"preview_url"`
	} `json:"text,omitempty"`
	Template *struct {
		Name     string `json:"name"`
		Language struct {
			Policy string `json:"policy"`
			Code   string `json:"code"`
		} `json:"language"`
		Components []struct {
			Type       string `json:"type"`
			SubType    string `json:"sub_type,omitempty"`
			Index      string `json:"index,omitempty"`
			Parameters []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"parameters"`
		} `json:"components,omitempty"`
	} `json:"template,omitempty"`
}

// check returns Meta's complaint about a message, or "".
func (m message) check() string {
	switch {
	case m.MessagingProduct != "whatsapp":
		return "(#100) The parameter messaging_product is required."
	case m.RecipientType != "" && m.RecipientType != "individual":
		return "(#100) Param recipient_type must be one of {individual, group}."
	case !digitsRE.MatchString(m.To):
		return "(#100) Invalid parameter: to"
	}
	switch m.Type {
	case "text":
		if m.Text == nil || m.Text.Body == "" || len([]rune(m.Text.Body)) > 4096 || m.Template != nil {
			return "(#100) Param text['body'] is required and at most 4096 characters."
		}
	case "template":
		t := m.Template
		if t == nil || t.Name == "" || t.Language.Code == "" || m.Text != nil {
			return "(#100) Param template['name'] and template['language']['code'] are required."
		}
		if t.Language.Policy != "" && t.Language.Policy != "deterministic" {
			return "(#100) Param template['language']['policy'] must be deterministic."
		}
	default:
		return "(#100) Param type must be one of {text, template} here."
	}
	return ""
}

// digitsRE matches a recipient: a phone number's digits, with an optional
// leading +.
var digitsRE = regexp.MustCompile(`^\+?[1-9][0-9]{6,14}$`)

func (f *Fake) send(w http.ResponseWriter, body []byte, malformed bool) {
	var m message
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		metaError(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) Invalid parameter: "+err.Error())
		return
	}
	if msg := m.check(); msg != "" {
		metaError(w, http.StatusBadRequest, 100, 0, "OAuthException", msg)
		return
	}
	waID := strings.TrimPrefix(m.To, "+")
	id := "wamid." + base64.StdEncoding.EncodeToString([]byte("HBgM"+waID+"FQIAERgS"+strings.ToUpper(randomHex(9))+"AA=="))
	f.mu.Lock()
	f.messages[id] = waID
	sent, delivered, read := f.sent, f.delivered, f.read
	fail := f.failDelivery > 0
	if fail {
		f.failDelivery--
	}
	f.mu.Unlock()
	if malformed {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":"%s","wa_id":"%s"}],"messages":[{"id":`, m.To, waID)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": m.To, "wa_id": waID}},
		"messages":          []map[string]string{{"id": id}},
	})
	if fault.URL(&f.Hook) == "" {
		return
	}
	// Each status waits for the one before, so that they arrive in order.
	f.life.Go(func() {
		ctx := f.life.Context()
		steps := []struct {
			status string
			at     time.Duration
		}{{"sent", sent}, {"delivered", delivered}, {"read", read}}
		if fail {
			steps = []struct {
				status string
				at     time.Duration
			}{{"failed", delivered}}
		}
		var waited time.Duration
		for _, st := range steps {
			if st.at < 0 {
				return
			}
			if !f.life.Wait(ctx, st.at-waited) {
				return
			}
			waited = max(waited, st.at)
			f.status(ctx, id, waID, st.status, m.BizOpaque)
		}
	})
}

// status posts one status webhook.
func (f *Fake) status(ctx context.Context, id, waID, status, opaque string) {
	now := f.now()
	st := map[string]any{
		"id":           id,
		"status":       status,
		"timestamp":    strconv.FormatInt(now.Unix(), 10),
		"recipient_id": waID,
	}
	if opaque != "" {
		st["biz_opaque_callback_data"] = opaque
	}
	if status == "failed" {
		st["errors"] = []map[string]any{{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
			"error_data": map[string]string{"details": "Message Undeliverable."}}}
	} else {
		st["conversation"] = map[string]any{"id": randomHex(16), "origin": map[string]string{"type": "utility"}}
		st["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "category": "utility"}
	}
	body, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []map[string]any{{
			"id": f.WABAID,
			"changes": []map[string]any{{
				"field": "messages",
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]string{"display_phone_number": f.DisplayNumber, "phone_number_id": f.PhoneNumberID},
					"statuses":          []any{st},
				},
			}},
		}},
	})
	f.Post(ctx, body)
}

// Post signs body as Meta does and posts it to the webhook URL, recording
// the delivery. Tests use it to send webhooks of their own making.
func (f *Fake) Post(ctx context.Context, body []byte) {
	hook := fault.URL(&f.Hook)
	if hook == "" || fault.Off(&f.Webhooks) {
		return
	}
	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set("User-Agent", "facebookexternalua")
	header.Set("X-Hub-Signature-256", Sign(f.AppSecret, body))
	status, _, err := fault.Post(ctx, f.HTTPClient, hook, header, body)
	fault.Delivered(&f.Webhooks, Delivery{Event: "messages", Body: body, Status: status, Err: err})
}

func (f *Fake) client() *http.Client {
	if f.HTTPClient == nil {
		return http.DefaultClient
	}
	return f.HTTPClient
}

// Subscribe performs Meta's subscribe handshake against the webhook URL:
// GET with hub.mode=subscribe, hub.verify_token and hub.challenge; it
// checks that the answer is 200 with the challenge as its body.
func (f *Fake) Subscribe(ctx context.Context, verifyToken string) error {
	hook := fault.URL(&f.Hook)
	if hook == "" {
		return errors.New("whatsapp fake: no webhook URL")
	}
	challenge := strconv.FormatInt(int64(randomBytes(1)[0])*1000003+1158201444, 10)
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {verifyToken}, "hub.challenge": {challenge}}
	sep := "?"
	if strings.Contains(hook, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, hook+sep+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK || string(b) != challenge {
		return fmt.Errorf("whatsapp fake: subscribe answered %d %q", resp.StatusCode, b)
	}
	return nil
}

// Sign returns the X-Hub-Signature-256 of a webhook body: "sha256=" and the
// hex HMAC-SHA256 of the raw body keyed with the app secret.
func Sign(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func randomB64(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n))[:n] }

// Interface guards
var _ http.Handler = (*Fake)(nil)
