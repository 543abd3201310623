package config

import (
	"fmt"
	"io"
	"net/url"
	"reflect"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// usageFormat is the envconfig usage template: one row per variable.
const usageFormat = `The gateway is configured by these environment variables:

VARIABLE	TYPE	DEFAULT	DESCRIPTION
{{range .}}{{usage_key .}}	{{usage_type .}}	{{usage_default .}}	{{usage_description .}}
{{end}}`

// Usage writes every variable with its type, default and description, then
// what enables each provider section.
func Usage(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	if err := envconfig.Usagef(Prefix, &Config{}, tw, usageFormat); err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "\nEach provider is off until its credentials are set, and then needs all of them:\n"); err != nil {
		return err
	}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if f := t.Field(i); f.Type.Kind() == reflect.Struct {
			if _, err := fmt.Fprintf(w, "  %s\n", f.Tag.Get("desc")); err != nil {
				return err
			}
		}
	}
	return nil
}

// LogFields returns every setting by variable name, fit to log at start-up:
// secrets show only whether they are set, and a password in the store URL
// is masked.
func (c Config) LogFields() map[string]any {
	out := make(map[string]any)
	for _, s := range settings(&c) {
		v := s.value.Interface()
		switch s.field.Tag.Get("secret") {
		case "true":
			if s.value.String() != "" {
				v = "(set)"
			}
		case "url":
			if u, err := url.Parse(s.value.String()); err == nil {
				v = u.Redacted()
			} else if s.value.String() != "" {
				v = "(set)"
			}
		}
		if d, ok := v.(time.Duration); ok {
			v = d.String()
		}
		out[s.key] = v
	}
	return out
}
