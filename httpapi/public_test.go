package httpapi_test

import (
	"context"
	"encoding/json"
	"html"
	"maps"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/rooms"
)

// Personal details a test verification carries, none of which any public
// answer or log line may show.
const (
	testWarrant = "WARRANT-998877"
	testHandle  = "+447700900123"
	testDevice  = "dev-aw-secret-7"
	testNote    = "warrant card seen, Jane Smith"
	testCollar  = "4471AW"
)

// publicEnv is an API serving the public's pages over the Met's rooms.
func publicEnv(t testing.TB, limit *httpapi.ClientLimiter) *httpapitest.Env {
	t.Helper()
	return httpapitest.New(t, func(s *httpapi.Server) { publicServer(t, s, limit) })
}

// publicServer gives s the public pages of the default rooms.
func publicServer(t testing.TB, s *httpapi.Server, limit *httpapi.ClientLimiter) {
	t.Helper()
	set, err := rooms.Default()
	if err != nil {
		t.Fatal(err)
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	s.Public = httpapi.Public{Force: "Metropolitan Police", Rooms: set, Receipts: s.Verifications.(httpapi.ReceiptStore),
		Limiter: limit, Location: london}
}

// finished stores a verification of room AW that ended with outcome (nil:
// never connected) and returns it.
func finished(t testing.TB, e *httpapitest.Env, outcome *gateway.Outcome, created time.Time) gateway.Verification {
	t.Helper()
	ctx := context.Background()
	v, _, err := e.Store.CreateVerification(ctx, gateway.Verification{
		ID: gateway.NewID("v_"), Reference: gateway.NewReference(), State: gateway.StateRouting, RoomID: "AW",
		Officer:     gateway.Officer{Collar: testCollar, Warrant: testWarrant},
		Location:    gateway.Location{Lat: 51.5, Lon: -0.14},
		Contacts:    []gateway.Contact{{Channel: "whatsapp", Handle: testHandle}},
		RequestedBy: "tok_officer", CreatedAt: created, DeviceID: testDevice,
	}, "", gateway.Event{Type: gateway.EventState, Message: "requested"})
	if err != nil {
		t.Fatal(err)
	}
	to := gateway.StateFailed
	if outcome != nil {
		to = gateway.StateVerified
		if outcome.Result == gateway.OutcomeRefused {
			to = gateway.StateRefused
		}
	}
	v, _, err = e.Store.Transition(ctx, v.ID, gateway.Transition{To: to, Set: func(v *gateway.Verification) {
		v.Outcome = outcome
		v.DeviceID = testDevice
	}, Event: gateway.Event{Type: gateway.EventOutcome, Message: "done"}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func jsonHeader() map[string]string { return map[string]string{"Accept": "application/json"} }

func TestReceiptShowsOnlyWhatItMay(t *testing.T) {
	e := publicEnv(t, nil)
	created := time.Date(2026, 12, 3, 14, 33, 31, 0, time.UTC) // rounds to 14:35 GMT
	for _, tc := range []struct {
		name       string
		outcome    *gateway.Outcome
		want       string
		keys       []string
		collar     string
		supervisor string
		phrase     string
	}{
		{"verified", &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 42", Note: testNote, At: created},
			"verified", []string{"force", "officer_collar", "outcome", "reference", "room", "supervisor", "time"}, testCollar, "PS 42", "was <strong>verified</strong>"},
		{"verified by a name", &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "Sgt Jane Smith", Note: testNote, At: created},
			"verified", []string{"force", "officer_collar", "outcome", "reference", "room", "time"}, testCollar, "", "a supervisor of the operations room"},
		{"verified, rank and number from the credential", &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "Sgt Jane Smith",
			Rank: "Insp", Number: "7", Room: "AW", By: "t_sup", Note: testNote, At: created},
			"verified", []string{"force", "officer_collar", "outcome", "reference", "room", "supervisor", "time"}, testCollar, "Insp 7", "was <strong>verified</strong>"},
		{"refused", &gateway.Outcome{Result: gateway.OutcomeRefused, Supervisor: "PS 42", Note: testNote, At: created},
			"refused", []string{"force", "outcome", "reference", "room", "time"}, "", "", "<strong>not verified</strong>"},
		{"never connected", nil,
			"not completed", []string{"force", "outcome", "reference", "room", "time"}, "", "", "not completed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := finished(t, e, tc.outcome, created)
			r := do(t, e, call{method: "GET", path: "/receipt/" + v.Reference, header: jsonHeader()})
			wantStatus(t, r, http.StatusOK)
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			var got map[string]any
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for k := range got {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tc.keys) {
				t.Errorf("receipt fields %v, want exactly %v", keys, tc.keys)
			}
			want := map[string]any{"reference": v.Reference, "force": "Metropolitan Police", "room": "Central West",
				"time": "2026-12-03T14:35:00Z", "outcome": tc.want}
			if tc.collar != "" {
				want["officer_collar"] = tc.collar
			}
			if tc.supervisor != "" {
				want["supervisor"] = tc.supervisor
			}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s = %v, want %v", k, got[k], w)
				}
			}
			page := do(t, e, call{method: "GET", path: "/receipt/" + v.Reference})
			wantStatus(t, page, http.StatusOK)
			html := string(page.body)
			for _, s := range []string{v.Reference, "Central West", "Metropolitan Police", "Thursday 3 December 2026, about 2:35 pm", tc.phrase} {
				if !strings.Contains(html, s) {
					t.Errorf("the page does not say %q:\n%s", s, html)
				}
			}
			if tc.collar == "" && strings.Contains(html, testCollar) {
				t.Errorf("a %s receipt shows the collar number", tc.want)
			}
			wantNothingPersonal(t, e, r.body, page.body)
		})
	}
}

