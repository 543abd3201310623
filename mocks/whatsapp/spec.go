package whatsapp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
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
	u := *r.URL
	u.Scheme, u.Host = s.server.Scheme, s.server.Host
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(reqBody))
	if err != nil {
		return err
	}
	req.Header = r.Header.Clone()
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	var errs []error
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		errs = append(errs, fmt.Errorf("request: %w", err))
	}
	if status >= 200 && status < 300 {
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: status, Header: respHeader,
			Body:    io.NopCloser(bytes.NewReader(respBody)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			errs = append(errs, fmt.Errorf("response: %w", err))
		}
	}
	return errors.Join(errs...)
}

// CheckingTransport is an http.RoundTripper that checks every exchange with
// the Graph API (paths under /v) against a Spec and keeps the failures.
type CheckingTransport struct {
	Base http.RoundTripper
	Spec *Spec

	mu   sync.Mutex
	errs []error
	n    int
}

// RoundTrip sends the request through Base and checks the exchange.
func (t *CheckingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(r.URL.Path, "/v") {
		return t.base().RoundTrip(r)
	}
	var reqBody []byte
	if r.Body != nil {
		reqBody, _ = io.ReadAll(r.Body)
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := t.base().RoundTrip(r)
	if err != nil {
		return resp, err
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	cerr := t.Spec.Check(r.Context(), r, reqBody, resp.StatusCode, resp.Header, respBody)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	if cerr != nil {
		t.errs = append(t.errs, fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, cerr))
	}
	return resp, nil
}

func (t *CheckingTransport) base() http.RoundTripper {
	if t.Base == nil {
		return http.DefaultTransport
	}
	return t.Base
}

// Checked returns how many exchanges were checked and the failures.
func (t *CheckingTransport) Checked() (int, []error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n, append([]error(nil), t.errs...)
}

// Interface guards
var _ http.RoundTripper = (*CheckingTransport)(nil)
