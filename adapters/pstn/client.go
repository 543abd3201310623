package pstn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
)

// baseClient is the twilio-go client.BaseClient of one API call: it sends
// twilio-go's requests through httpx with the call's context (twilio-go
// builds them with a background one), to the configured API URL (twilio-go
// has no base-URL setting), and keeps the last response's status, headers
// and body, so that failures are classified from the HTTP facts rather than
// from twilio-go's error alone.
type baseClient struct {
	*twclient.Client
	base *url.URL

	mu   sync.Mutex
	last *recorded
}

type recorded struct {
	status int
	header http.Header
	body   []byte
}

// newBaseClient returns a BaseClient for one call bounded by ctx.
func newBaseClient(ctx context.Context, base *url.URL, hc *httpx.Client, accountSID, user, pass string) *baseClient {
	bc := &baseClient{base: base}
	std := hc.StandardClient()
	bc.Client = &twclient.Client{
		Credentials: twclient.NewCredentials(user, pass),
		HTTPClient: &http.Client{
			Transport:     ctxTransport{ctx: ctx, next: std.Transport, bc: bc},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	bc.SetAccountSid(accountSID)
	return bc
}

// SendRequest rewrites rawURL's scheme and host (and prefixes the path) to
// the configured base, then sends it with twilio-go's client.
func (bc *baseClient) SendRequest(method, rawURL string, data url.Values, headers map[string]any, body ...byte) (*http.Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	u.Scheme, u.Host = bc.base.Scheme, bc.base.Host
	u.Path = strings.TrimSuffix(bc.base.Path, "/") + u.Path
	u.RawPath = ""
	return bc.Client.SendRequest(method, u.String(), data, headers, body...)
}

// SetTimeout is ignored: the call's context bounds it.
func (bc *baseClient) SetTimeout(time.Duration) {}

func (bc *baseClient) record(r *recorded) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	bc.last = r
}

func (bc *baseClient) lastResponse() *recorded {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	return bc.last
}

// ctxTransport gives each request the call's context, sends it through
// httpx, and records the response (buffering an error body, which twilio-go
// never closes).
type ctxTransport struct {
	ctx  context.Context
	next http.RoundTripper
	bc   *baseClient
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r.WithContext(t.ctx))
	if err != nil {
		return nil, err
	}
	rec := &recorded{status: resp.StatusCode, header: resp.Header.Clone()}
	if resp.StatusCode >= 300 {
		rec.body, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(rec.body))
	}
	t.bc.record(rec)
	return resp, nil
}

// classify turns the outcome of a twilio-go call into a *gateway.CallError
// (nil for success): from the recorded HTTP response when there was one,
// else from the transport error.
func classify(bc *baseClient, err error) error {
	if err == nil {
		return nil
	}
	rec := bc.lastResponse()
	if rec == nil {
		var te *twclient.TwilioRestError
		if errors.As(err, &te) && (te.Code == 21222 || te.Code == 21224) {
			// Refused by twilio-go before sending: our credentials are unusable.
			return &gateway.CallError{Fate: gateway.NotPlaced, Provider: provider,
				Err: gateway.Errorf(gateway.EUNAUTHORIZED, "twilio credentials refused before sending: %s", te.Message)}
		}
		return httpx.Classify(provider, nil, err)
	}
	if rec.status >= 200 && rec.status < 300 {
		// Accepted, but its answer could not be read.
		return &gateway.CallError{Fate: gateway.Unknown, Provider: provider,
			Err: gateway.E("", gateway.EUNAVAILABLE, errors.New("malformed response from twilio: "+err.Error()))}
	}
	resp := &http.Response{StatusCode: rec.status, Header: rec.header, Body: io.NopCloser(bytes.NewReader(rec.body))}
	return httpx.Classify(provider, resp, nil)
}

// Interface guards
var _ twclient.BaseClient = (*baseClient)(nil)
