package config

import (
	"maps"
	"reflect"
	"slices"
)

// Part is a provider's section of the configuration, whatever its type, as
// Load, Usage and Validate handle it. Make one with NewSection: only a
// *Section implements it.
type Part interface {
	// Key names the section's variables: GATEWAY_<Key>_<field>.
	Key() string
	// Desc says what the section configures and which of its variables
	// enable it; gateway -h shows it.
	Desc() string
	// Type is the section's struct type.
	Type() reflect.Type
	// zero returns a pointer to a new section value holding no settings.
	zero() reflect.Value
	// defaults returns the section's Defaults.
	defaults() reflect.Value
	// check adds the section's own problems with the value at v (a
	// pointer).
	check(v reflect.Value, c Checker)
}

// Section is a provider's section of the configuration: a struct T whose
// fields are settings tagged as Config's are (envconfig, default, desc,
// secret), read from GATEWAY_<Key>_<field>. A field tagged credential:"true"
// enables the section: when one is set, every one is required. A field
// tagged check:"url" must be an absolute http or https URL. The adapter
// package that declares the section defines T; config knows no provider.
type Section[T any] struct {
	key, desc string
	// Defaults holds the settings' defaults: a field it sets overrides
	// the field's default tag, so that a default the adapter also uses (a
	// production URL) is written once, in the adapter.
	Defaults T
	// Check adds the problems of a T beyond its tags; nil for none.
	Check func(v T, c Checker)
}

// NewSection returns the section of T read under GATEWAY_<key>_, which desc
// describes (naming the variables that enable it) in gateway -h, with the
// defaults and the check given (see Section).
func NewSection[T any](key, desc string, defaults T, check func(T, Checker)) *Section[T] {
	if reflect.TypeFor[T]().Kind() != reflect.Struct {
		panic("config: a section is a struct") // a programming error
	}
	return &Section[T]{key: key, desc: desc, Defaults: defaults, Check: check}
}

// Key returns the name after GATEWAY_ of the section's variables.
func (s *Section[T]) Key() string { return s.key }

// Desc returns the section's description.
func (s *Section[T]) Desc() string { return s.desc }

// Type returns T.
func (s *Section[T]) Type() reflect.Type { return reflect.TypeFor[T]() }

func (s *Section[T]) zero() reflect.Value { return reflect.New(reflect.TypeFor[T]()) }

func (s *Section[T]) defaults() reflect.Value { return reflect.ValueOf(s.Defaults) }

func (s *Section[T]) check(v reflect.Value, c Checker) {
	if s.Check != nil {
		s.Check(*v.Interface().(*T), c)
	}
}

// Get returns the section's settings in c: its defaults overridden by the
// environment c was loaded from, or as Set left them. A configuration
// loaded without the section gives T's zero value.
func (s *Section[T]) Get(c Config) T {
	for _, sv := range c.sections {
		if sv.part == Part(s) {
			return *sv.value.Interface().(*T)
		}
	}
	var zero T
	return zero
}

// Set replaces the section's settings in c (adding the section when c was
// loaded without it). Copies of c made before are unchanged.
func (s *Section[T]) Set(c *Config, v T) {
	p := reflect.New(reflect.TypeFor[T]())
	p.Elem().Set(reflect.ValueOf(v))
	c.sections = slices.Clone(c.sections)
	for i, sv := range c.sections {
		if sv.part == Part(s) {
			c.sections[i].value = p
			return
		}
	}
	c.sections = append(c.sections, sectionValue{part: s, value: p})
}

// sectionValue is a section's settings in a Config.
type sectionValue struct {
	part  Part
	value reflect.Value // a pointer to the section's struct
}

// withSections returns c holding a new value of each part, in order; a
// part given twice (two adapters of one provider share its section) is held
// once.
func withSections(c Config, parts []Part) Config {
	c.sections = nil
	for _, p := range parts {
		if !slices.ContainsFunc(c.sections, func(sv sectionValue) bool { return sv.part == p }) {
			c.sections = append(c.sections, sectionValue{part: p, value: p.zero()})
		}
	}
	return c
}

// Checker collects the problems of one section for its Check function.
type Checker struct {
	prefix string // GATEWAY_<Key>_
	p      *problems
}

// Var returns the environment variable of the section's field key
// ("API_URL" gives GATEWAY_ZOOM_API_URL), for messages that name another.
func (c Checker) Var(key string) string { return c.prefix + key }

// Add names a problem with the section's variable key ("API_URL"); format
// and args say what is wrong, never repeating a secret.
func (c Checker) Add(key, format string, args ...any) {
	c.p.add(c.Var(key), format, args...)
}

// AnyCredential reports whether any field of a section value tagged
// credential:"true" is set: a section's Enabled method.
func AnyCredential(section any) bool {
	set, _ := credentials(section)
	return len(set) > 0
}

// validateSections checks every section: all of its credentials when one is
// set, its URLs, then its own Check.
func (c Config) validateSections(p *problems) {
	for _, sv := range c.sections {
		prefix := Prefix + "_" + sv.part.Key() + "_"
		section := sv.value.Elem().Interface()
		if set, missing := credentials(section); len(set) > 0 && len(missing) > 0 {
			for _, m := range missing {
				p.add(prefix+m, "missing: %s is set, so the section needs all its credentials", prefix+set[0])
			}
		}
		urls := map[string]string{}
		t := sv.value.Elem().Type()
		for i := range t.NumField() {
			if f := t.Field(i); f.Tag.Get("check") == "url" {
				urls[f.Tag.Get("envconfig")] = sv.value.Elem().Field(i).String()
			}
		}
		for _, name := range slices.Sorted(maps.Keys(urls)) {
			if msg := checkProviderURL(urls[name]); msg != "" {
				p.add(prefix+name, "%s", msg)
			}
		}
		sv.part.check(sv.value, Checker{prefix: prefix, p: p})
	}
}
