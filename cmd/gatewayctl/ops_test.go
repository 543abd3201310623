package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/internal/opsclient"
)

// TestRooms: the rooms listed, shown and changed, as tables and as the
// gateway's JSON; a change to an unknown room is refused.
func TestRooms(t *testing.T) {
	g := startGateway(t)
	g.needRoute(t, "GET", "/v1/rooms")

	r := g.ctl(t, "rooms", "list").ok(t)
	rs := rows(t, r.stdout, "ID", "NAME", "NUMBER", "DESK", "NEIGHBOURS", "BOROUGHS")
	if len(rs) != 12 {
		t.Fatalf("rooms list: %d rooms, want the Met's 12:\n%s", len(rs), r.stdout)
	}
	var aw map[string]string
	for _, row := range rs {
		if row["ID"] == "AW" {
			aw = row
		}
	}
	if aw["NAME"] != "Central West" || aw["NUMBER"] != "+442079460104" || !strings.Contains(aw["BOROUGHS"], "Westminster") || aw["NEIGHBOURS"] == "-" {
		t.Errorf("rooms list, AW: %v", aw)
	}
	_, answer := g.api(t, "GET", "/v1/rooms", "")
	sameJSON(t, g.ctl(t, "rooms", "list", "--json").ok(t).stdout, answer)

	f := fields(t, g.ctl(t, "rooms", "show", "AW").ok(t).stdout)
	if f["ID"] != "AW" || f["Name"] != "Central West" || f["Number"] != "+442079460104" || f["Updated"] != "-" {
		t.Errorf("rooms show AW: %v", f)
	}
	_, answer = g.api(t, "GET", "/v1/rooms/AW", "")
	sameJSON(t, g.ctl(t, "rooms", "show", "AW", "--json").ok(t).stdout, answer)

	r = g.ctl(t, "rooms", "set", "AW", "--desk-number", "+442079460999", "--handle", "whatsapp=+447700900100", "--neighbours", "AS,CN").ok(t)
	f = fields(t, r.stdout)
	if f["Desk number"] != "+442079460999" || f["Handles"] != "whatsapp=+447700900100" || f["Neighbours"] != "AS,CN" || f["Number"] != "+442079460104" || f["Updated"] == "-" {
		t.Errorf("rooms set:\n%s", r.stdout)
	}
	out := g.ctl(t, "rooms", "set", "AW", "--neighbours", "", "--json").ok(t).stdout
	if room := decode[opsclient.RoomAnswer](t, out).Room; len(room.Neighbours) != 0 || room.DeskNumber != "+442079460999" {
		t.Errorf("rooms set --neighbours \"\": %s", out)
	}
	_, answer = g.api(t, "GET", "/v1/rooms/AW", "")
	if got := decode[opsclient.RoomAnswer](t, string(answer)).Room; got.DeskNumber != "+442079460999" {
		t.Errorf("the change did not stay: %s", answer)
	}

	g.ctl(t, "rooms", "show", "ZZ").exits(t, exitRefused, "404")
	g.ctl(t, "rooms", "set", "ZZ", "--number", "+442079460105").exits(t, exitRefused, "404")
	g.ctl(t, "rooms", "set", "AW", "--number", "not a number").exits(t, exitRefused, "400")
}

