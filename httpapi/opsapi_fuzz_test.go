package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
)

// FuzzOpsBodies: whatever body ops staff send to change a room or a
// device, the answer is a success or a 4xx with a JSON error: never a 500
// or a panic.
func FuzzOpsBodies(f *testing.F) {
	for _, seed := range []string{
		`{"number":"+442079460999"}`,
		`{"desk_number":"+442079460299","handles":{"whatsapp":"+447700900555"},"neighbours":["CN"]}`,
		`{"neighbours":["CE"]}`,
		`{"neighbours":[""]}`,
		`{"handles":{"pstn":"+447700900555"}}`,
		`{"name":"x","number":"+447700900777","handles":{"facetime":"a@b.c"},"rotate_credential":true,"reason":"r"}`,
		`{"reason":"cracked"}`,
		`{"reason":"\u0000"}`,
		`{"number":null}`,
		`[]`, `null`, `{`, `{"number":1}`,
	} {
		f.Add(seed)
	}
	e := httpapitest.New(f, withRooms(f))
	d, _ := e.Device(f, "CE")
	_, ops := e.Token(f, gateway.RoleOps, "")
	h := e.Server.Handler()
	paths := []string{"/v1/rooms/CE", "/v1/devices/" + d.ID + "/rotate", "/v1/devices/" + d.ID + "/out-of-service"}
	f.Fuzz(func(t *testing.T, body string) {
		for i, path := range paths {
			method := "POST"
			if i == 0 {
				method = "PATCH"
			}
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+ops)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 || (rec.Code >= 400 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json")) {
				t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
			}
			if rec.Code == http.StatusOK && i == 2 {
				// Back in service for the next input.
				req := httptest.NewRequest("POST", "/v1/devices/"+d.ID+"/return", strings.NewReader(`{"reason":"back"}`))
				req.Header.Set("Authorization", "Bearer "+ops)
				req.Header.Set("Content-Type", "application/json")
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		}
	})
}
