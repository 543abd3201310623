package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/safeconnection/gateway/mocks/speccheck"
)

// checked reports whether a spec path is one of the operations the gateway
// uses: only these are kept when a document is loaded, so that routing
// stays quick.
func checked(path string) bool {
	switch path {
	case "/2010-04-01/Accounts/{AccountSid}/Calls.json",
		"/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json",
		"/2010-04-01/Accounts/{AccountSid}/Messages.json",
		"/v1/Rooms",
		"/v1/Rooms/{Sid}":
		return true
	}
	return false
}

// Spec holds Twilio's official OpenAPI documents (twilio-oai's
// twilio_api_v2010.json and twilio_video_v1.json), reduced to the Calls,
// Messages and Rooms operations the gateway uses, for checking requests sent to
// Twilio and the answers to them with kin-openapi.
type Spec struct {
	specs []loaded
}

type loaded struct {
	router routers.Router
	server *url.URL
	paths  []string // spec paths, to pick the document for a request
}

// LoadSpec loads the OpenAPI documents at paths (JSON or YAML).
func LoadSpec(paths ...string) (*Spec, error) {
	s := &Spec{}
	for _, p := range paths {
		doc, err := openapi3.NewLoader().LoadFromFile(p)
		if err != nil {
			return nil, fmt.Errorf("twilio spec %s: %w", p, err)
		}
		kept := openapi3.NewPaths()
		var names []string
		for name, item := range doc.Paths.Map() {
			if checked(name) {
				kept.Set(name, item)
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("twilio spec %s: none of the Calls or Rooms operations", p)
		}
		var server string
		for _, name := range names {
			if item := kept.Value(name); len(item.Servers) > 0 {
				server = item.Servers[0].URL
			}
		}
		if server == "" && len(doc.Servers) > 0 {
			server = doc.Servers[0].URL
		}
		su, err := url.Parse(server)
		if err != nil || su.Host == "" {
			return nil, fmt.Errorf("twilio spec %s: no usable server URL %q", p, server)
		}
		doc.Paths = kept
		formObjectsAsStrings(doc)
		router, err := gorillamux.NewRouter(doc)
		if err != nil {
			return nil, fmt.Errorf("twilio spec %s: %w", p, err)
		}
		s.specs = append(s.specs, loaded{router: router, server: su, paths: names})
	}
	return s, nil
}

// formObjectsAsStrings corrects the documents for kin-openapi: a form
// parameter that carries a JSON document (Rooms' RecordingRules and
// TranscriptionsConfiguration, typed object or untyped) is a string on the
// wire, and kin-openapi's form decoder cannot decode it otherwise.
func formObjectsAsStrings(doc *openapi3.T) {
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			mt := op.RequestBody.Value.Content.Get("application/x-www-form-urlencoded")
			if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
				continue
			}
			for name, p := range mt.Schema.Value.Properties {
				v := p.Value
				if v == nil || v.Type.Is("string") || v.Type.Is("boolean") || v.Type.Is("integer") || v.Type.Is("number") || v.Type.Is("array") || p.Ref != "" {
					continue
				}
				if len(v.Properties) > 0 {
					continue
				}
				c := *v
				c.Type = &openapi3.Types{openapi3.TypeString}
				mt.Schema.Value.Properties[name] = openapi3.NewSchemaRef("", &c)
			}
		}
	}
}

// Check checks one exchange: the request (method, path, headers, form
// body) against its operation, and a 2xx response (status, headers, JSON
// body) against the operation's responses. The request is matched against
// the document's own server (api.twilio.com, video.twilio.com) whatever host
// it was sent to. Error responses are not checked: the documents do not
// describe them.
func (s *Spec) Check(ctx context.Context, r *http.Request, reqBody []byte, status int, respHeader http.Header, respBody []byte) error {
	var lastErr error
	for _, l := range s.specs {
		in, err := speccheck.Find(ctx, l.router, l.server, r, reqBody)
		if err != nil {
			lastErr = err
			continue
		}
		return speccheck.Validate(ctx, in, basicAuthPresent, status, respHeader, respBody)
	}
	return fmt.Errorf("%s %s: no operation in the specs: %w", r.Method, r.URL.Path, lastErr)
}

// basicAuthPresent checks the documents' security scheme
// (accountSid_authToken: HTTP Basic): the fake checks the credentials.
func basicAuthPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if _, _, ok := in.RequestValidationInput.Request.BasicAuth(); !ok {
		return errors.New("no HTTP Basic credentials")
	}
	return nil
}

// CheckingTransport is an http.RoundTripper that checks every exchange with
// the Calls, Messages and Rooms APIs against a Spec and keeps the failures. Put it
// under the adapter's HTTP client in tests.
type CheckingTransport struct {
	Base http.RoundTripper // default http.DefaultTransport
	Spec *Spec

	speccheck.Log
}

// RoundTrip sends the request through Base and checks the exchange.
func (t *CheckingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.Contains(r.URL.Path, "/Calls") && !strings.HasSuffix(r.URL.Path, "/Messages.json") && !strings.HasPrefix(r.URL.Path, "/v1/Rooms") {
		return speccheck.Base(t.Base).RoundTrip(r)
	}
	x, err := speccheck.Do(t.Base, r)
	if err != nil || x.Cut { // a cut answer: nothing to check
		return x.Response, err
	}
	speccheck.Add(&t.Log, r, t.Spec.Check(r.Context(), r, x.RequestBody, x.Response.StatusCode, x.Response.Header, x.Body))
	return x.Response, nil
}

// Interface guards
var _ http.RoundTripper = (*CheckingTransport)(nil)
