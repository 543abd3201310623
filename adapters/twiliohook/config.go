package twiliohook

import (
	"context"
	"regexp"

	"github.com/safeconnection/gateway/config"
	faketwilio "github.com/safeconnection/gateway/mocks/twilio"
	"github.com/safeconnection/gateway/provider"
)

// Provider is Twilio's name in logs, metrics and its circuit breaker, which
// its PSTN and Video adapters share.
const Provider = "twilio"

// The real Twilio's URLs, and the release of the Twilio Video JavaScript
// SDK the join page loads: pinned here once, for the adapters' defaults
// and the configuration's.
const (
	DefaultAPIURL   = "https://api.twilio.com"
	DefaultVideoURL = "https://video.twilio.com"
	DefaultSDKURL   = "https://sdk.twilio.com/js/video/releases/2.36.0/twilio-video.min.js"
)

// Config is the Twilio section of the configuration, GATEWAY_TWILIO_*: the
// account, which PSTN and Twilio Video share. The fields tagged credential
// enable it.
type Config struct {
	AccountSID   string `envconfig:"ACCOUNT_SID" desc:"Twilio account SID (AC...)" credential:"true"`
	AuthToken    string `envconfig:"AUTH_TOKEN" desc:"Twilio auth token; also checks the X-Twilio-Signature of status callbacks" credential:"true" secret:"true"`
	FromNumber   string `envconfig:"FROM_NUMBER" desc:"E.164 caller ID of PSTN calls, a number of the Twilio account" credential:"true"`
	APIKeySID    string `envconfig:"API_KEY_SID" desc:"Twilio API key SID (SK...) for Video access tokens; empty turns Twilio Video off"`
	APIKeySecret string `envconfig:"API_KEY_SECRET" desc:"Twilio API key secret for Video access tokens" secret:"true"`
	APIURL       string `envconfig:"API_URL" desc:"Twilio REST API base URL" check:"url"`
	VideoURL     string `envconfig:"VIDEO_URL" desc:"Twilio Video API base URL" check:"url"`
	// Receipts by SMS (with the account).
	SMSFrom             string `envconfig:"SMS_FROM" desc:"E.164 number receipts sent by SMS come from; empty for GATEWAY_TWILIO_FROM_NUMBER"`
	MessagingServiceSID string `envconfig:"MESSAGING_SERVICE_SID" desc:"Twilio Messaging Service SID (MG...) that sends receipts by SMS instead of a number"`
	VideoSDKURL         string `envconfig:"VIDEO_SDK_URL" desc:"where the join page of Twilio Video calls loads the Twilio Video JavaScript SDK from; its origin is allowed by the page's Content-Security-Policy" check:"url"`
}

// Enabled reports whether any of Twilio's credentials is set; the section
// requires all of them then.
func (c Config) Enabled() bool { return config.AnyCredential(c) }

// VideoEnabled reports whether Twilio Video is configured: Twilio and its
// API key pair.
func (c Config) VideoEnabled() bool { return c.Enabled() && c.APIKeySID != "" }

var (
	e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	// alphanumeric is what twilio-go accepts as a credential.
	alphanumeric = regexp.MustCompile(`^[0-9A-Za-z]+$`)
	// Twilio SIDs, which go into the API's URL paths: two letters of the
	// kind and 32 hexadecimal digits.
	accountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	apiKeySID  = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	serviceSID = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
)

// Section is the Twilio section, with Twilio's URLs by default.
var Section = config.NewSection("TWILIO",
	"Twilio: PSTN voice calls (the last resort), Twilio Video (webrtc) and receipts by SMS. Enabled by GATEWAY_TWILIO_ACCOUNT_SID, GATEWAY_TWILIO_AUTH_TOKEN and GATEWAY_TWILIO_FROM_NUMBER; Video also needs GATEWAY_TWILIO_API_KEY_SID and GATEWAY_TWILIO_API_KEY_SECRET",
	Config{APIURL: DefaultAPIURL, VideoURL: DefaultVideoURL, VideoSDKURL: DefaultSDKURL},
	check)

func check(t Config, p config.Checker) {
	if t.AccountSID != "" && !accountSID.MatchString(t.AccountSID) {
		p.Add("ACCOUNT_SID", "an account SID is AC and 32 hexadecimal digits")
	}
	if t.AuthToken != "" && !alphanumeric.MatchString(t.AuthToken) {
		// twilio-go refuses such a token at the first call: say so at start.
		p.Add("AUTH_TOKEN", "an auth token has only letters and digits (quotes or spaces pasted with it?)")
	}
	if t.FromNumber != "" && !e164.MatchString(t.FromNumber) {
		p.Add("FROM_NUMBER", "%q is not an E.164 number ('+' and 8 to 15 digits)", t.FromNumber)
	}
	switch {
	case t.APIKeySID != "" && t.APIKeySecret == "":
		p.Add("API_KEY_SECRET", "missing: %s is set", p.Var("API_KEY_SID"))
	case t.APIKeySID == "" && t.APIKeySecret != "":
		p.Add("API_KEY_SID", "missing: %s is set", p.Var("API_KEY_SECRET"))
	}
	if t.APIKeySID != "" && !apiKeySID.MatchString(t.APIKeySID) {
		p.Add("API_KEY_SID", "an API key SID is SK and 32 hexadecimal digits")
	}
	if (t.APIKeySID != "" || t.APIKeySecret != "") && !t.Enabled() {
		p.Add("ACCOUNT_SID", "missing: Twilio Video's API key needs the Twilio account (%s, %s, %s)",
			p.Var("ACCOUNT_SID"), p.Var("AUTH_TOKEN"), p.Var("FROM_NUMBER"))
	}
	// Receipts by SMS.
	if t.SMSFrom != "" && !e164.MatchString(t.SMSFrom) {
		p.Add("SMS_FROM", "%q is not an E.164 number ('+' and 8 to 15 digits)", t.SMSFrom)
	}
	if t.MessagingServiceSID != "" && !serviceSID.MatchString(t.MessagingServiceSID) {
		p.Add("MESSAGING_SERVICE_SID", "a Messaging Service SID is MG and 32 hexadecimal digits")
	}
	if (t.SMSFrom != "" || t.MessagingServiceSID != "") && !t.Enabled() {
		p.Add("ACCOUNT_SID", "missing: receipts by SMS need the Twilio account (%s, %s, %s)",
			p.Var("ACCOUNT_SID"), p.Var("AUTH_TOKEN"), p.Var("FROM_NUMBER"))
	}
}

// Fake starts the demo's Twilio, which serves both APIs and the Video SDK:
// the officer's phone and the ops room pick up after a moment, and join
// links open the gateway's page, which loads the fake's SDK, so that a
// browser joins the fake's room as it would Twilio's.
func Fake(_ context.Context, cfg *config.Config, d provider.Demo) error {
	t := Config{AccountSID: "AC00000000000000000000000000000001", AuthToken: "demotwilioauthtoken", FromNumber: "+442079460000",
		APIKeySID: "SK00000000000000000000000000000001", APIKeySecret: "demo-api-key-secret"}
	f := faketwilio.New(t.AccountSID, t.AuthToken)
	f.APIKeySID, f.APIKeySecret = t.APIKeySID, t.APIKeySecret
	u, err := d.Serve(f, f.Close)
	if err != nil {
		return err
	}
	if err := f.SetWebhookURL(d.PublicURL); err != nil {
		return err
	}
	t.APIURL, t.VideoURL, t.VideoSDKURL = u, u, u+faketwilio.SDKPath
	Section.Set(cfg, t)
	return nil
}
