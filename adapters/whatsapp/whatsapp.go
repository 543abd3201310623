// Package whatsapp sends WhatsApp messages through Meta's WhatsApp Business
// Cloud API: a meeting's join link to an officer's (or a device's)
// WhatsApp, and later the public receipt. It is not a call channel: the
// Cloud API's calls are audio only, so WhatsApp video calls are placed by
// the device agent.
//
// Sender also serves the messages webhook: Meta's subscribe handshake, and
// message statuses (sent, delivered, read, failed) verified with
// X-Hub-Signature-256 and handed to Sender.OnStatus.
//
// Every call to Meta goes through the shared retrying client of
// adapters/httpx; errors are *gateway.CallError whose Fate says
// whether Meta can have sent the message.
package whatsapp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/sirupsen/logrus"
)

// Provider is the provider's name in errors and logs.
const Provider = "whatsapp"

// Meta's real Graph API host and the version the gateway speaks.
const (
	DefaultAPIURL     = "https://graph.facebook.com"
	DefaultAPIVersion = "v23.0"
)

// UserAgent is sent with every request (Meta's documented form,
// "name/major.minor.patch").
const UserAgent = "SafeConnectionGateway/1.0.0"

// maxStatuses bounds the statuses kept in memory by the default OnStatus.
const maxStatuses = 1000

// Sender sends WhatsApp messages from one business phone number. Set its
// fields before use; it is safe for concurrent use afterwards.
type Sender struct {
	// AccessToken is a system user's token with whatsapp_business_messaging.
	AccessToken string
	// PhoneNumberID is the Cloud API ID of the business phone number.
	PhoneNumberID string
	// AppSecret is the Meta app's secret, which signs webhooks. With none,
	// every webhook POST is refused.
	AppSecret string
	// VerifyToken is the token Meta sends in the subscribe handshake. With
	// none, every handshake is refused.
	VerifyToken string

	// APIURL and APIVersion address the Graph API (defaults DefaultAPIURL
	// and DefaultAPIVersion).
	APIURL     string
	APIVersion string

	// JoinTemplate names an approved template with one body parameter,
	// the link, used by SendJoinLink and SendJoin (messages outside the
	// 24-hour customer-service window must be templates). Empty sends
	// free text. TemplateLanguage is its language code (default "en_GB").
	JoinTemplate     string
	TemplateLanguage string
	// ReceiptTemplate names an approved template with two body
	// parameters, a verification's reference and its receipt's link, used
	// by SendReceipt; ReceiptLanguage is its language code (default
	// TemplateLanguage). A receipt goes to a member of the public who has
	// never written to the force: only a template reaches her.
	ReceiptTemplate string
	ReceiptLanguage string

	// Settings are the HTTP client, the logger (phone numbers are masked)
	// and the clock (defaults: httpx.DefaultSettings).
	httpx.Settings
	// OnStatus receives each message status from the webhook. An error
	// other than ENOTFOUND or EINVALID (a status of no message of ours, or
	// one that makes no sense: Meta sending it again would not help) makes
	// the webhook answer 503, so that Meta sends it again later. It is
	// called for several messages at once; one message's statuses come in
	// the webhook's order, one at a time. Nil keeps the last statuses in
	// memory (see Statuses).
	OnStatus func(ctx context.Context, s MessageStatus) error

	mu       sync.Mutex
	statuses []MessageStatus
	logKey   []byte // keys LogID, set once by logOnce
	logOnce  sync.Once
}

// New returns a Sender for the access token and business phone number,
// whose webhook checks signatures with appSecret and answers handshakes
// that carry verifyToken; Meta's real URL and the defaults above.
func New(accessToken, phoneNumberID, appSecret, verifyToken string) *Sender {
	return &Sender{
		AccessToken:      accessToken,
		PhoneNumberID:    phoneNumberID,
		AppSecret:        appSecret,
		VerifyToken:      verifyToken,
		APIURL:           DefaultAPIURL,
		APIVersion:       DefaultAPIVersion,
		TemplateLanguage: "en_GB",
		Settings:         httpx.DefaultSettings(),
	}
}

// e164 matches an E.164 number.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// MaskNumber hides all but the country code's first digits and the last
// three digits of a phone number, for logs: "+44*******123".
func MaskNumber(n string) string {
	if len(n) < 7 {
		return strings.Repeat("*", len(n))
	}
	return n[:3] + strings.Repeat("*", len(n)-6) + n[len(n)-3:]
}

type textBody struct {
	Body       string `json:"body"`
	PreviewURL bool   `json:"preview_url"`
}

type language struct {
	Policy string `json:"policy"`
	Code   string `json:"code"`
}

