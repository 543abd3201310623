// Package openapitest checks HTTP exchanges with the gateway against the
// API's OpenAPI description (httpapi/openapi.yaml) with kin-openapi, so
// that the description cannot drift from the code: a test that drives the
// API through Handler or Transport fails on a route the description lacks,
// a request the description refuses that the server took, or an answer
// (status, headers, body) the description does not allow.
//
// Authentication is the server's to check: any bearer credential or
// provider signature satisfies the description's security.
package openapitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/safeconnection/gateway/httpapi"
)

// MaxBody is the most of a body an exchange keeps for checking; a longer
// one is checked without its body.
const MaxBody = 4 << 20

// Checker checks exchanges against the description. It is safe for
// concurrent use.
type Checker struct {
	// Doc is the description.
	Doc    *openapi3.T
	router routers.Router
	// Skip reports whether an exchange with r is outside the contract and
	// not checked. Default: the demo's controls (/demo/, /fake/).
	Skip func(r *http.Request) bool
}

var loaded = sync.OnceValues(func() (*Checker, error) {
	registerDecoders()
	doc, err := httpapi.LoadOpenAPI(context.Background())
	if err != nil {
		return nil, fmt.Errorf("the API's description: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("the API's description: router: %w", err)
	}
	return &Checker{Doc: doc, router: router, Skip: Demo}, nil
})

// New returns the checker of the API's description, loaded once; it fails
// the test if the description does not load or validate.
func New(tb testing.TB) *Checker {
	tb.Helper()
	c, err := loaded()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Demo reports whether r is for one of the demo's controls, which are not
// part of the API.
func Demo(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/demo/") || r.URL.Path == "/demo" || strings.HasPrefix(r.URL.Path, "/fake/")
}

var registerOnce sync.Once

// registerDecoders teaches kin-openapi the text and image types the API
// answers with: their bodies are checked as strings.
func registerDecoders() {
	registerOnce.Do(func() {
		for _, ct := range []string{"text/html", "text/xml", "text/css", "text/javascript", "text/event-stream"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
		}
		for _, ct := range []string{"image/jpeg", "image/png"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
		}
	})
}

// Exchange is one request and its answer, as Check takes them.
type Exchange struct {
	// Request is the request as sent: its method, URL path and query,
	// and headers are checked.
	Request *http.Request
	// RequestBody is the request's body (what the server read of it).
	RequestBody []byte
	// Status, Header and Body are the answer's.
	Status int
	Header http.Header
	Body   []byte
	// BodyCut says the answer's body was not kept whole: it is not
	// checked.
	BodyCut bool
}

// Check checks one exchange, and returns what does not match, naming the
// route; nil when it matches or is skipped.
func (c *Checker) Check(x Exchange) error {
	r := x.Request
	if c.Skip != nil && c.Skip(r) {
		return nil
	}
	what := r.Method + " " + r.URL.Path
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet // net/http answers HEAD with the GET route
	}
	u := url.URL{Scheme: "http", Host: "gateway", Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req, err := http.NewRequestWithContext(context.Background(), method, u.String(), bytes.NewReader(x.RequestBody))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for k, vs := range r.Header {
		req.Header[http.CanonicalHeaderKey(k)] = append(req.Header[http.CanonicalHeaderKey(k)], vs...) // as the server reads them
	}
	route, params, err := c.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		if x.Status == http.StatusNotFound {
			return nil // a path the API does not serve, and says so
		}
		return fmt.Errorf("%s: the description has no such path, and the server answered %d: describe the route in httpapi/openapi.yaml", what, x.Status)
	case errors.Is(err, routers.ErrMethodNotAllowed):
		if x.Status == http.StatusMethodNotAllowed || x.Status == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("%s: the description has no such operation, and the server answered %d: describe it in httpapi/openapi.yaml", what, x.Status)
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	}
	what += " (" + route.Operation.OperationID + ")"

	ctx := context.Background()
	reqOpts := &openapi3filter.Options{AuthenticationFunc: anyCredential, MultiError: true}
	reqOpts.WithCustomSchemaErrorFunc(schemaError)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: reqOpts}
	var errs []error
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && x.Status < 400 {
		errs = append(errs, fmt.Errorf("the description refuses the request, yet the server answered %d: %w", x.Status, err))
	}
	respOpts := &openapi3filter.Options{
		IncludeResponseStatus: true, MultiError: true,
		ExcludeResponseBody: x.BodyCut || r.Method == http.MethodHead,
	}
	respOpts.WithCustomSchemaErrorFunc(schemaError)
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: x.Status, Header: x.Header,
		Body: io.NopCloser(bytes.NewReader(x.Body)), Options: respOpts,
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		errs = append(errs, fmt.Errorf("answer %d: %w", x.Status, err))
	} else if !x.BodyCut {
		if err := c.checkStream(route, x); err != nil {
			errs = append(errs, fmt.Errorf("answer %d: %w", x.Status, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s does not match the description: %w", what, errors.Join(errs...))
	}
	return nil
}

// schemaError says where a value does not match and why, without the
// whole schema, which is in the document.
func schemaError(err *openapi3.SchemaError) string {
	return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
}

// checkStream checks each data line of an event stream against the schema
// the media type's x-event-data names.
func (c *Checker) checkStream(route *routers.Route, x Exchange) error {
	mt, _, _ := mime.ParseMediaType(x.Header.Get("Content-Type"))
	if mt != "text/event-stream" {
		return nil
	}
	resp := route.Operation.Responses.Status(x.Status)
	if resp == nil || resp.Value == nil {
		return nil
	}
	media := resp.Value.Content.Get(mt)
	if media == nil {
		return nil
	}
	ref, ok := media.Extensions["x-event-data"].(map[string]any)
	if !ok {
		return nil
	}
	name, _ := ref["$ref"].(string)
	schema := c.Doc.Components.Schemas[strings.TrimPrefix(name, "#/components/schemas/")]
	if schema == nil || schema.Value == nil {
		return fmt.Errorf("x-event-data names no schema: %q", name)
	}
	sc := bufio.NewScanner(bytes.NewReader(x.Body))
	sc.Buffer(nil, MaxBody)
	for n := 1; sc.Scan(); n++ {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return fmt.Errorf("event stream line %d: not JSON: %w", n, err)
		}
		if err := schema.Value.VisitJSON(v, openapi3.MultiErrors(), openapi3.DisableSchemaErrorDetails()); err != nil {
			return fmt.Errorf("event stream line %d: %w", n, err)
		}
	}
	return nil
}

// anyCredential satisfies a security scheme with any credential of its
// kind: the server checks them.
func anyCredential(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	h := in.RequestValidationInput.Request.Header
	switch {
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		scheme, secret, _ := strings.Cut(h.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			return errors.New("no bearer credential")
		}
	case s.Type == "apiKey" && s.In == "header":
		if h.Get(s.Name) == "" {
			return fmt.Errorf("no %s", s.Name)
		}
	default:
		return fmt.Errorf("security scheme %s is not known to the checker", in.SecuritySchemeName)
	}
	return nil
}

// Handler returns h with every exchange it serves checked against the
// description when the answer is done; a mismatch fails the test.
func Handler(tb testing.TB, h http.Handler) *Checked {
	return &Checked{tb: tb, c: New(tb), h: h}
}

// Checked is a handler whose exchanges are checked (see Handler).
type Checked struct {
	tb testing.TB
	c  *Checker
	h  http.Handler

	mu        sync.Mutex
	unchecked []string
}

// Uncheck leaves the paths under each prefix unchecked: for a test's
// stand-ins for providers' webhooks, which speak no contract.
func (h *Checked) Uncheck(prefixes ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unchecked = append(h.unchecked, prefixes...)
}

func (h *Checked) skipped(path string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.unchecked {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// ServeHTTP serves r with the handler and checks the exchange.
func (h *Checked) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.skipped(r.URL.Path) {
		h.h.ServeHTTP(w, r)
		return
	}
	body := &teeBody{ReadCloser: r.Body}
	if r.Body != nil {
		r.Body = body
	}
	rw := &capture{ResponseWriter: w, header: http.Header{}}
	req := r.Clone(r.Context())
	h.h.ServeHTTP(rw, r)
	if rw.status == 0 {
		if r.Context().Err() != nil {
			return // the client has gone before any answer: nothing to check
		}
		rw.status = http.StatusOK
		rw.header = w.Header().Clone()
	}
	if err := h.c.Check(Exchange{
		Request: req, RequestBody: body.buf.Bytes(),
		Status: rw.status, Header: rw.header, Body: rw.body.Bytes(), BodyCut: rw.cut,
	}); err != nil {
		h.tb.Error(err)
	}
}

// teeBody keeps what is read of a request's body, up to MaxBody.
type teeBody struct {
	io.ReadCloser
	buf bytes.Buffer
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if t.buf.Len()+n <= MaxBody {
		t.buf.Write(p[:n])
	}
	return n, err
}

// capture keeps an answer's status, headers and body (up to MaxBody) as
// it passes through.
type capture struct {
	http.ResponseWriter
	status int
	header http.Header
	body   bytes.Buffer
	cut    bool
}

func (c *capture) WriteHeader(status int) {
	if c.status == 0 && status >= 200 {
		c.status = status
		c.header = c.ResponseWriter.Header().Clone()
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
		if _, ok := c.header["Content-Type"]; !ok && len(b) > 0 && c.header.Get("Content-Encoding") == "" {
			c.header.Set("Content-Type", http.DetectContentType(b)) // as net/http will
		}
	}
	if c.body.Len()+len(b) <= MaxBody {
		c.body.Write(b)
	} else {
		c.cut = true
	}
	return c.ResponseWriter.Write(b)
}

// Flush passes a flush through, for event streams.
func (c *capture) Flush() {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(c.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (c *capture) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// Transport returns a RoundTripper over base (http.DefaultTransport when
// nil) that checks every exchange against the description; a mismatch
// fails the test. An event stream's body is left to the caller to read
// as it comes, and its status and headers alone are checked.
func Transport(tb testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{tb: tb, c: New(tb), base: base}
}

type transport struct {
	tb   testing.TB
	c    *Checker
	base http.RoundTripper
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	var reqBody []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		if reqBody, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		r.Body.Close()
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	x := Exchange{Request: r, RequestBody: reqBody, Status: resp.StatusCode, Header: resp.Header}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/event-stream" {
		x.BodyCut = true
	} else {
		orig := resp.Body
		body, rerr := io.ReadAll(io.LimitReader(orig, MaxBody+1))
		switch {
		case rerr != nil:
			orig.Close()
			resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{rerr}))
			return resp, nil // a cut answer: the caller sees the error
		case len(body) > MaxBody:
			resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), orig), orig}
			x.BodyCut = true
		default:
			orig.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
			x.Body = body
		}
	}
	if err := t.c.Check(x); err != nil {
		t.tb.Error(err)
	}
	return resp, nil
}

