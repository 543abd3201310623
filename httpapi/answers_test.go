package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
)

func TestIdempotencyMismatchIs422(t *testing.T) {
	e := httpapitest.New(t)
	e.Router.RequestFn = func(context.Context, gateway.Request) (gateway.Verification, bool, error) {
		return gateway.Verification{}, false, gateway.Errorf(gateway.EIDEMPOTENCY, "Idempotency-Key stop-1 was used with a different request")
	}
	_, officer := e.Token(t, gateway.RoleOfficer, "")
	r := do(t, e, call{method: "POST", path: "/v1/verifications", secret: officer, body: goodRequest,
		header: map[string]string{"Idempotency-Key": "stop-1"}})
	wantError(t, r, http.StatusUnprocessableEntity, "idempotency_mismatch")
	if got := httpapi.StatusOf(gateway.EIDEMPOTENCY); got != http.StatusUnprocessableEntity {
		t.Errorf("StatusOf(%s) = %d, want 422", gateway.EIDEMPOTENCY, got)
	}
}

func TestUnavailableSaysWhenToRetry(t *testing.T) {
	// A store that cannot write says so with EUNAVAILABLE; the answer is a
	// 503 with Retry-After, and the I/O error (a path on the server) stays
	// in the log.
	ioErr := errors.New("write /var/lib/gateway/gateway.db-wal: read-only file system")
	e := httpapitest.New(t, func(s *httpapi.Server) {
		s.Ready = func(context.Context) error { return ioErr }
	})
	e.Router.RequestFn = func(context.Context, gateway.Request) (gateway.Verification, bool, error) {
		return gateway.Verification{}, false, gateway.E("sqlite.CreateVerification", gateway.EUNAVAILABLE, ioErr)
	}
	_, officer := e.Token(t, gateway.RoleOfficer, "")
	for _, c := range []call{
		{method: "POST", path: "/v1/verifications", secret: officer, body: goodRequest},
		{method: "GET", path: "/readyz"},
	} {
		r := do(t, e, c)
		msg := wantError(t, r, http.StatusServiceUnavailable, gateway.EUNAVAILABLE)
		if got := r.header.Get("Retry-After"); got != "2" {
			t.Errorf("%s %s: Retry-After = %q, want 2 (seconds)", c.method, c.path, got)
		}
		if strings.Contains(string(r.body), "/var/lib") || strings.Contains(msg, "read-only") {
			t.Errorf("%s %s: the answer shows the I/O error: %s", c.method, c.path, r.body)
		}
	}
}

func TestJSONIsNotHTMLEscaped(t *testing.T) {
	e := httpapitest.New(t)
	r := do(t, e, call{method: "GET", path: "/v1/devices"})
	msg := wantError(t, r, http.StatusUnauthorized, gateway.EUNAUTHORIZED)
	if !strings.Contains(msg, "<secret>") {
		t.Fatalf("message %q does not show <secret>", msg)
	}
	if strings.Contains(string(r.body), `\u003c`) {
		t.Errorf("the body escapes < as for HTML: %s", r.body)
	}
}

// roomSet is a fixed set of rooms.
type roomSet map[string]bool

func (rs roomSet) Room(id string) (gateway.Room, bool) { return gateway.Room{ID: id}, rs[id] }

func TestDeviceInAnUnknownRoomIsRefused(t *testing.T) {
	e := httpapitest.New(t, func(s *httpapi.Server) { s.Rooms = roomSet{"AW": true} })
	_, ops := e.Token(t, gateway.RoleOps, "")
	r := do(t, e, call{method: "POST", path: "/v1/devices", secret: ops,
		body: `{"room":"ZZ","name":"desk","number":"+447700900555"}`})
	msg := wantError(t, r, http.StatusBadRequest, gateway.EINVALID)
	if !strings.Contains(msg, "ZZ") {
		t.Errorf("message %q does not name the room", msg)
	}
	ds, err := e.Store.Devices(context.Background(), "ZZ", true)
	if err != nil || len(ds) != 0 {
		t.Errorf("devices in ZZ = %v, %v; want none", ds, err)
	}
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/devices", secret: ops,
		body: `{"room":"AW","name":"desk","number":"+447700900555"}`}), http.StatusCreated)
}

func TestLongPollWaitIsHeldAtItsMost(t *testing.T) {
	const most = 400 * time.Millisecond
	e := httpapitest.New(t, func(s *httpapi.Server) { s.AgentWait = most })
	_, agent := e.Device(t, "westminster")
	for _, wait := range []string{"9223372037", "9223372036854775807", "99999999999999999999", "3"} {
		start := time.Now()
		r := do(t, e, call{method: "GET", path: "/v1/agent/orders?wait=" + wait, secret: agent})
		took := time.Since(start)
		wantStatus(t, r, http.StatusOK)
		if took < most-50*time.Millisecond {
			t.Errorf("wait=%s answered after %v, want the most, %v", wait, took, most)
		}
	}
	for _, wait := range []string{"-1", "1.5", "soon", "+3"} {
		wantError(t, do(t, e, call{method: "GET", path: "/v1/agent/orders?wait=" + wait, secret: agent}), http.StatusBadRequest, gateway.EINVALID)
	}
}

