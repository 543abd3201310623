package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/internal/opsclient"
)

// fixture is a verification written to the store as the router would
// write it.
type fixture struct {
	id, room string
	origin   gateway.Origin
	created  time.Time
	attempts []gateway.Attempt
	to       gateway.State // its final state; empty: routing
	connect  *gateway.Attempt
	outcome  *gateway.Outcome
	reason   string
}

// put writes the fixture.
func (g *testGateway) put(t *testing.T, f fixture) gateway.Verification {
	t.Helper()
	ctx := context.Background()
	v := gateway.Verification{
		ID: f.id, Reference: gateway.NewReference(), State: gateway.StateRouting, RoomID: f.room, Origin: f.origin,
		Officer: gateway.Officer{Collar: "PC 1234", Warrant: "W-998877"}, RequestedBy: "t_officer",
		CreatedAt: f.created, Deadline: f.created.Add(time.Minute),
	}
	if f.origin == gateway.OriginPublic {
		v.Officer, v.RequestedBy, v.Caller = gateway.Officer{}, "public:"+f.room, "•••••••999"
	}
	if _, _, err := g.Store.CreateVerification(ctx, v, "", gateway.Event{Type: gateway.EventState, Message: "requested"}); err != nil {
		t.Fatal(err)
	}
	for i, a := range f.attempts {
		a.ID, a.VerificationID, a.Seq = f.id+"-a"+string(rune('1'+i)), f.id, i+1
		if _, err := g.Store.PutAttempt(ctx, a, gateway.Event{Type: gateway.EventAttempt, VerificationID: f.id, Message: "attempt"}); err != nil {
			t.Fatal(err)
		}
	}
	if f.to != "" {
		if _, _, err := g.Store.Transition(ctx, f.id, gateway.Transition{To: f.to, Set: func(v *gateway.Verification) {
			if f.connect != nil {
				v.Channel, v.DeviceID = f.connect.Channel, f.connect.DeviceID
			}
			v.Outcome, v.Reason = f.outcome, f.reason
		}, Event: gateway.Event{Type: gateway.EventState, Message: "ended"}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := g.Store.Verification(ctx, f.id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// history writes four verifications: AW's verified on Zoom after WhatsApp
// failed, AW's failed one, a public call to AS refused, and one of CE's
// two days old.
func (g *testGateway) history(t *testing.T) time.Time {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	ended := now.Add(-50 * time.Minute)
	zoom := gateway.Attempt{Channel: "zoom", RoomID: "AW", DeviceID: "AW-2", StartedAt: now.Add(-59 * time.Minute), EndedAt: &ended, Tries: 1, Result: gateway.ResultConnected}
	g.put(t, fixture{id: "v_verified", room: "AW", origin: gateway.OriginOfficer, created: now.Add(-time.Hour),
		attempts: []gateway.Attempt{
			{Channel: "whatsapp", RoomID: "AW", DeviceID: "AW-1", StartedAt: now.Add(-time.Hour), EndedAt: &ended, Tries: 3, Result: gateway.ResultNotPlaced, Error: "agent offline"},
			zoom,
		},
		to: gateway.StateVerified, connect: &zoom,
		outcome: &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "=HYPERLINK(\"http://x\")", Note: "warrant card seen", At: ended}})
	g.put(t, fixture{id: "v_failed", room: "AW", origin: gateway.OriginOfficer, created: now.Add(-40 * time.Minute),
		to: gateway.StateFailed, reason: "no channel connected"})
	g.put(t, fixture{id: "v_public", room: "AS", origin: gateway.OriginPublic, created: now.Add(-30 * time.Minute),
		to: gateway.StateRefused, outcome: &gateway.Outcome{Result: gateway.OutcomeRefused, Supervisor: "PS 42", At: now.Add(-20 * time.Minute)}})
	g.put(t, fixture{id: "v_old", room: "CE", origin: gateway.OriginOfficer, created: now.Add(-48 * time.Hour), to: gateway.StateCancelled})
	return now
}

// TestVerificationsShow: one verification with its attempts, as a table
// and as the gateway's JSON.
func TestVerificationsShow(t *testing.T) {
	g := startGateway(t)
	g.history(t)
	r := g.ctl(t, "verifications", "show", "v_verified").ok(t)
	f := fields(t, r.stdout)
	if f["ID"] != "v_verified" || f["State"] != "verified" || f["Origin"] != "officer" || f["Room"] != "AW" || f["Device"] != "AW-2" ||
		f["Channel"] != "zoom" || f["Outcome"] != "verified" || f["Note"] != "warrant card seen" || len(f["Reference"]) != 9 {
		t.Errorf("verifications show:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "W-998877") {
		t.Error("verifications show prints the officer's warrant number")
	}
	_, attempts, ok := strings.Cut(r.stdout, "\nAttempts:\n")
	if !ok {
		t.Fatalf("no attempts:\n%s", r.stdout)
	}
	rs := rows(t, attempts, "STARTED", "ENDED", "CHANNEL", "ROOM", "DEVICE", "TRIES", "RESULT", "ERROR")
	if len(rs) != 2 || rs[0]["CHANNEL"] != "whatsapp" || rs[0]["TRIES"] != "3" || rs[0]["RESULT"] != "not_placed" || rs[0]["ERROR"] != "the call could not be placed" ||
		rs[1]["CHANNEL"] != "zoom" || rs[1]["RESULT"] != "connected" || rs[1]["ERROR"] != "-" {
		t.Errorf("attempts: %v", rs)
	}
	_, answer := g.api(t, "GET", "/v1/verifications/v_verified", "")
	sameJSON(t, g.ctl(t, "verifications", "show", "v_verified", "--json").ok(t).stdout, answer)

	// A public call shows her number masked, as the gateway gives it.
	f = fields(t, g.ctl(t, "verifications", "show", "v_public").ok(t).stdout)
	if f["Origin"] != "public" || f["Caller"] != "•••••••999" || f["Outcome"] != "refused" {
		t.Errorf("verifications show of a public call: %v", f)
	}
}

// TestFlags: the verifications that never connected, by room.
func TestFlags(t *testing.T) {
	g := startGateway(t)
	g.history(t)
	r := g.ctl(t, "flags").ok(t)
	rs := rows(t, r.stdout, "CREATED", "ID", "REFERENCE", "ORIGIN", "ROOM", "STATE", "CHANNEL", "DEVICE", "ATTEMPTS", "OUTCOME")
	if len(rs) != 1 || rs[0]["ID"] != "v_failed" || rs[0]["STATE"] != "failed" || rs[0]["ROOM"] != "AW" || rs[0]["OUTCOME"] != "-" {
		t.Errorf("flags:\n%s", r.stdout)
	}
	r = g.ctl(t, "flags", "--hours", "72", "--room", "CE").ok(t)
	if rs := rows(t, r.stdout, "ID"); len(rs) != 1 || rs[0]["ID"] != "v_old" {
		t.Errorf("flags --hours 72 --room CE:\n%s", r.stdout)
	}
	if r := g.ctl(t, "flags", "--room", "AS").ok(t); !strings.HasPrefix(r.stdout, "No verifications that never connected since ") {
		t.Errorf("flags of a quiet room: %q", r.stdout)
	}
	out := g.ctl(t, "flags", "--room", "AW", "--json").ok(t).stdout
	if fl := decode[opsclient.Flags](t, out); fl.Room != "AW" || len(fl.Flags) != 1 {
		t.Errorf("flags --json: %s", out)
	}
	g.ctl(t, "flags", "--room", "ZZ").exits(t, exitRefused, "no operations room", "400")
}

// TestVerificationsListExport: the history with its filters, as a table,
// the gateway's JSON and CSV.
func TestVerificationsListExport(t *testing.T) {
	g := startGateway(t)
	g.needRoute(t, "GET", "/v1/verifications")
	now := g.history(t)

	r := g.ctl(t, "verifications", "list").ok(t)
	rs := rows(t, r.stdout, "CREATED", "ID", "REFERENCE", "ORIGIN", "ROOM", "STATE", "CHANNEL", "DEVICE", "ATTEMPTS", "OUTCOME")
	_, answer := g.api(t, "GET", "/v1/verifications", "")
	all := verificationIDs(decode[opsclient.VerificationList](t, string(answer)).Verifications)
	byID := map[string]map[string]string{}
	var ids []string
	for _, row := range rs {
		ids = append(ids, row["ID"])
		byID[row["ID"]] = row
	}
	if !slices.Equal(ids, all) || !sameSet(ids, []string{"v_old", "v_verified", "v_failed", "v_public"}) {
		t.Errorf("verifications list: %v, the gateway's %v\n%s", ids, all, r.stdout)
	}
	if v := byID["v_verified"]; v["ORIGIN"] != "officer" || v["ROOM"] != "AW" || v["STATE"] != "verified" || v["CHANNEL"] != "zoom" ||
		v["DEVICE"] != "AW-2" || v["ATTEMPTS"] != "2" || !strings.HasPrefix(v["OUTCOME"], "verified ") ||
		v["CREATED"] != now.Add(-time.Hour).Format("2006-01-02 15:04:05 UTC") {
		t.Errorf("verifications list, the verified one: %v", v)
	}

	since := now.Add(-90 * time.Minute).Format(time.RFC3339)
	until := now.Add(-35 * time.Minute).Format(time.RFC3339)
	for _, tc := range []struct {
		name  string
		flags []string
		query url.Values
		want  []string // in any order; nil: one, any
	}{
		{"room", []string{"--room", "AW"}, url.Values{"room": {"AW"}}, []string{"v_verified", "v_failed"}},
		{"since", []string{"--since", since}, url.Values{"since": {since}}, []string{"v_verified", "v_failed", "v_public"}},
		{"since and until", []string{"--since", since, "--until", until}, url.Values{"since": {since}, "until": {until}}, []string{"v_verified", "v_failed"}},
		{"outcome", []string{"--outcome", "refused"}, url.Values{"outcome": {"refused"}}, []string{"v_public"}},
		{"origin", []string{"--origin", "public"}, url.Values{"origin": {"public"}}, []string{"v_public"}},
		{"channel", []string{"--channel", "zoom"}, url.Values{"channel": {"zoom"}}, []string{"v_verified"}},
		{"limit", []string{"--limit", "1"}, url.Values{"limit": {"1"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, answer := g.api(t, "GET", "/v1/verifications?"+tc.query.Encode(), "")
			out := g.ctl(t, append([]string{"verifications", "list", "--json"}, tc.flags...)...).ok(t).stdout
			sameJSON(t, out, answer)
			got := verificationIDs(decode[opsclient.VerificationList](t, out).Verifications)
			if tc.want == nil && len(got) != 1 || tc.want != nil && !sameSet(got, tc.want) {
				t.Errorf("verifications list %v: %v, want %v", tc.flags, got, tc.want)
			}
			exp := g.ctl(t, append([]string{"verifications", "export", "--format", "json"}, tc.flags...)...).ok(t).stdout
			sameJSON(t, exp, answer)
			records := readCSV(t, g.ctl(t, append([]string{"verifications", "export"}, tc.flags...)...).ok(t).stdout)
			var rowIDs []string
			for _, rec := range records[1:] {
				rowIDs = append(rowIDs, rec[0])
			}
			if !slices.Equal(rowIDs, got) {
				t.Errorf("export %v: rows %v, want the gateway's %v", tc.flags, rowIDs, got)
			}
		})
	}

	// The CSV: the header row, a row a verification, nothing personal, no
	// formula a spreadsheet would run.
	out := g.ctl(t, "verifications", "export", "--room", "AW").ok(t).stdout
	records := readCSV(t, out)
	if !slices.Equal(records[0], csvColumns) {
		t.Errorf("CSV header %v, want %v", records[0], csvColumns)
	}
	csvRows := map[string]map[string]string{}
	for _, rec := range records[1:] {
		row := map[string]string{}
		for i, c := range csvColumns {
			row[c] = rec[i]
		}
		csvRows[row["id"]] = row
	}
	if row := csvRows["v_verified"]; row["state"] != "verified" || row["origin"] != "officer" || row["room"] != "AW" ||
		row["device"] != "AW-2" || row["channel"] != "zoom" || row["attempts"] != "2" || row["channels_tried"] != "whatsapp zoom" ||
		row["outcome"] != "verified" || row["supervisor"] != `'=HYPERLINK("http://x")` || row["created_at"] != now.Add(-time.Hour).Format(time.RFC3339) {
		t.Errorf("CSV row %v", row)
	}
	for _, personal := range []string{"W-998877", "warrant card seen", "999"} {
		if strings.Contains(out, personal) {
			t.Errorf("the CSV holds %q", personal)
		}
	}
	if row := csvRows["v_failed"]; row["state"] != "failed" || row["reason"] != "no channel connected" || row["outcome"] != "" {
		t.Errorf("CSV row of the failed one: %v", row)
	}
}

// sameSet reports whether a and b hold the same IDs, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func verificationIDs(vs []opsclient.Verification) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

func readCSV(t *testing.T, out string) [][]string {
	t.Helper()
	records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("CSV %q: %v", out, err)
	}
	if len(records) == 0 {
		t.Fatal("no CSV header")
	}
	return records
}

// TestWriteCSV: the export's CSV from given verifications, without a
// gateway: every column, the formulas defused.
func TestWriteCSV(t *testing.T) {
	var out bytes.Buffer
	a := newApp([]string{"TZ=UTC"}, &out, &out)
	at := time.Date(2026, 12, 3, 2, 15, 0, 0, time.UTC)
	err := a.writeCSV([]opsclient.Verification{{
		ID: "v_1", Reference: "K7QX-M4TR", State: "verified", Origin: "public", Caller: "•••••••123", Room: "AW", Device: "AW-1",
		Channel: "pstn", CreatedAt: at, UpdatedAt: at.Add(time.Minute),
		Attempts: []opsclient.Attempt{{Channel: "whatsapp"}, {Channel: "pstn"}},
		Outcome:  &opsclient.Outcome{Outcome: "verified", Supervisor: "+44 PS 42", Note: "her name is Jane", At: at.Add(time.Minute)},
		Reason:   "-1 lines\nfree",
	}, {ID: "v_2", State: "routing"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "id,reference,created_at,updated_at,state,origin,room,device,channel,attempts,channels_tried,outcome,supervisor,outcome_at,reason\n" +
		"v_1,K7QX-M4TR,2026-12-03T02:15:00Z,2026-12-03T02:16:00Z,verified,public,AW,AW-1,pstn,2,whatsapp pstn,verified,'+44 PS 42,2026-12-03T02:16:00Z,\"'-1 lines\nfree\"\n" +
		"v_2,,,,routing,,,,,0,,,,,\n"
	if out.String() != want {
		t.Errorf("CSV\n%s\nwant\n%s", out.String(), want)
	}
}

// TestParseWhen: --since and --until take RFC 3339, a date in TZ, or a time
// ago.
func TestParseWhen(t *testing.T) {
	a := newApp([]string{"TZ=Europe/London"}, nil, nil)
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{"", time.Time{}, false},
		{"2026-12-03T02:00:00Z", time.Date(2026, 12, 3, 2, 0, 0, 0, time.UTC), false},
		{"2026-07-01T03:00:00+01:00", time.Date(2026, 7, 1, 2, 0, 0, 0, time.UTC), false},
		{"2026-07-01", time.Date(2026, 6, 30, 23, 0, 0, 0, time.UTC), false}, // midnight, British Summer Time
		{"90m", now.Add(-90 * time.Minute), false},
		{"0s", now, false},
		{"-1h", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"2026-13-01", time.Time{}, true},
	} {
		got, err := a.parseWhen("since", tc.in)
		if (err != nil) != tc.bad || !got.Equal(tc.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.bad)
		}
		if err != nil && exitCode(err) != exitUsage {
			t.Errorf("parseWhen(%q): exit %d, want %d", tc.in, exitCode(err), exitUsage)
		}
	}
}
