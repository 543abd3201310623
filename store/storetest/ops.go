package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// actor is the ops credential the suite's changes are made with.
var actor = gateway.Actor{ID: "t_ops", Name: "ops desk"}

func opsEvent(action, reason string) gateway.OpsEvent {
	return gateway.OpsEvent{Actor: actor, Action: action, Reason: reason}
}

func ptr[T any](v T) *T { return &v }

// history returns the device's versions, failing the test on an error.
func history(t testing.TB, s gateway.Store, id string) []gateway.DeviceVersion {
	t.Helper()
	vs, err := s.DeviceHistory(ctx(t), id)
	must(t, err)
	return vs
}

// actions returns the ops record's actions for a device.
func actions(t testing.TB, s gateway.Store, device string) []string {
	t.Helper()
	evs, err := s.OpsEvents(ctx(t), gateway.OpsEventFilter{DeviceID: device})
	must(t, err)
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Action)
	}
	return out
}

// testDeviceLifecycle: a device added with its first version and event; a
// change of a free device at once; a change of a device in a call waits
// (the device unchanged, not claimable again until it is made) and is made
// with a new version when the lease is released.
func testDeviceLifecycle(t *testing.T, s gateway.Store) {
	c := ctx(t)
	d := device("d1", "r1", facetime)
	if _, err := s.AddDevice(c, d, opsEvent(gateway.OpsDeviceAdd, "new handset")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Heartbeat(c, "d1", 80, d.Channels())
	must(t, err)
	if h := history(t, s, "d1"); len(h) != 1 || h[0].Version != 1 || h[0].By != actor.ID || h[0].Reason != "new handset" || h[0].Number != d.Number {
		t.Fatalf("history after add = %+v", h)
	}

	// Free: at once.
	out, err := s.ChangeDevice(c, "d1", gateway.DeviceChange{Name: ptr("handset one")}, opsEvent(gateway.OpsDevicePatch, "renamed"))
	must(t, err)
	if out.Pending != nil || out.Device.Name != "handset one" || out.Device.Version != 2 {
		t.Fatalf("change of a free device = %+v, pending %v", out.Device, out.Pending)
	}

	// In a call: waits.
	lease := mustClaim(t, s, claimReq("v1", "r1"))
	rot := gateway.DeviceChange{Number: ptr("+447700900999"), Handles: map[gateway.Channel]string{facetime: "new@facetime"}}
	out, err = s.ChangeDevice(c, "d1", rot, opsEvent(gateway.OpsDeviceRotate, "handset swapped"))
	must(t, err)
	if out.Pending == nil || *out.Pending.Number != "+447700900999" {
		t.Fatalf("change in a call: pending %+v, want the number", out.Pending)
	}
	got, err := s.Device(c, "d1")
	must(t, err)
	if got.Number != d.Number || got.Handles[facetime] != d.Handles[facetime] || got.Version != 2 || got.Lease == nil {
		t.Fatalf("device in its call changed: %+v", got)
	}
	p, err := s.PendingChange(c, "d1")
	must(t, err)
	if p == nil || *p.Number != "+447700900999" {
		t.Fatalf("PendingChange = %+v", p)
	}
	// A second change in the call merges with the first.
	out, err = s.ChangeDevice(c, "d1", gateway.DeviceChange{Name: ptr("handset two")}, opsEvent(gateway.OpsDeviceRotate, "named"))
	must(t, err)
	if out.Pending == nil || out.Pending.Number == nil || *out.Pending.Name != "handset two" {
		t.Fatalf("second change in a call: pending %+v", out.Pending)
	}

	must(t, s.Release(c, lease, ""))
	got, err = s.Device(c, "d1")
	must(t, err)
	if got.Number != "+447700900999" || got.Handles[facetime] != "new@facetime" || got.Name != "handset two" || got.Version != 3 {
		t.Fatalf("after the call: %+v, want the waiting change made", got)
	}
	if p, err := s.PendingChange(c, "d1"); err != nil || p != nil {
		t.Fatalf("PendingChange after the call = %+v, %v", p, err)
	}
	h := history(t, s, "d1")
	if len(h) != 3 || h[0].Number != d.Number || h[2].Number != "+447700900999" || h[2].By != actor.ID {
		t.Fatalf("history = %+v, want 3 versions, the old number kept", h)
	}
	want := []string{gateway.OpsDeviceAdd, gateway.OpsDevicePatch, gateway.OpsDeviceRotate, gateway.OpsDeviceRotate, gateway.OpsDeviceApplied}
	if a := actions(t, s, "d1"); !slices.Equal(a, want) {
		t.Fatalf("ops record = %v, want %v", a, want)
	}
	// The next claim gets the new handles.
	_, nd, err := s.Claim(c, claimReq("v2", "r1"))
	must(t, err)
	if nd.Handles[facetime] != "new@facetime" {
		t.Fatalf("next claim's device %+v", nd)
	}
}

// testDeviceStatusInCall: out of service, return and retire in a call wait
// for it; a retired device takes no more changes; the agent's credentials
// are revoked when the change is made, sparing a new one.
func testDeviceStatusInCall(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustCreate(t, s, device("d1", "r1", facetime))
	for _, tok := range []gateway.Token{
		{ID: "t_old", Role: gateway.RoleAgent, Subject: "d1", Hash: "h-old"},
		{ID: "t_new", Role: gateway.RoleAgent, Subject: "d1", Hash: "h-new"},
	} {
		must(t, s.CreateToken(c, tok))
	}
	lease := mustClaim(t, s, claimReq("v1", "r1"))
	out := gateway.DeviceOutOfService
	res, err := s.ChangeDevice(c, "d1", gateway.DeviceChange{Status: &out, RotateCredential: true, KeepCredential: "t_new"},
		opsEvent(gateway.OpsDeviceOut, "cracked screen"))
	must(t, err)
	if res.Pending == nil || res.Device.Status != gateway.DeviceInService {
		t.Fatalf("out of service in a call: %+v pending %+v", res.Device, res.Pending)
	}
	if _, err := s.TokenByHash(c, "h-old"); err != nil {
		t.Fatalf("the old credential was revoked during the call: %v", err)
	}
	must(t, s.Release(c, lease, ""))
	got, err := s.Device(c, "d1")
	must(t, err)
	if got.Status != gateway.DeviceOutOfService {
		t.Fatalf("status after the call = %s", got.Status)
	}
	_, err = s.TokenByHash(c, "h-old")
	wantCode(t, err, gateway.ENOTFOUND)
	if _, err := s.TokenByHash(c, "h-new"); err != nil {
		t.Fatalf("the new credential: %v", err)
	}
	// Return, at once.
	in := gateway.DeviceInService
	res, err = s.ChangeDevice(c, "d1", gateway.DeviceChange{Status: &in}, opsEvent(gateway.OpsDeviceReturn, "repaired"))
	must(t, err)
	if res.Pending != nil || res.Device.Status != gateway.DeviceInService {
		t.Fatalf("return: %+v", res)
	}
	// Retire in a call, made when the lease is swept.
	l := gateway.ClaimRequest{RoomIDs: []string{"r1"}, Channel: facetime, Holder: "v2", TTL: 50 * time.Millisecond}
	mustClaim(t, s, l)
	retired := gateway.DeviceRetired
	res, err = s.ChangeDevice(c, "d1", gateway.DeviceChange{Status: &retired}, opsEvent(gateway.OpsDeviceRetire, "end of life"))
	must(t, err)
	if res.Pending == nil {
		t.Fatal("retire in a call did not wait")
	}
	_, err = s.ChangeDevice(c, "d1", gateway.DeviceChange{Name: ptr("x")}, opsEvent(gateway.OpsDevicePatch, ""))
	wantCode(t, err, gateway.ECONFLICT) // to be retired
	time.Sleep(100 * time.Millisecond)
	_, _, err = s.Claim(c, claimReq("v3", "r1"))
	wantCode(t, err, gateway.EUNAVAILABLE) // the lapsed lease's waiting change is not skipped by a claim
	_, err = s.ExpireLeases(c)
	must(t, err)
	got, err = s.Device(c, "d1")
	must(t, err)
	if got.Status != gateway.DeviceRetired {
		t.Fatalf("status after the lease lapsed = %s", got.Status)
	}
	_, err = s.TokenByHash(c, "h-new")
	wantCode(t, err, gateway.ENOTFOUND)
	_, err = s.ChangeDevice(c, "d1", gateway.DeviceChange{Status: &in}, opsEvent(gateway.OpsDeviceReturn, ""))
	wantCode(t, err, gateway.ECONFLICT)
	_, err = s.ChangeDevice(c, "nope", gateway.DeviceChange{Status: &in}, opsEvent(gateway.OpsDeviceReturn, ""))
	wantCode(t, err, gateway.ENOTFOUND)
	_, err = s.DeviceHistory(c, "nope")
	wantCode(t, err, gateway.ENOTFOUND)
	h := history(t, s, "d1")
	var statuses []gateway.DeviceStatus
	for _, v := range h {
		statuses = append(statuses, v.Status)
	}
	if want := []gateway.DeviceStatus{"in_service", "out_of_service", "in_service", "retired"}; !slices.Equal(statuses, want) {
		t.Fatalf("history statuses %v, want %v", statuses, want)
	}
}

// testRoomOverrides: an override stored, read back, replaced, with its
// event and a wake-up on TopicRooms.
func testRoomOverrides(t *testing.T, s gateway.Store) {
	c := ctx(t)
	sub, end := s.Subscribe(gateway.TopicRooms)
	defer end()
	os, err := s.RoomOverrides(c)
	must(t, err)
	if len(os) != 0 {
		t.Fatalf("overrides of an empty store: %+v", os)
	}
	start := now(t, s)
	o := gateway.RoomOverride{RoomID: "r1", Number: "+442079460101", DeskNumber: "+442079460199",
		Handles: map[gateway.Channel]string{"whatsapp": "+447700900101"}, Neighbours: []string{"r2"}}
	got, err := s.PutRoomOverride(c, o, opsEvent(gateway.OpsRoomUpdate, "new number"))
	must(t, err)
	wantBetween(t, "UpdatedAt", got.UpdatedAt, start, now(t, s))
	receiveWant(t, sub, "TopicRooms", "r1")
	o.Number = "+442079460102"
	o.Neighbours = nil
	_, err = s.PutRoomOverride(c, o, opsEvent(gateway.OpsRoomUpdate, ""))
	must(t, err)
	os, err = s.RoomOverrides(c)
	must(t, err)
	if len(os) != 1 || os[0].Number != "+442079460102" || os[0].Handles["whatsapp"] != "+447700900101" || len(os[0].Neighbours) != 0 {
		t.Fatalf("overrides = %+v", os)
	}
	_, err = s.PutRoomOverride(c, gateway.RoomOverride{}, opsEvent(gateway.OpsRoomUpdate, ""))
	wantCode(t, err, gateway.EINVALID)
	evs, err := s.OpsEvents(c, gateway.OpsEventFilter{RoomID: "r1"})
	must(t, err)
	if len(evs) != 2 || evs[0].Action != gateway.OpsRoomUpdate || evs[0].Reason != "new number" {
		t.Fatalf("room events = %+v", evs)
	}
	var after gateway.RoomOverride
	must(t, json.Unmarshal(evs[0].After, &after))
	if after.Number != "+442079460101" {
		t.Fatalf("event's after = %s", evs[0].After)
	}
}

// testOpsEvents: the record by room, device and time, with a limit.
func testOpsEvents(t *testing.T, s gateway.Store) {
	c := ctx(t)
	_, err := s.AppendOpsEvent(c, gateway.OpsEvent{Actor: actor})
	wantCode(t, err, gateway.EINVALID)
	var ids []int64
	for i, room := range []string{"r1", "r2", "r1"} {
		ev, err := s.AppendOpsEvent(c, gateway.OpsEvent{Actor: actor, Action: gateway.OpsTokenIssue, RoomID: room,
			DeviceID: []string{"d1", "d2", "d3"}[i], After: json.RawMessage(`{"token":"t_1"}`)})
		must(t, err)
		ids = append(ids, ev.ID)
		time.Sleep(2 * time.Millisecond)
	}
	all, err := s.OpsEvents(c, gateway.OpsEventFilter{})
	must(t, err)
	if len(all) != 3 || all[0].ID != ids[0] || all[0].Actor != actor || string(all[0].Before) != "null" {
		t.Fatalf("all = %+v", all)
	}
	var after map[string]string
	must(t, json.Unmarshal(all[0].After, &after))
	if after["token"] != "t_1" {
		t.Fatalf("after = %s", all[0].After)
	}
	for _, tt := range []struct {
		f    gateway.OpsEventFilter
		want []int64
	}{
		{gateway.OpsEventFilter{RoomID: "r1"}, []int64{ids[0], ids[2]}},
		{gateway.OpsEventFilter{DeviceID: "d2"}, []int64{ids[1]}},
		{gateway.OpsEventFilter{Since: all[1].At}, []int64{ids[1], ids[2]}},
		{gateway.OpsEventFilter{Until: all[1].At}, []int64{ids[0]}},
		{gateway.OpsEventFilter{Limit: 2}, []int64{ids[0], ids[1]}},
		{gateway.OpsEventFilter{RoomID: "r9"}, nil},
	} {
		evs, err := s.OpsEvents(c, tt.f)
		must(t, err)
		var got []int64
		for _, ev := range evs {
			got = append(got, ev.ID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("OpsEvents(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}
}

// testVerificationsListing: the filters of the verification listing.
func testVerificationsListing(t *testing.T, s gateway.Store) {
	c := ctx(t)
	base := now(t, s).Add(-time.Hour).Truncate(time.Millisecond)
	for i, id := range []string{"v1", "v2", "v3"} {
		v := verification(id, "t_a")
		v.CreatedAt = base.Add(time.Duration(i) * time.Minute)
		if id == "v3" {
			v.Origin = gateway.OriginPublic
		}
		mustVerification(t, s, v)
	}
	_, _, err := s.Transition(c, "v2", gateway.Transition{To: gateway.StateVerified, Set: func(v *gateway.Verification) {
		v.Channel = facetime
		v.Outcome = &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 1", At: base}
	}, Event: gateway.Event{Type: gateway.EventOutcome}})
	must(t, err)
	for _, tt := range []struct {
		f    gateway.VerificationFilter
		want []string
	}{
		{gateway.VerificationFilter{Newest: true}, []string{"v3", "v2", "v1"}},
		{gateway.VerificationFilter{Newest: true, Limit: 2}, []string{"v3", "v2"}},
		{gateway.VerificationFilter{Until: base.Add(time.Minute)}, []string{"v1"}},
		{gateway.VerificationFilter{Outcome: gateway.OutcomeVerified}, []string{"v2"}},
		{gateway.VerificationFilter{Outcome: gateway.OutcomeRefused}, nil},
		{gateway.VerificationFilter{Channel: facetime}, []string{"v2"}},
		{gateway.VerificationFilter{Origin: gateway.OriginPublic}, []string{"v3"}},
		{gateway.VerificationFilter{Origin: gateway.OriginOfficer}, []string{"v1", "v2"}},
	} {
		vs, err := s.Verifications(c, tt.f)
		must(t, err)
		if got := vids(vs); !slices.Equal(got, tt.want) {
			t.Errorf("Verifications(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}
}
