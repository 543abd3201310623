package main

import (
	"net/http"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway/adapters/httpx"
	"github.com/safeconnection/gateway/adapters/pstn"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/router"
)

// wireReceipts lets supervisors send a receipt by message: by SMS through
// Twilio's Messages API when Twilio is configured (its status callbacks
// join the Twilio webhooks at pstn.PathMessages), and by WhatsApp template
// when the Cloud API and a receipt template are. Call it after
// wireAdapters.
func (m *Main) wireReceipts(srv *httpapi.Server, log logrus.FieldLogger) {
	cfg, r := m.Config, m.Router
	r.ReceiptURL = m.PublicURL() + "/receipt/"
	r.Receipts = map[string]router.ReceiptSender{}
	srv.ReceiptMessages = r
	if t := cfg.Twilio; t.Enabled() {
		account := pstn.New(t.AccountSID, t.AuthToken, t.FromNumber, m.PublicURL())
		account.APIURL, account.Reporter, account.Replays = t.APIURL, r, m.Store
		account.Logger = log.WithField("provider", "twilio")
		account.HTTPClient = httpx.NewClient(account.Logger)
		if m.ProviderPolicy != nil {
			account.HTTPClient.Policy = *m.ProviderPolicy
		}
		sms := pstn.NewMessages(account, cfg.ForceName)
		sms.From, sms.MessagingServiceSID = t.SMSFrom, t.MessagingServiceSID
		r.Receipts[router.ViaSMS] = sms
		hooks := http.NewServeMux()
		if voice := m.Webhooks["twilio"]; voice != nil {
			hooks.Handle("/", voice)
		}
		hooks.Handle(pstn.PathMessages, sms.Webhook())
		m.Webhooks["twilio"] = hooks
	}
	if w := cfg.WhatsApp; w.Enabled() && w.ReceiptTemplate != "" && m.WhatsApp != nil {
		m.WhatsApp.ReceiptTemplate, m.WhatsApp.ReceiptLanguage = w.ReceiptTemplate, w.ReceiptLanguage
		r.Receipts[router.ViaWhatsApp] = m.WhatsApp
	}
}
