package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	Var     string // the environment variable, GATEWAY_...
	Message string
}

// Error lists every problem found with the configuration.
type Error struct {
	Problems []Problem
}

// Error names every problem, one per line under a heading line, so that a
// long list reads at a glance.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Var)
		b.WriteString(": ")
		b.WriteString(p.Message)
	}
	return b.String()
}

// Vars returns the variables the problems name, in order.
func (e *Error) Vars() []string {
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p.Var
	}
	return out
}

// problems collects Problems; err returns nil when there are none.
type problems []Problem

func (p *problems) add(v, format string, args ...any) {
	*p = append(*p, Problem{Var: v, Message: fmt.Sprintf(format, args...)})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &Error{Problems: p}
}

// Load reads the settings from environ ("KEY=value" entries, as
// os.Environ returns; when a key repeats, the last entry wins), then checks
// that every GATEWAY_* variable is a setting and validates the result for
// production use: Validate(false). parts are the providers' sections, read
// and checked with the rest. The error, an *Error, names every problem at
// once.
func Load(environ []string, parts ...Part) (Config, error) { return load(environ, false, parts) }

// LoadStoreOnly is Load for the commands that only open the store
// (gateway token): GATEWAY_PUBLIC_URL, which they do not use, is not
// required; every value set is still checked.
func LoadStoreOnly(environ []string, parts ...Part) (Config, error) {
	return load(environ, true, parts)
}

// LoadDemo is Load for the demo, which runs every provider simulated:
// Validate(true).
func LoadDemo(environ []string, parts ...Part) (Config, error) { return load(environ, true, parts) }

func load(environ []string, demo bool, parts []Part) (Config, error) {
	c, err := Process(environ, parts...)
	all := problemsOf(err)
	all = append(all, problemsOf(CheckDisallowed(environ, parts...))...)
	all = append(all, problemsOf(c.Validate(demo))...)
	return c, all.err()
}

func problemsOf(err error) problems {
	if e, ok := err.(*Error); ok {
		return e.Problems
	}
	return nil
}

// Process returns the defaults overridden by the settings in environ. Like
// envconfig.Process it honours the default tag and nested sections, and a
// value set but empty is empty, not the default; unlike it, it reads only
// the prefixed names (envconfig would also take ADDR or TOKEN unprefixed)
// and names every value that does not parse, leaving the default there.
// parts are the providers' sections to read besides the gateway's own
// settings. The error is an *Error.
func Process(environ []string, parts ...Part) (Config, error) {
	env := parseEnviron(environ)
	c := withSections(Config{}, parts)
	var p problems
	for _, s := range settings(&c) {
		value, ok := env[s.key]
		if !ok {
			value = s.def
			if value == "" {
				continue
			}
		}
		if err := set(s.value, value); err != nil {
			p.add(s.key, "%s", describeParseError(s, value, ok, err))
			if def := s.def; ok && def != "" {
				_ = set(s.value, def)
			}
		}
	}
	return c, p.err()
}

// parseEnviron turns "KEY=value" entries into a map; the last of a repeated
// key wins, as with exec.Cmd's Env.
func parseEnviron(environ []string) map[string]string {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		env[k] = v
	}
	return env
}

// setting is one variable: its name and the field that holds it.
type setting struct {
	key     string
	field   reflect.StructField
	value   reflect.Value // settable
	section string        // the section's key (or Go name), "" at the top level
	def     string        // the default: the default tag's, or the section's Defaults
}

var durationType = reflect.TypeFor[time.Duration]()

// settings lists c's variables in declaration order, then its sections'
// in theirs, naming them as envconfig does: the prefix, then for a nested
// struct (a section) its own name, then the field's envconfig tag (or its
// name), upper-cased, joined by "_".
func settings(c *Config) []setting {
	out := gather(Prefix, reflect.ValueOf(c).Elem(), reflect.Value{}, "")
	for _, sv := range c.sections {
		out = append(out, gather(Prefix+"_"+sv.part.Key(), sv.value.Elem(), sv.part.defaults(), sv.part.Key())...)
	}
	return out
}