type parameter struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type component struct {
	Type       string      `json:"type"`
	Parameters []parameter `json:"parameters"`
}

type templateBody struct {
	Name       string      `json:"name"`
	Language   language    `json:"language"`
	Components []component `json:"components,omitempty"`
}

type message struct {
	MessagingProduct string        `json:"messaging_product"`
	RecipientType    string        `json:"recipient_type"`
	To               string        `json:"to"`
	Type             string        `json:"type"`
	Text             *textBody     `json:"text,omitempty"`
	Template         *templateBody `json:"template,omitempty"`
}

type sendResponse struct {
	MessagingProduct string `json:"messaging_product"`
	Contacts         []struct {
		Input string `json:"input"`
		WaID  string `json:"wa_id"`
	} `json:"contacts"`
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
}

// SendText sends body as a text message (links previewed) to the E.164
// number toE164 and returns the message's ID ("wamid...."). Meta accepts
// free text only within 24 hours of the recipient's last message. Errors:
// EINVALID for a number that is not E.164 or an empty body (nothing sent);
// otherwise *gateway.CallError: NotPlaced when Meta cannot have sent it
// (refused, 429 or a throughput limit, 503, our token refused), PlacedFailed
// when Meta refused the message (4xx), Unknown when it may have sent it
// (timeout, 5xx, malformed answer).
func (s *Sender) SendText(ctx context.Context, toE164, body string) (string, error) {
	if body == "" {
		return "", gateway.Errorf(gateway.EINVALID, "empty message")
	}
	return s.send(ctx, toE164, message{Type: "text", Text: &textBody{Body: body, PreviewURL: true}})
}

// SendTemplate sends the approved template name in language (a code such
// as "en_GB"; empty: TemplateLanguage) with params as its body's text
// parameters, to toE164; it returns the message's ID. Errors as SendText.
func (s *Sender) SendTemplate(ctx context.Context, toE164, name, lang string, params ...string) (string, error) {
	if name == "" {
		return "", gateway.Errorf(gateway.EINVALID, "no template name")
	}
	if lang == "" {
		lang = s.TemplateLanguage
	}
	if lang == "" {
		lang = "en_GB"
	}
	t := &templateBody{Name: name, Language: language{Policy: "deterministic", Code: lang}}
	if len(params) > 0 {
		c := component{Type: "body"}
		for _, p := range params {
			c.Parameters = append(c.Parameters, parameter{Type: "text", Text: p})
		}
		t.Components = []component{c}
	}
	return s.send(ctx, toE164, message{Type: "template", Template: t})
}

// SendJoinLink sends a meeting's join link for the verification with the
// public reference to toE164: as the JoinTemplate (parameters: the
// reference and the link) when one is set, else as text. It returns the
// message's ID. Errors as SendText.
func (s *Sender) SendJoinLink(ctx context.Context, toE164, reference, joinURL string) (string, error) {
	u, err := url.Parse(joinURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", gateway.Errorf(gateway.EINVALID, "not an https link")
	}
	if s.JoinTemplate != "" {
		return s.SendTemplate(ctx, toE164, s.JoinTemplate, "", reference, joinURL)
	}
	text := fmt.Sprintf("Safe Connection %s: join the video call with the operations room: %s", reference, joinURL)
	return s.SendText(ctx, toE164, strings.Join(strings.Fields(text), " "))
}

// SendReceipt sends a verification's receipt, its reference and link, to
// toE164 as the ReceiptTemplate, and returns the message's ID. Errors as
// SendText, and EINVALID without a ReceiptTemplate or with a link that is
// not an absolute http(s) URL (nothing sent).
func (s *Sender) SendReceipt(ctx context.Context, toE164, reference, link string) (string, error) {
	if s.ReceiptTemplate == "" {
		return "", gateway.Errorf(gateway.EINVALID, "no receipt template")
	}
	if u, err := url.Parse(link); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", gateway.Errorf(gateway.EINVALID, "not an http(s) link")
	}
	return s.SendTemplate(ctx, toE164, s.ReceiptTemplate, s.ReceiptLanguage, reference, link)
}

// SendJoin sends joinURL to the WhatsApp of the leg's device (its WhatsApp
// handle, else its number): the Sender is a gateway.JoinSender, for devices
// without a live agent. Errors as SendText, and EINVALID for a device with
// neither.
func (s *Sender) SendJoin(ctx context.Context, leg gateway.Leg, joinURL string) error {
	to := leg.Device.Handles[Channel]
	if to == "" {
		to = leg.Device.Number
	}
	if to == "" {
		return gateway.Errorf(gateway.EINVALID, "device %s has no WhatsApp number", leg.Device.ID)
	}
	_, err := s.SendJoinLink(ctx, to, leg.Reference, joinURL)
	return err
}

