package console_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/console"
)

// historyRow is a history page's link to a verification's record.
var historyRow = regexp.MustCompile(`<th scope="row"><a href="/console/verifications/([^"]+)">([^<]+)</a></th>`)

// historyRefs returns the references of the history page's rows, in the
// page's order, and the IDs they link to by reference.
func historyRefs(t testing.TB, page string) ([]string, map[string]string) {
	t.Helper()
	_, body, ok := strings.Cut(page, "<tbody>")
	if !ok {
		t.Fatalf("no table in the history page:\n%s", page)
	}
	var refs []string
	ids := map[string]string{}
	for _, m := range historyRow.FindAllStringSubmatch(body, -1) {
		refs = append(refs, m[2])
		ids[m[2]] = m[1]
	}
	return refs, ids
}

func TestHistoryFilters(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, func(c *console.Console) {
		c.Now = func() time.Time { return now }
		c.Location = time.UTC
	})
	ctx := context.Background()
	at := func(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, time.UTC) }
	seed := []struct {
		ref     string
		room    string
		at      time.Time
		state   gateway.State
		outcome gateway.OutcomeResult
		channel gateway.Channel
		origin  gateway.Origin
	}{
		{"AAAA-0001", "AW", at(12, 3, 10), gateway.StateVerified, gateway.OutcomeVerified, "facetime", gateway.OriginOfficer},
		{"BBBB-0002", "AW", at(12, 1, 9), gateway.StateRefused, gateway.OutcomeRefused, "whatsapp", gateway.OriginPublic},
		{"CCCC-0003", "CE", at(12, 2, 8), gateway.StateVerified, gateway.OutcomeVerified, "whatsapp", gateway.OriginRadio},
		{"DDDD-0004", "CE", at(12, 3, 7), gateway.StateCancelled, "", "", gateway.Origin999},
		{"EEEE-0005", "AW", at(11, 20, 10), gateway.StateVerified, gateway.OutcomeVerified, "facetime", gateway.OriginOfficer},
		{"FFFF-0006", "AW", at(12, 2, 11), gateway.StateConnected, "", "facetime", gateway.OriginOfficer},
		{"GGGG-0007", "AS", at(12, 3, 11), gateway.StateRouting, "", "", gateway.OriginOfficer},
		{"HHHH-0008", "AW", at(12, 2, 6), gateway.StateFailed, "", "", gateway.OriginOfficer},
	}
	ids := map[string]string{}
	for _, s := range seed {
		v := gateway.Verification{
			ID: gateway.NewID("v_"), Reference: s.ref, State: s.state, RoomID: s.room, Channel: s.channel, Origin: s.origin,
			Officer: gateway.Officer{Collar: "PC 1234"}, RequestedBy: "t_officer", CreatedAt: s.at, Deadline: s.at.Add(time.Minute),
		}
		if s.origin == gateway.OriginPublic {
			v.Officer, v.Caller = gateway.Officer{}, "+447700900123"
		}
		if s.outcome != "" {
			v.Outcome = &gateway.Outcome{Result: s.outcome, Supervisor: "PS 42", At: s.at.Add(5 * time.Minute)}
		}
		v, _, err := e.Store.CreateVerification(ctx, v, "", gateway.Event{Type: gateway.EventState, Message: "seeded"})
		if err != nil {
			t.Fatal(err)
		}
		ids[s.ref] = v.ID
	}
	_, secret := e.Token(t, gateway.RoleSupervisor, "")
	b := e.browser(t)
	b.signIn(secret)

	for _, tt := range []struct {
		query string
		want  []string // newest first
	}{
		{"", []string{"GGGG-0007", "AAAA-0001", "DDDD-0004", "FFFF-0006", "CCCC-0003", "HHHH-0008", "BBBB-0002"}},
		{"room=AW", []string{"AAAA-0001", "FFFF-0006", "HHHH-0008", "BBBB-0002"}},
		{"room=CE", []string{"DDDD-0004", "CCCC-0003"}},
		{"room=AS", []string{"GGGG-0007"}},
		{"from=2026-12-02&to=2026-12-02", []string{"FFFF-0006", "CCCC-0003", "HHHH-0008"}},
		{"from=2026-11-20&to=2026-11-20", []string{"EEEE-0005"}},
		{"to=2026-12-01", []string{"BBBB-0002"}},
		{"from=2026-12-03", []string{"GGGG-0007", "AAAA-0001", "DDDD-0004"}},
		{"outcome=verified", []string{"AAAA-0001", "CCCC-0003"}},
		{"outcome=refused", []string{"BBBB-0002"}},
		{"outcome=failed", []string{"HHHH-0008"}},
		{"outcome=cancelled", []string{"DDDD-0004"}},
		{"outcome=awaiting", []string{"FFFF-0006"}},
		{"outcome=live", []string{"GGGG-0007"}},
		{"outcome=flagged", []string{"HHHH-0008"}}, // a 999 call's cancellation is not flagged
		{"channel=facetime", []string{"AAAA-0001", "FFFF-0006"}},
		{"channel=whatsapp", []string{"CCCC-0003", "BBBB-0002"}},
		{"channel=zoom", nil},
		{"origin=officer", []string{"GGGG-0007", "AAAA-0001", "FFFF-0006", "HHHH-0008"}},
		{"origin=public", []string{"BBBB-0002"}},
		{"origin=radio", []string{"CCCC-0003"}},
		{"origin=999", []string{"DDDD-0004"}},
		{"room=AW&outcome=verified&channel=facetime&origin=officer&from=2026-11-20", []string{"AAAA-0001", "EEEE-0005"}},
		{"room=AW&outcome=verified&channel=facetime&origin=officer", []string{"AAAA-0001"}},
		{"room=AW&channel=whatsapp&from=2026-12-01&to=2026-12-01", []string{"BBBB-0002"}},
		{"room=CE&origin=public", nil},
	} {
		t.Run(tt.query, func(t *testing.T) {
			resp, page := b.do("GET", "/console/history?"+tt.query, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("history?%s: %d, want 200", tt.query, resp.StatusCode)
			}
			got, links := historyRefs(t, page)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("history?%s: rows %v, want %v", tt.query, got, tt.want)
			}
			for ref, id := range links {
				if id != ids[ref] {
					t.Errorf("history?%s: %s links to %q, want its record %q", tt.query, ref, id, ids[ref])
				}
			}
		})
	}

	// Every row opens its own record.
	for _, s := range seed {
		resp, page := b.do("GET", "/console/verifications/"+ids[s.ref], nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("record of %s: %d, want 200", s.ref, resp.StatusCode)
			continue
		}
		if !strings.Contains(page, `<p class="ref" aria-label="Reference `+s.ref+`">`) ||
			!strings.Contains(page, "<dt>Origin</dt><dd>"+string(s.origin)) {
			t.Errorf("record of %s does not show its reference and origin:\n%s", s.ref, page)
		}
		if s.channel != "" && !strings.Contains(page, "<dt>Channel</dt><dd>"+string(s.channel)+"</dd>") {
			t.Errorf("record of %s does not show its channel %s", s.ref, s.channel)
		}
		if s.outcome != "" && !strings.Contains(page, `<dd class="outcome-result">`+string(s.outcome)+" by PS 42") {
			t.Errorf("record of %s does not show its outcome %s", s.ref, s.outcome)
		}
	}
}
