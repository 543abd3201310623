package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
)

func TestCreateVerification(t *testing.T) {
	e := httpapitest.New(t)
	requests := fakeRequests(t, e)
	tok, secret := e.Token(t, gateway.RoleOfficer, "")

	r := do(t, e, call{method: "POST", path: "/v1/verifications", secret: secret, body: goodRequest})
	wantStatus(t, r, http.StatusCreated)
	v := decode[httpapi.VerificationView](t, r)
	if v.ID == "" || v.Reference == "" || v.State != gateway.StateRouting || v.Room != "westminster" {
		t.Errorf("verification = %+v", v)
	}
	if loc := r.header.Get("Location"); loc != "/v1/verifications/"+v.ID {
		t.Errorf("Location = %q", loc)
	}
	if strings.Contains(string(r.body), "7700900123") {
		t.Errorf("the answer repeats the officer's number: %s", r.body)
	}
	reqs := requests()
	if len(reqs) != 1 || reqs[0].RequestedBy != tok.ID || reqs[0].IdempotencyKey != "" || reqs[0].Officer.Collar != "PC 1234" {
		t.Errorf("router got %+v, want one request by %s", reqs, tok.ID)
	}
}

func TestCreateVerificationIdempotency(t *testing.T) {
	e := httpapitest.New(t)
	requests := fakeRequests(t, e)
	_, secret := e.Token(t, gateway.RoleOfficer, "")
	_, other := e.Token(t, gateway.RoleOfficer, "")
	key := map[string]string{"Idempotency-Key": "stop-2026-11-23T18:40:00Z#1"}

	first := do(t, e, call{method: "POST", path: "/v1/verifications", secret: secret, body: goodRequest, header: key})
	wantStatus(t, first, http.StatusCreated)
	again := do(t, e, call{method: "POST", path: "/v1/verifications", secret: secret, body: goodRequest, header: key})
	wantStatus(t, again, http.StatusOK)
	v1, v2 := decode[httpapi.VerificationView](t, first), decode[httpapi.VerificationView](t, again)
	if v1.ID != v2.ID || v1.Reference != v2.Reference {
		t.Errorf("retry gave %s, first %s", v2.ID, v1.ID)
	}
	if reqs := requests(); len(reqs) != 2 || reqs[1].IdempotencyKey != key["Idempotency-Key"] {
		t.Errorf("router got %+v, want the key passed on", reqs)
	}
	// Another officer's key space is his own.
	third := do(t, e, call{method: "POST", path: "/v1/verifications", secret: other, body: goodRequest, header: key})
	wantStatus(t, third, http.StatusCreated)
	if decode[httpapi.VerificationView](t, third).ID == v1.ID {
		t.Error("another officer's request with the same key returned the first verification")
	}
}