// send fills in the common fields, posts the message and reads its ID.
func (s *Sender) send(ctx context.Context, toE164 string, m message) (string, error) {
	if !e164.MatchString(toE164) {
		return "", gateway.Errorf(gateway.EINVALID, "not an E.164 number")
	}
	m.MessagingProduct, m.RecipientType, m.To = "whatsapp", "individual", strings.TrimPrefix(toE164, "+")
	body, err := json.Marshal(m)
	if err != nil {
		return "", gateway.E("whatsapp.send", gateway.EINTERNAL, err)
	}
	u := httpx.URL(s.APIURL, DefaultAPIURL, "/"+s.apiVersion()+"/"+url.PathEscape(s.PhoneNumberID)+"/messages")
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return "", gateway.E("whatsapp.send", gateway.EINVALID, err)
	}
	req.Header.Set("Authorization", "Bearer "+s.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	log := s.log().WithFields(logrus.Fields{"to": MaskNumber(toE164), "type": m.Type})
	resp, err := s.HTTPClient.Do(req)
	var me *metaError
	if err == nil && resp.StatusCode >= 400 {
		me = peekError(resp)
	}
	if err := httpx.Classify(Provider, resp, err); err != nil {
		err = me.refine(err)
		log.WithError(err).Warn("whatsapp message not sent")
		return "", err
	}
	var out sendResponse
	if err := httpx.DecodeJSON(Provider, resp, &out); err != nil {
		return "", err
	}
	if len(out.Messages) == 0 || out.Messages[0].ID == "" {
		return "", &gateway.CallError{Fate: gateway.Unknown, Provider: Provider,
			Err: gateway.Errorf(gateway.EUNAVAILABLE, "malformed response from whatsapp: no message ID")}
	}
	log.WithField("message", s.LogID(out.Messages[0].ID)).Info("whatsapp message accepted")
	return out.Messages[0].ID, nil
}

// metaError is Meta's error body.
type metaError struct {
	Message   string `json:"message"`
	Type      string `json:"type"`
	Code      int    `json:"code"`
	Subcode   int    `json:"error_subcode"`
	FBTraceID string `json:"fbtrace_id"`
}

// peekError reads Meta's error body from resp and puts the bytes back for
// Classify.
func peekError(resp *http.Response) *metaError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var e struct {
		Error *metaError `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil {
		return nil
	}
	return e.Error
}

// refine corrects Classify's fate by Meta's error code where the HTTP
// status alone misleads: throughput and pair rate limits (4, 80007,
// 130429, 131056) and an expired or invalid token (190) mean the message
// was not sent, whatever the status.
func (e *metaError) refine(err error) error {
	var ce *gateway.CallError
	if e == nil || !errors.As(err, &ce) {
		return err
	}
	switch e.Code {
	case 4, 80007, 130429, 131056:
		ce.Fate = gateway.NotPlaced
		ce.Err = gateway.Errorf(gateway.ERATELIMITED, "whatsapp rate limit (%d): %s", e.Code, httpx.MaskNumbers(e.Message))
	case 190:
		ce.Fate = gateway.NotPlaced
		ce.Err = gateway.Errorf(gateway.EUNAUTHORIZED, "whatsapp refused the access token (%d)", e.Code)
	}
	return err
}

func (s *Sender) apiVersion() string {
	if s.APIVersion == "" {
		return DefaultAPIVersion
	}
	return s.APIVersion
}

func (s *Sender) now() time.Time { return httpx.Now(s.Now) }

func (s *Sender) log() logrus.FieldLogger { return httpx.Log(s.Logger) }

// LogID returns what the logs show of a message ID: a keyed hash of it,
// "h:" and 16 hex digits. A WhatsApp message ID ("wamid." and base64) holds
// the recipient's phone number, an officer's or a device's, so it is never
// logged as it is, nor is a plain hash of it (the numbers are few enough to
// try them all). The key is derived from the app secret and access token,
// so that one message has the same LogID on every instance and across
// restarts; a sender with neither uses a random key of its own.
func (s *Sender) LogID(messageID string) string {
	s.logOnce.Do(func() {
		if s.AppSecret == "" && s.AccessToken == "" {
			s.logKey = make([]byte, 32)
			rand.Read(s.logKey)
			return
		}
		k := hmac.New(sha256.New, []byte(s.AppSecret))
		k.Write([]byte("safe connection gateway: whatsapp message IDs in logs\x00"))
		k.Write([]byte(s.AccessToken))
		s.logKey = k.Sum(nil)
	})
	m := hmac.New(sha256.New, s.logKey)
	m.Write([]byte(messageID))
	return "h:" + hex.EncodeToString(m.Sum(nil)[:8])
}
