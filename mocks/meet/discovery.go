package meet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/safeconnection/gateway/mocks/speccheck"
)

// Discovery is the part of a Google API discovery document needed to check
// requests and responses: its methods and schemas. Google's discovery
// format is not OpenAPI, so it has its own small checker here.
type Discovery struct {
	RootURL   string                     `json:"rootUrl"`
	Schemas   map[string]*Schema         `json:"schemas"`
	Resources map[string]json.RawMessage `json:"resources"`
	methods   []*Method
}

// Schema is a discovery schema: a type, a reference to another schema, or
// an object's properties.
type Schema struct {
	ID                   string             `json:"id"`
	Type                 string             `json:"type"`
	Format               string             `json:"format"`
	Ref                  string             `json:"$ref"`
	Enum                 []string           `json:"enum"`
	Items                *Schema            `json:"items"`
	Properties           map[string]*Schema `json:"properties"`
	AdditionalProperties *Schema            `json:"additionalProperties"`
	ReadOnly             bool               `json:"readOnly"`
}

// Method is a discovery method: an HTTP method on a path, with its
// parameters, request and response schemas.
type Method struct {
	ID         string               `json:"id"`
	HTTPMethod string               `json:"httpMethod"`
	Path       string               `json:"path"`
	FlatPath   string               `json:"flatPath"`
	Parameters map[string]Parameter `json:"parameters"`
	Request    *struct {
		Ref string `json:"$ref"`
	} `json:"request"`
	Response *struct {
		Ref string `json:"$ref"`
	} `json:"response"`
	re *regexp.Regexp
}

// Parameter is a method's parameter.
type Parameter struct {
	Location string `json:"location"`
	Pattern  string `json:"pattern"`
	Required bool   `json:"required"`
	Type     string `json:"type"`
}

// ParseDiscovery reads a discovery document.
func ParseDiscovery(b []byte) (*Discovery, error) {
	var d Discovery
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	for _, raw := range d.Resources {
		if err := d.collect(raw); err != nil {
			return nil, err
		}
	}
	sort.Slice(d.methods, func(i, j int) bool { return d.methods[i].ID < d.methods[j].ID })
	return &d, nil
}

