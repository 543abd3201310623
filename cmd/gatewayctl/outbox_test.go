package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/internal/opsclient"
)

// TestOutbox: the messages to the incident system as a table and as the
// gateway's JSON, by state and verification; a dead one replayed with a
// reason, which the ops record keeps; a replay without a reason is bad
// usage, and of a pending one the gateway's refusal.
func TestOutbox(t *testing.T) {
	g := startGateway(t)
	g.needRoute(t, "GET", "/v1/outbox")
	g.history(t)

	r := g.ctl(t, "outbox", "list", "--verification", "v_failed").ok(t)
	rs := rows(t, r.stdout, "ID", "VERIFICATION", "TYPE", "STATE", "TRIES", "NEXT", "LAST ERROR")
	if len(rs) != 2 || rs[0]["TYPE"] != "closed" || rs[1]["TYPE"] != "flagged" || rs[0]["STATE"] != "pending" || rs[0]["TRIES"] != "0" {
		t.Fatalf("outbox list --verification v_failed:\n%s", r.stdout)
	}
	id := rs[0]["ID"]
	if r := g.ctl(t, "outbox", "list", "--state", "dead").ok(t); !strings.HasPrefix(r.stdout, "No messages") {
		t.Errorf("dead messages before any: %q", r.stdout)
	}
	// A deliverer gives it up.
	ctx := context.Background()
	claimed, err := g.Store.ClaimOutbox(ctx, "i1", time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range claimed {
		if e.ID != id {
			continue
		}
		if _, err := g.Store.SettleOutbox(ctx, id, "i1", gateway.OutboxTry{State: gateway.OutboxDead, Error: "the incident system answered 410"},
			gateway.OpsEvent{Actor: gateway.Actor{ID: "gateway", Name: "the gateway's outbox"}, Action: gateway.OpsOutboxDead}); err != nil {
			t.Fatal(err)
		}
	}
	out := g.ctl(t, "outbox", "list", "--state", "dead", "--json").ok(t).stdout
	if l := decode[opsclient.OutboxList](t, out); len(l.Entries) != 1 || l.Entries[0].ID != id || l.Entries[0].LastError != "the incident system answered 410" {
		t.Fatalf("outbox list --state dead --json: %s", out)
	}

	g.ctl(t, "outbox", "replay", id).exits(t, exitUsage, "reason")
	g.ctl(t, "outbox", "replay", id, "--reason", " ").exits(t, exitUsage, "reason")
	r = g.ctl(t, "outbox", "replay", id, "--reason", "the incident system is back").ok(t)
	if rs := rows(t, r.stdout, "ID", "VERIFICATION", "TYPE", "STATE", "TRIES"); len(rs) != 1 || rs[0]["ID"] != id || rs[0]["STATE"] != "pending" || rs[0]["TRIES"] != "0" {
		t.Fatalf("outbox replay:\n%s", r.stdout)
	}
	g.ctl(t, "outbox", "replay", id, "--reason", "again").exits(t, exitRefused, "409")
	g.ctl(t, "outbox", "list", "--state", "lost").exits(t, exitUsage, "--state")
	rec := g.ctl(t, "record").ok(t).stdout
	if !strings.Contains(rec, gateway.OpsOutboxReplay) || !strings.Contains(rec, "the incident system is back") {
		t.Errorf("the ops record has no replay:\n%s", rec)
	}
}
