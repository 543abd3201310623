package pstn

import (
	"context"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/twiliohook"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/handle"
	gwprovider "github.com/safeconnection/gateway/provider"
)

// Descriptor describes PSTN to the gateway: telephone calls through
// Twilio's Programmable Voice, the router's last resort. It shares the
// Twilio section, fake and circuit breaker with Twilio Video.
var Descriptor = gwprovider.Provider{
	Name: provider,
	Channels: []gateway.ChannelInfo{{
		Channel: gateway.ChannelPSTN, Title: "telephone", PhoneHandle: true, Reports: gateway.ReportsWebhook,
		CheckHandle: handle.E164,
	}},
	Section: twiliohook.Section,
	Wire: func(_ context.Context, cfg config.Config, w *gwprovider.Wiring) error {
		t := twiliohook.Section.Get(cfg)
		if !t.Enabled() {
			return nil
		}
		v := New(t.AccountSID, t.AuthToken, t.FromNumber, w.PublicURL)
		v.APIURL, v.MaxCall = t.APIURL, w.MaxCall
		v.HTTPClient, v.Reporter = w.Client(provider), w.Reporter
		v.Replays = w.Replays
		v.Logger = w.Logger.WithField("provider", provider)
		w.Webhook(provider, PathVoice, v.Webhook())
		w.Webhook(provider, PathVoice+"/", v.Webhook())
		if w.Inbound != nil {
			// The public's calls to the rooms' published numbers.
			in := v.Inbound(w.Inbound, w.Force, w.CallerKey)
			w.Webhook(provider, PathInbound, in)
			w.Webhook(provider, PathInbound+"/", in)
		}
		if err := w.Register(w.Guard(provider, v)); err != nil {
			return err
		}
		// Receipts by SMS, through an account of their own: no breaker, the
		// messages' status callbacks among the Twilio webhooks.
		account := New(t.AccountSID, t.AuthToken, t.FromNumber, w.PublicURL)
		account.APIURL, account.Reporter, account.Replays = t.APIURL, w.Reporter, w.Replays
		account.Logger = w.Logger.WithField("provider", provider)
		account.HTTPClient = w.Client(provider)
		sms := NewMessages(account, w.Force)
		sms.From, sms.MessagingServiceSID = t.SMSFrom, t.MessagingServiceSID
		w.Receipts("sms", sms)
		w.Webhook(provider, PathMessages, sms.Webhook())
		return nil
	},
	Fake: twiliohook.Fake,
}
