package main

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/whatsapp"
	"github.com/safeconnection/gateway/adapters/zoom"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/httpapi"
	fakewhatsapp "github.com/safeconnection/gateway/mocks/whatsapp"
)

// The fake WhatsApp Business number's credentials.
const (
	waPhoneNumberID, waToken, waAppSecret, waVerifyToken = "100000000000007", "EAAtoken7", "app-secret-7", "verify-7"
)

// startWhatsApp serves a fake WhatsApp Cloud API on loopback until the test
// ends and returns it with the configuration section that points the
// gateway at it.
func startWhatsApp(tb testing.TB) (*fakewhatsapp.Fake, whatsapp.Config) {
	tb.Helper()
	f := fakewhatsapp.New(waToken, waPhoneNumberID, waAppSecret)
	srv := httptest.NewServer(f)
	tb.Cleanup(func() {
		f.Close()
		srv.Close()
	})
	return f, whatsapp.Config{PhoneNumberID: waPhoneNumberID, Token: waToken, AppSecret: waAppSecret,
		VerifyToken: waVerifyToken, APIURL: srv.URL, APIVersion: "v23.0"}
}

// TestJoinLinkByWhatsApp: an officer who asked for the meeting's join link
// by WhatsApp is sent it, and the verification's record says what Meta's
// signed status webhooks said of it: delivered and read, or not delivered
// and why. The fake posts its first status 10 ms after accepting the
// message, which can be before the gateway has recorded sending it.
func TestJoinLinkByWhatsApp(t *testing.T) {
	for _, tt := range []struct {
		name string
		fail bool
		want []string
	}{
		{"delivered and read", false, []string{"join link sent by whatsapp message", "join link delivered by whatsapp message", "join link read on whatsapp"}},
		{"undeliverable", true, []string{"join link sent by whatsapp message", "join link not delivered by whatsapp message: 131026: Message undeliverable"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			zf, zcfg := startZoom(t)
			wf, wcfg := startWhatsApp(t)
			g := startGateway(t, testEnv(t), func(c *config.Config) { zoom.Section.Set(c, zcfg); whatsapp.Section.Set(c, wcfg) })
			zf.SetWebhookURL(g.m.PublicURL() + "/webhooks/zoom/")
			wf.SetWebhookURL(g.m.PublicURL() + "/webhooks/whatsapp/")
			if tt.fail {
				wf.FailDeliveryNext(1)
			}
			d := g.addDevice(t, "AW", "+447700900611", map[gateway.Channel]string{gateway.Channel("zoom"): zoomDeviceEmail})
			g.startAgent(t, d, nil)

			body := verificationRequest(trafalgar)
			body["contacts"] = []map[string]any{
				{"channel": "zoom", "handle": officerEmail},
				{"channel": "whatsapp", "handle": officerNumber, "links": true},
			}
			var v httpapi.VerificationView
			g.call(t, "POST", "/v1/verifications", g.officer, body, http.StatusCreated, &v)
			v = g.waitState(t, v.ID, gateway.StateConnected)
			if v.Channel != gateway.Channel("zoom") {
				t.Fatalf("connected on %s, want zoom", v.Channel)
			}
			zoomAttempt := g.storedAttempts(t, v.ID)[0].ID
			var got []string
			eventually(t, "the join link's notes "+strings.Join(tt.want, ", "), func() bool {
				got = got[:0]
				for _, ev := range g.events(t, v.ID) {
					if ev.Type == gateway.EventNote && ev.Data[gateway.DataMessage] != "" {
						// A WhatsApp message ID holds the recipient's
						// number: the record keeps a keyed hash of it.
						if id := ev.Data[gateway.DataMessage]; strings.HasPrefix(id, "wamid.") || (ev.Report != nil && strings.HasPrefix(ev.Report.MessageID, "wamid.")) {
							t.Errorf("note %q keeps the WhatsApp message ID %q", ev.Message, id)
						}
						got = append(got, ev.Message)
						if ev.AttemptID != zoomAttempt {
							t.Errorf("note %q on attempt %q, want the zoom attempt %s", ev.Message, ev.AttemptID, zoomAttempt)
						}
					}
				}
				return slices.Equal(got, tt.want)
			})
			for _, dl := range wf.Deliveries() {
				if dl.Status != http.StatusOK {
					t.Errorf("status webhook answered %d (%v), want 200", dl.Status, dl.Err)
				}
			}
		})
	}
}
