package opsclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		base, token string
		want        string // the base URL kept; empty: an error
	}{
		{"http://127.0.0.1:8080", "s", "http://127.0.0.1:8080"},
		{" https://gw.example.police.uk/ ", "s", "https://gw.example.police.uk"},
		{"https://example.org/gateway/", "s", "https://example.org/gateway"},
		{"", "s", ""},
		{"127.0.0.1:8080", "s", ""},
		{"ftp://example.org", "s", ""},
		{"http://", "s", ""},
		{"http://example.org?x=1", "s", ""},
		{"http://user:pw@example.org", "s", ""},
		{"http://example.org", " ", ""},
	} {
		c, err := New(tc.base, tc.token)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("New(%q, %q) = %v, want an error", tc.base, tc.token, c.BaseURL)
		case tc.want != "" && err != nil:
			t.Errorf("New(%q, %q): %v", tc.base, tc.token, err)
		case tc.want != "" && c.BaseURL.String() != tc.want:
			t.Errorf("New(%q): base %q, want %q", tc.base, c.BaseURL, tc.want)
		}
	}
}

// TestCall: a call sends the credential and the JSON body to the path
// under the base URL, and reads the answer; refusals and other answers
// become typed errors.
func TestCall(t *testing.T) {
	var got *http.Request
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b := make([]byte, 1024)
		n, _ := r.Body.Read(b)
		gotBody = string(b[:n])
		switch r.URL.Path {
		case "/prefix/v1/devices/AW%2F1/rotate", "/prefix/v1/devices/AW/1/rotate":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"device":{"id":"AW/1","status":"in_service","battery":null},"pending":true,"changes":{"name":"x"}}` + "\n"))
		case "/prefix/v1/rooms":
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":{"code":"conflict","message":"room AW changed meanwhile"}}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL+"/prefix/", "sekrit")
	if err != nil {
		t.Fatal(err)
	}
	name := "x"
	ans, raw, err := c.RotateDevice(context.Background(), "AW/1", Rotation{Name: &name, Reason: "why"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodPost || got.Header.Get("Authorization") != "Bearer sekrit" || got.Header.Get("Content-Type") != "application/json" ||
		got.URL.EscapedPath() != "/prefix/v1/devices/AW%2F1/rotate" {
		t.Errorf("request %s %s %v", got.Method, got.URL.EscapedPath(), got.Header)
	}
	if gotBody != `{"name":"x","reason":"why"}` {
		t.Errorf("body %s", gotBody)
	}
	if ans.Device.ID != "AW/1" || !ans.Pending || ans.Device.Battery != nil || string(raw) != strings.TrimSpace(string(raw)) || !strings.HasPrefix(string(raw), `{"device"`) {
		t.Errorf("answer %+v %s", ans, raw)
	}

	_, _, err = c.Rooms(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusConflict || e.Code != "conflict" || e.Message != "room AW changed meanwhile" {
		t.Fatalf("refusal: %#v", err)
	}
	if e.Error() != "room AW changed meanwhile (409 Conflict, conflict)" {
		t.Errorf("refusal says %q", e.Error())
	}
	_, _, err = c.Flags(context.Background(), "", 0)
	if !errors.As(err, &e) || e.Status != http.StatusNotFound || e.Error() != "the gateway answered 404 Not Found" {
		t.Errorf("an empty 404: %v", err)
	}

	srv.Close()
	_, _, err = c.Rooms(context.Background())
	var u *UnreachableError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "cannot reach the gateway at "+srv.URL+"/prefix") {
		t.Errorf("a closed server: %v", err)
	}
}

// TestRefusal: an error answer is read as the gateway's JSON error, or by
// the start of whatever else came.
func TestRefusal(t *testing.T) {
	for _, tc := range []struct {
		body       string
		code, want string
	}{
		{`{"error":{"code":"not_found","message":"no device \"x\""}}`, "not_found", `no device "x"`},
		{`<html><body>502 Bad Gateway</body></html>` + "\n<p>nginx</p>", "", "<html><body>502 Bad Gateway</body></html>"},
		{`{"message":"not ours"}`, "", `{"message":"not ours"}`},
		{strings.Repeat("é", 200), "", strings.Repeat("é", 60) + "…"},
		{"\xff\xfe", "", ""},
		{"", "", ""},
	} {
		e := refusal(502, []byte(tc.body))
		if e.Code != tc.code || e.Message != tc.want {
			t.Errorf("refusal(%q) = %q %q, want %q %q", tc.body, e.Code, e.Message, tc.code, tc.want)
		}
	}
}

// FuzzRefusal: whatever a server answers with an error status, reading it
// neither panics nor yields a message of more than one line, of invalid
// UTF-8, or over the excerpt's length.
func FuzzRefusal(f *testing.F) {
	for _, s := range []string{
		`{"error":{"code":"invalid","message":"room is required"}}`,
		`{"error":null}`, `{"error":{"code":1}}`, `[]`, `null`, "<html>\n</html>", "\xff", strings.Repeat("a", 500),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		e := refusal(500, []byte(body))
		if e == nil || e.Status != 500 {
			t.Fatalf("refusal(%q) = %v", body, e)
		}
		if e.Code == "" && (strings.ContainsAny(e.Message, "\r\n") || !utf8.ValidString(e.Message) || len(e.Message) > 124) {
			t.Errorf("excerpt of %q: %q", body, e.Message)
		}
		_ = e.Error()
	})
}

// TestOpsEventDecoding: an entry's ID comes as a number or a string, its
// actor as an object or a name.
func TestOpsEventDecoding(t *testing.T) {
	var l OpsEventList
	err := json.Unmarshal([]byte(`{"events":[
		{"id":12,"actor":{"id":"t_1","name":"Central West ops desk"},"action":"device.out_of_service","before":{"status":"in_service"},"after":{"status":"out_of_service"}},
		{"id":"13","actor":"ops","action":"room.update"},
		{"id":14,"actor":{"id":"t_2"}}]}`), &l)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Events) != 3 || l.Events[0].ID != "12" || l.Events[0].Actor.String() != "Central West ops desk" || l.Events[0].Actor.ID != "t_1" ||
		l.Events[1].ID != "13" || l.Events[1].Actor.String() != "ops" || l.Events[2].Actor.String() != "t_2" {
		t.Errorf("decoded %+v", l.Events)
	}
	for _, bad := range []string{`{"events":[{"id":true}]}`, `{"events":[{"actor":[1]}]}`} {
		if err := json.Unmarshal([]byte(bad), &l); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}
