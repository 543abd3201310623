package config

import (
	"bytes"
	"errors"
	"fmt"
	"go/build"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// valid is an environment that passes Validate(false).
var valid = []string{"GATEWAY_PUBLIC_URL=https://gateway.example.org"}

// problemVars returns the variables err names; it fails unless err is an
// *Error.
func problemVars(tb testing.TB, err error) []string {
	tb.Helper()
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %T %v is not a *config.Error", err, err)
	}
	return e.Vars()
}

// problemFor returns the message of err's problem about v, or fails.
func problemFor(tb testing.TB, err error, v string) string {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %v is not a *config.Error", err)
	}
	for _, p := range e.Problems {
		if p.Var == v {
			return p.Message
		}
	}
	tb.Fatalf("error %v names no problem with %s", err, v)
	return ""
}

func TestDefaults(t *testing.T) {
	c, err := Load(valid)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Addr:              "127.0.0.1:8080",
		DataDir:           "./data",
		SQLiteSynchronous: "full",
		PublicURL:         "https://gateway.example.org",
		LogLevel:          "info",
		RingTimeout:       20 * time.Second,
		Budget:            60 * time.Second,
		LeaseTTL:          30 * time.Second,
		HeartbeatStale:    90 * time.Second,
		SweepInterval:     2 * time.Second,
		RetryMin:          200 * time.Millisecond,
		RetryMax:          3 * time.Second,
		MaxCall:           30 * time.Minute,
		OwnerTTL:          10 * time.Second,
		ReportGrace:       2 * time.Second,
		DeskCalls:         1,
		MaxBody:           65536,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       75 * time.Second,
		MaxHeaderBytes:    32768,
		MaxConns:          4096,
		MaxStreams:        16,
		ForceName:         "Metropolitan Police",
		NumberRegion:      "GB",
		TimeZone:          "Europe/London",
		PublicRate:        20,
		PublicBurst:       10,
		ClientIPHeader:    "X-Forwarded-For",
		BreakerFailures:   5,
		BreakerCooldown:   30 * time.Second,
		Twilio:            Twilio{APIURL: "https://api.twilio.com", VideoURL: "https://video.twilio.com", VideoSDKURL: "https://sdk.twilio.com/js/video/releases/2.36.0/twilio-video.min.js"},
		Zoom:              Zoom{UserID: "me", APIURL: "https://api.zoom.us", OAuthURL: "https://zoom.us"},
		Meet:              Meet{APIURL: "https://meet.googleapis.com", TokenURL: "https://oauth2.googleapis.com/token"},
		Teams:             Teams{GraphURL: "https://graph.microsoft.com", LoginURL: "https://login.microsoftonline.com"},
		WhatsApp:          WhatsApp{APIURL: "https://graph.facebook.com", APIVersion: "v23.0", ReceiptLanguage: "en_GB"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	for name, enabled := range map[string]bool{
		"Twilio": c.Twilio.Enabled(), "Twilio Video": c.Twilio.VideoEnabled(), "Zoom": c.Zoom.Enabled(),
		"Meet": c.Meet.Enabled(), "Teams": c.Teams.Enabled(), "WhatsApp": c.WhatsApp.Enabled(),
	} {
		if enabled {
			t.Errorf("%s is enabled with no credentials", name)
		}
	}
}

// overrideValue returns a value for s that differs from its default and
// passes Validate, as the environment would give it.
func overrideValue(s setting, i int) string {
	switch {
	case s.value.Type() == durationType:
		return fmt.Sprintf("%ds", 7+i)
	case s.value.Kind() == reflect.Int || s.value.Kind() == reflect.Int64:
		return fmt.Sprint(2048 + i)
	case s.value.Kind() == reflect.Bool:
		return "true" // every default is false
	}
	return fmt.Sprintf("value-%d", i)
}

// TestEveryVariableOverridable sets every variable at once and checks each
// reached its own field, and only it.
func TestEveryVariableOverridable(t *testing.T) {
	var c Config
	all := settings(&c)
	var environ []string
	for i, s := range all {
		environ = append(environ, s.key+"="+overrideValue(s, i))
	}
	got, err := Process(environ)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range settings(&got) {
		if s.key != all[i].key {
			t.Fatalf("setting %d is %s, then %s", i, all[i].key, s.key)
		}
		want := overrideValue(s, i)
		var have string
		switch v := s.value.Interface().(type) {
		case time.Duration:
			have = fmt.Sprintf("%ds", int(v.Seconds()))
		default:
			have = fmt.Sprint(v)
		}
		if have != want {
			t.Errorf("%s=%s gave %s", s.key, want, have)
		}
	}
	if err := CheckDisallowed(environ); err != nil {
		t.Errorf("CheckDisallowed of every setting: %v", err)
	}
}

// TestMatchesEnvconfig checks that Process reads the environment as
// envconfig.Process would: the same names, the same parsing, the same
// defaults. It sets the process environment, so it does not run in
// parallel.
func TestMatchesEnvconfig(t *testing.T) {
	var c Config
	all := settings(&c)
	unset := func(k string) {
		t.Setenv(k, "") // restores it after the test
		os.Unsetenv(k)
	}
	for _, s := range all {
		unset(s.key)
		unset(strings.ToUpper(s.field.Tag.Get("envconfig"))) // envconfig's unprefixed fallback
	}
	for _, tt := range []struct {
		name string
		env  func(i int, s setting) string // "" leaves the variable unset
	}{
		{"defaults", func(int, setting) string { return "" }},
		{"every variable set", func(i int, s setting) string { return overrideValue(s, i) }},
		{"numbers in other bases", func(i int, s setting) string {
			if k := s.value.Kind(); k == reflect.Int || k == reflect.Int64 && s.value.Type() != durationType {
				return "0x1000"
			}
			return ""
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var environ []string
			for i, s := range all {
				if v := tt.env(i, s); v != "" {
					t.Setenv(s.key, v)
					environ = append(environ, s.key+"="+v)
				} else {
					unset(s.key)
				}
			}
			var want Config
			if err := envconfig.Process(Prefix, &want); err != nil {
				t.Fatal(err)
			}
			got, err := Process(environ)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Process:\n got %+v\nenvconfig.Process:\nwant %+v", got, want)
			}
		})
	}
}

