// Package opsclient is a client of the gateway's ops API, for the ops
// staff's command line (cmd/gatewayctl): typed calls over HTTP with an ops
// credential, each returning the gateway's answer decoded and as the JSON
// it was sent in. A refusal is an *Error with the gateway's status, code
// and message; a gateway that could not be reached is an *UnreachableError.
// It knows the API only by its wire format, not by the server's code, so
// that it works against a remote gateway of another build.
package opsclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults of the Client's fields.
const (
	// DefaultTimeout bounds one call, answer included.
	DefaultTimeout = 30 * time.Second
	// MaxAnswer is the largest answer read; a longer one is an error.
	MaxAnswer = 64 << 20
	// DefaultUserAgent is the User-Agent header the client sends.
	DefaultUserAgent = "gatewayctl"
)

// Client calls one gateway's ops API with one credential. Build it with
// New; its fields may be changed before the first call.
type Client struct {
	// BaseURL is the gateway's URL: the API's paths (/v1/...) are joined
	// to it, so a gateway served under a path prefix works too.
	BaseURL *url.URL
	// Token is the bearer secret of an ops credential.
	Token string
	// HTTP sends the requests. Default: a client with DefaultTimeout.
	HTTP *http.Client
	// UserAgent is sent with every request. Default: DefaultUserAgent.
	UserAgent string
}

// New returns a client of the gateway at base (an http or https URL) with
// the token. An empty or malformed URL, or an empty token, is an error.
func New(base, token string) (*Client, error) {
	base = strings.TrimSpace(base)
	if base == "" {
		return nil, errors.New("no gateway URL")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gateway URL %q: want http://host[:port] or https://host[:port]", base)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("gateway URL %q: no query, fragment or user name", base)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, errors.New("no credential")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return &Client{
		BaseURL:   u,
		Token:     token,
		HTTP:      &http.Client{Timeout: DefaultTimeout},
		UserAgent: DefaultUserAgent,
	}, nil
}

// Error is the gateway's refusal of a call: its HTTP status and the code
// and message of its JSON error body. An answer that is not the gateway's
// JSON (a proxy's error page, say) has an empty Code and, as its Message,
// the start of its body.
type Error struct {
	Status  int    // the HTTP status
	Code    string // the gateway's error code: invalid, not_found, conflict, …
	Message string // the gateway's message, safe to show
}

// Error returns the gateway's message with its status.
func (e *Error) Error() string {
	status := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		status += ", " + e.Code
	}
	if e.Message == "" {
		return "the gateway answered " + status
	}
	return fmt.Sprintf("%s (%s)", e.Message, status)
}

// UnreachableError is a call that got no answer: the connection was
// refused, the name did not resolve, TLS failed, or no answer came in time.
type UnreachableError struct {
	URL string // the gateway's base URL
	Err error  // what the transport said
}

// Error says which gateway could not be reached and why.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the gateway at %s: %v", e.URL, cause(e.Err))
}

// Unwrap returns the transport's error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// cause is the innermost useful error of a transport failure, without the
// *url.Error wrapping that repeats the method and URL.
func cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("no answer in time")
		}
		return ue.Err
	}
	return err
}

// AnswerError is an answer of success that could not be read as the API's
// JSON: a gateway of an incompatible version, or something else at the
// URL.
type AnswerError struct {
	Status int
	Err    error
}

// Error says what was wrong with the answer.
func (e *AnswerError) Error() string {
	return fmt.Sprintf("the gateway's answer (%d) could not be read: %v", e.Status, e.Err)
}

// Unwrap returns the decoding error.
func (e *AnswerError) Unwrap() error { return e.Err }

// do sends one call to path (escaped, under the base URL) and returns the
// answer's body when its status is 2xx. in, when not nil, is sent as the
// JSON body.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in any) (json.RawMessage, int, error) {
	u := *c.BaseURL
	// path is escaped already (seg): the IDs in it may hold a slash.
	u.RawPath = c.BaseURL.EscapedPath() + path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, 0, err
	}
	u.Path = p
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	ua := c.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	req.Header.Set("User-Agent", ua)
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, &UnreachableError{URL: c.BaseURL.Redacted(), Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if err != nil {
		return nil, 0, &UnreachableError{URL: c.BaseURL.Redacted(), Err: err}
	}
	if len(b) > MaxAnswer {
		return nil, resp.StatusCode, &AnswerError{Status: resp.StatusCode, Err: fmt.Errorf("over %d bytes", MaxAnswer)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, resp.StatusCode, refusal(resp.StatusCode, b)
	}
	if !json.Valid(b) {
		return nil, resp.StatusCode, &AnswerError{Status: resp.StatusCode, Err: errors.New("not JSON")}
	}
	return json.RawMessage(bytes.TrimSpace(b)), resp.StatusCode, nil
}

// refusal reads an error answer: the gateway's JSON error body, or the
// start of whatever else came.
func refusal(status int, b []byte) *Error {
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error != nil {
		return &Error{Status: status, Code: body.Error.Code, Message: body.Error.Message}
	}
	return &Error{Status: status, Message: excerpt(b)}
}

// excerpt is the first line of a body that is not the gateway's JSON,
// cut to a readable length.
func excerpt(b []byte) string {
	const max = 120
	s := strings.TrimSpace(string(b))
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if !utf8.ValidString(s) {
		return ""
	}
	if len(s) > max {
		i := max
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return s
}

// call sends one call and decodes its answer into T.
func call[T any](ctx context.Context, c *Client, method, path string, q url.Values, in any) (T, json.RawMessage, error) {
	var out T
	raw, status, err := c.do(ctx, method, path, q, in)
	if err != nil {
		return out, nil, err
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, nil, &AnswerError{Status: status, Err: err}
	}
	return out, raw, nil
}

// seg escapes one path segment (an ID given on the command line).
func seg(id string) string { return url.PathEscape(id) }
