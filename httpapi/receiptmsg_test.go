package httpapi_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/router"
)

// smsSender is the router's ReceiptSender for sms: it records the numbers
// it was given and answers with a message SID.
type smsSender struct {
	mu sync.Mutex
	to []string
}

func (s *smsSender) SendReceipt(_ context.Context, to, _, _ string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.to = append(s.to, to)
	return "SM0123456789abcdef0123456789abcdef", nil
}

// receiptEnv runs the API with a real router over its store sending
// receipts by sms (whatsapp not configured), and stores an ended and a
// live verification.
func receiptEnv(t *testing.T) (e *httpapitest.Env, sms *smsSender, ended, live string) {
	t.Helper()
	sms = &smsSender{}
	e = httpapitest.New(t)
	r := router.New(e.Store, nil)
	r.Logger = e.Server.Logger
	r.Receipts = map[string]router.ReceiptSender{router.ViaSMS: sms}
	r.ReceiptURL = "https://gw.example.police.uk/receipt/"
	e.Server.ReceiptMessages = r
	ctx := context.Background()
	for id, st := range map[string]gateway.State{"v_ended": gateway.StateVerified, "v_live": gateway.StateRouting} {
		if _, _, err := e.Store.CreateVerification(ctx, gateway.Verification{
			ID: id, Reference: gateway.NewReference(), State: st, RoomID: "AW",
			Officer: gateway.Officer{Collar: "PC 1", Warrant: "W1"}, RequestedBy: "tok_officer",
		}, "", gateway.Event{Type: gateway.EventState, Message: "requested"}); err != nil {
			t.Fatal(err)
		}
	}
	return e, sms, "v_ended", "v_live"
}

func TestReceiptMessage(t *testing.T) {
	e, sms, ended, live := receiptEnv(t)
	_, supervisor := e.Token(t, gateway.RoleSupervisor, "PS 42")
	_, officer := e.Token(t, gateway.RoleOfficer, "PC 1")
	_, ops := e.Token(t, gateway.RoleOps, "ops")
	path := func(id string) string { return "/v1/verifications/" + id + "/receipt-message" }
	const good = `{"to":"+447700900123","via":"sms"}`

	for _, tt := range []struct {
		name, id, secret, body string
		status                 int
		code                   string
	}{
		{"no credential", ended, "", good, 401, gateway.EUNAUTHORIZED},
		{"an officer", ended, officer, good, 403, gateway.EFORBIDDEN},
		{"ops", ended, ops, good, 403, gateway.EFORBIDDEN},
		{"not a number", ended, supervisor, `{"to":"+4477009001234567","via":"sms"}`, 400, gateway.EINVALID},
		{"letters", ended, supervisor, `{"to":"07700 FLOWER","via":"sms"}`, 400, gateway.EINVALID},
		{"no number", ended, supervisor, `{"via":"sms"}`, 400, gateway.EINVALID},
		{"unknown via", ended, supervisor, `{"to":"+447700900123","via":"fax"}`, 400, gateway.EINVALID},
		{"no via", ended, supervisor, `{"to":"+447700900123"}`, 400, gateway.EINVALID},
		{"unknown field", ended, supervisor, `{"to":"+447700900123","via":"sms","name":"Jane"}`, 400, gateway.EINVALID},
		{"not ended", live, supervisor, good, 409, gateway.ECONFLICT},
		{"unknown verification", "v_nosuch", supervisor, good, 404, gateway.ENOTFOUND},
		{"whatsapp not configured", ended, supervisor, `{"to":"+447700900123","via":"whatsapp"}`, 503, gateway.EUNAVAILABLE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, e, call{method: "POST", path: path(tt.id), secret: tt.secret, body: tt.body})
			msg := wantError(t, r, tt.status, tt.code)
			if strings.Contains(string(r.body), "900123") {
				t.Errorf("the answer repeats the number: %s", r.body)
			}
			if tt.name == "whatsapp not configured" && !strings.Contains(msg, "whatsapp") {
				t.Errorf("message %q does not say what is not configured", msg)
			}
		})
	}
	if len(sms.to) != 0 {
		t.Fatalf("sent to %v on refused requests", sms.to)
	}

	// Typed nationally, read in the force's region.
	r := do(t, e, call{method: "POST", path: path(ended), secret: supervisor, body: `{"to":"07700 900123","via":"sms"}`})
	wantStatus(t, r, http.StatusAccepted)
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	seq, _ := got["event"].(float64)
	delete(got, "event")
	want := map[string]any{"verification": ended, "via": "sms", "to": "•••••••123", "status": "accepted"}
	if !maps.Equal(got, want) || seq <= 0 {
		t.Errorf("answer %s, want %v and the note's seq", r.body, want)
	}
	if len(sms.to) != 1 || sms.to[0] != "+447700900123" {
		t.Errorf("sent to %v, want +447700900123", sms.to)
	}
	evs, err := e.Store.Events(context.Background(), ended, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Message != "receipt sent by sms to •••••••123" || float64(last.Seq) != seq {
		t.Errorf("last event %+v, want the receipt's note %v", last, seq)
	}
	for _, en := range e.Log.AllEntries() {
		if line, _ := en.String(); strings.Contains(line, "900123") {
			t.Errorf("log line holds the number: %s", line)
		}
	}

	// A gateway with no receipts by message says so.
	e.Server.ReceiptMessages = nil
	msg := wantError(t, do(t, e, call{method: "POST", path: path(ended), secret: supervisor, body: good}), 503, gateway.EUNAVAILABLE)
	if !strings.Contains(msg, "not configured") {
		t.Errorf("message %q", msg)
	}
}

var _ httpapi.ReceiptMessenger = (*router.Router)(nil)
