package twilio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"
	"github.com/twilio/twilio-go/client/jwt"

	"github.com/safeconnection/gateway/mocks/twilio"
)

const (
	apiKeySID    = "SK0123456789abcdef0123456789abcdef"
	apiKeySecret = "k3ys3cr3t"
)

// newVideoEnv is an env whose fake knows the API key and whose rooms no
// one joins but through the fake SDK.
func newVideoEnv(tb testing.TB) *env {
	tb.Helper()
	e := newEnv(tb)
	e.fake.APIKeySID, e.fake.APIKeySecret = apiKeySID, apiKeySecret
	e.fake.SetJoins(twilio.Never, twilio.Never)
	return e
}

// createRoom creates a room of two named name, whose callbacks go to the
// receiver, and returns its SID once room-created has arrived.
func (e *env) createRoom(tb testing.TB, name string) string {
	tb.Helper()
	n := len(e.rc.events())
	resp, room := e.post(tb, "/v1/Rooms", url.Values{
		"UniqueName": {name}, "Type": {"group"}, "MaxParticipants": {"2"},
		"StatusCallback": {e.rc.srv.URL + "/webhooks/twilio/video?attempt=" + name}, "StatusCallbackMethod": {"POST"},
	}, accountSID, authToken)
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("create room: %d %v", resp.StatusCode, room)
	}
	e.rc.waitFor(tb, n+1)
	return room["sid"].(string)
}

// token mints an access token as the gateway does (twilio-go).
func token(tb testing.TB, identity, room string, nbf, until time.Time) string {
	tb.Helper()
	t := jwt.CreateAccessToken(jwt.AccessTokenParams{
		AccountSid: accountSID, SigningKeySid: apiKeySID, Secret: apiKeySecret, Identity: identity,
		Nbf: float64(nbf.Unix()), ValidUntil: float64(until.Unix()),
	})
	t.AddGrant(&jwt.VideoGrant{Room: room})
	s, err := t.ToJwt()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// sdkCall posts to one of the fake SDK's endpoints as the SDK does and
// returns the status and the decoded answer.
func (e *env) sdkCall(tb testing.TB, path, tok, room string) (int, map[string]any) {
	tb.Helper()
	body, _ := json.Marshal(map[string]string{"token": tok, "room": room})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, e.api.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://127.0.0.1:8080")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		tb.Errorf("%s: Access-Control-Allow-Origin %q", path, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("%s: answer %q: %v", path, b, err)
	}
	return resp.StatusCode, m
}