// collect gathers the methods of a resource and its sub-resources.
func (d *Discovery) collect(raw json.RawMessage) error {
	var res struct {
		Methods   map[string]*Method         `json:"methods"`
		Resources map[string]json.RawMessage `json:"resources"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("discovery resource: %w", err)
	}
	for _, m := range res.Methods {
		// flatPath "v2/spaces/{spacesId}:endActiveConference": each
		// {param} is one path segment.
		pat := regexp.QuoteMeta("/" + m.FlatPath)
		pat = regexp.MustCompile(`\\\{[A-Za-z]+\\\}`).ReplaceAllString(pat, `[^/:]+`)
		re, err := regexp.Compile("^" + pat + "$")
		if err != nil {
			return err
		}
		m.re = re
		d.methods = append(d.methods, m)
	}
	for _, sub := range res.Resources {
		if err := d.collect(sub); err != nil {
			return err
		}
	}
	return nil
}

// Match returns the method serving an HTTP method on a path ("/v2/spaces").
func (d *Discovery) Match(httpMethod, path string) (*Method, error) {
	for _, m := range d.methods {
		if m.HTTPMethod == httpMethod && m.re.MatchString(path) {
			return m, nil
		}
	}
	return nil, fmt.Errorf("no method for %s %s", httpMethod, path)
}

// CheckPath checks a path's parameters against the method's patterns: the
// {+name} of "v2/{+name}:endActiveConference" against "^spaces/[^/]+$".
func (m *Method) CheckPath(path string) error {
	prefix, suffix, ok := strings.Cut(m.Path, "{+")
	if !ok {
		return nil
	}
	name, rest, _ := strings.Cut(suffix, "}")
	value := strings.TrimPrefix(path, "/"+prefix)
	value = strings.TrimSuffix(value, rest)
	p, ok := m.Parameters[name]
	if !ok || p.Pattern == "" {
		return nil
	}
	if !regexp.MustCompile(p.Pattern).MatchString(value) {
		return fmt.Errorf("%s: parameter %s %q does not match %s", m.ID, name, value, p.Pattern)
	}
	return nil
}

// Check checks a JSON value against the named schema: declared properties
// only, the right types, enum values; in a request (request true) no
// read-only property.
func (d *Discovery) Check(schema string, body []byte, request bool) error {
	s, ok := d.Schemas[schema]
	if !ok {
		return fmt.Errorf("no schema %s", schema)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%s: not JSON: %w", schema, err)
	}
	var errs []error
	d.check(s, v, schema, request, &errs)
	return errors.Join(errs...)
}

func (d *Discovery) check(s *Schema, v any, at string, request bool, errs *[]error) {
	if s.Ref != "" {
		r, ok := d.Schemas[s.Ref]
		if !ok {
			*errs = append(*errs, fmt.Errorf("%s: unknown schema %s", at, s.Ref))
			return
		}
		s = r
	}
	fail := func(format string, args ...any) {
		*errs = append(*errs, fmt.Errorf(at+": "+format, args...))
	}
	switch s.Type {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			fail("want an object, got %T", v)
			return
		}
		for k, pv := range obj {
			ps, ok := s.Properties[k]
			if !ok && s.AdditionalProperties != nil {
				ps = s.AdditionalProperties
			}
			if ps == nil {
				fail("unknown property %q", k)
				continue
			}
			if request && ps.ReadOnly {
				fail("read-only property %q in a request", k)
			}
			d.check(ps, pv, at+"."+k, request, errs)
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			fail("want an array, got %T", v)
			return
		}
		for i, item := range arr {
			if s.Items != nil {
				d.check(s.Items, item, fmt.Sprintf("%s[%d]", at, i), request, errs)
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("want a string, got %T", v)
			return
		}
		if len(s.Enum) > 0 && !contains(s.Enum, str) {
			fail("%q is not one of %v", str, s.Enum)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			fail("want a boolean, got %T", v)
		}
	case "integer", "number":
		n, ok := v.(json.Number)
		if !ok {
			fail("want a number, got %T", v)
			return
		}
		if _, err := n.Int64(); s.Type == "integer" && err != nil {
			fail("want an integer, got %s", n)
		}
	case "any", "":
	default:
		fail("unknown type %s", s.Type)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CheckExchange checks one request and its response against the document:
// the method exists, its path parameters match, the request body matches
// the request schema, and a 2xx response body matches the response schema.
func (d *Discovery) CheckExchange(method, path string, reqBody []byte, status int, respBody []byte) error {
	m, err := d.Match(method, path)
	if err != nil {
		return err
	}
	var errs []error
	if err := m.CheckPath(path); err != nil {
		errs = append(errs, err)
	}
	if m.Request != nil {
		if err := d.Check(m.Request.Ref, reqBody, true); err != nil {
			errs = append(errs, fmt.Errorf("%s request: %w", m.ID, err))
		}
	} else if len(bytes.TrimSpace(reqBody)) > 0 {
		errs = append(errs, fmt.Errorf("%s takes no body", m.ID))
	}
	if status >= 200 && status < 300 && m.Response != nil {
		if err := d.Check(m.Response.Ref, respBody, false); err != nil {
			errs = append(errs, fmt.Errorf("%s response: %w", m.ID, err))
		}
	}
	return errors.Join(errs...)
}

// CheckingTransport is an http.RoundTripper that checks every exchange with
// the API (requests whose path starts with Prefix, default "/v2/") against
// a discovery document and keeps the failures.
type CheckingTransport struct {
	Base   http.RoundTripper
	Doc    *Discovery
	Prefix string

	speccheck.Log
}

// RoundTrip sends the request through Base and checks the exchange.
func (t *CheckingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	prefix := t.Prefix
	if prefix == "" {
		prefix = "/v2/"
	}
	if !strings.HasPrefix(r.URL.Path, prefix) {
		return speccheck.Base(t.Base).RoundTrip(r)
	}
	x, err := speccheck.Do(t.Base, r)
	if err != nil {
		return x.Response, err
	}
	speccheck.Add(&t.Log, r, t.Doc.CheckExchange(r.Method, r.URL.Path, x.RequestBody, x.Response.StatusCode, x.Body))
	return x.Response, nil
}

// Interface guards
var _ http.RoundTripper = (*CheckingTransport)(nil)
