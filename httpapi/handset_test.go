package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/rooms"
	"github.com/safeconnection/gateway/router"
)

var callerKey = []byte("0123456789abcdef0123456789abcdef")

// handsetEnv is an API whose calls rung in on handsets are served by a
// real router over its store.
func handsetEnv(t testing.TB) (*httpapitest.Env, *router.Router) {
	t.Helper()
	set, err := rooms.Default()
	if err != nil {
		t.Fatal(err)
	}
	var r *router.Router
	e := httpapitest.New(t, func(s *httpapi.Server) { s.CallerKey = callerKey })
	r = router.New(e.Store, set)
	e.Server.Handsets = r
	return e, r
}

func TestAgentRingIn(t *testing.T) {
	e, _ := handsetEnv(t)
	d, secret := e.Device(t, "AW")
	const body = `{"channel":"whatsapp","caller":"+447700900123","call_id":"wa-1"}`
	r := do(t, e, call{method: "POST", path: "/v1/agent/calls", secret: secret, body: body})
	wantStatus(t, r, 201)
	got := decode[httpapi.RingInReply](t, r)
	if got.Verification == "" || got.Attempt == "" || gateway.NormalizeReference(got.Reference) != got.Reference || got.State != gateway.StateDialling {
		t.Fatalf("reply %+v", got)
	}
	v, err := e.Store.Verification(context.Background(), got.Verification)
	if err != nil {
		t.Fatal(err)
	}
	if v.Origin != gateway.OriginPublic || v.Caller != "•••••••123" || v.CallerHash != gateway.HashCaller(callerKey, "+447700900123") ||
		v.RoomID != "AW" || len(v.Attempts) != 1 || v.Attempts[0].DeviceID != d.ID || v.Attempts[0].Channel != "whatsapp" {
		t.Fatalf("verification %+v", v)
	}
	if strings.Contains(string(r.body), "900123") {
		t.Fatalf("the answer holds her number: %s", r.body)
	}
	dev, _ := e.Store.Device(context.Background(), d.ID)
	if dev.Lease == nil || dev.Lease.Holder != v.ID {
		t.Fatalf("device lease %+v, want held by %s", dev.Lease, v.ID)
	}

	// The same call again: 200 and the same verification.
	r = do(t, e, call{method: "POST", path: "/v1/agent/calls", secret: secret, body: body})
	wantStatus(t, r, 200)
	if again := decode[httpapi.RingInReply](t, r); again != got {
		t.Fatalf("retry %+v, want %+v", again, got)
	}
	// Another call while this one lasts: 409, nothing recorded.
	r = do(t, e, call{method: "POST", path: "/v1/agent/calls", secret: secret, body: `{"channel":"whatsapp","call_id":"wa-2"}`})
	wantError(t, r, 409, gateway.ECONFLICT)
	if _, err := e.Store.VerificationByKey(context.Background(), gateway.HandsetRequester+d.ID, "wa-2"); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Fatalf("the refused call was recorded: %v", err)
	}

	// A heartbeat renews the claim.
	time.Sleep(20 * time.Millisecond)
	wantStatus(t, do(t, e, call{method: "POST", path: "/v1/agent/heartbeat", secret: secret, body: `{"apps":["whatsapp"]}`}), 200)
	if after, _ := e.Store.Device(context.Background(), d.ID); after.Lease == nil || !after.Lease.ExpiresAt.After(dev.Lease.ExpiresAt) {
		t.Fatalf("lease after a heartbeat %+v, want renewed past %s", after.Lease, dev.Lease.ExpiresAt)
	}

	// Answered, then ended: connected, and the handset free.
	path := "/v1/agent/calls/" + got.Verification + "/report"
	wantStatus(t, do(t, e, call{method: "POST", path: path, secret: secret, body: `{"status":"answered"}`}), 204)
	wantStatus(t, do(t, e, call{method: "POST", path: path, secret: secret, body: `{"status":"ended","detail":"she hung up"}`}), 204)
	v, _ = e.Store.Verification(context.Background(), got.Verification)
	dev, _ = e.Store.Device(context.Background(), d.ID)
	if v.State != gateway.StateConnected || v.Channel != "whatsapp" || dev.Lease != nil {
		t.Fatalf("after the end: %s on %q, lease %+v", v.State, v.Channel, dev.Lease)
	}
	for _, entry := range e.Log.AllEntries() {
		if s, _ := entry.String(); strings.Contains(s, "900123") {
			t.Fatalf("a log line holds her number: %s", s)
		}
	}
}