func TestFakeSDKServed(t *testing.T) {
	t.Parallel()
	e := newVideoEnv(t)
	for _, p := range []string{twilio.SDKPath, "/js/video/releases/2.28.1/twilio-video.min.js", "/js/video/releases/2.28.1/twilio-video.js"} {
		resp, err := http.Get(e.api.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
			!bytes.Contains(b, []byte("window.Twilio.Video = {")) || !bytes.Contains(b, []byte(twilio.PathConnect)) {
			t.Errorf("%s: %d %q, %d bytes", p, resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
		}
	}
	resp, err := http.Post(e.api.URL+twilio.SDKPath, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST to the SDK: %d", resp.StatusCode)
	}
	if n := len(e.fake.Requests()); n != 0 {
		t.Errorf("the SDK's requests were recorded as API requests: %d", n)
	}
}

func TestFakeSDKPreflight(t *testing.T) {
	t.Parallel()
	e := newVideoEnv(t)
	req, _ := http.NewRequest(http.MethodOptions, e.api.URL+twilio.PathConnect, nil)
	req.Header.Set("Origin", "http://127.0.0.1:8080")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("preflight: %d %v", resp.StatusCode, h)
	}
}

func TestFakeSDKConnect(t *testing.T) {
	t.Parallel()
	e := newVideoEnv(t)
	sid := e.createRoom(t, "a_1")
	now := time.Now()
	officer := token(t, "officer", "a_1", now, now.Add(time.Hour))

	status, body := e.sdkCall(t, twilio.PathConnect, officer, "a_1")
	if status != http.StatusOK {
		t.Fatalf("connect: %d %v", status, body)
	}
	room, _ := body["room"].(map[string]any)
	self, _ := body["participant"].(map[string]any)
	if room["sid"] != sid || room["name"] != "a_1" || self["identity"] != "officer" || !strings.HasPrefix(self["sid"].(string), "PA") {
		t.Errorf("connect answered %v", body)
	}
	if others, _ := body["participants"].([]any); len(others) != 0 {
		t.Errorf("others in the room: %v", others)
	}
	got := e.rc.waitFor(t, 2)
	if got[1] != "/webhooks/twilio/video participant-connected:officer" {
		t.Errorf("callbacks %v", got)
	}
	e.rc.mu.Lock()
	f := e.rc.got[1]
	e.rc.mu.Unlock()
	if f.Get("RoomSid") != sid || f.Get("ParticipantSid") != self["sid"] || f.Get("ParticipantStatus") != "connected" {
		t.Errorf("callback %v", f)
	}
	if c := e.fake.Connects(); len(c) != 1 || c[0].Identity != "officer" || c[0].Room != "a_1" || c[0].RoomSID != sid || c[0].Code != 0 {
		t.Errorf("connects %+v", c)
	}

	// The device joins: the officer's poll sees it; the room completed
	// through the API shows as completed.
	device := token(t, "device", "a_1", now, now.Add(time.Hour))
	if status, body := e.sdkCall(t, twilio.PathConnect, device, ""); status != http.StatusOK {
		t.Fatalf("device connect: %d %v", status, body)
	}
	e.rc.waitFor(t, 3)
	status, body = e.sdkCall(t, twilio.PathPoll, officer, sid)
	others, _ := body["participants"].([]any)
	if status != http.StatusOK || body["status"] != "in-progress" || len(others) != 1 || others[0].(map[string]any)["identity"] != "device" {
		t.Errorf("poll: %d %v", status, body)
	}

	// A third participant does not fit; the officer connecting again takes
	// his own place.
	if status, body := e.sdkCall(t, twilio.PathConnect, token(t, "someone", "a_1", now, now.Add(time.Hour)), "a_1"); status != http.StatusBadRequest || body["code"] != float64(53105) {
		t.Errorf("third participant: %d %v", status, body)
	}
	if status, body := e.sdkCall(t, twilio.PathConnect, officer, "a_1"); status != http.StatusOK {
		t.Errorf("officer again: %d %v", status, body)
	}
	e.rc.waitFor(t, 4)

	// The device leaves.
	if status, body := e.sdkCall(t, twilio.PathDisconnect, device, sid); status != http.StatusOK {
		t.Errorf("disconnect: %d %v", status, body)
	}
	if got := e.rc.waitFor(t, 5); got[4] != "/webhooks/twilio/video participant-disconnected:device" {
		t.Errorf("callbacks %v", got)
	}
	if status, body := e.sdkCall(t, twilio.PathDisconnect, device, sid); status != http.StatusNotFound || body["code"] != float64(53204) {
		t.Errorf("disconnect again: %d %v", status, body)
	}

	if resp, body := e.post(t, "/v1/Rooms/"+sid, url.Values{"Status": {"completed"}}, accountSID, authToken); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("complete: %d %v", resp.StatusCode, body)
	}
	if _, body := e.sdkCall(t, twilio.PathPoll, officer, sid); body["status"] != "completed" {
		t.Errorf("poll after completion: %v", body)
	}
	if status, body := e.sdkCall(t, twilio.PathConnect, officer, "a_1"); status != http.StatusBadRequest || body["code"] != float64(53118) {
		t.Errorf("connect to a completed room: %d %v", status, body)
	}
}

