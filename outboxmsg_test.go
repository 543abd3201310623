package gateway_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

func TestOutboxMessages(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	connected := gateway.Verification{ID: "v_1", Reference: "K7QX-M4TR", State: gateway.StateVerified, RoomID: "AW",
		Officer: gateway.Officer{Collar: "PC1234", Warrant: "W-998877", Force: "met"}, DeviceID: "d_1",
		Channel: gateway.Channel("zoom"), JoinURL: "https://zoom.example/j/secret-link", Origin: gateway.OriginPublic,
		Caller: "•••••••123", CallerHash: "c0ffeec0ffee", CreatedAt: at.Add(-time.Minute),
		Outcome: &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS42", Note: "she was calm"}}
	abandoned := gateway.Verification{ID: "v_2", Reference: "ACDE-FGHJ", State: gateway.StateCancelled, RoomID: "AW",
		Officer: gateway.Officer{Collar: "PC9"}, Origin: gateway.OriginOfficer, CreatedAt: at.Add(-time.Minute)}
	for _, tt := range []struct {
		name   string
		v      gateway.Verification
		ev     gateway.Event
		closed bool
		want   []string
	}{
		{"still live", connected, gateway.Event{Seq: 5, State: gateway.StateConnected, At: at}, false, nil},
		{"closes", connected, gateway.Event{Seq: 6, State: gateway.StateVerified, At: at}, false, []string{gateway.OutboxClosed}},
		{"a note after the close", connected, gateway.Event{Seq: 7, State: gateway.StateVerified, At: at}, true, nil},
		{"never connected", abandoned, gateway.Event{Seq: 8, State: gateway.StateCancelled, At: at}, false,
			[]string{gateway.OutboxClosed, gateway.OutboxFlagged}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gateway.OutboxMessages(tt.v, tt.ev, tt.closed, at)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d entries, want %v", len(got), tt.want)
			}
			seen := map[string]bool{}
			for i, e := range got {
				if e.Type != tt.want[i] || e.State != gateway.OutboxPending || !e.NextAt.Equal(at) || e.VerificationID != tt.v.ID {
					t.Errorf("entry %d = %+v, want a pending %s of %s due at once", i, e, tt.want[i], tt.v.ID)
				}
				if !strings.HasPrefix(e.ID, "msg_") || seen[e.ID] {
					t.Errorf("entry id %q: want a new msg_ id", e.ID)
				}
				seen[e.ID] = true
				for _, personal := range []string{"W-998877", "c0ffeec0ffee", "•••", "secret-link", "she was calm"} {
					if strings.Contains(string(e.Body), personal) {
						t.Errorf("the body holds %q: %s", personal, e.Body)
					}
				}
				var b gateway.OutboxBody
				if err := json.Unmarshal(e.Body, &b); err != nil {
					t.Fatal(err)
				}
				if b.Reference != tt.v.Reference || b.Officer != tt.v.Officer.Collar || b.Seq != tt.ev.Seq || b.Type != e.Type {
					t.Errorf("body %+v does not say what the incident system needs of %s", b, tt.v.ID)
				}
			}
		})
	}
}