func TestUnknownVariable(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		suggest string // "": no suggestion
	}{
		{"one letter missing", "GATEWAY_RING_TIMOUT=20s", "GATEWAY_RING_TIMEOUT"},
		{"letters swapped", "GATEWAY_PUBILC_URL=https://x.example", "GATEWAY_PUBLIC_URL"},
		{"nested section", "GATEWAY_ZOOM_CLIENTID=x", "GATEWAY_ZOOM_CLIENT_ID"},
		{"lower case", "gateway_addr=:80", "GATEWAY_ADDR"},
		{"nothing like a setting", "GATEWAY_FAVOURITE_COLOUR=blue", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(append(slices.Clone(valid), tt.env))
			name, _, _ := strings.Cut(tt.env, "=")
			msg := problemFor(t, err, name)
			if tt.suggest != "" && !strings.Contains(msg, "did you mean "+tt.suggest+"?") {
				t.Errorf("message %q does not suggest %s", msg, tt.suggest)
			}
			if tt.suggest == "" && strings.Contains(msg, "did you mean") {
				t.Errorf("message %q suggests something", msg)
			}
		})
	}
	if err := CheckDisallowed([]string{"HOME=/root", "PATH=/bin", "GATEWAYS=1", "GATEWAY_ADDR=:1"}); err != nil {
		t.Errorf("CheckDisallowed of unprefixed and known variables: %v", err)
	}
	err := CheckDisallowed([]string{"GATEWAY_X=1", "GATEWAY_X=2"})
	if vars := problemVars(t, err); !slices.Equal(vars, []string{"GATEWAY_X"}) {
		t.Errorf("a repeated unknown variable is named %v, want once", vars)
	}
}