// wantNothingPersonal fails if any body or the log holds a personal detail
// of the test verification.
func wantNothingPersonal(t testing.TB, e *httpapitest.Env, bodies ...[]byte) {
	t.Helper()
	var logged strings.Builder
	for _, en := range e.Log.AllEntries() {
		s, _ := en.String()
		logged.WriteString(s)
	}
	for _, secret := range []string{testWarrant, testHandle, "7700900123", testDevice, testNote, "Jane", "Smith", "51.5", "-0.14"} {
		for _, b := range bodies {
			if strings.Contains(string(b), secret) {
				t.Errorf("an answer shows %q:\n%s", secret, b)
			}
		}
		if strings.Contains(logged.String(), secret) {
			t.Errorf("the log shows %q", secret)
		}
	}
}

func TestReceiptReferenceAsPeopleTypeIt(t *testing.T) {
	e := publicEnv(t, nil)
	v := finished(t, e, &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 42", At: time.Now()}, time.Now())
	ref := v.Reference // "K7QX-M4TR"
	for _, typed := range []string{ref, strings.ToLower(ref), strings.ReplaceAll(ref, "-", ""), ref[:2] + " " + ref[2:4] + " " + ref[5:], " " + strings.ToLower(ref) + " "} {
		r := do(t, e, call{method: "GET", path: "/receipt?reference=" + strings.ReplaceAll(typed, " ", "+"), header: jsonHeader()})
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(string(r.body), ref) {
			t.Errorf("%q: %s", typed, r.body)
		}
	}
}

func TestReceiptUnknownAndMalformedAnswerAlike(t *testing.T) {
	e := publicEnv(t, nil)
	finished(t, e, nil, time.Now())
	unknown := "ACDE-FGHJ" // well formed, never issued
	for _, malformed := range []struct{ path, echo string }{
		{"ZZZZ-ZZZZ", "ZZZZ-ZZZZ"}, {"ACDE-FGH", "ACDE-FGH"}, {"%3Cscript%3E", "?script?"},
		{"ACDE-FGHJ-K", "ACDE-FGHJ-K"}, {"%00%01", "??"}, {"ACDEFGHJKMNPQRTWXY3467", "ACDEFGHJKMNPQRTWXY34…"},
	} {
		for _, accept := range []map[string]string{nil, jsonHeader()} {
			a := do(t, e, call{method: "GET", path: "/receipt/" + unknown, header: accept})
			b := do(t, e, call{method: "GET", path: "/receipt/" + malformed.path, header: accept})
			if a.status != http.StatusNotFound || b.status != a.status {
				t.Fatalf("statuses %d and %d, want both 404", a.status, b.status)
			}
			echoA := strings.ReplaceAll(string(a.body), unknown, "REF")
			echoB := strings.ReplaceAll(string(b.body), malformed.echo, "REF")
			if echoA != echoB {
				t.Errorf("unknown and malformed (%q) differ beyond the reference:\n%s\n%s", malformed, echoA, echoB)
			}
			for _, h := range []string{"Content-Type", "Cache-Control", "Content-Security-Policy"} {
				if a.header.Get(h) != b.header.Get(h) {
					t.Errorf("%s: %q and %q", h, a.header.Get(h), b.header.Get(h))
				}
			}
			if strings.Contains(string(b.body), "<script") {
				t.Errorf("the answer echoes markup: %s", b.body)
			}
		}
	}
}

func TestNumberCheck(t *testing.T) {
	e := publicEnv(t, nil)
	for _, tc := range []struct {
		typed    string
		official bool
		room     string
	}{
		{"020 7946 0101", true, "CE"},
		{"+44 20 7946 0104", true, "AW"},
		{"0044 20 7946 0104", true, "AW"},
		{"(020) 7946-0104", true, "AW"},
		{"020 7946 0204", false, ""}, // AW's supervisor desk: not published
		{"020 7946 0194", false, ""}, // one digit off
		{"07700 900123", false, ""},  // a mobile
		{"not a number", false, ""},
	} {
		r := do(t, e, call{method: "GET", path: "/v1/numbers/check?number=" + queryEscape(tc.typed)})
		wantStatus(t, r, http.StatusOK)
		var got httpapi.NumberCheck
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Official != tc.official || (tc.official && (got.Room == nil || got.Room.ID != tc.room || got.Channel != gateway.VoiceLine || got.Handle != "")) {
			t.Errorf("%q: %s; want official %v room %q on voice", tc.typed, r.body, tc.official, tc.room)
		}
		if !tc.official && strings.Contains(string(r.body), "channel") {
			t.Errorf("%q: not official, yet the answer names a channel: %s", tc.typed, r.body)
		}
		if !tc.official && strings.Contains(string(r.body), "number\"") {
			t.Errorf("%q: a refused number is echoed: %s", tc.typed, r.body)
		}
		page := do(t, e, call{method: "GET", path: "/numbers/check?number=" + queryEscape(tc.typed)})
		wantStatus(t, page, http.StatusOK)
		want := "No, this is not an official number"
		if tc.official {
			want = "Yes, this is an official number"
		}
		if !strings.Contains(string(page.body), want) {
			t.Errorf("%q: the page does not say %q", tc.typed, want)
		}
	}
	wantError(t, do(t, e, call{method: "GET", path: "/v1/numbers/check"}), http.StatusBadRequest, gateway.EINVALID)
	wantStatus(t, do(t, e, call{method: "GET", path: "/numbers/check?number="}), http.StatusBadRequest)
}

// A handset's own SIM number, registered to a room, is not a published
// number: in no notation is it official.
func TestNumberCheckDeviceSIMIsNotOfficial(t *testing.T) {
	e := publicEnv(t, nil)
	dev, _ := e.Device(t, "AW")
	if dev.Number != "+447700900001" {
		t.Fatalf("device number %q: the notations below are of +447700900001", dev.Number)
	}
	typeds := []string{dev.Number, "07700 900001", "+44 7700 900001", "0044 7700 900001", "(07700) 900-001"}
	for _, h := range dev.Handles { // the handset's own video handles are not the room's
		typeds = append(typeds, h)
	}
	for _, typed := range typeds {
		r := do(t, e, call{method: "GET", path: "/v1/numbers/check?number=" + queryEscape(typed)})
		wantStatus(t, r, http.StatusOK)
		var got httpapi.NumberCheck
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Official || got.Room != nil || strings.Contains(string(r.body), "900001") {
			t.Errorf("%q, a handset's SIM number: %s, want not official", typed, r.body)
		}
		page := do(t, e, call{method: "GET", path: "/numbers/check?number=" + queryEscape(typed)})
		if !strings.Contains(pageText(page.body), "No, this is not an official number") {
			t.Errorf("%q, a handset's SIM number: the page does not say it is not official", typed)
		}
	}
}

// A room's video handles, which the numbers page lists as ways to reach
// it, are official: the answer says which room and on which app.
func TestNumberCheckSaysWhichChannel(t *testing.T) {
	e := publicEnv(t, nil)
	set, _ := rooms.Default()
	for _, room := range set.Rooms() {
		wa, ft := room.Handles["whatsapp"], room.Handles["facetime"]
		if wa == "" || ft == "" {
			t.Fatalf("room %s: handles %v, want a WhatsApp and a FaceTime one", room.ID, room.Handles)
		}
		nat := national(t, wa) // 07700 900804
		for _, tc := range []struct {
			typed, channel, number, handle, heading, phrase string
		}{
			{national(t, room.Number), "voice", room.Number, "", "Yes, this is an official number",
				national(t, room.Number) + " is the number of the Metropolitan Police's " + room.Name + " operations room."},
			{wa, "whatsapp", wa, wa, "Yes, this is an official number",
				nat + " is the Metropolitan Police " + room.Name + " operations room's WhatsApp video number."},
			{nat, "whatsapp", wa, wa, "Yes, this is an official number",
				nat + " is the Metropolitan Police " + room.Name + " operations room's WhatsApp video number."},
			{"+44 " + wa[3:7] + " " + wa[7:], "whatsapp", wa, wa, "Yes, this is an official number", "Video-call it on WhatsApp"},
			{"(" + nat[:5] + ") " + strings.ReplaceAll(nat[6:], " ", "-"), "whatsapp", wa, wa, "Yes, this is an official number",
				"You can also call the room on its number, " + national(t, room.Number)},
			{ft, "facetime", "", ft, "Yes, this is an official video address",
				ft + " is the Metropolitan Police " + room.Name + " operations room's FaceTime video address."},
		} {
			r := do(t, e, call{method: "GET", path: "/v1/numbers/check?number=" + queryEscape(tc.typed)})
			wantStatus(t, r, http.StatusOK)
			var got httpapi.NumberCheck
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if !got.Official || got.Room == nil || got.Room.ID != room.ID || string(got.Channel) != tc.channel ||
				got.Number != tc.number || got.Handle != tc.handle {
				t.Errorf("%q: %s; want room %s on %s, number %q, handle %q", tc.typed, r.body, room.ID, tc.channel, tc.number, tc.handle)
			}
			page := do(t, e, call{method: "GET", path: "/numbers/check?number=" + queryEscape(tc.typed)})
			wantStatus(t, page, http.StatusOK)
			text := pageText(page.body)
			for _, want := range []string{tc.heading, tc.phrase} {
				if !strings.Contains(text, want) {
					t.Errorf("%q: the page does not say %q: %s", tc.typed, want, text)
				}
			}
		}
	}
	// Near a room's WhatsApp number is not official.
	for _, typed := range []string{"07700 900813", "07700 900840", "07700 90080"} {
		r := do(t, e, call{method: "GET", path: "/v1/numbers/check?number=" + queryEscape(typed)})
		if !strings.Contains(string(r.body), `"official":false`) || strings.Contains(string(r.body), "channel") {
			t.Errorf("%q, near a WhatsApp number: %s, want not official", typed, r.body)
		}
	}
}

func queryEscape(s string) string {
	return strings.NewReplacer(" ", "+", "(", "%28", ")", "%29", "+", "%2B").Replace(s)
}

func TestNumbersListsEveryRoom(t *testing.T) {
	e := publicEnv(t, nil)
	set, _ := rooms.Default()
	dev, _ := e.Device(t, "AW") // a handset of the room: none of its numbers or handles is published
	r := do(t, e, call{method: "GET", path: "/numbers", header: jsonHeader()})
	wantStatus(t, r, http.StatusOK)
	var got struct {
		Force string               `json:"force"`
		Rooms []httpapi.NumberRoom `json:"rooms"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Force != "Metropolitan Police" || len(got.Rooms) != len(set.Rooms()) {
		t.Fatalf("%s", r.body)
	}
	page := do(t, e, call{method: "GET", path: "/numbers"})
	wantStatus(t, page, http.StatusOK)
	for _, room := range set.Rooms() {
		if got := got.Rooms; !slices.ContainsFunc(got, func(n httpapi.NumberRoom) bool { return n.ID == room.ID && n.Number == room.Number }) {
			t.Errorf("room %s missing from %v", room.ID, got)
		}
		if !strings.Contains(string(page.body), room.Name) {
			t.Errorf("the page does not name %s", room.Name)
		}
		if strings.Contains(string(r.body)+string(page.body), room.DeskNumber[3:]) {
			t.Errorf("the desk number of %s is shown", room.ID)
		}
		wantRoomHandles(t, room, got.Rooms, page.body)
	}
	for _, secret := range append([]string{dev.Number[3:], "900001"}, slices.Collect(maps.Values(dev.Handles))...) {
		if strings.Contains(string(r.body)+string(page.body), secret) {
			t.Errorf("a handset's number or handle %q is shown", secret)
		}
	}
	csp := page.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'self'", "form-action 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(string(page.body), "<script") {
		t.Errorf("the public's pages need no script: CSP %q", csp)
	}
}

// wantRoomHandles fails unless the room's video handles are in the JSON
// list got and in the page's text, each with its app's name.
func wantRoomHandles(t testing.TB, room gateway.Room, got []httpapi.NumberRoom, page []byte) {
	t.Helper()
	if len(room.Handles) == 0 {
		t.Fatalf("room %s has no video handles to show", room.ID)
	}
	if i := slices.IndexFunc(got, func(n httpapi.NumberRoom) bool { return n.ID == room.ID }); i >= 0 && !maps.Equal(got[i].Handles, room.Handles) {
		t.Errorf("room %s: handles %v in the JSON, want %v", room.ID, got[i].Handles, room.Handles)
	}
	shown := map[gateway.Channel]string{
		"whatsapp": "Video call on WhatsApp: " + national(t, room.Handles["whatsapp"]),
		"facetime": "Video call on FaceTime: " + room.Handles["facetime"],
	}
	text := pageText(page)
	for c, want := range shown {
		if !strings.Contains(text, want) {
			t.Errorf("room %s: the page does not show its %s handle as %q", room.ID, c, want)
		}
	}
}

// pageText is a page's text as a person reads it: its markup gone and its
// white space collapsed.
func pageText(page []byte) string {
	return strings.Join(strings.Fields(html.UnescapeString(markup.ReplaceAllString(string(page), " "))), " ")
}

// markup matches a tag.
var markup = regexp.MustCompile(`<[^>]*>`)

// national is an E.164 number as people dial it in its country.
func national(t testing.TB, e164 string) string {
	t.Helper()
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		t.Fatalf("%q: %v", e164, err)
	}
	return phonenumbers.Format(n, phonenumbers.NATIONAL)
}

func TestPublicChecksAreRateLimited(t *testing.T) {
	lim := httpapi.NewClientLimiter(6, 3) // 3 at once, then one each 10 s
	lim.Proxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	lim.Header = "X-Forwarded-For"
	e := publicEnv(t, lim)
	client := func(addr string) map[string]string {
		return map[string]string{"X-Forwarded-For": addr, "Accept": "application/json"}
	}
	for i := range 3 {
		wantStatus(t, do(t, e, call{method: "GET", path: "/receipt/ACDE-FGHJ", header: client("198.51.100.7")}), http.StatusNotFound)
		_ = i
	}
	r := do(t, e, call{method: "GET", path: "/v1/numbers/check?number=020+7946+0101", header: client("198.51.100.7")})
	wantError(t, r, http.StatusTooManyRequests, gateway.ERATELIMITED)
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 10 {
		t.Errorf("Retry-After = %q, want 1 to 10 seconds", r.header.Get("Retry-After"))
	}
	html := do(t, e, call{method: "GET", path: "/receipt/ACDE-FGHJ", header: map[string]string{"X-Forwarded-For": "198.51.100.7"}})
	wantStatus(t, html, http.StatusTooManyRequests)
	if !strings.Contains(string(html.body), "too many checks") || html.header.Get("Retry-After") == "" {
		t.Errorf("the HTML 429 says %s", html.body)
	}
	// Another client is not held back by the first.
	wantStatus(t, do(t, e, call{method: "GET", path: "/v1/numbers/check?number=020+7946+0101", header: client("198.51.100.8")}), http.StatusOK)
	// The list of numbers is not limited.
	wantStatus(t, do(t, e, call{method: "GET", path: "/numbers", header: client("198.51.100.7")}), http.StatusOK)
}

func TestClientAddrTrustsOnlyConfiguredProxies(t *testing.T) {
	lim := httpapi.NewClientLimiter(60, 5)
	lim.Header = "X-Forwarded-For"
	lim.Proxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		remote, xff, want string
	}{
		{"192.0.2.1:5000", "198.51.100.9", "192.0.2.1"},                // not a proxy: the header is the client's say
		{"10.1.2.3:5000", "198.51.100.9", "198.51.100.9"},              // a proxy: its word
		{"10.1.2.3:5000", "203.0.113.5, 198.51.100.9", "198.51.100.9"}, // the nearest untrusted hop
		{"10.1.2.3:5000", "198.51.100.9, 10.9.9.9", "198.51.100.9"},    // proxies skipped
		{"10.1.2.3:5000", "garbage", "10.1.2.3"},                       // unreadable: the proxy itself
		{"[2001:db8:1:2:3:4:5:6]:5000", "", "2001:db8:1:2::"},          // an IPv6 client by its /64
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := lim.ClientAddr(r).String(); got != tc.want {
			t.Errorf("%s with %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestRankAndNumber(t *testing.T) {
	for in, want := range map[string]string{
		"PS 42": "PS 42", "Sgt 1234": "Sgt 1234", "insp. 77": "insp. 77", "PS  42": "PS 42",
		"Jane Smith": "", "PS 42 Jane": "", "42": "", "": "", "Sergeant Smith": "",
	} {
		if got := httpapi.RankAndNumber(in); got != want {
			t.Errorf("RankAndNumber(%q) = %q, want %q", in, got, want)
		}
	}
}
