package main

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/safeconnection/gateway/adapters/meet"
	"github.com/safeconnection/gateway/adapters/teams"
	"github.com/safeconnection/gateway/adapters/twiliohook"
	"github.com/safeconnection/gateway/adapters/whatsapp"
	"github.com/safeconnection/gateway/adapters/zoom"
	"github.com/safeconnection/gateway/config"
)

// The providers' sections of the configuration, as the gateway loads them:
// config with the sections the providers declare.

// validEnv is an environment that passes Validate(false).
var validEnv = []string{"GATEWAY_PUBLIC_URL=https://gateway.example.org"}

// loadWith loads the configuration with the providers' sections from
// validEnv and env.
func loadWith(env ...string) (config.Config, error) {
	return config.Load(append(slices.Clone(validEnv), env...), providers.Sections()...)
}

// configProblems returns err's problems; it fails unless err is a
// *config.Error.
func configProblems(tb testing.TB, err error) []config.Problem {
	tb.Helper()
	if err == nil {
		return nil
	}
	var e *config.Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %T %v is not a *config.Error", err, err)
	}
	return e.Problems
}

// problemVars returns the variables err names.
func problemVars(tb testing.TB, err error) []string {
	tb.Helper()
	var out []string
	for _, p := range configProblems(tb, err) {
		out = append(out, p.Var)
	}
	return out
}

// problemFor returns the message of err's problem about v, or fails.
func problemFor(tb testing.TB, err error, v string) string {
	tb.Helper()
	for _, p := range configProblems(tb, err) {
		if p.Var == v {
			return p.Message
		}
	}
	tb.Fatalf("error %v names no problem with %s", err, v)
	return ""
}

func TestSectionDefaults(t *testing.T) {
	c, err := loadWith()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		got, want any
		enabled   bool
	}{
		{"Twilio", twiliohook.Section.Get(c), twiliohook.Config{APIURL: "https://api.twilio.com", VideoURL: "https://video.twilio.com", VideoSDKURL: "https://sdk.twilio.com/js/video/releases/2.36.0/twilio-video.min.js"}, twiliohook.Section.Get(c).Enabled() || twiliohook.Section.Get(c).VideoEnabled()},
		{"Zoom", zoom.Section.Get(c), zoom.Config{UserID: "me", APIURL: "https://api.zoom.us", OAuthURL: "https://zoom.us"}, zoom.Section.Get(c).Enabled()},
		{"Meet", meet.Section.Get(c), meet.Config{APIURL: "https://meet.googleapis.com", TokenURL: "https://oauth2.googleapis.com/token"}, meet.Section.Get(c).Enabled()},
		{"Teams", teams.Section.Get(c), teams.Config{GraphURL: "https://graph.microsoft.com", LoginURL: "https://login.microsoftonline.com"}, teams.Section.Get(c).Enabled()},
		{"WhatsApp", whatsapp.Section.Get(c), whatsapp.Config{APIURL: "https://graph.facebook.com", APIVersion: "v23.0", ReceiptLanguage: "en_GB"}, whatsapp.Section.Get(c).Enabled()},
	} {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s defaults:\n got %+v\nwant %+v", tt.name, tt.got, tt.want)
		}
		if tt.enabled {
			t.Errorf("%s is enabled with no credentials", tt.name)
		}
	}
}

func TestSectionUnknownVariable(t *testing.T) {
	_, err := loadWith("GATEWAY_ZOOM_CLIENTID=x")
	if msg := problemFor(t, err, "GATEWAY_ZOOM_CLIENTID"); !strings.Contains(msg, "did you mean GATEWAY_ZOOM_CLIENT_ID?") {
		t.Errorf("message %q does not suggest GATEWAY_ZOOM_CLIENT_ID", msg)
	}
}

// TestEveryProblemAtOnce checks that one error names parse errors, unknown
// variables and invalid settings together, a section's among them.
func TestEveryProblemAtOnce(t *testing.T) {
	_, err := config.Load([]string{
		"GATEWAY_RING_TIMEOUT=soon",
		"GATEWAY_MAX_BODY=lots",
		"GATEWAY_RING_TIMOUT=20s",
		"GATEWAY_LOG_LEVEL=loud",
		"GATEWAY_ZOOM_CLIENT_ID=abc",
		"GATEWAY_RETRY_MIN=5s",
	}, providers.Sections()...)
	got := problemVars(t, err)
	for _, want := range []string{
		"GATEWAY_RING_TIMEOUT", "GATEWAY_MAX_BODY", "GATEWAY_RING_TIMOUT", "GATEWAY_PUBLIC_URL",
		"GATEWAY_LOG_LEVEL", "GATEWAY_ZOOM_ACCOUNT_ID", "GATEWAY_RETRY_MIN",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("error names %v, not %s", got, want)
		}
	}
	for _, v := range got {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("Error() %q does not name %s", err, v)
		}
	}
}