func TestPublicURLRequiredUnlessDemo(t *testing.T) {
	_, err := Load(nil)
	if vars := problemVars(t, err); !slices.Equal(vars, []string{"GATEWAY_PUBLIC_URL"}) {
		t.Errorf("Load with nothing set names %v, want GATEWAY_PUBLIC_URL alone", vars)
	}
	if _, err := LoadDemo(nil); err != nil {
		t.Errorf("LoadDemo with nothing set: %v", err)
	}
	_, err = LoadDemo([]string{"GATEWAY_PUBLIC_URL=http://gateway.example.org"})
	if vars := problemVars(t, err); !slices.Equal(vars, []string{"GATEWAY_PUBLIC_URL"}) {
		t.Errorf("LoadDemo with a bad public URL names %v, want GATEWAY_PUBLIC_URL", vars)
	}
}

// TestEveryProblemAtOnce checks that one error names parse errors, unknown
// variables and invalid settings together.
func TestEveryProblemAtOnce(t *testing.T) {
	_, err := Load([]string{
		"GATEWAY_RING_TIMEOUT=soon",
		"GATEWAY_MAX_BODY=lots",
		"GATEWAY_RING_TIMOUT=20s",
		"GATEWAY_LOG_LEVEL=loud",
		"GATEWAY_ZOOM_CLIENT_ID=abc",
		"GATEWAY_RETRY_MIN=5s",
	})
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

func TestBadValues(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		bad     string // the variable named
		mention string // in its message
	}{
		{"duration without unit", "GATEWAY_RING_TIMEOUT=20", "GATEWAY_RING_TIMEOUT", "no unit"},
		{"duration garbage", "GATEWAY_BUDGET=a minute", "GATEWAY_BUDGET", "not a duration"},
		{"duration empty", "GATEWAY_LEASE_TTL=", "GATEWAY_LEASE_TTL", "empty"},
		{"duration zero", "GATEWAY_SWEEP_INTERVAL=0s", "GATEWAY_SWEEP_INTERVAL", "positive"},
		{"duration negative", "GATEWAY_OWNER_TTL=-1s", "GATEWAY_OWNER_TTL", "positive"},
		{"int garbage", "GATEWAY_MAX_BODY=64k", "GATEWAY_MAX_BODY", "whole number"},
		{"int out of range", "GATEWAY_BREAKER_FAILURES=99999999999999999999", "GATEWAY_BREAKER_FAILURES", "out of range"},
		{"int too small", "GATEWAY_MAX_BODY=10", "GATEWAY_MAX_BODY", "1024"},
		{"no desk line", "GATEWAY_DESK_CALLS=0", "GATEWAY_DESK_CALLS", "between 1 and 1000"},
		{"breaker zero", "GATEWAY_BREAKER_FAILURES=0", "GATEWAY_BREAKER_FAILURES", "between"},
		{"retry min over max", "GATEWAY_RETRY_MIN=4s", "GATEWAY_RETRY_MIN", "GATEWAY_RETRY_MAX"},
		{"ring over budget", "GATEWAY_RING_TIMEOUT=2m", "GATEWAY_RING_TIMEOUT", "GATEWAY_BUDGET"},
		{"sweep slower than lease", "GATEWAY_SWEEP_INTERVAL=1m", "GATEWAY_SWEEP_INTERVAL", "GATEWAY_LEASE_TTL"},
		{"addr without port", "GATEWAY_ADDR=localhost", "GATEWAY_ADDR", "host:port"},
		{"addr bad port", "GATEWAY_ADDR=:http", "GATEWAY_ADDR", "port"},
		{"empty data dir", "GATEWAY_DATA_DIR=", "GATEWAY_DATA_DIR", "empty"},
		{"store of another kind", "GATEWAY_STORE=mysql://u:secret@h/db", "GATEWAY_STORE", "mysql"},
		{"log level", "GATEWAY_LOG_LEVEL=verbose", "GATEWAY_LOG_LEVEL", "verbose"},
		{"instance with space", "GATEWAY_INSTANCE=a b", "GATEWAY_INSTANCE", "spaces"},
		{"public URL plain http", "GATEWAY_PUBLIC_URL=http://gateway.example.org", "GATEWAY_PUBLIC_URL", "https"},
		{"public URL relative", "GATEWAY_PUBLIC_URL=/gateway", "GATEWAY_PUBLIC_URL", "absolute"},
		{"public URL with query", "GATEWAY_PUBLIC_URL=https://g.example.org/?a=b", "GATEWAY_PUBLIC_URL", "query"},
		{"public URL with password", "GATEWAY_PUBLIC_URL=https://u:p@g.example.org", "GATEWAY_PUBLIC_URL", "password"},
		{"public URL ftp", "GATEWAY_PUBLIC_URL=ftp://g.example.org", "GATEWAY_PUBLIC_URL", "https"},
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
			_, err := Load(append(slices.Clone(valid), tt.env))
			if msg := problemFor(t, err, tt.bad); !strings.Contains(msg, tt.mention) {
				t.Errorf("%s: message %q does not mention %q", tt.bad, msg, tt.mention)
			}
			if strings.Contains(err.Error(), "secret") && strings.Contains(tt.env, "secret@") {
				t.Errorf("error %q repeats a password", err)
			}
		})
	}
}