func TestAgentRingInRefused(t *testing.T) {
	e, _ := handsetEnv(t)
	_, secret := e.Device(t, "AW")
	out, outSecret := e.Device(t, "AW")
	oos := gateway.DeviceOutOfService
	if _, err := e.Store.UpdateDevice(context.Background(), out.ID, func(d *gateway.Device) error { d.Status = oos; return nil }); err != nil {
		t.Fatal(err)
	}
	_, officer := e.Token(t, gateway.RoleOfficer, "")
	_, supervisor := e.Token(t, gateway.RoleSupervisor, "")
	_, ops := e.Token(t, gateway.RoleOps, "")
	_, noDevice := e.Token(t, gateway.RoleAgent, "")
	const ok = `{"channel":"whatsapp","call_id":"c1"}`
	for _, tc := range []struct {
		name, secret, body string
		status             int
		code               string
	}{
		{"no credential", "", ok, 401, gateway.EUNAUTHORIZED},
		{"bad credential", "sc_nope", ok, 401, gateway.EUNAUTHORIZED},
		{"officer", officer, ok, 403, gateway.EFORBIDDEN},
		{"supervisor", supervisor, ok, 403, gateway.EFORBIDDEN},
		{"ops", ops, ok, 403, gateway.EFORBIDDEN},
		{"agent of no device", noDevice, ok, 403, gateway.EFORBIDDEN},
		{"bad JSON", secret, `{"channel":`, 400, gateway.EINVALID},
		{"unknown field", secret, `{"channel":"whatsapp","call_id":"c1","device":"d_other"}`, 400, gateway.EINVALID},
		{"no channel", secret, `{"call_id":"c1"}`, 400, gateway.EINVALID},
		{"unknown channel", secret, `{"channel":"skype","call_id":"c1"}`, 400, gateway.EINVALID},
		{"pstn", secret, `{"channel":"pstn","call_id":"c1"}`, 400, gateway.EINVALID},
		{"a channel the handset lacks", secret, `{"channel":"zoom","call_id":"c1"}`, 400, gateway.EINVALID},
		{"no call_id", secret, `{"channel":"whatsapp"}`, 400, gateway.EINVALID},
		{"call_id too long", secret, `{"channel":"whatsapp","call_id":"` + strings.Repeat("x", 129) + `"}`, 400, gateway.EINVALID},
		{"out of service", outSecret, ok, 409, gateway.ECONFLICT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, e, call{method: "POST", path: "/v1/agent/calls", secret: tc.secret, body: tc.body}), tc.status, tc.code)
		})
	}
	vs, err := e.Store.Verifications(context.Background(), gateway.VerificationFilter{})
	if err != nil || len(vs) != 0 {
		t.Fatalf("refused calls recorded %d verifications (%v)", len(vs), err)
	}
	devs, _ := e.Store.Devices(context.Background(), "", false)
	for _, d := range devs {
		if d.Lease != nil {
			t.Fatalf("device %s claimed by a refused call", d.ID)
		}
	}
}