func TestSectionBadValues(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		bad     string // the variable named
		mention string // in its message
	}{
		{"provider URL not http", "GATEWAY_ZOOM_API_URL=api.zoom.us", "GATEWAY_ZOOM_API_URL", "absolute"},
		{"provider URL empty", "GATEWAY_TEAMS_GRAPH_URL=", "GATEWAY_TEAMS_GRAPH_URL", "absolute"},
		{"WhatsApp version", "GATEWAY_WHATSAPP_API_VERSION=23", "GATEWAY_WHATSAPP_API_VERSION", "v23.0"},
		{"Twilio SDK URL not http", "GATEWAY_TWILIO_VIDEO_SDK_URL=sdk.twilio.com/js/video/releases/2.36.0/twilio-video.min.js", "GATEWAY_TWILIO_VIDEO_SDK_URL", "absolute"},
		{"Twilio SDK URL javascript", "GATEWAY_TWILIO_VIDEO_SDK_URL=javascript:alert(1)", "GATEWAY_TWILIO_VIDEO_SDK_URL", "http or https"},
		{"Twilio API key without secret", "GATEWAY_TWILIO_API_KEY_SID=SK0123456789abcdef0123456789abcdef", "GATEWAY_TWILIO_API_KEY_SECRET", "missing"},
		{"SMS from a number that is none", "GATEWAY_TWILIO_SMS_FROM=020 7946 0999", "GATEWAY_TWILIO_SMS_FROM", "E.164"},
		{"Messaging Service SID", "GATEWAY_TWILIO_MESSAGING_SERVICE_SID=MG1", "GATEWAY_TWILIO_MESSAGING_SERVICE_SID", "MG and 32"},
		{"SMS without the account", "GATEWAY_TWILIO_SMS_FROM=+442079460999", "GATEWAY_TWILIO_ACCOUNT_SID", "receipts by SMS"},
		{"receipt template name", "GATEWAY_WHATSAPP_RECEIPT_TEMPLATE=Receipt Template", "GATEWAY_WHATSAPP_RECEIPT_TEMPLATE", "lower-case"},
		{"receipt template without the Cloud API", "GATEWAY_WHATSAPP_RECEIPT_TEMPLATE=receipt", "GATEWAY_WHATSAPP_PHONE_NUMBER_ID", "receipts by WhatsApp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadWith(tt.env)
			if msg := problemFor(t, err, tt.bad); !strings.Contains(msg, tt.mention) {
				t.Errorf("%s: message %q does not mention %q", tt.bad, msg, tt.mention)
			}
		})
	}
}