func TestGoodValues(t *testing.T) {
	tests := []struct {
		name string
		env  []string
	}{
		{"public URL on loopback", []string{"GATEWAY_PUBLIC_URL=http://127.0.0.1:8080"}},
		{"public URL on localhost", []string{"GATEWAY_PUBLIC_URL=http://localhost:8080/gw"}},
		{"public URL on IPv6 loopback", []string{"GATEWAY_PUBLIC_URL=http://[::1]:8080"}},
		{"public URL with path", []string{"GATEWAY_PUBLIC_URL=https://police.example.org/safe-connection/"}},
		{"SQLite path", append(slices.Clone(valid), "GATEWAY_STORE=/var/lib/gateway/gw.db")},
		{"PostgreSQL URL", append(slices.Clone(valid), "GATEWAY_STORE=postgres://gw:pw@db.internal:5432/gateway?sslmode=require")},
		{"PostgreSQL socket", append(slices.Clone(valid), "GATEWAY_STORE=postgresql:///gateway?host=/run/postgresql")},
		{"all interfaces", append(slices.Clone(valid), "GATEWAY_ADDR=:8443")},
		{"log level in capitals", append(slices.Clone(valid), "GATEWAY_LOG_LEVEL=DEBUG")},
		{"fake provider on loopback", append(slices.Clone(valid), "GATEWAY_ZOOM_API_URL=http://127.0.0.1:9999")},
		{"Twilio SDK from the gateway's own host", append(slices.Clone(valid), "GATEWAY_TWILIO_VIDEO_SDK_URL=https://gateway.example.org/static/twilio-video.min.js")},
		{"Twilio in full", append(slices.Clone(valid),
			"GATEWAY_TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef", "GATEWAY_TWILIO_AUTH_TOKEN=t",
			"GATEWAY_TWILIO_FROM_NUMBER=+442079460999", "GATEWAY_TWILIO_API_KEY_SID=SK0123456789abcdef0123456789abcdef", "GATEWAY_TWILIO_API_KEY_SECRET=s")},
		{"receipts by SMS and WhatsApp", append(slices.Clone(valid),
			"GATEWAY_TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef", "GATEWAY_TWILIO_AUTH_TOKEN=t",
			"GATEWAY_TWILIO_FROM_NUMBER=+442079460999", "GATEWAY_TWILIO_SMS_FROM=+447700900999",
			"GATEWAY_TWILIO_MESSAGING_SERVICE_SID=MG0123456789abcdef0123456789abcdef",
			"GATEWAY_WHATSAPP_PHONE_NUMBER_ID=1", "GATEWAY_WHATSAPP_TOKEN=t", "GATEWAY_WHATSAPP_APP_SECRET=s", "GATEWAY_WHATSAPP_VERIFY_TOKEN=v",
			"GATEWAY_WHATSAPP_RECEIPT_TEMPLATE=safe_connection_receipt", "GATEWAY_WHATSAPP_RECEIPT_LANGUAGE=en")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(tt.env); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestProviderSections(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		enabled func(Config) bool // whether the section is on as it should be
		missing []string          // named in the error; none: valid
	}{
		{"Zoom half-configured", []string{"GATEWAY_ZOOM_ACCOUNT_ID=a", "GATEWAY_ZOOM_CLIENT_ID=b"},
			func(c Config) bool { return c.Zoom.Enabled() },
			[]string{"GATEWAY_ZOOM_CLIENT_SECRET", "GATEWAY_ZOOM_WEBHOOK_SECRET"}},
		{"Zoom in full", []string{"GATEWAY_ZOOM_ACCOUNT_ID=a", "GATEWAY_ZOOM_CLIENT_ID=b", "GATEWAY_ZOOM_CLIENT_SECRET=c", "GATEWAY_ZOOM_WEBHOOK_SECRET=d"},
			func(c Config) bool { return c.Zoom.Enabled() }, nil},
		{"Twilio without a caller ID", []string{"GATEWAY_TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef", "GATEWAY_TWILIO_AUTH_TOKEN=t"},
			func(c Config) bool { return c.Twilio.Enabled() }, []string{"GATEWAY_TWILIO_FROM_NUMBER"}},
		{"Twilio with a bad caller ID and SID", []string{"GATEWAY_TWILIO_ACCOUNT_SID=XX1", "GATEWAY_TWILIO_AUTH_TOKEN=t", "GATEWAY_TWILIO_FROM_NUMBER=020 7946 0999"},
			func(c Config) bool { return c.Twilio.Enabled() }, []string{"GATEWAY_TWILIO_ACCOUNT_SID", "GATEWAY_TWILIO_FROM_NUMBER"}},
		{"Twilio with a short SID and a quoted token", []string{"GATEWAY_TWILIO_ACCOUNT_SID=AC1", `GATEWAY_TWILIO_AUTH_TOKEN="f1e2d3"`, "GATEWAY_TWILIO_FROM_NUMBER=+442079460999"},
			func(c Config) bool { return c.Twilio.Enabled() }, []string{"GATEWAY_TWILIO_ACCOUNT_SID", "GATEWAY_TWILIO_AUTH_TOKEN"}},
		{"Twilio Video with a bad key SID", []string{"GATEWAY_TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef", "GATEWAY_TWILIO_AUTH_TOKEN=t", "GATEWAY_TWILIO_FROM_NUMBER=+442079460999",
			"GATEWAY_TWILIO_API_KEY_SID=SK0123/../x", "GATEWAY_TWILIO_API_KEY_SECRET=s"},
			func(c Config) bool { return c.Twilio.VideoEnabled() }, []string{"GATEWAY_TWILIO_API_KEY_SID"}},
		{"Twilio Video key without the account", []string{"GATEWAY_TWILIO_API_KEY_SID=SK0123456789abcdef0123456789abcdef", "GATEWAY_TWILIO_API_KEY_SECRET=s"},
			func(c Config) bool { return !c.Twilio.Enabled() && !c.Twilio.VideoEnabled() }, []string{"GATEWAY_TWILIO_ACCOUNT_SID"}},
		{"Meet with only a secret", []string{"GATEWAY_MEET_CLIENT_SECRET=s"},
			func(c Config) bool { return c.Meet.Enabled() }, []string{"GATEWAY_MEET_CLIENT_ID", "GATEWAY_MEET_REFRESH_TOKEN"}},
		{"Meet in full", []string{"GATEWAY_MEET_CLIENT_ID=i", "GATEWAY_MEET_CLIENT_SECRET=s", "GATEWAY_MEET_REFRESH_TOKEN=r"},
			func(c Config) bool { return c.Meet.Enabled() }, nil},
		{"Teams without a user", []string{"GATEWAY_TEAMS_TENANT_ID=t", "GATEWAY_TEAMS_CLIENT_ID=c", "GATEWAY_TEAMS_CLIENT_SECRET=s"},
			func(c Config) bool { return c.Teams.Enabled() }, []string{"GATEWAY_TEAMS_USER_ID"}},
		{"WhatsApp in full", []string{"GATEWAY_WHATSAPP_PHONE_NUMBER_ID=1", "GATEWAY_WHATSAPP_TOKEN=t", "GATEWAY_WHATSAPP_APP_SECRET=a", "GATEWAY_WHATSAPP_VERIFY_TOKEN=v"},
			func(c Config) bool { return c.WhatsApp.Enabled() }, nil},
		{"a caller key too short", []string{"GATEWAY_CALLER_KEY=short"},
			func(c Config) bool { return c.CallerKey == "short" }, []string{"GATEWAY_CALLER_KEY"}},
		{"a caller key", []string{"GATEWAY_CALLER_KEY=" + strings.Repeat("k", 32)},
			func(c Config) bool { return len(c.CallerKey) == 32 }, nil},
		{"WhatsApp without the app secret", []string{"GATEWAY_WHATSAPP_PHONE_NUMBER_ID=1", "GATEWAY_WHATSAPP_TOKEN=t", "GATEWAY_WHATSAPP_VERIFY_TOKEN=v"},
			func(c Config) bool { return c.WhatsApp.Enabled() }, []string{"GATEWAY_WHATSAPP_APP_SECRET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(append(slices.Clone(valid), tt.env...))
			if got := problemVars(t, err); !slices.Equal(got, tt.missing) {
				t.Errorf("error names %v, want %v (%v)", got, tt.missing, err)
			}
			if !tt.enabled(c) {
				t.Error("the section is not as enabled as it should be")
			}
		})
	}
}

// walkTags lists the variables of a struct type with their tags, by its own
// walk of the type, independent of the package's.
func walkTags(prefix string, t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + "_" + f.Tag.Get("envconfig")
		if f.Type.Kind() == reflect.Struct {
			out = append(out, walkTags(key, f.Type)...)
			continue
		}
		f.Name = key
		out = append(out, f)
	}
	return out
}

func TestUsageListsEveryVariable(t *testing.T) {
	var buf bytes.Buffer
	if err := Usage(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	fields := walkTags(Prefix, reflect.TypeFor[Config]())
	if n := len(settings(&Config{})); n != len(fields) {
		t.Errorf("the package knows %d settings, the struct has %d", n, len(fields))
	}
	for _, f := range fields {
		desc := f.Tag.Get("desc")
		if desc == "" || f.Tag.Get("envconfig") == "" {
			t.Errorf("%s: no envconfig or desc tag", f.Name)
			continue
		}
		i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, f.Name+" ") })
		if i < 0 {
			t.Errorf("usage does not list %s", f.Name)
			continue
		}
		// The variable's entry runs to the next blank line, wrapped.
		end := i + slices.Index(lines[i:], "")
		if end < i {
			end = len(lines)
		}
		entry := strings.Join(strings.Fields(strings.Join(lines[i:end], " ")), " ")
		if !strings.Contains(entry, strings.Join(strings.Fields(desc), " ")) || !strings.Contains(entry, f.Tag.Get("default")) {
			t.Errorf("usage entry %q lacks the description or default of %s", entry, f.Name)
		}
	}
	// Every provider section's description names the variables that enable it.
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		sf := ct.Field(i)
		if sf.Type.Kind() != reflect.Struct {
			continue
		}
		if !strings.Contains(strings.Join(strings.Fields(buf.String()), " "), strings.Join(strings.Fields(sf.Tag.Get("desc")), " ")) {
			t.Errorf("usage lacks the %s section's description", sf.Name)
		}
		for j := range sf.Type.NumField() {
			f := sf.Type.Field(j)
			key := Prefix + "_" + sf.Tag.Get("envconfig") + "_" + f.Tag.Get("envconfig")
			if f.Tag.Get("credential") == "true" && !strings.Contains(sf.Tag.Get("desc"), key) {
				t.Errorf("the %s section's description does not say %s enables it", sf.Name, key)
			}
		}
	}
}