func TestWebhookErrorsAreJSON(t *testing.T) {
	twilio := http.NewServeMux()
	twilio.HandleFunc("POST /webhooks/twilio/voice", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		io.WriteString(w, "<Response/>")
	})
	twilio.HandleFunc("POST /webhooks/twilio/plain", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad form", http.StatusBadRequest)
	})
	e := httpapitest.New(t, func(s *httpapi.Server) { s.Webhooks = map[string]http.Handler{"twilio": twilio} })
	e.Contract.Uncheck("/webhooks/twilio/") // stand-ins
	wantError(t, do(t, e, call{method: "POST", path: "/webhooks/twilio/nosuch", body: "a=b", contentType: "application/x-www-form-urlencoded"}),
		http.StatusNotFound, gateway.ENOTFOUND)
	wantError(t, do(t, e, call{method: "GET", path: "/webhooks/twilio/voice"}), http.StatusMethodNotAllowed, "method_not_allowed")
	wantError(t, do(t, e, call{method: "POST", path: "/webhooks/twilio/plain", body: "a=b", contentType: "application/x-www-form-urlencoded"}),
		http.StatusBadRequest, gateway.EINVALID)
	r := do(t, e, call{method: "POST", path: "/webhooks/twilio/voice", body: "a=b", contentType: "application/x-www-form-urlencoded"})
	wantStatus(t, r, http.StatusOK)
	if string(r.body) != "<Response/>" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/xml") {
		t.Errorf("TwiML answer changed: %s %q", r.body, r.header.Get("Content-Type"))
	}
}

func TestTooLargeBodyIsAnsweredNotReset(t *testing.T) {
	// A client that writes its whole request before it reads: the body is
	// over MaxBody, over what net/http discards by itself (256 KiB) and
	// over what loopback's socket buffers hold, so that the client is
	// still sending when the answer is ready.
	e := httpapitest.New(t, func(s *httpapi.Server) { s.DrainBody = 16 << 20 })
	_, ops := e.Token(t, gateway.RoleOps, "")
	body := `{"room":"AW","name":"` + strings.Repeat("x", 8<<20) + `"}`
	for _, tt := range []struct {
		name, framing string
	}{
		{"with Content-Length", fmt.Sprintf("Content-Length: %d\r\n", len(body))},
		{"chunked", "Transfer-Encoding: chunked\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", e.HTTP.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			payload := body
			if strings.HasPrefix(tt.framing, "Transfer-Encoding") {
				payload = fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
			}
			req := "POST /v1/devices HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer " + ops +
				"\r\nContent-Type: application/json\r\n" + tt.framing + "\r\n" + payload
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatalf("the gateway stopped the client sending: %v", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer after the whole body was sent: %v", err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			wantError(t, response{status: resp.StatusCode, header: resp.Header, body: b}, http.StatusRequestEntityTooLarge, gateway.ETOOLARGE)
		})
	}
}

func TestEventStreamsPerCredentialAreCapped(t *testing.T) {
	e := httpapitest.New(t, func(s *httpapi.Server) { s.MaxStreams = 2 })
	officer, secret := e.Token(t, gateway.RoleOfficer, "")
	_, other := e.Token(t, gateway.RoleOps, "")
	v := verification(t, e, officer.ID)
	open := func(secret string) (*http.Response, context.CancelFunc) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/v1/verifications/"+v.ID+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close(); cancel() })
		return resp, cancel
	}
	first, closeFirst := open(secret)
	second, _ := open(secret)
	for _, r := range []*http.Response{first, second} {
		if r.StatusCode != http.StatusOK {
			t.Fatalf("stream within the cap: %d", r.StatusCode)
		}
	}
	third, _ := open(secret)
	b, _ := io.ReadAll(third.Body)
	wantError(t, response{status: third.StatusCode, header: third.Header, body: b}, http.StatusTooManyRequests, gateway.ERATELIMITED)
	if r, _ := open(other); r.StatusCode != http.StatusOK {
		t.Errorf("another credential's stream: %d, want 200", r.StatusCode)
	}
	closeFirst()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, _ := open(secret)
		if r.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a stream closed did not free its place: %d", r.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestJoinedAnswersByTheVerificationsState(t *testing.T) {
	e := httpapitest.New(t)
	var joined int
	e.Router.JoinedFn = func(context.Context, string) error { joined++; return nil }
	officer, secret := e.Token(t, gateway.RoleOfficer, "")

	// Connected already (Zoom's webhooks said so first): nothing to do.
	v := verification(t, e, officer.ID)
	transition(t, e, v.ID, gateway.StateDialling)
	transition(t, e, v.ID, gateway.StateConnected)
	path := "/v1/verifications/" + v.ID + "/joined"
	wantStatus(t, do(t, e, call{method: "POST", path: path, secret: secret}), http.StatusNoContent)
	wantStatus(t, do(t, e, call{method: "POST", path: path, secret: secret}), http.StatusNoContent)
	if joined != 0 {
		t.Errorf("the router was told %d times of a join on a connected call", joined)
	}

	// Ended: a 409 that says so.
	transition(t, e, v.ID, gateway.StateVerified)
	msg := wantError(t, do(t, e, call{method: "POST", path: path, secret: secret}), http.StatusConflict, gateway.ECONFLICT)
	if !strings.Contains(msg, "ended") {
		t.Errorf("message %q does not say the verification has ended", msg)
	}

	// Dialling: the router hears of it.
	d := verification(t, e, officer.ID)
	transition(t, e, d.ID, gateway.StateDialling)
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/verifications/" + d.ID + "/joined", secret: secret}), http.StatusNoContent)
	if joined != 1 {
		t.Errorf("the router was told %d times, want once", joined)
	}
}