// TestDeviceChanges: a handset rotated, taken out, returned and retired,
// each change in its history and the ops record; the refusals exit 1.
func TestDeviceChanges(t *testing.T) {
	g := startGateway(t)
	g.needRoute(t, "POST", "/v1/devices/x/rotate")
	d, _ := g.Device(t, "AW")

	r := g.ctl(t, "devices", "rotate", d.ID, "--name", "AW desk 1b", "--number", "+447700900556", "--reason", "new SIM").ok(t)
	f := fields(t, r.stdout)
	if f["Name"] != "AW desk 1b" || f["Number"] != "+447700900556" || f["Agent secret"] != "" {
		t.Errorf("devices rotate:\n%s", r.stdout)
	}
	out := g.ctl(t, "devices", "rotate", d.ID, "--new-credential", "--reason", "handset reset", "--json").ok(t).stdout
	if ans := decode[opsclient.DeviceAnswer](t, out); ans.Credential == nil || ans.Credential.Secret == "" {
		t.Errorf("devices rotate --new-credential --json: %s", out)
	}
	r = g.ctl(t, "devices", "rotate", d.ID, "--handle", "zoom=aw1@met.example", "--reason", "Zoom instead").ok(t)
	if f := fields(t, r.stdout); f["Handles"] != "zoom=aw1@met.example" {
		t.Errorf("devices rotate --handle: %v", f)
	}

	r = g.ctl(t, "devices", "out", d.ID, "--reason", "screen cracked").ok(t)
	if f := fields(t, r.stdout); f["Status"] != "out_of_service" {
		t.Errorf("devices out:\n%s", r.stdout)
	}
	r = g.ctl(t, "devices", "return", d.ID, "--reason", "screen replaced").ok(t)
	if f := fields(t, r.stdout); f["Status"] != "in_service" {
		t.Errorf("devices return:\n%s", r.stdout)
	}
	out = g.ctl(t, "devices", "retire", d.ID, "--reason", "lost", "--json").ok(t).stdout
	if ans := decode[opsclient.DeviceAnswer](t, out); ans.Device.Status != "retired" {
		t.Errorf("devices retire --json: %s", out)
	}
	g.ctl(t, "devices", "return", d.ID, "--reason", "found").exits(t, exitRefused, "409")
	g.ctl(t, "devices", "out", "nope", "--reason", "x").exits(t, exitRefused, "404")
	g.ctl(t, "devices", "rotate", "nope", "--name", "x").exits(t, exitRefused, "404")

	r = g.ctl(t, "devices", "history", d.ID).ok(t)
	rs := rows(t, r.stdout, "VERSION", "AT", "BY", "NAME", "NUMBER", "STATUS", "HANDLES", "REASON")
	var reasons, statuses []string
	for _, row := range rs {
		reasons, statuses = append(reasons, row["REASON"]), append(statuses, row["STATUS"])
	}
	for _, want := range []string{"new SIM", "screen cracked", "screen replaced", "lost"} {
		if !slices.Contains(reasons, want) {
			t.Errorf("devices history has no version for %q:\n%s", want, r.stdout)
		}
	}
	if !slices.Contains(statuses, "retired") {
		t.Errorf("devices history has no retired version:\n%s", r.stdout)
	}
	_, answer := g.api(t, "GET", "/v1/devices/"+d.ID+"/history", "")
	sameJSON(t, g.ctl(t, "devices", "history", d.ID, "--json").ok(t).stdout, answer)
	g.ctl(t, "devices", "history", "nope").exits(t, exitRefused, "404")

	// The ops record.
	g.needRoute(t, "GET", "/v1/ops-events")
	r = g.ctl(t, "record", "--device", d.ID).ok(t)
	rs = rows(t, r.stdout, "AT", "ACTOR", "ACTION", "ROOM", "DEVICE", "CHANGE", "REASON")
	reasons = nil
	for _, row := range rs {
		if row["DEVICE"] != d.ID || row["ROOM"] != "AW" {
			t.Errorf("record --device: a row of another device: %v", row)
		}
		reasons = append(reasons, row["REASON"])
		if row["REASON"] == "screen cracked" && !strings.Contains(row["CHANGE"], "out_of_service") {
			t.Errorf("record: the change of %q shows %q", row["REASON"], row["CHANGE"])
		}
	}
	for _, want := range []string{"new SIM", "screen cracked", "screen replaced", "lost"} {
		if !slices.Contains(reasons, want) {
			t.Errorf("record has no entry for %q:\n%s", want, r.stdout)
		}
	}
	_, answer = g.api(t, "GET", "/v1/ops-events?device="+d.ID, "")
	sameJSON(t, g.ctl(t, "record", "--device", d.ID, "--json").ok(t).stdout, answer)
	if r := g.ctl(t, "record", "--room", "NA").ok(t); r.stdout != "No entries.\n" {
		t.Errorf("record of a quiet room: %q", r.stdout)
	}
	if es := decode[opsclient.OpsEventList](t, g.ctl(t, "record", "--limit", "2", "--json").ok(t).stdout); len(es.Events) != 2 {
		t.Errorf("record --limit 2: %d entries", len(es.Events))
	}
}

