package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
)

// call is one HTTP request of a test.
type call struct {
	method, path, secret string
	body                 string
	contentType          string // default application/json when there is a body
	header               map[string]string
}

// response is what came back.
type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, e *httpapitest.Env, c call) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, e.URL+c.path, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if c.secret != "" {
		req.Header.Set("Authorization", "Bearer "+c.secret)
	}
	switch {
	case c.contentType != "":
		req.Header.Set("Content-Type", c.contentType)
	case c.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantStatus fails the test unless the response has the status.
func wantStatus(t testing.TB, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
}

// wantError fails the test unless the response is a JSON error with the
// status and code, and returns its message.
func wantError(t testing.TB, r response, status int, code string) string {
	t.Helper()
	wantStatus(t, r, status)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var eb httpapi.ErrorBody
	if err := json.Unmarshal(r.body, &eb); err != nil {
		t.Fatalf("error body %s is not JSON: %v", r.body, err)
	}
	if eb.Error.Code != code {
		t.Errorf("error code = %q, want %q (message %q)", eb.Error.Code, code, eb.Error.Message)
	}
	if eb.Error.Message == "" {
		t.Errorf("error %q has no message", code)
	}
	return eb.Error.Message
}

func decode[T any](t testing.TB, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return v
}

// goodRequest is a valid officer's request body.
const goodRequest = `{"officer":{"collar":"PC 1234","warrant":"W-998877"},` +
	`"location":{"lat":51.5014,"lon":-0.1419},` +
	`"contacts":[{"channel":"whatsapp","handle":"+447700900123"},{"channel":"facetime","handle":"pc1234@example.org"}]}`

// fakeRequests makes the fake router create verifications in the store,
// honouring idempotency keys as the real router does, and returns a record
// of the requests it was given.
func fakeRequests(t testing.TB, e *httpapitest.Env) func() []gateway.Request {
	t.Helper()
	var mu sync.Mutex
	var seen []gateway.Request
	e.Router.RequestFn = func(ctx context.Context, req gateway.Request) (gateway.Verification, bool, error) {
		mu.Lock()
		seen = append(seen, req)
		mu.Unlock()
		v := gateway.Verification{
			ID:          gateway.NewID("v_"),
			Reference:   gateway.NewReference(),
			State:       gateway.StateRouting,
			Officer:     req.Officer,
			Location:    req.Location,
			Contacts:    req.Contacts,
			RoomID:      "westminster",
			RequestedBy: req.RequestedBy,
			Fingerprint: req.Fingerprint,
			Deadline:    time.Now().Add(time.Minute),
		}
		return e.Store.CreateVerification(ctx, v, req.IdempotencyKey, gateway.Event{Type: gateway.EventState, Message: "requested"})
	}
	return func() []gateway.Request {
		mu.Lock()
		defer mu.Unlock()
		return append([]gateway.Request(nil), seen...)
	}
}

// verification stores a verification requested by the token.
func verification(t testing.TB, e *httpapitest.Env, requestedBy string) gateway.Verification {
	t.Helper()
	v, _, err := e.Store.CreateVerification(context.Background(), gateway.Verification{
		ID:          gateway.NewID("v_"),
		Reference:   gateway.NewReference(),
		State:       gateway.StateRouting,
		RoomID:      "westminster",
		RequestedBy: requestedBy,
		Contacts:    []gateway.Contact{{Channel: gateway.Channel("whatsapp"), Handle: "+447700900123"}},
	}, "", gateway.Event{Type: gateway.EventState, Message: "requested"})
	if err != nil {
		t.Fatalf("create verification: %v", err)
	}
	return v
}

// transition moves a verification to a state with an event.
func transition(t testing.TB, e *httpapitest.Env, id string, to gateway.State) gateway.Event {
	t.Helper()
	_, ev, err := e.Store.Transition(context.Background(), id, gateway.Transition{
		To:    to,
		Event: gateway.Event{Type: gateway.EventState, Message: "now " + string(to)},
	})
	if err != nil {
		t.Fatalf("transition to %s: %v", to, err)
	}
	return ev
}