func TestFakeSDKRefusals(t *testing.T) {
	t.Parallel()
	now := time.Now()
	hour := now.Add(time.Hour)
	claims := func(iss, sub string, grants map[string]any) string {
		c := gojwt.MapClaims{"jti": apiKeySID + "-1", "iss": iss, "sub": sub, "nbf": now.Unix(), "exp": hour.Unix(), "grants": grants}
		t := gojwt.NewWithClaims(gojwt.SigningMethodHS256, c)
		s, _ := t.SignedString([]byte(apiKeySecret))
		return s
	}
	forged := func() string {
		t := gojwt.NewWithClaims(gojwt.SigningMethodHS256, gojwt.MapClaims{"iss": apiKeySID, "sub": accountSID, "exp": hour.Unix(),
			"grants": map[string]any{"identity": "officer", "video": map[string]any{"room": "a_1"}}})
		s, _ := t.SignedString([]byte("not-the-secret"))
		return s
	}
	tests := []struct {
		name        string
		token, room string
		noKey       bool
		status      int
		code        int
	}{
		{"forged", forged(), "a_1", false, 401, 20107},
		{"expired", token(t, "officer", "a_1", now.Add(-2*time.Hour), now.Add(-time.Hour)), "a_1", false, 401, 20104},
		{"not yet valid", token(t, "officer", "a_1", hour, hour.Add(time.Hour)), "a_1", false, 401, 20105},
		{"garbage", "not.a.token", "a_1", false, 401, 20101},
		{"no token", "", "a_1", false, 401, 20101},
		{"another key", claims("SK00000000000000000000000000000000", accountSID, map[string]any{"identity": "officer", "video": map[string]any{"room": "a_1"}}), "a_1", false, 401, 20103},
		{"another account", claims(apiKeySID, "AC00000000000000000000000000000000", map[string]any{"identity": "officer", "video": map[string]any{"room": "a_1"}}), "a_1", false, 401, 20103},
		{"no identity", claims(apiKeySID, accountSID, map[string]any{"video": map[string]any{"room": "a_1"}}), "a_1", false, 403, 20106},
		{"no video grant", claims(apiKeySID, accountSID, map[string]any{"identity": "officer"}), "a_1", false, 403, 20106},
		{"granted another room", token(t, "officer", "a_2", now, hour), "a_1", false, 403, 20106},
		{"no such room", token(t, "officer", "a_9", now, hour), "a_9", false, 404, 53106},
		{"fake without the API key", token(t, "officer", "a_1", now, hour), "a_1", true, 401, 20101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newVideoEnv(t)
			e.createRoom(t, "a_1")
			if tt.noKey {
				e.fake.APIKeySecret = ""
			}
			status, body := e.sdkCall(t, twilio.PathConnect, tt.token, tt.room)
			if status != tt.status || body["code"] != float64(tt.code) || body["message"] == "" {
				t.Errorf("got %d %v, want %d code %d", status, body, tt.status, tt.code)
			}
			if c := e.fake.Connects(); len(c) != 1 || c[0].Code != tt.code || c[0].RoomSID != "" {
				t.Errorf("connects %+v", c)
			}
			time.Sleep(30 * time.Millisecond) // no callback follows
			if got := e.rc.events(); len(got) != 1 {
				t.Errorf("callbacks %v", got)
			}
		})
	}
}

// TestFakeSDKWithTimedJoins checks that a browser's join and the fake's own
// timed joins go together: the room knows both.
func TestFakeSDKWithTimedJoins(t *testing.T) {
	t.Parallel()
	e := newVideoEnv(t)
	e.fake.SetJoins(twilio.Never, 10*time.Millisecond)
	sid := e.createRoom(t, "a_1")
	e.rc.waitFor(t, 2) // the device joined on its own
	now := time.Now()
	officer := token(t, "officer", "a_1", now, now.Add(time.Hour))
	status, body := e.sdkCall(t, twilio.PathConnect, officer, "a_1")
	others, _ := body["participants"].([]any)
	if status != http.StatusOK || len(others) != 1 || others[0].(map[string]any)["identity"] != "device" {
		t.Fatalf("connect: %d %v", status, body)
	}
	got := e.rc.waitFor(t, 3)
	want := []string{"/webhooks/twilio/video room-created:", "/webhooks/twilio/video participant-connected:device", "/webhooks/twilio/video participant-connected:officer"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("callbacks\n got %v\nwant %v", got, want)
	}
	if _, body := e.sdkCall(t, twilio.PathPoll, officer, sid); body["status"] != "in-progress" {
		t.Errorf("poll %v", body)
	}
}