// gather lists the settings of struct v; defaults, when valid, is a value
// of v's type whose non-zero fields are the defaults (else the fields'
// default tags are).
func gather(prefix string, v, defaults reflect.Value, section string) []setting {
	var out []setting
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("ignored") == "true" {
			continue
		}
		name := f.Tag.Get("envconfig")
		if name == "" {
			name = f.Name
		}
		key := strings.ToUpper(prefix + "_" + name)
		if f.Type.Kind() == reflect.Struct {
			out = append(out, gather(key, v.Field(i), reflect.Value{}, f.Name)...)
			continue
		}
		def := f.Tag.Get("default")
		if defaults.IsValid() && !defaults.Field(i).IsZero() {
			def = format(defaults.Field(i))
		}
		out = append(out, setting{key: key, field: f, value: v.Field(i), section: section, def: def})
	}
	return out
}

// format writes v as a variable would hold it.
func format(v reflect.Value) string {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	return fmt.Sprint(v.Interface())
}

// set parses value into v as envconfig does for the kinds the Config uses.
func set(v reflect.Value, value string) error {
	t := v.Type()
	switch {
	case t == durationType:
		d, err := time.ParseDuration(value)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	case t.Kind() == reflect.String:
		v.SetString(value)
		return nil
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		n, err := strconv.ParseInt(value, 0, t.Bits())
		if err != nil {
			return err
		}
		v.SetInt(n)
		return nil
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		n, err := strconv.ParseUint(value, 0, t.Bits())
		if err != nil {
			return err
		}
		v.SetUint(n)
		return nil
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return err
		}
		v.SetBool(b)
		return nil
	}
	return fmt.Errorf("unsupported type %s", t)
}

// describeParseError says what is wrong with a value and how to write it.
func describeParseError(s setting, value string, set bool, err error) string {
	def := s.def
	if !set {
		return fmt.Sprintf("the default %q does not parse: %v", def, err)
	}
	if value == "" {
		if def != "" {
			return fmt.Sprintf("set but empty: unset it for the default %s", def)
		}
		return "set but empty: unset it or give a value"
	}
	t := s.value.Type()
	switch {
	case t == durationType:
		if _, err := strconv.ParseFloat(value, 64); err == nil {
			return fmt.Sprintf("%q has no unit: write a duration such as 20s, 1m30s or 500ms", value)
		}
		return fmt.Sprintf("%q is not a duration: write one such as 20s, 1m30s or 500ms", value)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return fmt.Sprintf("%q is out of range for a %s", value, t)
		}
		return fmt.Sprintf("%q is not a whole number", value)
	case t.Kind() == reflect.Bool:
		return fmt.Sprintf("%q is not true or false", value)
	}
	return fmt.Sprintf("%q: %v", value, err)
}

// CheckDisallowed returns an *Error naming every GATEWAY_* variable in
// environ that is not a setting, with the setting it most likely means. A
// variable that differs from a setting only in case is named too. parts
// are the providers' sections, whose variables are settings.
func CheckDisallowed(environ []string, parts ...Part) error {
	c := withSections(Config{}, parts)
	known := make(map[string]bool)
	var keys []string
	for _, s := range settings(&c) {
		known[s.key] = true
		keys = append(keys, s.key)
	}
	var p problems
	seen := make(map[string]bool)
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || seen[k] || known[k] || !strings.HasPrefix(strings.ToUpper(k), Prefix+"_") {
			continue
		}
		seen[k] = true
		if s := suggest(k, keys); s != "" {
			p.add(k, "not a setting; did you mean %s?", s)
		} else {
			p.add(k, "not a setting (gateway -h lists them)")
		}
	}
	return p.err()
}

// suggest returns the key nearest to k by edit distance, ignoring case, when
// it is near enough to be a likely slip; else "".
func suggest(k string, keys []string) string {
	u := strings.ToUpper(k)
	best, bestD := "", -1
	for _, key := range keys {
		d := levenshtein(u, key)
		if bestD < 0 || d < bestD {
			best, bestD = key, d
		}
	}
	limit := max(2, len(strings.TrimPrefix(u, Prefix+"_"))/4)
	if bestD < 0 || bestD > limit {
		return ""
	}
	return best
}

// levenshtein returns the edit distance between a and b.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
