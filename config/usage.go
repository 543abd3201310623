package config

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// usageFormat is the envconfig usage template: one record per variable,
// its fields separated by unit separators, for Usage to lay out.
const usageFormat = "{{range .}}{{usage_key .}}\x1f{{usage_type .}}\x1f{{usage_default .}}\x1f{{usage_description .}}\n{{end}}"

// usageWidth is the width Usage wraps descriptions at.
const usageWidth = 80

// Usage writes every variable with its type, default and description, each
// on lines of its own wrapped to 80 columns, the variables of each of the
// providers' sections (parts) after the gateway's own, then what enables
// each section.
func Usage(w io.Writer, parts ...Part) error {
	var rows bytes.Buffer
	if err := envconfig.Usagef(Prefix, &Config{}, &rows, usageFormat); err != nil {
		return err
	}
	c := withSections(Config{}, parts)
	for _, sv := range c.sections {
		if err := envconfig.Usagef(Prefix+"_"+sv.part.Key(), sv.value.Interface(), &rows, usageFormat); err != nil {
			return err
		}
	}
	defaults := make(map[string]string) // a section's Defaults override its tags
	for _, s := range settings(&c) {
		defaults[s.key] = s.def
	}
	var b strings.Builder
	b.WriteString("The gateway is configured by these environment variables:\n")
	for _, line := range strings.Split(strings.TrimSuffix(rows.String(), "\n"), "\n") {
		f := strings.Split(line, "\x1f")
		if len(f) != 4 {
			continue
		}
		f[2] = defaults[f[0]]
		head := fmt.Sprintf("%s (%s", f[0], strings.ToLower(f[1]))
		switch {
		case f[2] == "":
			head += ")"
		case len(head)+len(", default )")+len(f[2]) <= usageWidth:
			head += ", default " + f[2] + ")"
		default: // a long default (a URL) has a line of its own
			head += ")\n    default " + f[2]
		}
		fmt.Fprintf(&b, "\n%s\n", head)
		writeWrapped(&b, f[3], "    ")
	}
	if len(c.sections) > 0 {
		b.WriteString("\nEach provider is off until its credentials are set, and then needs all of them:\n")
	}
	for _, sv := range c.sections {
		b.WriteString("\n")
		writeWrapped(&b, sv.part.Desc(), "  ")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeWrapped writes text in lines of at most usageWidth columns, each
// starting with indent; a word longer than a line has a line of its own.
func writeWrapped(b *strings.Builder, text, indent string) {
	col := 0
	for _, word := range strings.Fields(text) {
		switch {
		case col == 0:
			b.WriteString(indent)
			col = len(indent)
		case col+1+len(word) > usageWidth:
			b.WriteString("\n")
			b.WriteString(indent)
			col = len(indent)
		default:
			b.WriteString(" ")
			col++
		}
		b.WriteString(word)
		col += len(word)
	}
	if col > 0 {
		b.WriteString("\n")
	}
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
