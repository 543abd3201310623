package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
)

// API sends one provider's JSON API requests with a Bearer token from a
// Cache. Build one per call from the adapter's fields: it holds no state of
// its own.
type API struct {
	// Provider is the provider's name in errors.
	Provider string
	// Client makes every request.
	Client *httpx.Client
	// Tokens caches the token; Fetch fills it; Now is the clock the cache
	// is read with.
	Tokens *Cache
	Fetch  Fetch
	Now    func() time.Time
	// Refused, when set, is given each outcome of the client before it is
	// classified, and returns how to wrap the Err of the *gateway.CallError
	// that a failure becomes (nil: leave it). It may read resp's body if it
	// puts the bytes back. KeepStatus is one.
	Refused func(resp *http.Response, err error) func(error) error
}

// Token returns the cached access token or fetches one. Its errors are
// those of Error.
func (a API) Token(ctx context.Context) (string, error) {
	tok, err := a.Tokens.Get(ctx, a.Now(), a.Fetch)
	if err != nil {
		return "", Error(a.Provider, err)
	}
	return tok, nil
}

// Call sends in (nil: no body) as JSON to url with method and a Bearer
// token, and decodes the answer into out (nil: none expected). On a 401 it
// drops the token, fetches a new one and tries once more. Errors are
// *gateway.CallError.
func (a API) Call(ctx context.Context, method, url string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return &gateway.CallError{Fate: gateway.NotPlaced, Provider: a.Provider, Err: gateway.E(a.Provider, gateway.EINTERNAL, err)}
		}
	}
	for try := 0; ; try++ {
		tok, err := a.Token(ctx)
		if err != nil {
			return err
		}
		var rb any
		if body != nil {
			rb = body
		}
		req, err := retryablehttp.NewRequestWithContext(ctx, method, url, rb)
		if err != nil {
			return &gateway.CallError{Fate: gateway.NotPlaced, Provider: a.Provider, Err: gateway.E(a.Provider, gateway.EINVALID, err)}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := a.Client.Do(req)
		if err == nil && resp.StatusCode == http.StatusUnauthorized && try == 0 {
			httpx.Drain(resp)
			a.Tokens.Invalidate(tok)
			continue
		}
		var wrap func(error) error
		if a.Refused != nil {
			wrap = a.Refused(resp, err)
		}
		if err := httpx.Classify(a.Provider, resp, err); err != nil {
			var ce *gateway.CallError
			if wrap != nil && errors.As(err, &ce) {
				ce.Err = wrap(ce.Err)
			}
			return err
		}
		if out == nil {
			httpx.Drain(resp)
			return nil
		}
		return httpx.DecodeJSON(a.Provider, resp, out)
	}
}

// Exchange sends a token request through c and returns the access token and
// when to replace it (UsableUntil with early, from now()'s time once the
// answer is in). The answer must be a Bearer token with a lifetime; issuer
// names who gave a malformed one ("google"). Errors are those of
// httpx.Classify and httpx.DecodeJSON, or EUNAVAILABLE.
func Exchange(c *httpx.Client, provider, issuer string, req *retryablehttp.Request, now func() time.Time, early time.Duration) (string, time.Time, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err := httpx.Classify(provider, resp, err); err != nil {
		return "", time.Time{}, err
	}
	var t struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := httpx.DecodeJSON(provider, resp, &t); err != nil {
		return "", time.Time{}, err
	}
	if t.AccessToken == "" || t.ExpiresIn <= 0 || !strings.EqualFold(t.TokenType, "bearer") {
		return "", time.Time{}, gateway.Errorf(gateway.EUNAVAILABLE, "malformed token response from %s", issuer)
	}
	return t.AccessToken, UsableUntil(now(), time.Duration(t.ExpiresIn)*time.Second, early), nil
}

// ExchangeForm posts form to a token endpoint at url through c, and
// returns the access token as Exchange does.
func ExchangeForm(ctx context.Context, c *httpx.Client, provider, issuer, url string, form url.Values, now func() time.Time, early time.Duration) (string, time.Time, error) {
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, url, []byte(form.Encode()))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return Exchange(c, provider, issuer, req, now, early)
}

// StatusError remembers the HTTP status behind a *gateway.CallError's Err
// (0 when there was no answer).
type StatusError struct {
	Status int
	Err    error
}

// Error returns the wrapped error's text.
func (e *StatusError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *StatusError) Unwrap() error { return e.Err }

// KeepStatus is an API.Refused that wraps a failure's Err in a
// *StatusError with the answer's status.
func KeepStatus(resp *http.Response, _ error) func(error) error {
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	return func(err error) error { return &StatusError{Status: status, Err: err} }
}

// NotFound reports whether err carries a *StatusError of 404 (what was
// asked for is gone).
func NotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == http.StatusNotFound
}
