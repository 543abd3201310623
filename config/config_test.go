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
		Addr:               "127.0.0.1:8080",
		DataDir:            "./data",
		SQLiteSynchronous:  "full",
		PublicURL:          "https://gateway.example.org",
		LogLevel:           "info",
		RingTimeout:        20 * time.Second,
		Budget:             60 * time.Second,
		LeaseTTL:           30 * time.Second,
		HeartbeatStale:     90 * time.Second,
		SweepInterval:      2 * time.Second,
		RetryMin:           200 * time.Millisecond,
		RetryMax:           3 * time.Second,
		MaxCall:            30 * time.Minute,
		OwnerTTL:           10 * time.Second,
		ReportGrace:        2 * time.Second,
		DeskCalls:          1,
		MaxBody:            65536,
		ReadHeaderTimeout:  10 * time.Second,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        75 * time.Second,
		MaxHeaderBytes:     32768,
		MaxConns:           4096,
		MaxStreams:         16,
		ForceName:          "Metropolitan Police",
		NumberRegion:       "GB",
		TimeZone:           "Europe/London",
		PublicRate:         20,
		PublicBurst:        10,
		ClientIPHeader:     "X-Forwarded-For",
		RosterInterval:     5 * time.Minute,
		RosterStale:        24 * time.Hour,
		SignNewCredential:  72 * time.Hour,
		SignChecksFactor:   3,
		SignChecksMin:      5,
		SignNeverConnected: 2,
		SignRefusals:       1,
		BreakerFailures:    5,
		BreakerCooldown:    30 * time.Second,
		DeviceBatteryFloor: 15,
		ConsoleSession:     12 * time.Hour,
		LiveAfter:          15 * time.Minute,
		LogSequence:        time.Second,
		LogCheckpoint:      5 * time.Second,
		RetentionPersonal:  8760 * time.Hour,
		RetentionInterval:  time.Hour,
		IncidentRetryFor:   24 * time.Hour,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
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
		{"incident system without a secret", "GATEWAY_INCIDENT_URL=https://cad.example.org/hooks", "GATEWAY_INCIDENT_SECRET", "required"},
		{"incident secret without a system", "GATEWAY_INCIDENT_SECRET=whsec_c2VjcmV0", "GATEWAY_INCIDENT_URL", "required"},
		{"incident system plain http", "GATEWAY_INCIDENT_URL=http://cad.example.org/hooks", "GATEWAY_INCIDENT_URL", "https"},
		{"incident retry window zero", "GATEWAY_INCIDENT_RETRY_FOR=0s", "GATEWAY_INCIDENT_RETRY_FOR", "positive"},
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(tt.env); err != nil {
				t.Error(err)
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
		if !f.IsExported() { // the providers' sections, which Load is given
			continue
		}
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

func TestCallerKey(t *testing.T) {
	for _, tt := range []struct {
		key     string
		missing []string
	}{
		{"short", []string{"GATEWAY_CALLER_KEY"}},
		{strings.Repeat("k", 31), []string{"GATEWAY_CALLER_KEY"}},
		{strings.Repeat("k", 32), nil},
	} {
		c, err := Load(append(slices.Clone(valid), "GATEWAY_CALLER_KEY="+tt.key))
		if got := problemVars(t, err); !slices.Equal(got, tt.missing) {
			t.Errorf("a caller key of %d characters: error names %v, want %v (%v)", len(tt.key), got, tt.missing, err)
		}
		if c.CallerKey != tt.key {
			t.Errorf("CallerKey = %q, want %q", c.CallerKey, tt.key)
		}
	}
}