func TestDeviceViewShowsNeverAndUnknownAsNull(t *testing.T) {
	e := httpapitest.New(t)
	_, ops := e.Token(t, gateway.RoleOps, "")
	r := do(t, e, call{method: "POST", path: "/v1/devices", secret: ops, body: `{"room":"AW","name":"desk","number":"+447700900555"}`})
	wantStatus(t, r, http.StatusCreated)
	for _, want := range []string{`"battery":null`, `"last_seen":null`, `"last_used":null`, `"apps":[]`, `"handles":{}`} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("device %s lacks %s", r.body, want)
		}
	}
	for _, bad := range []string{"0001-01-01", `"battery":-1`, `"apps":null`, `"handles":null`} {
		if strings.Contains(string(r.body), bad) {
			t.Errorf("device %s shows %s", r.body, bad)
		}
	}
	// After a heartbeat the battery and the time are known.
	reply := decode[httpapi.DeviceReply](t, r)
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: reply.Credential.Secret, body: `{"battery":80,"apps":["facetime"]}`}), http.StatusOK)
	got := decode[httpapi.DeviceReply](t, do(t, e, call{method: "GET", path: "/v1/devices/" + reply.Device.ID, secret: ops})).Device
	if got.Battery == nil || *got.Battery != 80 || got.LastSeen == nil || len(got.Apps) != 1 {
		t.Errorf("after a heartbeat: battery %v, last seen %v, apps %v", got.Battery, got.LastSeen, got.Apps)
	}
}

func TestForbiddenSaysWhichCredential(t *testing.T) {
	e := httpapitest.New(t)
	_, officer := e.Token(t, gateway.RoleOfficer, "")
	msg := wantError(t, do(t, e, call{method: "GET", path: "/v1/devices", secret: officer}), http.StatusForbidden, gateway.EFORBIDDEN)
	if msg != "an officer credential may not do that" {
		t.Errorf("message %q", msg)
	}
}

func TestEventDataCountsAreNumbers(t *testing.T) {
	d := httpapi.EventData{"tries": "1", "device": "AW-1", "channel": "zoom", "ref": "12345"}
	b, err := json.Marshal(httpapi.EventView{Data: d})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"tries":1`, `"ref":"12345"`, `"device":"AW-1"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	var back httpapi.EventView
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Data["tries"] != "1" || back.Data["ref"] != "12345" || len(back.Data) != len(d) {
		t.Errorf("read back %v, want %v", back.Data, d)
	}
}

func TestUnauthenticatedBodiesAreReadInBoundedTime(t *testing.T) {
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "could not read", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	e := httpapitest.New(t, func(s *httpapi.Server) {
		s.BodyTimeout = 300 * time.Millisecond
		s.Webhooks = map[string]http.Handler{"zoom": hook}
	})
	e.Contract.Uncheck("/webhooks/zoom/") // a stand-in
	conn, err := net.Dial("tcp", e.HTTP.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /webhooks/zoom/events HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a body that never came: %v", err)
	}
	resp.Body.Close()
	if took := time.Since(start); took > 2*time.Second || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("answered %d after %v, want a 400 after about 300ms", resp.StatusCode, took)
	}
}

func TestWebhookUnavailableSaysWhenToRetry(t *testing.T) {
	e := httpapitest.New(t, func(s *httpapi.Server) {
		s.Webhooks = map[string]http.Handler{"whatsapp": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"code":"unavailable","message":"could not record the statuses"}}`)
		})}
	})
	e.Contract.Uncheck("/webhooks/whatsapp/") // a stand-in
	r := do(t, e, call{method: "POST", path: "/webhooks/whatsapp/x", body: "{}"})
	wantError(t, r, http.StatusServiceUnavailable, gateway.EUNAVAILABLE)
	if r.header.Get("Retry-After") == "" {
		t.Error("a webhook's 503 without Retry-After")
	}
}
