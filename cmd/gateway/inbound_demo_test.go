package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/safeconnection/gateway"
)

// The demo's POST /demo/call-room/{room}: the fake Twilio calls the room's
// number, a handset answers, and the answer names the verification.
func TestDemoCallRoom(t *testing.T) {
	t.Parallel()
	m := startDemo(t, "")
	client := newClient(t)
	post := func(path string) (int, []byte) {
		resp, err := client.Post(m.URL()+path, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	status, body := post("/demo/call-room/aw")
	var view callRoomView
	if err := json.Unmarshal(body, &view); err != nil || status != http.StatusCreated {
		t.Fatalf("call-room: %d %s", status, body)
	}
	if !view.Bridged || view.Verification == "" || view.Reference == "" || len(view.Said) == 0 {
		t.Fatalf("call-room answered %+v: want her call put through, with its verification", view)
	}
	v, err := m.Store.Verification(context.Background(), view.Verification)
	if err != nil || v.Origin != gateway.OriginPublic || v.RoomID != "AW" || v.State != gateway.StateConnected || v.Reference != view.Reference {
		t.Fatalf("verification %+v, %v", v, err)
	}
	if status, body := post("/demo/call-room/ZZ"); status != http.StatusNotFound || errorCode(t, body) != gateway.ENOTFOUND {
		t.Fatalf("an unknown room: %d %s", status, body)
	}
}