func TestAgentCallReport(t *testing.T) {
	e, _ := handsetEnv(t)
	_, secret := e.Device(t, "AW")
	_, other := e.Device(t, "AW")
	r := do(t, e, call{method: "POST", path: "/v1/agent/calls", secret: secret, body: `{"channel":"facetime","caller":"her@example.org","call_id":"ft-1"}`})
	wantStatus(t, r, 201)
	rep := decode[httpapi.RingInReply](t, r)
	v, _ := e.Store.Verification(context.Background(), rep.Verification)
	if v.Caller != "" || v.CallerHash != gateway.HashCaller(callerKey, "her@example.org") {
		t.Fatalf("an Apple ID is kept as caller %q hash %q, want hashed only", v.Caller, v.CallerHash)
	}
	path := "/v1/agent/calls/" + rep.Verification + "/report"
	_, officer := e.Token(t, gateway.RoleOfficer, "")
	for _, tc := range []struct {
		name, secret, path, body string
		status                   int
		code                     string
	}{
		{"officer", officer, path, `{"status":"ended"}`, 403, gateway.EFORBIDDEN},
		{"another handset", other, path, `{"status":"ended"}`, 404, gateway.ENOTFOUND},
		{"no such call", secret, "/v1/agent/calls/v_nope/report", `{"status":"ended"}`, 404, gateway.ENOTFOUND},
		{"bad JSON", secret, path, `{"status"`, 400, gateway.EINVALID},
		{"no status", secret, path, `{}`, 400, gateway.EINVALID},
		{"joined", secret, path, `{"status":"joined"}`, 400, gateway.EINVALID},
		{"fate", secret, path, `{"status":"failed","fate":"not_placed"}`, 400, gateway.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, e, call{method: "POST", path: tc.path, secret: tc.secret, body: tc.body}), tc.status, tc.code)
		})
	}
	wantStatus(t, do(t, e, call{method: "POST", path: path, secret: secret, body: `{"status":"no_answer"}`}), 204)
	v, _ = e.Store.Verification(context.Background(), rep.Verification)
	if v.State != gateway.StateFailed || v.Lease != nil {
		t.Fatalf("missed call: %s, lease %+v; want failed and the handset free", v.State, v.Lease)
	}
}

func TestAgentRingInUnserved(t *testing.T) {
	e := httpapitest.New(t)
	_, secret := e.Device(t, "AW")
	wantError(t, do(t, e, call{method: "POST", path: "/v1/agent/calls", secret: secret, body: `{"channel":"whatsapp","call_id":"c1"}`}), 503, gateway.EUNAVAILABLE)
}

func FuzzDecodeRingIn(f *testing.F) {
	for _, s := range []string{
		`{"channel":"whatsapp","caller":"+447700900123","call_id":"wa-1"}`,
		`{"channel":"facetime","caller":"her@example.org","call_id":"ft-1"}`,
		`{"channel":"whatsapp","call_id":"x"}`,
		`{"channel":"pstn","call_id":"x"}`,
		`{"channel":"whatsapp","caller":"+447700900123","call_id":""}`,
		`{"channel":"whatsapp","call_id":"x","call_id":"y"}`,
		`{"channel":"whatsapp","caller":"07700 900123","call_id":"x"}`,
		`{"channel":"whatsapp","caller":"00000000","call_id":"x","00000000":1}`,
	} {
		f.Add([]byte(s))
	}
	channels := httpapitest.Channels()
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := httpapi.DecodeRingIn(body, channels, callerKey)
		var raw struct {
			Channel string `json:"channel"`
			Caller  string `json:"caller"`
			CallID  string `json:"call_id"`
		}
		_ = json.Unmarshal(body, &raw)
		if err != nil {
			if code := gateway.ErrorCode(err); code != gateway.EINVALID {
				t.Fatalf("code %q for bad input: %v", code, err)
			}
			// The caller is never quoted (unless the body spells her
			// identity somewhere else too, as a field's name or another
			// field's value, which the error may name).
			if c := strings.TrimSpace(raw.Caller); len(c) >= 8 && strings.ContainsAny(c, "0123456789") && strings.Contains(err.Error(), c) &&
				strings.Count(string(body), c) < 2 {
				t.Fatalf("the error quotes the caller: %v", err)
			}
			return
		}
		if c.CallID == "" || !c.Channel.IsVideo() || c.DeviceID != "" {
			t.Fatalf("accepted %+v", c)
		}
		if raw.Caller != "" && strings.TrimSpace(raw.Caller) != "" && (c.CallerHash == "" || strings.Contains(c.Caller, strings.TrimSpace(raw.Caller))) {
			t.Fatalf("caller %q kept as %q / %q", raw.Caller, c.Caller, c.CallerHash)
		}
	})
}
