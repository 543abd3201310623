package whatsapp

import (
	"context"
	"regexp"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/handle"
	fakewhatsapp "github.com/safeconnection/gateway/mocks/whatsapp"
	"github.com/safeconnection/gateway/provider"
)

// Channel is the whatsapp channel: WhatsApp video calls, which the device
// agents place. The Cloud API, when configured, sends join links and
// receipts by message.
const Channel gateway.Channel = "whatsapp"

// Config is the WhatsApp Cloud API section of the configuration,
// GATEWAY_WHATSAPP_*. The fields tagged credential enable it.
type Config struct {
	PhoneNumberID string `envconfig:"PHONE_NUMBER_ID" desc:"WhatsApp Business phone number ID that sends the messages" credential:"true"`
	Token         string `envconfig:"TOKEN" desc:"WhatsApp Cloud API access token" credential:"true" secret:"true"`
	AppSecret     string `envconfig:"APP_SECRET" desc:"Meta app secret, to check X-Hub-Signature-256 on webhooks" credential:"true" secret:"true"`
	VerifyToken   string `envconfig:"VERIFY_TOKEN" desc:"token Meta echoes when subscribing the webhook" credential:"true" secret:"true"`
	APIURL        string `envconfig:"API_URL" desc:"Graph API base URL" check:"url"`
	APIVersion    string `envconfig:"API_VERSION" desc:"Graph API version"`
	// Receipts by WhatsApp.
	ReceiptTemplate string `envconfig:"RECEIPT_TEMPLATE" desc:"name of an approved WhatsApp template with two body parameters, the reference and the receipt's link, for receipts by WhatsApp; empty: no receipts by WhatsApp"`
	ReceiptLanguage string `envconfig:"RECEIPT_LANGUAGE" desc:"language code of the receipt template"`
}

// Enabled reports whether any of WhatsApp's credentials is set; the
// section requires all of them then.
func (c Config) Enabled() bool { return config.AnyCredential(c) }

var (
	apiVersion   = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)
	templateName = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
	templateLang = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z]{2})?$`)
)

// Section is the WhatsApp Cloud API section, with Meta's Graph API by
// default.
var Section = config.NewSection("WHATSAPP",
	"WhatsApp: the Cloud API, to send join links and receipts by message. Enabled by GATEWAY_WHATSAPP_PHONE_NUMBER_ID, GATEWAY_WHATSAPP_TOKEN, GATEWAY_WHATSAPP_APP_SECRET and GATEWAY_WHATSAPP_VERIFY_TOKEN",
	Config{APIURL: DefaultAPIURL, APIVersion: DefaultAPIVersion, ReceiptLanguage: "en_GB"},
	func(c Config, p config.Checker) {
		if !apiVersion.MatchString(c.APIVersion) {
			p.Add("API_VERSION", "%q is not a Graph API version such as v23.0", c.APIVersion)
		}
		if c.ReceiptTemplate == "" {
			return
		}
		if !templateName.MatchString(c.ReceiptTemplate) {
			p.Add("RECEIPT_TEMPLATE", "a template name has only lower-case letters, digits and underscores")
		}
		if !c.Enabled() {
			p.Add("PHONE_NUMBER_ID", "missing: receipts by WhatsApp need the Cloud API (%s, %s, %s, %s)",
				p.Var("PHONE_NUMBER_ID"), p.Var("TOKEN"), p.Var("APP_SECRET"), p.Var("VERIFY_TOKEN"))
		}
		if !templateLang.MatchString(c.ReceiptLanguage) {
			p.Add("RECEIPT_LANGUAGE", "%q is not a template language code such as en_GB", c.ReceiptLanguage)
		}
	})

// Descriptor describes WhatsApp to the gateway: video calls through the
// device agents, and the Cloud API's messages when it is configured.
var Descriptor = provider.Provider{
	Name: Provider,
	Channels: []gateway.ChannelInfo{{
		Channel: Channel, Title: "WhatsApp", PhoneHandle: true, Reports: gateway.ReportsAgent, Links: true,
		CheckHandle: handle.E164,
	}},
	Section: Section,
	Wire: func(_ context.Context, cfg config.Config, w *provider.Wiring) error {
		if err := w.Register(w.Agent(Channel)); err != nil {
			return err
		}
		c := Section.Get(cfg)
		if !c.Enabled() {
			return nil
		}
		s := New(c.Token, c.PhoneNumberID, c.AppSecret, c.VerifyToken)
		s.APIURL, s.APIVersion = c.APIURL, c.APIVersion
		s.HTTPClient = w.Client(Provider)
		s.Logger = w.Logger.WithField("provider", Provider)
		s.OnStatus = func(ctx context.Context, st MessageStatus) error {
			return w.Reporter.Report(ctx, gateway.Report{
				Channel: Channel, MessageID: st.MessageID, Status: gateway.ReportStatus(st.Status), Detail: st.Reason(),
			})
		}
		w.Links(s)
		w.Webhook(Provider, "", s.Webhook())
		if c.ReceiptTemplate != "" {
			s.ReceiptTemplate, s.ReceiptLanguage = c.ReceiptTemplate, c.ReceiptLanguage
			w.Receipts("whatsapp", s)
		}
		return nil
	},
	Fake:     fake,
	DemoApps: map[gateway.Channel][]int{Channel: {1, 2}},
}

// fake starts the demo's Cloud API.
func fake(_ context.Context, cfg *config.Config, d provider.Demo) error {
	c := Config{PhoneNumberID: "100000000000001", Token: "demo-token", AppSecret: "demo-app-secret",
		VerifyToken: "demo-verify", APIVersion: DefaultAPIVersion, ReceiptTemplate: "safe_connection_receipt", ReceiptLanguage: "en_GB"}
	f := fakewhatsapp.New(c.Token, c.PhoneNumberID, c.AppSecret)
	f.SetWebhookURL(d.PublicURL + "/webhooks/whatsapp/")
	u, err := d.Serve(f, f.Close)
	if err != nil {
		return err
	}
	c.APIURL = u
	Section.Set(cfg, c)
	return nil
}
