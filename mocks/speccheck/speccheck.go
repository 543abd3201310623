// Package speccheck is what the fakes' checkers of API descriptions share:
// the capture of one HTTP exchange, both bodies read, for a checking
// http.RoundTripper; the log of what was checked and what failed;
// and the check of one exchange against an OpenAPI operation with
// kin-openapi.
package speccheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Base returns rt, or http.DefaultTransport when rt is nil.
func Base(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		return http.DefaultTransport
	}
	return rt
}

// Exchange is one request sent and its answer, with both bodies read.
type Exchange struct {
	RequestBody []byte
	Response    *http.Response
	Body        []byte // the answer's body
	Cut         bool   // the answer's body could not be read in full
}

// Do sends r through base (http.DefaultTransport when nil), reading r's
// body first (and putting it back to be sent) and then the answer's (and
// putting it back for the caller). Its error is the transport's, returned
// with the answer it came with.
func Do(base http.RoundTripper, r *http.Request) (Exchange, error) {
	var x Exchange
	if r.Body != nil {
		x.RequestBody, _ = io.ReadAll(r.Body)
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(x.RequestBody))
	}
	resp, err := Base(base).RoundTrip(r)
	x.Response = resp
	if err != nil {
		return x, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	x.Body, x.Cut = body, rerr != nil
	return x, nil
}

// Log counts the exchanges checked and keeps the failures. The zero value
// is empty; a Log is safe for concurrent use.
type Log struct {
	mu   sync.Mutex
	errs []error
	n    int
}

// Checked returns how many exchanges were checked and the failures.
func (l *Log) Checked() (int, []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, append([]error(nil), l.errs...)
}

// Add counts one exchange checked, with the request r, and keeps err, if
// any, as its failure.
func Add(l *Log, r *http.Request, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, err))
	}
}

// Find matches r, taken as sent with the body reqBody to server's scheme
// and host whatever host it was sent to, against router's operations, and
// returns the input for Validate.
func Find(ctx context.Context, router routers.Router, server *url.URL, r *http.Request, reqBody []byte) (*openapi3filter.RequestValidationInput, error) {
	u := *r.URL
	u.Scheme, u.Host = server.Scheme, server.Host
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(reqBody))
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	route, params, err := router.FindRoute(req)
	if err != nil {
		return nil, err
	}
	return &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}, nil
}

// Validate checks the request in against its operation, with auth checking
// its security requirements, and a 2xx answer (status, headers, body)
// against the operation's responses. Other answers are not checked.
func Validate(ctx context.Context, in *openapi3filter.RequestValidationInput, auth openapi3filter.AuthenticationFunc, status int, respHeader http.Header, respBody []byte) error {
	in.Options = &openapi3filter.Options{AuthenticationFunc: auth, MultiError: true}
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