func TestLogFieldsHideSecrets(t *testing.T) {
	c, err := Load(append(slices.Clone(valid),
		"GATEWAY_STORE=postgres://gw:hunter2@db/gateway",
		"GATEWAY_ZOOM_ACCOUNT_ID=acct", "GATEWAY_ZOOM_CLIENT_ID=cid",
		"GATEWAY_ZOOM_CLIENT_SECRET=hunter2", "GATEWAY_ZOOM_WEBHOOK_SECRET=hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	f := c.LogFields()
	if len(f) != len(settings(&c)) {
		t.Errorf("%d fields for %d settings", len(f), len(settings(&c)))
	}
	if s := fmt.Sprint(f); strings.Contains(s, "hunter2") {
		t.Errorf("log fields show a secret: %s", s)
	}
	if f["GATEWAY_ZOOM_CLIENT_ID"] != "cid" || f["GATEWAY_ZOOM_CLIENT_SECRET"] != "(set)" || f["GATEWAY_RING_TIMEOUT"] != "20s" {
		t.Errorf("log fields %v", f)
	}
}

// TestLeaf checks that the package imports envconfig and the standard
// library only.
func TestLeaf(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") && imp != "github.com/kelseyhightower/envconfig" {
			t.Errorf("config imports %s", imp)
		}
	}
}

