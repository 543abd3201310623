package config

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// signal is a section of a provider the package does not know.
type signal struct {
	Number  string `envconfig:"NUMBER" desc:"the number the gateway calls from" credential:"true"`
	Key     string `envconfig:"KEY" desc:"the API key" credential:"true" secret:"true"`
	APIURL  string `envconfig:"API_URL" default:"https://tag.example" desc:"the API's base URL" check:"url"`
	Version string `envconfig:"VERSION" default:"v1" desc:"the API version"`
}

var signalSection = NewSection("SIGNAL", "Signal: calls through its API. Enabled by GATEWAY_SIGNAL_NUMBER and GATEWAY_SIGNAL_KEY",
	signal{APIURL: "https://api.signal.example"},
	func(s signal, c Checker) {
		if s.Version == "v0" {
			c.Add("VERSION", "%s is retired", c.Var("VERSION"))
		}
	})

func TestSectionReadAndChecked(t *testing.T) {
	c, err := Load(valid, signalSection)
	if err != nil {
		t.Fatal(err)
	}
	// Defaults wins over the default tag; the tag serves the rest.
	if got, want := signalSection.Get(c), (signal{APIURL: "https://api.signal.example", Version: "v1"}); got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	if AnyCredential(signalSection.Get(c)) {
		t.Error("the section is enabled with no credentials")
	}

	c, err = Load(append(slices.Clone(valid), "GATEWAY_SIGNAL_NUMBER=+447700900001", "GATEWAY_SIGNAL_KEY=k", "GATEWAY_SIGNAL_VERSION=v2"), signalSection)
	if err != nil {
		t.Fatal(err)
	}
	if s := signalSection.Get(c); s.Number != "+447700900001" || s.Key != "k" || s.Version != "v2" || !AnyCredential(s) {
		t.Errorf("read %+v", s)
	}
	f := c.LogFields()
	if f["GATEWAY_SIGNAL_KEY"] != "(set)" || f["GATEWAY_SIGNAL_NUMBER"] != "+447700900001" {
		t.Errorf("log fields %v", f)
	}
	if len(f) != len(settings(&c)) {
		t.Errorf("%d fields for %d settings", len(f), len(settings(&c)))
	}

	_, err = Load(append(slices.Clone(valid), "GATEWAY_SIGNAL_KEY=k", "GATEWAY_SIGNAL_API_URL=api", "GATEWAY_SIGNAL_VERSION=v0", "GATEWAY_SIGNAL_NUMBR=1"), signalSection)
	want := []string{"GATEWAY_SIGNAL_NUMBR", "GATEWAY_SIGNAL_NUMBER", "GATEWAY_SIGNAL_API_URL", "GATEWAY_SIGNAL_VERSION"}
	if got := problemVars(t, err); !slices.Equal(got, want) {
		t.Errorf("problems %v, want %v (%v)", got, want, err)
	}
	if msg := problemFor(t, err, "GATEWAY_SIGNAL_NUMBR"); !strings.Contains(msg, "did you mean GATEWAY_SIGNAL_NUMBER?") {
		t.Errorf("message %q", msg)
	}
	if msg := problemFor(t, err, "GATEWAY_SIGNAL_VERSION"); msg != "GATEWAY_SIGNAL_VERSION is retired" {
		t.Errorf("the section's own check says %q", msg)
	}

	// Without the section its variables are not settings.
	_, err = Load(append(slices.Clone(valid), "GATEWAY_SIGNAL_KEY=k"))
	if got := problemVars(t, err); !slices.Equal(got, []string{"GATEWAY_SIGNAL_KEY"}) {
		t.Errorf("problems without the section %v", got)
	}
}

func TestSectionSetLeavesCopies(t *testing.T) {
	c, err := LoadDemo(nil, signalSection, signalSection)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.sections); n != 1 {
		t.Errorf("a section given twice is held %d times", n)
	}
	before := c
	s := signalSection.Get(c)
	s.Number = "+447700900002"
	signalSection.Set(&c, s)
	if signalSection.Get(c).Number != "+447700900002" || signalSection.Get(before).Number != "" {
		t.Errorf("after Set: %+v, and the copy made before: %+v", signalSection.Get(c), signalSection.Get(before))
	}
}

func TestSectionUsage(t *testing.T) {
	var buf bytes.Buffer
	if err := Usage(&buf, signalSection); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"GATEWAY_SIGNAL_API_URL (string, default https://api.signal.example)\n    the API's base URL\n",
		"GATEWAY_SIGNAL_VERSION (string, default v1)\n",
		"Each provider is off until its credentials are set, and then needs all of them:\n\n  Signal: calls through its API.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
}
