package twiliovideo

import (
	"context"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/twiliohook"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/handle"
	gwprovider "github.com/safeconnection/gateway/provider"
)

// Channel is the webrtc channel: a Twilio Video room the officer joins in
// his browser.
const Channel gateway.Channel = "webrtc"

// Descriptor describes Twilio Video to the gateway. It shares the Twilio
// section, fake and circuit breaker with PSTN, and is on when the section
// has Video's API key too. Its join links open its page at /join/webrtc/.
var Descriptor = gwprovider.Provider{
	Name: provider,
	Channels: []gateway.ChannelInfo{{
		Channel: Channel, Title: "Twilio Video", Reports: gateway.ReportsWebhook, CheckHandle: handle.UserName,
	}},
	Section: twiliohook.Section,
	Wire: func(_ context.Context, cfg config.Config, w *gwprovider.Wiring) error {
		t := twiliohook.Section.Get(cfg)
		if !t.VideoEnabled() {
			return nil
		}
		tv := New(t.AccountSID, t.AuthToken, t.APIKeySID, t.APIKeySecret, w.PublicURL)
		tv.APIURL, tv.SDKURL, tv.MaxCall = t.VideoURL, t.VideoSDKURL, w.MaxCall
		tv.HTTPClient, tv.JoinSender, tv.Reporter = w.Client(provider), w.Joins, w.Reporter
		tv.Replays = w.Replays
		tv.Logger = w.Logger.WithField("provider", provider)
		w.Webhook(provider, PathCallback, tv.Webhook())
		w.Page(string(Channel), tv.JoinPage())
		return w.Register(w.Guard(provider, tv))
	},
	Fake:     twiliohook.Fake,
	DemoApps: map[gateway.Channel][]int{Channel: {3}},
}
