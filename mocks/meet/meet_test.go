package meet_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway/mocks/meet"
)

// discoveryFile is the Meet API's discovery document (an excerpt); see
// testdata/specs/README.md.
const discoveryFile = "../../testdata/specs/google_meet_v2_discovery_EXCERPT.json"

func loadDiscovery(t testing.TB) *meet.Discovery {
	t.Helper()
	b, err := os.ReadFile(discoveryFile)
	if err != nil {
		t.Fatal(err)
	}
	d, err := meet.ParseDiscovery(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDiscoveryChecker(t *testing.T) {
	d := loadDiscovery(t)
	tests := []struct {
		name    string
		schema  string
		body    string
		request bool
		ok      bool
	}{
		{"request config", "Space", `{"config":{"accessType":"TRUSTED","entryPointAccess":"ALL"}}`, true, true},
		{"empty space", "Space", `{}`, true, true},
		{"bad enum", "Space", `{"config":{"accessType":"EVERYONE"}}`, true, false},
		{"unknown field", "Space", `{"config":{"lobby":"on"}}`, true, false},
		{"read-only in a request", "Space", `{"meetingUri":"https://meet.google.com/x"}`, true, false},
		{"read-only in a response", "Space", `{"name":"spaces/a","meetingUri":"https://meet.google.com/x"}`, false, true},
		{"wrong type", "Space", `{"name":7}`, false, false},
		{"array of objects", "Space", `{"phoneAccess":[{"phoneNumber":"+44 20 7946 0000","pin":"123"}]}`, false, true},
		{"array of wrong items", "Space", `{"phoneAccess":["x"]}`, false, false},
		{"empty request", "EndActiveConferenceRequest", `{}`, true, true},
		{"not json", "Space", `{`, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.Check(tt.schema, []byte(tt.body), tt.request)
			if (err == nil) != tt.ok {
				t.Errorf("Check = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	for _, c := range []struct {
		method, path, id string
	}{
		{"POST", "/v2/spaces", "meet.spaces.create"},
		{"POST", "/v2/spaces/abc123:endActiveConference", "meet.spaces.endActiveConference"},
		{"GET", "/v2/spaces/abc123", "meet.spaces.get"},
	} {
		m, err := d.Match(c.method, c.path)
		if err != nil || m.ID != c.id {
			t.Errorf("Match(%s %s) = %v, %v; want %s", c.method, c.path, m, err, c.id)
		}
	}
	if _, err := d.Match("POST", "/v2/space"); err == nil {
		t.Error("Match of an unknown path succeeded")
	}
}

type rig struct {
	f   *meet.Fake
	srv *httptest.Server
	d   *meet.Discovery
}

func newRig(t testing.TB) *rig {
	t.Helper()
	f := meet.New("cid", "csecret", "rtoken")
	srv := httptest.NewServer(f)
	t.Cleanup(func() { f.Close(); srv.Close() })
	return &rig{f: f, srv: srv, d: loadDiscovery(t)}
}

func (r *rig) token(t testing.TB, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, _, body := do(t, req)
	var out map[string]any
	_ = json.Unmarshal(body, &out)
	return status, out
}

func do(t testing.TB, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func goodForm() url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "client_id": {"cid"}, "client_secret": {"csecret"}, "refresh_token": {"rtoken"}}
}

func TestToken(t *testing.T) {
	r := newRig(t)
	tests := []struct {
		name   string
		change func(url.Values)
		status int
		err    string
	}{
		{"good", func(url.Values) {}, 200, ""},
		{"wrong secret", func(v url.Values) { v.Set("client_secret", "x") }, 401, "invalid_client"},
		{"revoked refresh token", func(v url.Values) { v.Set("refresh_token", "x") }, 400, "invalid_grant"},
		{"wrong grant", func(v url.Values) { v.Set("grant_type", "client_credentials") }, 400, "unsupported_grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := goodForm()
			tt.change(form)
			status, body := r.token(t, form)
			if status != tt.status || (tt.err != "" && body["error"] != tt.err) {
				t.Errorf("status %d body %v, want %d %s", status, body, tt.status, tt.err)
			}
			if tt.err == "" && (body["access_token"] == "" || body["token_type"] != "Bearer") {
				t.Errorf("token body %v", body)
			}
		})
	}
}

func TestSpaces(t *testing.T) {
	r := newRig(t)
	_, tb := r.token(t, goodForm())
	tok := tb["access_token"].(string)
	call := func(method, path, body, token string) (int, []byte) {
		req, _ := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		status, _, b := do(t, req)
		return status, b
	}
	status, created := call("POST", "/v2/spaces", `{"config":{"accessType":"TRUSTED","entryPointAccess":"ALL"}}`, tok)
	if status != 200 {
		t.Fatalf("create: %d %s", status, created)
	}
	var space map[string]any
	_ = json.Unmarshal(created, &space)
	name, _ := space["name"].(string)
	if !strings.HasPrefix(name, "spaces/") || !strings.HasPrefix(space["meetingUri"].(string), "https://meet.google.com/") {
		t.Fatalf("space %s", created)
	}
	r.f.StartConference(name)

	tests := []struct {
		name, method, path, body, token string
		status                          int
		gstatus                         string // Google's error status
		before                          func()
	}{
		{"create", "POST", "/v2/spaces", `{"config":{"accessType":"TRUSTED","entryPointAccess":"ALL"}}`, tok, 200, "", nil},
		{"create empty", "POST", "/v2/spaces", `{}`, tok, 200, "", nil},
		{"get", "GET", "/v2/" + name, "", tok, 200, "", nil},
		{"end", "POST", "/v2/" + name + ":endActiveConference", `{}`, tok, 200, "", nil},
		{"end unknown", "POST", "/v2/spaces/nope:endActiveConference", `{}`, tok, 404, "NOT_FOUND", nil},
		{"bad enum", "POST", "/v2/spaces", `{"config":{"accessType":"EVERYONE"}}`, tok, 400, "INVALID_ARGUMENT", nil},
		{"unknown field", "POST", "/v2/spaces", `{"lobby":true}`, tok, 400, "INVALID_ARGUMENT", nil},
		{"output-only field", "POST", "/v2/spaces", `{"meetingUri":"x"}`, tok, 400, "INVALID_ARGUMENT", nil},
		{"bad token", "POST", "/v2/spaces", `{}`, "nope", 401, "UNAUTHENTICATED", nil},
		{"rate limited", "POST", "/v2/spaces", `{}`, tok, 429, "RESOURCE_EXHAUSTED", func() { r.f.FailNext(1, 429, time.Second) }},
		{"unavailable", "POST", "/v2/spaces", `{}`, tok, 503, "UNAVAILABLE", func() { r.f.FailNext(1, 503, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			status, body := call(tt.method, tt.path, tt.body, tt.token)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if tt.gstatus != "" {
				var e struct {
					Error struct {
						Code    int    `json:"code"`
						Message string `json:"message"`
						Status  string `json:"status"`
					} `json:"error"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Status != tt.gstatus || e.Error.Code != tt.status || e.Error.Message == "" {
					t.Errorf("error body %s, want status %s", body, tt.gstatus)
				}
				return
			}
			if err := r.d.CheckExchange(tt.method, tt.path, []byte(tt.body), status, body); err != nil {
				t.Errorf("exchange does not match the discovery document: %v", err)
			}
		})
	}
	if exists, active, ended := r.f.Space(name); !exists || active || ended != 1 {
		t.Errorf("space exists=%v active=%v ended=%d", exists, active, ended)
	}
}

func TestMalformed(t *testing.T) {
	r := newRig(t)
	_, tb := r.token(t, goodForm())
	r.f.MalformedNext(1)
	req, _ := http.NewRequest("POST", r.srv.URL+"/v2/spaces", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+tb["access_token"].(string))
	status, _, body := do(t, req)
	var v any
	if status != 200 || json.Unmarshal(body, &v) == nil {
		t.Errorf("malformed: %d %s", status, body)
	}
	if n := len(r.f.Requests()); n != 2 {
		t.Errorf("%d requests recorded, want 2", n)
	}
}