// FuzzLoad checks that no environment makes Load panic or fail without
// saying which variable is at fault.
func FuzzLoad(f *testing.F) {
	f.Add("GATEWAY_PUBLIC_URL=https://g.example.org")
	f.Add("GATEWAY_RING_TIMOUT=20s\nGATEWAY_MAX_BODY=1e9\nGATEWAY_BUDGET=-5m")
	f.Add("GATEWAY_ZOOM_CLIENT_ID=x\ngateway_addr=\n=\nGATEWAY_")
	f.Add("GATEWAY_STORE=postgres://%zz\nGATEWAY_PUBLIC_URL=http://[::1\nGATEWAY_ADDR=[::1]:99999")
	f.Fuzz(func(t *testing.T, env string) {
		_, err := Load(strings.Split(env, "\n"))
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) || len(e.Problems) == 0 {
			t.Fatalf("error %v is not a *config.Error with problems", err)
		}
		known := make(map[string]bool)
		for _, s := range settings(&Config{}) {
			known[s.key] = true
		}
		for _, p := range e.Problems {
			if p.Var == "" || p.Message == "" {
				t.Fatalf("problem %+v lacks its variable or message", p)
			}
			if !known[p.Var] && !strings.Contains(env, p.Var+"=") {
				t.Fatalf("problem %+v names a variable that is neither a setting nor set", p)
			}
		}
	})
}

func TestErrorListsOneProblemPerLine(t *testing.T) {
	_, err := Load([]string{"GATEWAY_MAX_BODY=x", "GATEWAY_RING_TIMEOUT=5"})
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if lines[0] != "invalid configuration:" {
		t.Errorf("first line %q", lines[0])
	}
	want := []string{"GATEWAY_RING_TIMEOUT", "GATEWAY_MAX_BODY", "GATEWAY_PUBLIC_URL"} // in the order of the settings
	if len(lines) != 1+len(want) {
		t.Fatalf("%d lines, want %d: %q", len(lines), 1+len(want), err)
	}
	for i, v := range want {
		if !strings.HasPrefix(lines[1+i], "  "+v+": ") {
			t.Errorf("line %d = %q, want it to name %s", 1+i, lines[1+i], v)
		}
	}
}