func TestSectionGoodValues(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  []string
	}{
		{"fake provider on loopback", []string{"GATEWAY_ZOOM_API_URL=http://127.0.0.1:9999"}},
		{"Twilio SDK from the gateway's own host", []string{"GATEWAY_TWILIO_VIDEO_SDK_URL=https://gateway.example.org/static/twilio-video.min.js"}},
		{"Twilio in full", []string{
			"GATEWAY_TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef", "GATEWAY_TWILIO_AUTH_TOKEN=t",
			"GATEWAY_TWILIO_FROM_NUMBER=+442079460999", "GATEWAY_TWILIO_API_KEY_SID=SK0123456789abcdef0123456789abcdef", "GATEWAY_TWILIO_API_KEY_SECRET=s"}},
		{"receipts by SMS and WhatsApp", []string{
			"GATEWAY_TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef", "GATEWAY_TWILIO_AUTH_TOKEN=t",
			"GATEWAY_TWILIO_FROM_NUMBER=+442079460999", "GATEWAY_TWILIO_SMS_FROM=+447700900999",
			"GATEWAY_TWILIO_MESSAGING_SERVICE_SID=MG0123456789abcdef0123456789abcdef",
			"GATEWAY_WHATSAPP_PHONE_NUMBER_ID=1", "GATEWAY_WHATSAPP_TOKEN=t", "GATEWAY_WHATSAPP_APP_SECRET=s", "GATEWAY_WHATSAPP_VERIFY_TOKEN=v",
			"GATEWAY_WHATSAPP_RECEIPT_TEMPLATE=safe_connection_receipt", "GATEWAY_WHATSAPP_RECEIPT_LANGUAGE=en"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := loadWith(tt.env...); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestProviderSections(t *testing.T) {
	tw := func(c config.Config) twiliohook.Config { return twiliohook.Section.Get(c) }
	tests := []struct {
		name    string
		env     []string
		enabled func(config.Config) bool // whether the section is on as it should be
		missing []string                 // named in the error; none: valid
	}{
		{"Zoom half-configured", []string{"GATEWAY_ZOOM_ACCOUNT_ID=a", "GATEWAY_ZOOM_CLIENT_ID=b"},
			func(c config.Config) bool { return zoom.Section.Get(c).Enabled() },
			[]string{"GATEWAY_ZOOM_CLIENT_SECRET", "GATEWAY_ZOOM_WEBHOOK_SECRET"}},
		{"Zoom in full", []string{"GATEWAY_ZOOM_ACCOUNT_ID=a", "GATEWAY_ZOOM_CLIENT_ID=b", "GATEWAY_ZOOM_CLIENT_SECRET=c", "GATEWAY_ZOOM_WEBHOOK_SECRET=d"},
			func(c config.Config) bool { return zoom.Section.Get(c).Enabled() }, nil},
		{"Twilio without a caller ID", []string{"GATEWAY_TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef", "GATEWAY_TWILIO_AUTH_TOKEN=t"},
			func(c config.Config) bool { return tw(c).Enabled() }, []string{"GATEWAY_TWILIO_FROM_NUMBER"}},
		{"Twilio with a bad caller ID and SID", []string{"GATEWAY_TWILIO_ACCOUNT_SID=XX1", "GATEWAY_TWILIO_AUTH_TOKEN=t", "GATEWAY_TWILIO_FROM_NUMBER=020 7946 0999"},
			func(c config.Config) bool { return tw(c).Enabled() }, []string{"GATEWAY_TWILIO_ACCOUNT_SID", "GATEWAY_TWILIO_FROM_NUMBER"}},
		{"Twilio with a short SID and a quoted token", []string{"GATEWAY_TWILIO_ACCOUNT_SID=AC1", `GATEWAY_TWILIO_AUTH_TOKEN="f1e2d3"`, "GATEWAY_TWILIO_FROM_NUMBER=+442079460999"},
			func(c config.Config) bool { return tw(c).Enabled() }, []string{"GATEWAY_TWILIO_ACCOUNT_SID", "GATEWAY_TWILIO_AUTH_TOKEN"}},
		{"Twilio Video with a bad key SID", []string{"GATEWAY_TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef", "GATEWAY_TWILIO_AUTH_TOKEN=t", "GATEWAY_TWILIO_FROM_NUMBER=+442079460999",
			"GATEWAY_TWILIO_API_KEY_SID=SK0123/../x", "GATEWAY_TWILIO_API_KEY_SECRET=s"},
			func(c config.Config) bool { return tw(c).VideoEnabled() }, []string{"GATEWAY_TWILIO_API_KEY_SID"}},
		{"Twilio Video key without the account", []string{"GATEWAY_TWILIO_API_KEY_SID=SK0123456789abcdef0123456789abcdef", "GATEWAY_TWILIO_API_KEY_SECRET=s"},
			func(c config.Config) bool { return !tw(c).Enabled() && !tw(c).VideoEnabled() }, []string{"GATEWAY_TWILIO_ACCOUNT_SID"}},
		{"Meet with only a secret", []string{"GATEWAY_MEET_CLIENT_SECRET=s"},
			func(c config.Config) bool { return meet.Section.Get(c).Enabled() }, []string{"GATEWAY_MEET_CLIENT_ID", "GATEWAY_MEET_REFRESH_TOKEN"}},
		{"Meet in full", []string{"GATEWAY_MEET_CLIENT_ID=i", "GATEWAY_MEET_CLIENT_SECRET=s", "GATEWAY_MEET_REFRESH_TOKEN=r"},
			func(c config.Config) bool { return meet.Section.Get(c).Enabled() }, nil},
		{"Teams without a user", []string{"GATEWAY_TEAMS_TENANT_ID=t", "GATEWAY_TEAMS_CLIENT_ID=c", "GATEWAY_TEAMS_CLIENT_SECRET=s"},
			func(c config.Config) bool { return teams.Section.Get(c).Enabled() }, []string{"GATEWAY_TEAMS_USER_ID"}},
		{"WhatsApp in full", []string{"GATEWAY_WHATSAPP_PHONE_NUMBER_ID=1", "GATEWAY_WHATSAPP_TOKEN=t", "GATEWAY_WHATSAPP_APP_SECRET=a", "GATEWAY_WHATSAPP_VERIFY_TOKEN=v"},
			func(c config.Config) bool { return whatsapp.Section.Get(c).Enabled() }, nil},
		{"WhatsApp without the app secret", []string{"GATEWAY_WHATSAPP_PHONE_NUMBER_ID=1", "GATEWAY_WHATSAPP_TOKEN=t", "GATEWAY_WHATSAPP_VERIFY_TOKEN=v"},
			func(c config.Config) bool { return whatsapp.Section.Get(c).Enabled() }, []string{"GATEWAY_WHATSAPP_APP_SECRET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadWith(tt.env...)
			if got := problemVars(t, err); !slices.Equal(got, tt.missing) {
				t.Errorf("error names %v, want %v (%v)", got, tt.missing, err)
			}
			if !tt.enabled(c) {
				t.Error("the section is not as enabled as it should be")
			}
		})
	}
}

// TestUsageListsEverySection checks that gateway -h lists every variable of
// every provider's section with its description and default, and each
// section's description, which names the variables that enable it.
func TestUsageListsEverySection(t *testing.T) {
	var buf bytes.Buffer
	if err := config.Usage(&buf, providers.Sections()...); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	flat := strings.Join(strings.Fields(buf.String()), " ")
	c, err := config.Process(nil, providers.Sections()...)
	if err != nil {
		t.Fatal(err)
	}
	defaults := c.LogFields()
	for _, s := range providers.Sections() {
		st := s.Type()
		for i := range st.NumField() {
			f := st.Field(i)
			key := config.Prefix + "_" + s.Key() + "_" + f.Tag.Get("envconfig")
			desc := f.Tag.Get("desc")
			if desc == "" || f.Tag.Get("envconfig") == "" {
				t.Errorf("%s: no envconfig or desc tag", key)
				continue
			}
			j := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, key+" ") })
			if j < 0 {
				t.Errorf("usage does not list %s", key)
				continue
			}
			// The variable's entry runs to the next blank line, wrapped.
			end := j + slices.Index(lines[j:], "")
			if end < j {
				end = len(lines)
			}
			entry := strings.Join(strings.Fields(strings.Join(lines[j:end], " ")), " ")
			if !strings.Contains(entry, strings.Join(strings.Fields(desc), " ")) || !strings.Contains(entry, fmt.Sprint(defaults[key])) {
				t.Errorf("usage entry %q lacks the description or default (%v) of %s", entry, defaults[key], key)
			}
			if f.Tag.Get("credential") == "true" && !strings.Contains(s.Desc(), key) {
				t.Errorf("the %s section's description does not say %s enables it", s.Key(), key)
			}
		}
		if !strings.Contains(flat, strings.Join(strings.Fields(s.Desc()), " ")) {
			t.Errorf("usage lacks the %s section's description", s.Key())
		}
	}
}

func TestLogFieldsHideSecrets(t *testing.T) {
	c, err := loadWith(
		"GATEWAY_STORE=postgres://gw:hunter2@db/gateway",
		"GATEWAY_ZOOM_ACCOUNT_ID=acct", "GATEWAY_ZOOM_CLIENT_ID=cid",
		"GATEWAY_ZOOM_CLIENT_SECRET=hunter2", "GATEWAY_ZOOM_WEBHOOK_SECRET=hunter2")
	if err != nil {
		t.Fatal(err)
	}
	f := c.LogFields()
	if s := fmt.Sprint(f); strings.Contains(s, "hunter2") {
		t.Errorf("log fields show a secret: %s", s)
	}
	if f["GATEWAY_ZOOM_CLIENT_ID"] != "cid" || f["GATEWAY_ZOOM_CLIENT_SECRET"] != "(set)" || f["GATEWAY_RING_TIMEOUT"] != "20s" {
		t.Errorf("log fields %v", f)
	}
}
