package teams_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway/mocks/teams"
)

const (
	tenant    = "8f0e6c2a-1b1c-4f3e-9a55-3d1c0b7e2f10"
	organizer = "5b9e1a7c-2d44-4c1e-8f0a-6e3b2c1d0f99"
)

func newFake(t testing.TB) (*teams.Fake, *httptest.Server) {
	t.Helper()
	f := teams.New(tenant, "app-id", "app-secret", organizer)
	srv := httptest.NewServer(f)
	t.Cleanup(func() { f.Close(); srv.Close() })
	return f, srv
}

func do(t testing.TB, req *http.Request) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 {
		if json.Unmarshal(b, &out) != nil {
			out = map[string]any{"_malformed": string(b)}
		}
	}
	return resp.StatusCode, resp.Header, out
}

func token(t testing.TB, srv *httptest.Server, tenantID string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/"+tenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, _, body := do(t, req)
	return status, body
}

func goodForm() url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {"app-id"}, "client_secret": {"app-secret"}, "scope": {teams.Scope}}
}

func TestToken(t *testing.T) {
	_, srv := newFake(t)
	tests := []struct {
		name   string
		tenant string
		change func(url.Values)
		status int
		err    string
		code   float64
	}{
		{"good", tenant, func(url.Values) {}, 200, "", 0},
		{"unknown tenant", "other", func(url.Values) {}, 400, "invalid_request", 90002},
		{"unknown app", tenant, func(v url.Values) { v.Set("client_id", "x") }, 400, "unauthorized_client", 700016},
		{"wrong secret", tenant, func(v url.Values) { v.Set("client_secret", "x") }, 401, "invalid_client", 7000215},
		{"wrong scope", tenant, func(v url.Values) { v.Set("scope", "User.Read") }, 400, "invalid_scope", 1002012},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := goodForm()
			tt.change(form)
			status, body := token(t, srv, tt.tenant, form)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, body)
			}
			if tt.err != "" {
				codes, _ := body["error_codes"].([]any)
				if body["error"] != tt.err || len(codes) != 1 || codes[0] != tt.code || !strings.HasPrefix(body["error_description"].(string), "AADSTS") {
					t.Errorf("error body %v", body)
				}
				return
			}
			if body["token_type"] != "Bearer" || body["access_token"] == "" || body["expires_in"] == nil {
				t.Errorf("token %v", body)
			}
		})
	}
}

func TestOnlineMeetings(t *testing.T) {
	f, srv := newFake(t)
	_, tb := token(t, srv, tenant, goodForm())
	tok := tb["access_token"].(string)
	good := `{"startDateTime":"2026-11-23T18:00:00Z","endDateTime":"2026-11-23T19:00:00Z","subject":"Safe Connection K7QX-M4TR","lobbyBypassSettings":{"scope":"everyone"}}`
	call := func(method, path, body, token string) (int, http.Header, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		return do(t, req)
	}
	base := "/v1.0/users/" + organizer + "/onlineMeetings"
	tests := []struct {
		name, method, path, body, token string
		before                          func()
		status                          int
		code                            string
	}{
		{"created", "POST", base, good, tok, nil, 201, ""},
		{"unknown property", "POST", base, `{"subject":"x","lobby":"open"}`, tok, nil, 400, "BadRequest"},
		{"bad date", "POST", base, `{"startDateTime":"tomorrow"}`, tok, nil, 400, "BadRequest"},
		{"end before start", "POST", base, `{"startDateTime":"2026-11-23T19:00:00Z","endDateTime":"2026-11-23T18:00:00Z"}`, tok, nil, 400, "BadRequest"},
		{"bad lobby scope", "POST", base, `{"lobbyBypassSettings":{"scope":"anyone"}}`, tok, nil, 400, "BadRequest"},
		{"unknown user", "POST", "/v1.0/users/someone/onlineMeetings", good, tok, nil, 404, "NotFound"},
		{"bad token", "POST", base, good, "nope", nil, 401, "InvalidAuthenticationToken"},
		{"throttled", "POST", base, good, tok, func() { f.FailNext(1, 429, 2*time.Second) }, 429, "TooManyRequests"},
		{"unavailable", "POST", base, good, tok, func() { f.FailNext(1, 503, 0) }, 503, "ServiceNotAvailable"},
		{"no access policy", "POST", base, good, tok, func() { f.NoAccessPolicy(true) }, 403, "Forbidden"},
		{"delete unknown", "DELETE", base + "/nope", "", tok, func() { f.NoAccessPolicy(false) }, 404, "NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			status, h, body := call(tt.method, tt.path, tt.body, tt.token)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, body)
			}
			if tt.code != "" {
				e, _ := body["error"].(map[string]any)
				inner, _ := e["innerError"].(map[string]any)
				if e["code"] != tt.code || e["message"] == "" || inner["request-id"] == nil {
					t.Errorf("error body %v, want code %s", body, tt.code)
				}
				if status == 429 && h.Get("Retry-After") != "2" {
					t.Errorf("Retry-After %q", h.Get("Retry-After"))
				}
				return
			}
			id, _ := body["id"].(string)
			join, _ := body["joinWebUrl"].(string)
			settings, _ := body["joinMeetingIdSettings"].(map[string]any)
			if id == "" || !strings.HasPrefix(join, "https://teams.microsoft.com/l/meetup-join/") || settings["joinMeetingId"] == "" ||
				body["subject"] != "Safe Connection K7QX-M4TR" || body["lobbyBypassSettings"].(map[string]any)["scope"] != "everyone" {
				t.Fatalf("meeting %v", body)
			}
			if !f.Meeting(id) {
				t.Fatal("fake does not know the meeting")
			}
			if status, _, body := call("DELETE", base+"/"+url.PathEscape(id), "", tok); status != 204 || f.Meeting(id) {
				t.Errorf("delete: %d %v", status, body)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	f, srv := newFake(t)
	_, tb := token(t, srv, tenant, goodForm())
	f.MalformedNext(1)
	req, _ := http.NewRequest("POST", srv.URL+"/v1.0/users/"+organizer+"/onlineMeetings", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+tb["access_token"].(string))
	if status, _, body := do(t, req); status != 201 || body["_malformed"] == nil {
		t.Errorf("malformed: %d %v", status, body)
	}
}