// errReader returns its error.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// CompareRoutes compares the patterns a server registers (as
// httpapi.Server.Routes lists them: "GET /v1/devices/{id}", or a prefix
// such as "/webhooks/twilio/" that a provider's handler serves under) with
// the description, and returns what one has that the other lacks: a
// method's route the description lacks, a prefix no described path is
// under, and a described operation no route serves.
func (c *Checker) CompareRoutes(patterns []string) []error {
	type op struct{ method, path string }
	var ops []op
	for path, item := range c.Doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, op{method, path})
		}
	}
	served := map[op]bool{}
	var prefixes []string
	var errs []error
	for _, p := range patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			prefixes = append(prefixes, p)
			found := false
			for _, o := range ops {
				found = found || strings.HasPrefix(o.path, p)
			}
			if !found {
				errs = append(errs, fmt.Errorf("the server serves %s, and the description has no path under it", p))
			}
			continue
		}
		served[op{method, path}] = true
		if item := c.Doc.Paths.Value(path); item == nil || item.GetOperation(method) == nil {
			errs = append(errs, fmt.Errorf("the server serves %s, and the description lacks it", p))
		}
	}
	for _, o := range ops {
		if served[o] {
			continue
		}
		under := false
		for _, p := range prefixes {
			under = under || strings.HasPrefix(o.path, p)
		}
		if !under {
			errs = append(errs, fmt.Errorf("the description has %s %s, and the server does not serve it", o.method, o.path))
		}
	}
	return errs
}

// CloseIdleConnections closes the base transport's idle connections, as
// http.Client.CloseIdleConnections asks.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