// TestCredentials: credentials issued (the secret printed once, and
// working), listed and revoked; the warrant number is never printed.
func TestCredentials(t *testing.T) {
	g := startGateway(t)
	g.needRoute(t, "GET", "/v1/credentials")

	r := g.ctl(t, "credentials", "issue", "--role", "officer", "--name", "PC 1234's app", "--force", "MPS", "--collar", "PC 1234", "--warrant", "W-998877").ok(t)
	f := fields(t, r.stdout)
	secret, _, _ := strings.Cut(f["Secret"], " ")
	if f["Role"] != "officer" || f["Name"] != "PC 1234's app" || f["Holder"] != "MPS PC 1234" || secret == "" || !strings.HasPrefix(f["ID"], "t_") {
		t.Errorf("credentials issue:\n%s", r.stdout)
	}
	if tok, err := g.Store.TokenByHash(t.Context(), gateway.HashSecret(secret)); err != nil || tok.Role != gateway.RoleOfficer || tok.ID != f["ID"] {
		t.Errorf("the printed secret is not the credential's: %v %v", tok, err)
	}
	out := g.ctl(t, "credentials", "issue", "--role", "supervisor", "--name", "PS 42", "--rank", "PS", "--number", "42", "--rooms", "AW,AS", "--expires-in", "720h", "--json").ok(t).stdout
	sup := decode[opsclient.IssuedCredential](t, out)
	if sup.Secret == "" || sup.Credential.Supervisor == nil || !slices.Equal(sup.Credential.Supervisor.Rooms, []string{"AW", "AS"}) || sup.Credential.ExpiresAt == nil {
		t.Errorf("credentials issue --json: %s", out)
	}

	r = g.ctl(t, "credentials", "list").ok(t)
	rs := rows(t, r.stdout, "ID", "ROLE", "NAME", "HOLDER", "ISSUED", "EXPIRES", "REVOKED")
	byID := map[string]map[string]string{}
	for _, row := range rs {
		byID[row["ID"]] = row
	}
	if row := byID[sup.Credential.ID]; row["ROLE"] != "supervisor" || row["HOLDER"] != "PS 42 (AW,AS)" || row["EXPIRES"] == "-" || row["REVOKED"] != "-" {
		t.Errorf("credentials list, the supervisor: %v\n%s", row, r.stdout)
	}
	for _, out := range []string{r.stdout, g.ctl(t, "credentials", "list", "--json").ok(t).stdout} {
		if strings.Contains(out, "W-998877") || strings.Contains(out, secret) {
			t.Errorf("credentials list shows a warrant number or a secret:\n%s", out)
		}
	}
	_, answer := g.api(t, "GET", "/v1/credentials?role=supervisor", "")
	sameJSON(t, g.ctl(t, "credentials", "list", "--role", "supervisor", "--json").ok(t).stdout, answer)
	if cs := decode[opsclient.CredentialList](t, string(answer)); len(cs.Credentials) != 1 {
		t.Errorf("credentials list --role supervisor: %s", answer)
	}

	r = g.ctl(t, "credentials", "revoke", sup.Credential.ID).ok(t)
	if f := fields(t, r.stdout); f["ID"] != sup.Credential.ID || f["Revoked"] == "-" {
		t.Errorf("credentials revoke:\n%s", r.stdout)
	}
	if _, err := g.Store.TokenByHash(t.Context(), gateway.HashSecret(sup.Secret)); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Errorf("the revoked credential still works: %v", err)
	}
	g.ctl(t, "credentials", "revoke", "t_nope").exits(t, exitRefused, "404")
	g.ctl(t, "credentials", "issue", "--role", "emperor", "--name", "x").exits(t, exitRefused, "400")
}
