package whatsapp

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

// Spec is the Cloud API's official OpenAPI document (OpenAPI 3.1, loaded
// with kin-openapi), for checking the requests sent to the messages
// endpoint and the answers to them.
//
// One correction is applied when loading: the document's message types
// (TextMessage, ...) are each an allOf of BaseMessageProperties and an
// object with "additionalProperties: false" that lists only its own
// properties, so that, read literally, every message is refused because of
// its messaging_product, recipient_type and to. The base properties are
// added to those objects, which is what the document means; the check stays
// closed to any other property.
type Spec struct {
	doc    *openapi3.T
	router routers.Router
	server *url.URL
}

// LoadSpec loads the OpenAPI document at path and corrects it as described
// on Spec.
func LoadSpec(path string) (*Spec, error) {
	l := openapi3.NewLoader()
	doc, err := l.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("whatsapp spec: %w", err)
	}
	if doc.Components == nil || doc.Components.Schemas["BaseMessageProperties"] == nil {
		return nil, errors.New("whatsapp spec: no BaseMessageProperties schema")
	}
	base := doc.Components.Schemas["BaseMessageProperties"].Value
	for _, ref := range doc.Components.Schemas {
		s := ref.Value
		if s == nil || !hasRef(s.AllOf, "#/components/schemas/BaseMessageProperties") {
			continue
		}
		for _, el := range s.AllOf {
			v := el.Value
			if el.Ref != "" || v == nil || v.AdditionalProperties.Has == nil || *v.AdditionalProperties.Has {
				continue
			}
			for k, p := range base.Properties {
				if _, ok := v.Properties[k]; !ok {
					v.Properties[k] = p
				}
			}
		}
	}
	if len(doc.Servers) == 0 {
		return nil, errors.New("whatsapp spec: no server")
	}
	server, err := url.Parse(doc.Servers[0].URL)
	if err != nil {
		return nil, fmt.Errorf("whatsapp spec: server URL: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("whatsapp spec: %w", err)
	}
	return &Spec{doc: doc, router: router, server: server}, nil
}

func hasRef(refs openapi3.SchemaRefs, ref string) bool {
	for _, r := range refs {
		if r.Ref == ref {
			return true
		}
	}
	return false
}

// Check checks one exchange: the request (method, URL path, headers, body)
// against its operation, and the response (status, headers, body) against
// the operation's responses. The request is matched against the document's
// own server (graph.facebook.com) whatever host it was sent to.
func (s *Spec) Check(ctx context.Context, r *http.Request, reqBody []byte, status int, respHeader http.Header, respBody []byte) error {
	in, err := speccheck.Find(ctx, s.router, s.server, r, reqBody)
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, err)
	}
	return speccheck.Validate(ctx, in, openapi3filter.NoopAuthenticationFunc, status, respHeader, respBody)
}

// CheckingTransport is an http.RoundTripper that checks every exchange with
// the Graph API (paths under /v) against a Spec and keeps the failures.
type CheckingTransport struct {
	Base http.RoundTripper
	Spec *Spec

	speccheck.Log
}

// RoundTrip sends the request through Base and checks the exchange.
func (t *CheckingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(r.URL.Path, "/v") {
		return speccheck.Base(t.Base).RoundTrip(r)
	}
	x, err := speccheck.Do(t.Base, r)
	if err != nil {
		return x.Response, err
	}
	speccheck.Add(&t.Log, r, t.Spec.Check(r.Context(), r, x.RequestBody, x.Response.StatusCode, x.Response.Header, x.Body))
	return x.Response, nil
}

// Interface guards
var _ http.RoundTripper = (*CheckingTransport)(nil)
