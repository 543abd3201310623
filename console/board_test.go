package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/console"
	"github.com/safeconnection/gateway/metrics"
)

// element is the element of page with the id, from its opening tag to the
// first closing tag named end after it; the test fails without one.
func element(t testing.TB, page, id, end string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<[a-z]+ [^>]*id="` + regexp.QuoteMeta(id) + `".*?</` + end + `>`).FindString(page)
	if m == "" {
		t.Fatalf("no element #%s in the page:\n%s", id, page)
	}
	return m
}

// poolDevice stores an in-service device of the room with a FaceTime and
// a WhatsApp handle and a number.
func poolDevice(t testing.TB, e *env, room, id, name string) gateway.Device {
	t.Helper()
	d, err := e.Store.CreateDevice(context.Background(), gateway.Device{
		ID: id, RoomID: room, Name: name, Number: "+447700900123",
		Handles: map[gateway.Channel]string{"facetime": id + "@example.org", "whatsapp": "+447700900123"},
		Battery: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// beat records a heartbeat of the device.
func beat(t testing.TB, e *env, id string, battery int, apps ...gateway.Channel) {
	t.Helper()
	if _, err := e.Store.RecordHeartbeat(context.Background(), id, gateway.HeartbeatReport{Battery: battery, Apps: apps}); err != nil {
		t.Fatal(err)
	}
}

// requested stores a verification in state routing in the room.
func requested(t testing.TB, e *env, room, ref, collar string) gateway.Verification {
	t.Helper()
	v, _, err := e.Store.CreateVerification(context.Background(), gateway.Verification{
		ID: gateway.NewID("v_"), Reference: ref, State: gateway.StateRouting, RoomID: room,
		Officer: gateway.Officer{Collar: collar}, RequestedBy: "t_officer",
		Deadline: time.Now().Add(time.Minute), Origin: gateway.OriginOfficer,
	}, "", gateway.Event{Type: gateway.EventState, Message: "requested"})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestBoardShowsTheRoom fills room AW with a device of each kind (ringing
// for a verification being dialled, stale, low on battery, missing an app,
// out of service), a queued, a dialling and a connected verification, and
// room CN with a device whose WhatsApp app is signed out; then reads both
// boards as a supervisor and records "refused" from AW's.
func TestBoardShowsTheRoom(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Routable = &metrics.Routable{
		Pool:     e.Store,
		Rooms:    func() []string { return []string{"AW", "CN"} },
		Channels: func() []gateway.Channel { return []gateway.Channel{"facetime", "whatsapp"} },
		Policy:   gateway.HealthPolicy{Stale: console.DefaultStale, BatteryFloor: gateway.DefaultBatteryFloor},
	}
	ctx := context.Background()
	both := []gateway.Channel{"facetime", "whatsapp"}

	ringing := poolDevice(t, e, "AW", "d_ringing", "Handset one")
	beat(t, e, ringing.ID, 80, both...)
	stale := poolDevice(t, e, "AW", "d_stale", "Handset two")
	clock := e.Store.Clock
	e.Store.Clock = func() time.Time { return clock().Add(-10 * time.Minute) }
	beat(t, e, stale.ID, 70, both...)
	e.Store.Clock = clock
	low := poolDevice(t, e, "AW", "d_low", "Handset three")
	beat(t, e, low.ID, 9, both...)
	noApp := poolDevice(t, e, "AW", "d_noapp", "Handset four")
	beat(t, e, noApp.ID, 60, "facetime")
	out := poolDevice(t, e, "AW", "d_out", "Handset five")
	beat(t, e, out.ID, 50, both...)
	if _, err := e.Store.UpdateDevice(ctx, out.ID, func(d *gateway.Device) error {
		d.Status = gateway.DeviceOutOfService
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cn := poolDevice(t, e, "CN", "d_cn", "Camden handset")
	beat(t, e, cn.ID, 90, "facetime")

	queued := requested(t, e, "AW", "QUEU-EDXX", "PC 2001")
	if _, _, err := e.Store.Transition(ctx, queued.ID, gateway.Transition{To: gateway.StateQueued,
		Event: gateway.Event{Type: gateway.EventState, Message: "queued"}}); err != nil {
		t.Fatal(err)
	}
	dialling := requested(t, e, "AW", "DIAL-INGX", "PC 2002")
	if _, _, err := e.Store.ClaimDevice(ctx, gateway.DeviceClaim{DeviceID: ringing.ID, Channel: "facetime", Holder: dialling.ID, TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	join := "https://join.example.org/r/dial-ingx"
	a := gateway.Attempt{ID: gateway.NewID("a_"), VerificationID: dialling.ID, Seq: 1, Channel: "facetime", RoomID: "AW",
		DeviceID: ringing.ID, JoinURL: join, StartedAt: time.Now(), Tries: 1}
	if _, _, err := e.Store.Transition(ctx, dialling.ID, gateway.Transition{To: gateway.StateDialling, Attempt: &a,
		AttemptEvent: gateway.Event{Type: gateway.EventAttempt, Message: "attempt 1: facetime"},
		Event:        gateway.Event{Type: gateway.EventState, AttemptID: a.ID, Message: "dialling facetime"}}); err != nil {
		t.Fatal(err)
	}
	v := connected(t, e)
	var recorded []gateway.Outcome
	e.Router.RecordOutcomeFn = func(_ context.Context, id string, o gateway.Outcome) (gateway.Verification, error) {
		if id != v.ID {
			t.Errorf("outcome recorded for %s, want %s", id, v.ID)
		}
		recorded = append(recorded, o)
		v.Outcome, v.State = &o, gateway.StateRefused
		return v, nil
	}

	_, secret := e.Token(t, gateway.RoleSupervisor, "")
	b := e.browser(t)
	b.signIn(secret)
	resp, page := b.do("GET", "/console/rooms/AW", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("AW's board: %d, want 200", resp.StatusCode)
	}

	t.Run("devices", func(t *testing.T) {
		for _, tt := range []struct {
			id    string
			wants []string
		}{
			{ringing.ID, []string{"Handset one", `<td class="dstate">ringing (DIAL-INGX)</td>`, "<td>ok</td>", "<td>80%</td>", "s ago)</td>"}},
			{stale.ID, []string{"Handset two", "last heartbeat 10m", "(more than 1m30s)", "<td>70%</td>", "(10 min ago)"}},
			{low.ID, []string{"Handset three", "battery 9%, under the 15% floor, and not charging", "<td>9%</td>"}},
			{noApp.ID, []string{"Handset four", `<td class="dstate">free</td>`, "the whatsapp app is not signed in", "<td>60%</td>"}},
			{out.ID, []string{"Handset five", `<td class="dstate">out of service</td>`, "<td>ok</td>", "<td>50%</td>"}},
		} {
			row := element(t, page, "d-"+tt.id, "tr")
			for _, want := range tt.wants {
				if !strings.Contains(row, want) {
					t.Errorf("device %s's row lacks %q:\n%s", tt.id, want, row)
				}
			}
		}
		if row := element(t, page, "d-"+noApp.ID, "tr"); strings.Contains(row, "facetime app") {
			t.Errorf("device %s's row says its signed-in FaceTime app is missing:\n%s", noApp.ID, row)
		}
		seen, err := e.Store.Device(ctx, ringing.ID)
		if err != nil {
			t.Fatal(err)
		}
		if at := seen.LastSeen.Format("15:04:05"); !strings.Contains(element(t, page, "d-"+ringing.ID, "tr"), "<td>"+at+" (") {
			t.Errorf("device %s's row does not show its last heartbeat at %s:\n%s", ringing.ID, at, element(t, page, "d-"+ringing.ID, "tr"))
		}
	})

	t.Run("queue", func(t *testing.T) {
		q := element(t, page, "queue", "section")
		if !strings.Contains(q, "Queue (1)") || !strings.Contains(element(t, q, "q-"+queued.ID, "li"), "QUEU-EDXX") ||
			!strings.Contains(q, "officer PC 2001") || strings.Contains(q, "DIAL-INGX") {
			t.Errorf("the queue should hold the queued verification alone:\n%s", q)
		}
		if strings.Contains(element(t, page, "live", "section"), "QUEU-EDXX") {
			t.Errorf("the queued verification is among the live ones")
		}
	})

	t.Run("dialling", func(t *testing.T) {
		card := element(t, page, "v-"+dialling.ID, "article")
		for _, want := range []string{
			`<p class="ref" id="ref-` + dialling.ID + `" aria-label="Reference DIAL-INGX">DIAL-INGX</p>`,
			`<dd class="state" data-state="dialling">dialling</dd>`,
			`<dd class="collar">PC 2002</dd>`,
			`<dd class="channel">facetime</dd>`,
			`<dd class="device">` + ringing.ID + `</dd>`,
			`href="` + join + `"`,
			"facetime on " + ringing.ID + " · in progress",
		} {
			if !strings.Contains(card, want) {
				t.Errorf("the dialling verification's card lacks %q:\n%s", want, card)
			}
		}
		if strings.Contains(card, `value="refused"`) {
			t.Errorf("the dialling verification offers the outcome buttons before it is connected:\n%s", card)
		}
	})

	t.Run("missing channel", func(t *testing.T) {
		if strings.Contains(page, `id="missing"`) {
			t.Errorf("AW's board warns of a missing channel, though d_ringing serves both:\n%s", page)
		}
		_, cnPage := b.do("GET", "/console/rooms/CN", nil)
		warn := element(t, cnPage, "missing", "p")
		if !strings.Contains(warn, "No device of this room can take a call now on: whatsapp.") || strings.Contains(warn, "facetime") {
			t.Errorf("CN's board should warn of WhatsApp alone:\n%s", warn)
		}
	})

	t.Run("refused", func(t *testing.T) {
		card := element(t, page, "v-"+v.ID, "article")
		if !strings.Contains(card, `value="refused"`) {
			t.Fatalf("the connected verification has no Refused button:\n%s", card)
		}
		resp, _ := b.do("POST", "/console/verifications/"+v.ID+"/outcome", url.Values{
			"outcome": {"refused"}, "room": {"AW"}, "note": {"warrant card does not match"}, "csrf": {csrf(t, page)},
		})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/rooms/AW?done=refused" {
			t.Fatalf("Refused: %d to %q, want 303 back to the board", resp.StatusCode, resp.Header.Get("Location"))
		}
		if len(recorded) != 1 || recorded[0].Result != gateway.OutcomeRefused || recorded[0].Note != "warrant card does not match" {
			t.Fatalf("recorded %+v, want one refused with the note", recorded)
		}
		_, after := b.do("GET", "/console/rooms/AW?done=refused", nil)
		if !strings.Contains(after, "Recorded: refused.") {
			t.Errorf("the board after Refused does not say it was recorded:\n%s", after)
		}
	})
}
