package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
)

// TestOutboxRoutes: supervisors and ops staff see the outbox and an
// entry's message (nothing personal in it); ops staff replay a dead entry
// with a reason, in the ops record; the others are refused, and bad input
// gets a 4xx.
func TestOutboxRoutes(t *testing.T) {
	e := httpapitest.New(t)
	ctx := context.Background()
	_, _, err := e.Store.CreateVerification(ctx, gateway.Verification{ID: "v1", Reference: gateway.NewReference(), RoomID: "AW",
		Officer: gateway.Officer{Collar: "PC 1234", Warrant: "W998877"}, RequestedBy: "tok_officer"}, "",
		gateway.Event{Type: gateway.EventState, Message: "requested"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Store.Transition(ctx, "v1", gateway.Transition{To: gateway.StateFailed,
		Event: gateway.Event{Type: gateway.EventState, Message: "every channel failed"}}); err != nil {
		t.Fatal(err)
	}
	_, supervisor := e.Token(t, gateway.RoleSupervisor, "PS 42")
	opsTok, ops := e.Token(t, gateway.RoleOps, "Ops Desk")
	_, officer := e.Token(t, gateway.RoleOfficer, "PC 1234")

	list := decode[httpapi.OutboxReply](t, do(t, e, call{method: "GET", path: "/v1/outbox?verification=v1", secret: supervisor}))
	if len(list.Entries) != 2 || list.Entries[0].Type != gateway.OutboxClosed || list.Entries[1].Type != gateway.OutboxFlagged {
		t.Fatalf("entries %+v", list.Entries)
	}
	id := list.Entries[0].ID
	r := do(t, e, call{method: "GET", path: "/v1/outbox/" + id, secret: ops})
	wantStatus(t, r, http.StatusOK)
	view := decode[httpapi.OutboxView](t, r)
	var body gateway.OutboxBody
	if err := json.Unmarshal(view.Body, &body); err != nil || body.Verification != "v1" || body.State != gateway.StateFailed {
		t.Fatalf("message %s (%v)", view.Body, err)
	}
	if strings.Contains(string(r.body), "W998877") {
		t.Fatalf("the entry shows the warrant number: %s", r.body)
	}
	if got := decode[httpapi.OutboxReply](t, do(t, e, call{method: "GET", path: "/v1/outbox?state=dead", secret: ops})); len(got.Entries) != 0 {
		t.Fatalf("dead entries %+v", got.Entries)
	}

	// Pending: a replay is a conflict. Made dead by a deliverer, it replays.
	wantError(t, do(t, e, call{method: "POST", path: "/v1/outbox/" + id + "/replay", secret: ops, body: `{"reason":"again"}`}), http.StatusConflict, gateway.ECONFLICT)
	claimed, err := e.Store.ClaimOutbox(ctx, "i1", time.Minute, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim %v %v", claimed, err)
	}
	if _, err := e.Store.SettleOutbox(ctx, id, "i1", gateway.OutboxTry{State: gateway.OutboxDead, Error: "the incident system answered 410"},
		gateway.OpsEvent{Actor: gateway.Actor{ID: "gateway", Name: "the gateway's outbox"}, Action: gateway.OpsOutboxDead}); err != nil {
		t.Fatal(err)
	}
	r = do(t, e, call{method: "POST", path: "/v1/outbox/" + id + "/replay", secret: ops, body: `{"reason":"the incident system is back"}`})
	wantStatus(t, r, http.StatusOK)
	if back := decode[gateway.OutboxEntry](t, r); back.ID != id || back.State != gateway.OutboxPending || back.Attempts != 0 {
		t.Fatalf("replayed %+v", back)
	}
	evs := decode[httpapi.OpsEventsReply](t, do(t, e, call{method: "GET", path: "/v1/ops-events", secret: ops}))
	var replay *gateway.OpsEvent
	for i, ev := range evs.Events {
		if ev.Action == gateway.OpsOutboxReplay {
			replay = &evs.Events[i]
		}
	}
	if replay == nil || replay.Reason != "the incident system is back" || replay.Actor.ID != opsTok.ID {
		t.Fatalf("ops record %+v", evs.Events)
	}

	for _, c := range []struct {
		call
		status int
		code   string
	}{
		{call{method: "GET", path: "/v1/outbox", secret: officer}, http.StatusForbidden, gateway.EFORBIDDEN},
		{call{method: "GET", path: "/v1/outbox"}, http.StatusUnauthorized, gateway.EUNAUTHORIZED},
		{call{method: "POST", path: "/v1/outbox/" + id + "/replay", secret: supervisor, body: `{"reason":"x"}`}, http.StatusForbidden, gateway.EFORBIDDEN},
		{call{method: "GET", path: "/v1/outbox?state=lost", secret: ops}, http.StatusBadRequest, gateway.EINVALID},
		{call{method: "GET", path: "/v1/outbox?limit=0", secret: ops}, http.StatusBadRequest, gateway.EINVALID},
		{call{method: "GET", path: "/v1/outbox/msg_none", secret: ops}, http.StatusNotFound, gateway.ENOTFOUND},
		{call{method: "POST", path: "/v1/outbox/msg_none/replay", secret: ops, body: `{"reason":"x"}`}, http.StatusNotFound, gateway.ENOTFOUND},
		{call{method: "POST", path: "/v1/outbox/" + id + "/replay", secret: ops, body: `{}`}, http.StatusBadRequest, gateway.EINVALID},
		{call{method: "POST", path: "/v1/outbox/" + id + "/replay", secret: ops, body: `{"reason":`}, http.StatusBadRequest, gateway.EINVALID},
	} {
		wantError(t, do(t, e, c.call), c.status, c.code)
	}
}