// TestCreateVerificationIdempotencyMismatch: an Idempotency-Key used again
// with the same request, however spaced or ordered, returns the first
// verification; with another request it is refused 422
// idempotency_mismatch and nothing is created.
func TestCreateVerificationIdempotencyMismatch(t *testing.T) {
	e := httpapitest.New(t)
	fakeRequests(t, e)
	_, secret := e.Token(t, gateway.RoleOfficer, "")
	key := map[string]string{"Idempotency-Key": "stop-2026-11-23T18:40:00Z#2"}
	post := func(t testing.TB, body string) response {
		return do(t, e, call{method: "POST", path: "/v1/verifications", secret: secret, body: body, header: key})
	}
	first := post(t, goodRequest)
	wantStatus(t, first, http.StatusCreated)
	v1 := decode[httpapi.VerificationView](t, first)

	reordered := `{ "location": {"lon": -0.1419, "lat": 51.5014},
		"contacts": [{"handle":"+447700900123","channel":"whatsapp"}, {"channel":"facetime","handle":"pc1234@example.org"}],
		"officer": {"warrant":"W-998877", "collar":"PC 1234"} }`
	same := post(t, reordered)
	wantStatus(t, same, http.StatusOK)
	if got := decode[httpapi.VerificationView](t, same); got.ID != v1.ID {
		t.Errorf("the same request reordered gave %s, want %s", got.ID, v1.ID)
	}
	wantError(t, post(t, strings.Replace(goodRequest, "PC 1234", "PC 5678", 1)), http.StatusForbidden, gateway.EMISMATCH)
	for name, body := range map[string]string{
		"another place":      strings.Replace(goodRequest, "51.5014", "51.4613", 1),
		"contacts reordered": `{"officer":{"collar":"PC 1234","warrant":"W-998877"},"location":{"lat":51.5014,"lon":-0.1419},"contacts":[{"channel":"facetime","handle":"pc1234@example.org"},{"channel":"whatsapp","handle":"+447700900123"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, post(t, body), http.StatusUnprocessableEntity, gateway.EIDEMPOTENCY)
		})
	}
	vs, err := e.Store.Verifications(context.Background(), gateway.VerificationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 {
		t.Errorf("%d verifications stored, want 1", len(vs))
	}
}

func TestCreateVerificationBadInput(t *testing.T) {
	e := httpapitest.New(t)
	requests := fakeRequests(t, e)
	_, secret := e.Token(t, gateway.RoleOfficer, "")
	tests := []struct {
		name        string
		body        string
		contentType string
		header      map[string]string
		status      int
		code        string
	}{
		{"malformed JSON", `{"officer":`, "", nil, 400, gateway.EINVALID},
		{"unknown field", strings.Replace(goodRequest, `"officer"`, `"admin":true,"officer"`, 1), "", nil, 400, gateway.EINVALID},
		{"unknown channel", requestWith(`[{"channel":"skype","handle":"pc1234"}]`), "", nil, 400, gateway.EINVALID},
		{"handle not E.164", requestWith(`[{"channel":"whatsapp","handle":"07911 123456"}]`), "", nil, 400, gateway.EINVALID},
		{"trailing data", goodRequest + `{}`, "", nil, 400, gateway.EINVALID},
		{"body over 64 KiB", requestWith(`[{"channel":"zoom","handle":"z"}]`) + strings.Repeat(" ", 64<<10), "", nil, 413, gateway.ETOOLARGE},
		{"wrong content type", goodRequest, "text/plain", nil, 400, gateway.EINVALID},
		{"form content", "officer=PC1234", "application/x-www-form-urlencoded", nil, 400, gateway.EINVALID},
		{"idempotency key too long", goodRequest, "", map[string]string{"Idempotency-Key": strings.Repeat("k", 129)}, 400, gateway.EINVALID},
		{"idempotency key not ASCII", goodRequest, "", map[string]string{"Idempotency-Key": "clé-1"}, 400, gateway.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, e, call{method: "POST", path: "/v1/verifications", secret: secret, body: tt.body, contentType: tt.contentType, header: tt.header})
			wantError(t, r, tt.status, tt.code)
		})
	}
	if n := len(requests()); n != 0 {
		t.Errorf("router saw %d bad requests", n)
	}
}

func TestCreateVerificationRouterErrors(t *testing.T) {
	e := httpapitest.New(t)
	_, secret := e.Token(t, gateway.RoleOfficer, "")
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"outside every room", gateway.Errorf(gateway.EOUTSIDE, "no operations room covers 0.0000, 0.0000"), 422, gateway.EOUTSIDE},
		{"no adapter", gateway.Errorf(gateway.EUNAVAILABLE, "no channel of yours is served"), 503, gateway.EUNAVAILABLE},
		{"invalid by router", gateway.Errorf(gateway.EINVALID, "bad request"), 400, gateway.EINVALID},
		{"wrapped code, no message", gateway.E("router.Request", gateway.EOUTSIDE, context.Canceled), 422, gateway.EOUTSIDE},
		{"deadline", context.DeadlineExceeded, 504, gateway.ETIMEOUT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Router.RequestFn = func(context.Context, gateway.Request) (gateway.Verification, bool, error) {
				return gateway.Verification{}, false, tt.err
			}
			r := do(t, e, call{method: "POST", path: "/v1/verifications", secret: secret, body: goodRequest})
			msg := wantError(t, r, tt.status, tt.code)
			if msg == "internal error" {
				t.Errorf("message %q for a %s error", msg, tt.code)
			}
		})
	}
}

func TestGetVerificationVisibility(t *testing.T) {
	e := httpapitest.New(t)
	owner, ownerSecret := e.Token(t, gateway.RoleOfficer, "")
	_, otherSecret := e.Token(t, gateway.RoleOfficer, "")
	_, supSecret := e.Token(t, gateway.RoleSupervisor, "")
	_, opsSecret := e.Token(t, gateway.RoleOps, "")
	v := verification(t, e, owner.ID)
	transition(t, e, v.ID, gateway.StateFailed)

	tests := []struct {
		name, secret, id string
		status           int
	}{
		{"the officer who asked", ownerSecret, v.ID, 200},
		{"a supervisor", supSecret, v.ID, 200},
		{"ops", opsSecret, v.ID, 200},
		{"another officer", otherSecret, v.ID, 404},
		{"no such verification", ownerSecret, "v_nosuch", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, e, call{method: "GET", path: "/v1/verifications/" + tt.id, secret: tt.secret})
			if tt.status != 200 {
				wantError(t, r, tt.status, gateway.ENOTFOUND)
				return
			}
			wantStatus(t, r, 200)
			got := decode[httpapi.VerificationView](t, r)
			if got.ID != v.ID || got.State != gateway.StateFailed || got.Advice != gateway.Advice999 {
				t.Errorf("view = %+v, want failed with 999 advice", got)
			}
			if got.Attempts == nil {
				t.Error("attempts is null, want []")
			}
		})
	}
	// The other officer's 404 and a missing one read the same.
	a := do(t, e, call{method: "GET", path: "/v1/verifications/" + v.ID, secret: otherSecret})
	b := do(t, e, call{method: "GET", path: "/v1/verifications/v_nosuch", secret: otherSecret})
	if string(a.body) != strings.ReplaceAll(string(b.body), "v_nosuch", v.ID) {
		t.Errorf("a hidden verification reads differently from a missing one: %s vs %s", a.body, b.body)
	}
}

func TestVerificationViewFields(t *testing.T) {
	ended := time.Date(2026, 11, 23, 18, 41, 0, 0, time.UTC)
	v := gateway.Verification{
		ID: "v_1", Reference: "K7QX-M4TR", State: gateway.StateVerified, RoomID: "westminster",
		DeviceID: "d_1", Channel: gateway.Channel("facetime"), JoinURL: "https://meet.example/x",
		Contacts: []gateway.Contact{{Channel: gateway.Channel("whatsapp"), Handle: "+447700900123"}},
		Outcome:  &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 42", Note: "ok", At: ended},
		Attempts: []gateway.Attempt{{ID: "a_1", Channel: gateway.Channel("facetime"), DeviceID: "d_1", RoomID: "westminster",
			ProviderRef: "o_1", StartedAt: ended.Add(-time.Minute), EndedAt: &ended, Tries: 2, Result: gateway.ResultConnected}},
	}
	b, err := json.Marshal(httpapi.NewVerificationView(v))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "reference", "state", "room", "device", "channel", "join_url", "reason", "advice",
		"outcome", "created_at", "updated_at", "deadline", "attempts"} {
		if _, ok := m[k]; !ok {
			t.Errorf("view lacks %q: %s", k, b)
		}
	}
	for _, k := range []string{"contacts", "officer", "requested_by", "lease", "owner"} {
		if _, ok := m[k]; ok {
			t.Errorf("view shows %q: %s", k, b)
		}
	}
	out := m["outcome"].(map[string]any)
	if out["outcome"] != "verified" || out["supervisor"] != "PS 42" {
		t.Errorf("outcome = %v", out)
	}
	at := m["attempts"].([]any)[0].(map[string]any)
	for _, k := range []string{"channel", "device", "room", "started_at", "ended_at", "tries", "result", "error"} {
		if _, ok := at[k]; !ok {
			t.Errorf("attempt lacks %q: %v", k, at)
		}
	}
	if _, ok := at["provider_ref"]; ok {
		t.Errorf("attempt shows the provider reference: %v", at)
	}
}

func TestRecordOutcome(t *testing.T) {
	e := httpapitest.New(t)
	sup, supSecret := e.Token(t, gateway.RoleSupervisor, "")
	for _, id := range []string{"v_1", "v_done"} {
		storeVerification(t, e, id, "AW")
	}
	var got gateway.Outcome
	e.Router.RecordOutcomeFn = func(_ context.Context, id string, o gateway.Outcome) (gateway.Verification, error) {
		if id == "v_done" {
			return gateway.Verification{}, gateway.Errorf(gateway.ECONFLICT, "verification v_done is verified")
		}
		got = o
		return gateway.Verification{ID: id, State: gateway.State(o.Result), Outcome: &o}, nil
	}
	tests := []struct {
		name, id, body string
		status         int
		code           string
	}{
		{"verified", "v_1", `{"outcome":"verified","supervisor":"PS 42","note":"warrant card seen"}`, 200, ""},
		{"another supervisor named: ignored", "v_1", `{"outcome":"verified","supervisor":"Insp 7"}`, 200, ""},
		{"refused, supervisor from credential", "v_1", `{"outcome":"refused"}`, 200, ""},
		{"finished", "v_done", `{"outcome":"verified","supervisor":"PS 42"}`, 409, gateway.ECONFLICT},
		{"no outcome", "v_1", `{"supervisor":"PS 42"}`, 400, gateway.EINVALID},
		{"bad outcome", "v_1", `{"outcome":"maybe"}`, 400, gateway.EINVALID},
		{"long note", "v_1", `{"outcome":"verified","note":"` + strings.Repeat("n", 1001) + `"}`, 400, gateway.EINVALID},
		{"unknown field", "v_1", `{"outcome":"verified","by":"x"}`, 400, gateway.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = gateway.Outcome{}
			r := do(t, e, call{method: "POST", path: "/v1/verifications/" + tt.id + "/outcome", secret: supSecret, body: tt.body})
			if tt.code != "" {
				wantError(t, r, tt.status, tt.code)
				return
			}
			wantStatus(t, r, tt.status)
			v := decode[httpapi.VerificationView](t, r)
			if v.Outcome == nil || v.Outcome.Outcome != got.Result || got.At.IsZero() {
				t.Errorf("outcome = %+v, router got %+v", v.Outcome, got)
			}
			if got.Supervisor != "PS 42" || got.Rank != "PS" || got.Number != "42" || got.Room != "AW" || got.By != sup.ID {
				t.Errorf("outcome %+v, want the credential's supervisor PS 42 in room AW by %s", got, sup.ID)
			}
		})
	}
}

func TestCancelVerification(t *testing.T) {
	e := httpapitest.New(t)
	owner, ownerSecret := e.Token(t, gateway.RoleOfficer, "")
	_, otherSecret := e.Token(t, gateway.RoleOfficer, "")
	v := verification(t, e, owner.ID)
	var by string
	e.Router.CancelFn = func(_ context.Context, id, who string) (gateway.Verification, error) {
		if by != "" {
			return gateway.Verification{}, gateway.Errorf(gateway.ECONFLICT, "already cancelled")
		}
		by = who
		return gateway.Verification{ID: id, State: gateway.StateCancelled}, nil
	}
	wantError(t, do(t, e, call{method: "POST", path: "/v1/verifications/" + v.ID + "/cancel", secret: otherSecret}), 404, gateway.ENOTFOUND)
	if by != "" {
		t.Fatalf("another officer cancelled it")
	}
	r := do(t, e, call{method: "POST", path: "/v1/verifications/" + v.ID + "/cancel", secret: ownerSecret})
	wantStatus(t, r, 200)
	if got := decode[httpapi.VerificationView](t, r); got.State != gateway.StateCancelled || by != owner.ID {
		t.Errorf("cancel gave %+v by %q", got, by)
	}
	wantError(t, do(t, e, call{method: "POST", path: "/v1/verifications/" + v.ID + "/cancel", secret: ownerSecret}), 409, gateway.ECONFLICT)
}

func TestOfficerJoined(t *testing.T) {
	e := httpapitest.New(t)
	owner, ownerSecret := e.Token(t, gateway.RoleOfficer, "")
	_, otherSecret := e.Token(t, gateway.RoleOfficer, "")
	_, supSecret := e.Token(t, gateway.RoleSupervisor, "")
	v := verification(t, e, owner.ID)
	var joined []string
	e.Router.JoinedFn = func(_ context.Context, id string) error {
		if len(joined) > 0 {
			return gateway.Errorf(gateway.ECONFLICT, "no call is being placed for this verification")
		}
		joined = append(joined, id)
		return nil
	}
	path := "/v1/verifications/" + v.ID + "/joined"
	wantError(t, do(t, e, call{method: "POST", path: path, secret: otherSecret}), 404, gateway.ENOTFOUND)
	wantError(t, do(t, e, call{method: "POST", path: path, secret: supSecret}), 403, gateway.EFORBIDDEN)
	wantError(t, do(t, e, call{method: "POST", path: path}), 401, gateway.EUNAUTHORIZED)
	if len(joined) != 0 {
		t.Fatalf("joined by someone else: %v", joined)
	}
	wantStatus(t, do(t, e, call{method: "POST", path: path, secret: ownerSecret}), 204)
	if len(joined) != 1 || joined[0] != v.ID {
		t.Fatalf("joined %v", joined)
	}
	wantError(t, do(t, e, call{method: "POST", path: path, secret: ownerSecret}), 409, gateway.ECONFLICT)
}

// sseEvent is one event read from a stream.
type sseEvent struct {
	id, event string
	data      httpapi.EventView
}

// openStream opens a verification's event stream and returns a channel of
// its events, closed when the stream ends, and the count of heartbeats seen.
func openStream(t testing.TB, e *httpapitest.Env, id, secret, lastEventID string) (<-chan sseEvent, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/v1/verifications/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	out := make(chan sseEvent, 100)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.id != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				out <- sseEvent{event: "heartbeat"}
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data)
			}
		}
	}()
	return out, resp
}

// next returns the stream's next event that is not a heartbeat.
func next(t testing.TB, events <-chan sseEvent) sseEvent {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended early")
			}
			if ev.event != "heartbeat" {
				return ev
			}
		case <-timeout:
			t.Fatal("no event within 5s")
		}
	}
}

func wantEnd(t testing.TB, events <-chan sseEvent) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.event != "heartbeat" {
				t.Fatalf("unexpected event %+v, want the end of the stream", ev)
			}
		case <-timeout:
			t.Fatal("the stream did not end within 5s")
		}
	}
}

func TestEventStreamCatchUpLiveAndEnd(t *testing.T) {
	e := httpapitest.New(t)
	owner, secret := e.Token(t, gateway.RoleOfficer, "")
	v := verification(t, e, owner.ID)
	dialling := transition(t, e, v.ID, gateway.StateDialling)

	events, resp := openStream(t, e, v.ID, secret, "")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type = %q", ct)
	}
	// Catch-up: both stored events, in order.
	first := next(t, events)
	if first.event != "state" || first.data.State != gateway.StateRouting || first.data.Verification != v.ID {
		t.Errorf("first event = %+v", first)
	}
	second := next(t, events)
	if second.id != itoa(dialling.Seq) || second.data.Seq != dialling.Seq || second.data.State != gateway.StateDialling {
		t.Errorf("second event = %+v, want seq %d dialling", second, dialling.Seq)
	}
	// Live.
	rep, err := e.Store.AppendEvent(context.Background(), gateway.Event{VerificationID: v.ID, Type: gateway.EventReport, Message: "facetime reported ringing"})
	if err != nil {
		t.Fatal(err)
	}
	if got := next(t, events); got.event != "report" || got.data.Seq != rep.Seq || got.data.Message != rep.Message {
		t.Errorf("live event = %+v, want %+v", got, rep)
	}
	connected := transition(t, e, v.ID, gateway.StateConnected)
	if got := next(t, events); got.data.Seq != connected.Seq {
		t.Errorf("live event = %+v, want seq %d", got, connected.Seq)
	}
	// The end: a terminal state closes the stream once it is sent.
	verified := transition(t, e, v.ID, gateway.StateVerified)
	if got := next(t, events); got.data.Seq != verified.Seq || got.data.State != gateway.StateVerified {
		t.Errorf("last event = %+v, want seq %d verified", got, verified.Seq)
	}
	wantEnd(t, events)
}

func TestEventStreamResumesAfterLastEventID(t *testing.T) {
	e := httpapitest.New(t)
	owner, secret := e.Token(t, gateway.RoleOfficer, "")
	v := verification(t, e, owner.ID)
	dialling := transition(t, e, v.ID, gateway.StateDialling)
	connected := transition(t, e, v.ID, gateway.StateConnected)

	events, _ := openStream(t, e, v.ID, secret, itoa(dialling.Seq))
	if got := next(t, events); got.data.Seq != connected.Seq {
		t.Errorf("first event after Last-Event-ID %d = seq %d, want %d", dialling.Seq, got.data.Seq, connected.Seq)
	}
	failed := transition(t, e, v.ID, gateway.StateFailed)
	if got := next(t, events); got.data.Seq != failed.Seq {
		t.Errorf("live event = seq %d, want %d", got.data.Seq, failed.Seq)
	}
	wantEnd(t, events)
}

func TestEventStreamOfFinishedVerificationEnds(t *testing.T) {
	e := httpapitest.New(t)
	_, sup := e.Token(t, gateway.RoleSupervisor, "")
	v := verification(t, e, "t_someone")
	transition(t, e, v.ID, gateway.StateCancelled)
	events, _ := openStream(t, e, v.ID, sup, "")
	next(t, events)
	if got := next(t, events); got.data.State != gateway.StateCancelled {
		t.Errorf("last event = %+v", got)
	}
	wantEnd(t, events)
}

func TestEventStreamHeartbeatsAndRereads(t *testing.T) {
	e := httpapitest.New(t, func(s *httpapi.Server) { s.SSEHeartbeat = 50 * time.Millisecond })
	owner, secret := e.Token(t, gateway.RoleOfficer, "")
	v := verification(t, e, owner.ID)
	events, _ := openStream(t, e, v.ID, secret, "")
	next(t, events)
	timeout := time.After(5 * time.Second)
	for beats := 0; beats < 2; {
		select {
		case ev := <-events:
			if ev.event == "heartbeat" {
				beats++
			}
		case <-timeout:
			t.Fatal("no heartbeats")
		}
	}
}

func TestEventStreamBadInput(t *testing.T) {
	e := httpapitest.New(t)
	owner, secret := e.Token(t, gateway.RoleOfficer, "")
	_, other := e.Token(t, gateway.RoleOfficer, "")
	v := verification(t, e, owner.ID)
	wantError(t, do(t, e, call{method: "GET", path: "/v1/verifications/" + v.ID + "/events", secret: secret,
		header: map[string]string{"Last-Event-ID": "seven"}}), 400, gateway.EINVALID)
	wantError(t, do(t, e, call{method: "GET", path: "/v1/verifications/" + v.ID + "/events", secret: other}), 404, gateway.ENOTFOUND)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestEventStreamSendsEachEventOnceUnderLoad(t *testing.T) {
	e := httpapitest.New(t)
	owner, secret := e.Token(t, gateway.RoleOfficer, "")
	v := verification(t, e, owner.ID)
	events, _ := openStream(t, e, v.ID, secret, "")
	go func() {
		for i := 0; i < 300; i++ {
			e.Store.AppendEvent(context.Background(), gateway.Event{VerificationID: v.ID, Type: gateway.EventNote, Message: "note " + strconv.Itoa(i)})
		}
		e.Store.Transition(context.Background(), v.ID, gateway.Transition{To: gateway.StateFailed, Event: gateway.Event{Type: gateway.EventState, Message: "failed"}})
	}()
	var got []int64
	timeout := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case ev, ok := <-events:
			if !ok {
				done = true
				break
			}
			if ev.event != "heartbeat" {
				got = append(got, ev.data.Seq)
			}
		case <-timeout:
			t.Fatalf("the stream did not end; %d events so far", len(got))
		}
	}
	stored, err := e.Store.Events(context.Background(), v.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(stored) {
		t.Fatalf("stream sent %d events, the store holds %d", len(got), len(stored))
	}
	for i := range stored {
		if got[i] != stored[i].Seq {
			t.Fatalf("event %d: seq %d, want %d", i, got[i], stored[i].Seq)
		}
	}
}

// TestEventStreamHidesMessageIDs: the record keeps a sent message's ID (a
// WhatsApp ID is base64 of a text holding the recipient's number); the
// event stream does not show it.
func TestEventStreamHidesMessageIDs(t *testing.T) {
	e := httpapitest.New(t)
	owner, secret := e.Token(t, gateway.RoleOfficer, "")
	v := verification(t, e, owner.ID)
	const id = "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSQUFBQUFBQUFBQUFBQUFBQUFBAA=="
	if _, err := e.Store.AppendEvent(context.Background(), gateway.Event{VerificationID: v.ID, Type: gateway.EventNote,
		Message: "join link sent by whatsapp message", Data: map[string]string{gateway.DataMessage: id, "channel": "whatsapp"}}); err != nil {
		t.Fatal(err)
	}
	events, _ := openStream(t, e, v.ID, secret, "")
	for {
		ev := next(t, events)
		if ev.data.Message != "join link sent by whatsapp message" {
			continue
		}
		if _, ok := ev.data.Data[gateway.DataMessage]; ok || ev.data.Data["channel"] != "whatsapp" {
			t.Fatalf("event data %v, want the channel and no message ID", ev.data.Data)
		}
		return
	}
}

// storeVerification stores a connected verification with the ID in room.
func storeVerification(t testing.TB, e *httpapitest.Env, id, room string) gateway.Verification {
	t.Helper()
	v, _, err := e.Store.CreateVerification(context.Background(), gateway.Verification{
		ID: id, Reference: gateway.NewReference(), State: gateway.StateConnected, RoomID: room,
		Officer: gateway.Officer{Collar: "PC 1234"}, RequestedBy: "t_officer", Deadline: time.Now().Add(time.Minute),
	}, "", gateway.Event{Type: gateway.EventState, Message: "requested"})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRecordOutcomeSupervisorFromTheCredential: a supervisor credential
// whose rooms do not cover the verification's room is refused 403, one
// that names no supervisor 422; nothing reaches the router.
func TestRecordOutcomeSupervisorFromTheCredential(t *testing.T) {
	e := httpapitest.New(t)
	storeVerification(t, e, "v_aw", "AW")
	called := 0
	e.Router.RecordOutcomeFn = func(_ context.Context, id string, o gateway.Outcome) (gateway.Verification, error) {
		called++
		return gateway.Verification{ID: id, State: gateway.State(o.Result), Outcome: &o}, nil
	}
	mint := func(sup *gateway.SupervisorIdentity) string {
		secret, hash := gateway.NewSecret()
		if err := e.Store.CreateToken(context.Background(), gateway.Token{ID: gateway.NewID("t_"), Role: gateway.RoleSupervisor,
			Name: "supervisor", Hash: hash, Supervisor: sup}); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	body := `{"outcome":"verified"}`
	path := "/v1/verifications/v_aw/outcome"
	wantError(t, do(t, e, call{method: "POST", path: path, body: body,
		secret: mint(&gateway.SupervisorIdentity{Rank: "PS", Number: "7", Rooms: []string{"CE"}})}), http.StatusForbidden, gateway.EFORBIDDEN)
	wantError(t, do(t, e, call{method: "POST", path: path, body: body, secret: mint(nil)}), http.StatusUnprocessableEntity, gateway.ENOIDENTITY)
	wantError(t, do(t, e, call{method: "POST", path: "/v1/verifications/v_none/outcome", body: body,
		secret: mint(&gateway.SupervisorIdentity{Rank: "PS", Number: "7"})}), http.StatusNotFound, gateway.ENOTFOUND)
	if called != 0 {
		t.Fatalf("%d refused outcomes reached the router", called)
	}
	wantStatus(t, do(t, e, call{method: "POST", path: path, body: body,
		secret: mint(&gateway.SupervisorIdentity{Rank: "Insp", Number: "3", Rooms: []string{"CE", "AW"}})}), http.StatusOK)
	if called != 1 {
		t.Fatalf("%d outcomes reached the router, want 1", called)
	}
}
