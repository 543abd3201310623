package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/internal/opsclient"
)

// TestDevicesAddListShow: a handset added by gatewayctl is listed and
// shown, in tables and as the gateway's JSON; its agent's credential is
// printed once and works.
func TestDevicesAddListShow(t *testing.T) {
	g := startGateway(t)
	ctx := context.Background()

	r := g.ctl(t, "devices", "add", "--room", "AW", "--name", "AW desk 4", "--number", "+447700900555",
		"--handle", "facetime=+447700900555", "--handle", "whatsapp=+447700900555").ok(t)
	f := fields(t, r.stdout)
	id := f["ID"]
	if !strings.HasPrefix(id, "d_") || f["Room"] != "AW" || f["Name"] != "AW desk 4" || f["Number"] != "+447700900555" ||
		f["Handles"] != "facetime=+447700900555 whatsapp=+447700900555" || f["Status"] != "in_service" ||
		f["Battery"] != "-" || f["Last seen"] != "-" || f["In call"] != "no" {
		t.Errorf("devices add shows\n%s", r.stdout)
	}
	secret, _, _ := strings.Cut(f["Agent secret"], " ")
	if secret == "" || !strings.Contains(f["Agent secret"], "shown once") || !strings.HasPrefix(f["Agent token"], "t_") {
		t.Fatalf("devices add shows no agent credential:\n%s", r.stdout)
	}
	if tok, err := g.Store.TokenByHash(ctx, gateway.HashSecret(secret)); err != nil || tok.Role != gateway.RoleAgent || tok.Subject != id {
		t.Errorf("the printed secret is not the device's agent credential: %v %v", tok, err)
	}

	// --json: the gateway's answer as it came, credential included.
	r = g.ctl(t, "devices", "add", "--room", "CE", "--name", "CE desk 1", "--handle", "zoom=ce1@met.example", "--json").ok(t)
	added := decode[opsclient.DeviceAnswer](t, r.stdout)
	if added.Device.Room != "CE" || added.Credential == nil || added.Credential.Secret == "" {
		t.Errorf("devices add --json: %s", r.stdout)
	}

	// The first handset reports in: battery and apps.
	if _, err := g.Store.Heartbeat(ctx, id, 83, []gateway.Channel{"facetime", "whatsapp"}); err != nil {
		t.Fatal(err)
	}
	// One is out of service, for the list to show it.
	if _, err := g.Store.UpdateDevice(ctx, added.Device.ID, func(d *gateway.Device) error {
		d.Status = gateway.DeviceOutOfService
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	r = g.ctl(t, "devices", "list").ok(t)
	rs := rows(t, r.stdout, "ID", "ROOM", "NAME", "NUMBER", "STATUS", "BATTERY", "LAST SEEN", "IN CALL", "ROUTABLE", "PROBLEMS")
	if len(rs) != 2 {
		t.Fatalf("devices list: %d rows, want 2:\n%s", len(rs), r.stdout)
	}
	byID := map[string]map[string]string{}
	for _, row := range rs {
		byID[row["ID"]] = row
	}
	first, second := byID[id], byID[added.Device.ID]
	if first["ROOM"] != "AW" || first["NAME"] != "AW desk 4" || first["STATUS"] != "in_service" || first["BATTERY"] != "83%" ||
		!strings.HasSuffix(first["LAST SEEN"], " UTC") || first["IN CALL"] != "no" {
		t.Errorf("devices list, the first: %v", first)
	}
	if second["ROOM"] != "CE" || second["NUMBER"] != "-" || second["STATUS"] != "out_of_service" || second["BATTERY"] != "-" || second["LAST SEEN"] != "-" {
		t.Errorf("devices list, the second: %v", second)
	}

	// Health: what the gateway says, or "?" from a gateway that does not say.
	ds := decode[opsclient.DeviceList](t, g.ctl(t, "devices", "list", "--json").ok(t).stdout)
	for _, d := range ds.Devices {
		wantRoutable, wantProblems := health(d.Health)
		if row := byID[d.ID]; row["ROUTABLE"] != orDash(wantRoutable) || row["PROBLEMS"] != orDash(wantProblems) {
			t.Errorf("devices list shows health %q %q for %s, want %q %q", row["ROUTABLE"], row["PROBLEMS"], d.ID, wantRoutable, wantProblems)
		}
	}

	r = g.ctl(t, "devices", "list", "--room", "CE").ok(t)
	if rs := rows(t, r.stdout, "ID", "ROOM"); len(rs) != 1 || rs[0]["ID"] != added.Device.ID {
		t.Errorf("devices list --room CE:\n%s", r.stdout)
	}
	r = g.ctl(t, "devices", "list", "--room", "NA").ok(t)
	if r.stdout != "No devices.\n" {
		t.Errorf("devices list of an empty room: %q", r.stdout)
	}
	for _, tc := range []struct {
		args []string
		path string
	}{
		{[]string{"devices", "list"}, "/v1/devices"},
		{[]string{"devices", "list", "--room", "AW"}, "/v1/devices?room=AW"},
		{[]string{"devices", "list", "--retired"}, "/v1/devices?retired=true"},
	} {
		_, answer := g.api(t, "GET", tc.path, "")
		sameJSON(t, g.ctl(t, append(tc.args, "--json")...).ok(t).stdout, answer)
	}

	r = g.ctl(t, "devices", "show", id).ok(t)
	f = fields(t, r.stdout)
	if f["ID"] != id || f["Battery"] != "83%" || f["Apps"] != "facetime,whatsapp" || f["Version"] == "" || f["Agent secret"] != "-" && f["Agent secret"] != "" {
		t.Errorf("devices show:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, secret) {
		t.Error("devices show prints the agent's secret again")
	}
	_, answer := g.api(t, "GET", "/v1/devices/"+id, "")
	sameJSON(t, g.ctl(t, "devices", "show", id, "--json").ok(t).stdout, answer)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// TestDevicesInCall: a handset in a call shows it, with the verification
// holding it.
func TestDevicesInCall(t *testing.T) {
	g := startGateway(t)
	ctx := context.Background()
	d, _ := g.Device(t, "AW")
	if _, _, err := g.Store.Claim(ctx, gateway.ClaimRequest{RoomIDs: []string{"AW"}, Channel: "facetime", Holder: "v_call", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	rs := rows(t, g.ctl(t, "devices", "list").ok(t).stdout, "ID", "ROOM", "NAME", "NUMBER", "STATUS", "BATTERY", "LAST SEEN", "IN CALL")
	if len(rs) != 1 || rs[0]["ID"] != d.ID || rs[0]["IN CALL"] != "yes" {
		t.Errorf("devices list: %v", rs)
	}
	f := fields(t, g.ctl(t, "devices", "show", d.ID).ok(t).stdout)
	if !strings.HasPrefix(f["In call"], "yes: v_call, until ") {
		t.Errorf("devices show: In call %q", f["In call"])
	}
}
