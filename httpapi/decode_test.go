package httpapi_test

import (
	"math"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
)

// channels are the gateway's channels, which check the contacts' handles.
var channels = httpapitest.Channels()

// requestWith returns goodRequest with its contacts replaced.
func requestWith(contacts string) string {
	return `{"officer":{"collar":"PC 1234","warrant":"W-998877"},"location":{"lat":51.5,"lon":-0.14},"contacts":` + contacts + `}`
}

var decodeCases = []struct {
	name string
	body string
	code string // "" when it must be accepted
	says string // a part of the message, naming the field
}{
	{"good", goodRequest, "", ""},
	{"facetime by number", requestWith(`[{"channel":"facetime","handle":"+447911123456"}]`), "", ""},
	{"zoom user name", requestWith(`[{"channel":"zoom","handle":"pc1234"}]`), "", ""},
	{"teams e-mail", requestWith(`[{"channel":"teams","handle":"pc1234@met.example"}]`), "", ""},
	{"pstn", requestWith(`[{"channel":"pstn","handle":"+12025550123"}]`), "", ""},
	{"every channel once", requestWith(`[{"channel":"facetime","handle":"a@b.example"},{"channel":"whatsapp","handle":"+447911123456"},` +
		`{"channel":"zoom","handle":"z"},{"channel":"meet","handle":"m@b.example"},{"channel":"teams","handle":"t"},` +
		`{"channel":"webrtc","handle":"w"},{"channel":"pstn","handle":"+447911123456"}]`), "", ""},
	{"links to whatsapp", requestWith(`[{"channel":"zoom","handle":"z"},{"channel":"whatsapp","handle":"+447911123456","links":true}]`), "", ""},
	{"links to zoom", requestWith(`[{"channel":"zoom","handle":"z","links":true}]`), gateway.EINVALID, "contacts[0].links: meeting links can be sent by message to a whatsapp contact only"},
	{"links not a bool", requestWith(`[{"channel":"whatsapp","handle":"+447911123456","links":"yes"}]`), gateway.EINVALID, "contacts[0].links"},
	{"handle trimmed", requestWith(`[{"channel":"whatsapp","handle":" +447911123456 "}]`), "", ""},

	{"empty", "", gateway.EINVALID, "empty"},
	{"whitespace", " \n ", gateway.EINVALID, "empty"},
	{"not JSON", "officer=PC1234", gateway.EINVALID, "malformed JSON"},
	{"truncated", goodRequest[:40], gateway.EINVALID, "malformed JSON"},
	{"array", "[]", gateway.EINVALID, "JSON object"},
	{"string", `"hello"`, gateway.EINVALID, "JSON object"},
	{"null", "null", gateway.EINVALID, "location is required"},
	{"two values", goodRequest + goodRequest, gateway.EINVALID, "after top-level value"},
	{"trailing data", goodRequest + "x", gateway.EINVALID, "after top-level value"},
	{"unknown field", strings.Replace(goodRequest, `"officer"`, `"badge":1,"officer"`, 1), gateway.EINVALID, "unknown field badge"},
	{"unknown nested field", strings.Replace(goodRequest, `"collar"`, `"rank":"PC","collar"`, 1), gateway.EINVALID, "unknown field officer.rank"},
	{"unknown contact field", requestWith(`[{"channel":"whatsapp","handle":"+447911123456","primary":true}]`), gateway.EINVALID, "contacts[0].primary"},
	{"field in wrong case", strings.Replace(goodRequest, `"officer"`, `"Officer"`, 1), gateway.EINVALID, "unknown field Officer"},
	{"repeated field", strings.Replace(goodRequest, `"officer"`, `"location":{"lat":0,"lon":0},"officer"`, 1), gateway.EINVALID, "location is given twice"},
	{"invalid UTF-8", strings.Replace(goodRequest, "PC 1234", "PC \xff", 1), gateway.EINVALID, "officer.collar"},
	{"collar wrong type", strings.Replace(goodRequest, `"PC 1234"`, `1234`, 1), gateway.EINVALID, "officer.collar must be a string"},
	{"no officer: the credential's", `{"location":{"lat":51.5,"lon":-0.14},"contacts":[{"channel":"whatsapp","handle":"+447911123456"}]}`, "", ""},
	{"no collar", strings.Replace(goodRequest, `"PC 1234"`, `""`, 1), gateway.EINVALID, "officer.collar is required"},
	{"blank collar", strings.Replace(goodRequest, `"PC 1234"`, `"   "`, 1), gateway.EINVALID, "officer.collar is required"},
	{"long collar", strings.Replace(goodRequest, `"PC 1234"`, `"`+strings.Repeat("9", 33)+`"`, 1), gateway.EINVALID, "officer.collar must be at most 32"},
	{"control in collar", strings.Replace(goodRequest, `"PC 1234"`, `"PC\u00071234"`, 1), gateway.EINVALID, "officer.collar must hold printable"},
	{"no warrant: the credential's", strings.Replace(goodRequest, `"W-998877"`, `null`, 1), "", ""},
	{"long warrant", strings.Replace(goodRequest, `"W-998877"`, `"`+strings.Repeat("W", 65)+`"`, 1), gateway.EINVALID, "officer.warrant must be at most 64"},
	{"no location", strings.Replace(goodRequest, `"location":{"lat":51.5014,"lon":-0.1419},`, ``, 1), gateway.EINVALID, "location is required"},
	{"no lat", strings.Replace(goodRequest, `"lat":51.5014,`, ``, 1), gateway.EINVALID, "location.lat is required"},
	{"no lon", strings.Replace(goodRequest, `,"lon":-0.1419`, ``, 1), gateway.EINVALID, "location.lon is required"},
	{"lat as string", strings.Replace(goodRequest, `51.5014`, `"51.5014"`, 1), gateway.EINVALID, "location.lat must be a number"},
	{"lat too big", strings.Replace(goodRequest, `51.5014`, `91`, 1), gateway.EINVALID, "location.lat must be between"},
	{"lon too small", strings.Replace(goodRequest, `-0.1419`, `-180.5`, 1), gateway.EINVALID, "location.lon must be between"},
	{"lat overflows", strings.Replace(goodRequest, `51.5014`, `1e400`, 1), gateway.EINVALID, "location.lat is out of range"},
	{"lat NaN", strings.Replace(goodRequest, `51.5014`, `NaN`, 1), gateway.EINVALID, "malformed JSON"},
	{"no contacts", requestWith(`[]`), gateway.EINVALID, "contacts must list at least one"},
	{"null contacts", requestWith(`null`), gateway.EINVALID, "contacts must list at least one"},
	{"contacts not a list", requestWith(`{}`), gateway.EINVALID, "contacts must be an array"},
	{"nine contacts", requestWith(`[` + strings.Repeat(`{"channel":"zoom","handle":"z"},`, 8) + `{"channel":"zoom","handle":"z"}]`), gateway.EINVALID, "at most 8"},
	{"unknown channel", requestWith(`[{"channel":"skype","handle":"pc1234"}]`), gateway.EINVALID, `contacts[0].channel: unknown channel "skype"`},
	{"channel in caps", requestWith(`[{"channel":"WhatsApp","handle":"+447911123456"}]`), gateway.EINVALID, "contacts[0].channel"},
	{"duplicate channel", requestWith(`[{"channel":"zoom","handle":"a"},{"channel":"zoom","handle":"b"}]`), gateway.EINVALID, "contacts[1].channel: zoom is listed twice"},
	{"no handle", requestWith(`[{"channel":"zoom"}]`), gateway.EINVALID, "contacts[0].handle: is required"},
	{"whatsapp not E.164", requestWith(`[{"channel":"whatsapp","handle":"07911123456"}]`), gateway.EINVALID, "contacts[0].handle: must be an E.164"},
	{"whatsapp with spaces", requestWith(`[{"channel":"whatsapp","handle":"+44 7911 123456"}]`), gateway.EINVALID, "E.164"},
	{"whatsapp not a real number", requestWith(`[{"channel":"whatsapp","handle":"+4411111"}]`), gateway.EINVALID, "not a valid phone number"},
	{"pstn too long", requestWith(`[{"channel":"pstn","handle":"+4479111234567890"}]`), gateway.EINVALID, "contacts[0].handle"},
	{"facetime neither", requestWith(`[{"channel":"facetime","handle":"pc1234"}]`), gateway.EINVALID, "facetime needs an E.164 number or an Apple ID"},
	{"facetime display name", requestWith(`[{"channel":"facetime","handle":"PC <pc@x.example>"}]`), gateway.EINVALID, "contacts[0].handle"},
	{"zoom handle too long", requestWith(`[{"channel":"zoom","handle":"` + strings.Repeat("z", 255) + `"}]`), gateway.EINVALID, "254"},
	{"zoom handle control", requestWith(`[{"channel":"zoom","handle":"a\u0000b"}]`), gateway.EINVALID, "printable"},
}

func TestDecodeRequest(t *testing.T) {
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			req, err := httpapi.DecodeRequest(strings.NewReader(tt.body), httpapi.DefaultMaxBody, channels)
			if got := gateway.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q, want %q (err %v)", got, tt.code, err)
			}
			if err != nil {
				if msg := gateway.ErrorMessage(err); !strings.Contains(msg, tt.says) {
					t.Errorf("message %q does not say %q", msg, tt.says)
				}
				return
			}
			checkAccepted(t, req)
		})
	}
}

func TestDecodeRequestKeepsOrderAndValues(t *testing.T) {
	req, err := httpapi.DecodeRequest(strings.NewReader(goodRequest), httpapi.DefaultMaxBody, channels)
	if err != nil {
		t.Fatal(err)
	}
	want := gateway.Request{
		Officer:  gateway.Officer{Collar: "PC 1234", Warrant: "W-998877"},
		Location: gateway.Location{Lat: 51.5014, Lon: -0.1419},
		Contacts: []gateway.Contact{
			{Channel: gateway.Channel("whatsapp"), Handle: "+447700900123"},
			{Channel: gateway.Channel("facetime"), Handle: "pc1234@example.org"},
		},
	}
	if req.Officer != want.Officer || req.Location != want.Location || len(req.Contacts) != 2 ||
		req.Contacts[0] != want.Contacts[0] || req.Contacts[1] != want.Contacts[1] {
		t.Errorf("DecodeRequest() = %+v, want %+v", req, want)
	}
}

func TestDecodeRequestLimit(t *testing.T) {
	tests := []struct {
		name string
		max  int64
		code string
	}{
		{"fits exactly", int64(len(goodRequest)), ""},
		{"one byte over", int64(len(goodRequest)) - 1, gateway.ETOOLARGE},
		{"far over", 10, gateway.ETOOLARGE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httpapi.DecodeRequest(strings.NewReader(goodRequest), tt.max, channels)
			if got := gateway.ErrorCode(err); got != tt.code {
				t.Errorf("code = %q, want %q (%v)", got, tt.code, err)
			}
		})
	}
}

// checkAccepted fails unless req meets every rule DecodeRequest enforces.
func checkAccepted(t testing.TB, req gateway.Request) {
	t.Helper()
	text := func(field, s string, max int) {
		if s == "" || s != strings.TrimSpace(s) || utf8.RuneCountInString(s) > max || !utf8.ValidString(s) {
			t.Errorf("accepted %s %q", field, s)
		}
		for _, r := range s {
			if !unicode.IsPrint(r) {
				t.Errorf("accepted %s with unprintable %U", field, r)
			}
		}
	}
	if req.Officer != (gateway.Officer{}) { // optional: the credential's officer
		text("collar", req.Officer.Collar, httpapi.MaxCollar)
	}
	if req.Officer.Warrant != "" {
		text("warrant", req.Officer.Warrant, httpapi.MaxWarrant)
	}
	lat, lon := req.Location.Lat, req.Location.Lon
	if math.IsNaN(lat) || math.IsNaN(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		t.Errorf("accepted location %v", req.Location)
	}
	if n := len(req.Contacts); n < 1 || n > httpapi.MaxContacts {
		t.Errorf("accepted %d contacts", n)
	}
	seen := map[gateway.Channel]bool{}
	for i, c := range req.Contacts {
		if _, err := channels.Parse(string(c.Channel)); err != nil {
			t.Errorf("accepted contact %d on channel %q", i, c.Channel)
		}
		if seen[c.Channel] {
			t.Errorf("accepted channel %s twice", c.Channel)
		}
		seen[c.Channel] = true
		h, err := channels.CheckHandle(c.Channel, c.Handle)
		if err != nil || h != c.Handle {
			t.Errorf("accepted contact %d handle that does not check again: %v", i, err)
		}
		if (c.Channel == gateway.Channel("whatsapp") || c.Channel == gateway.ChannelPSTN) && !strings.HasPrefix(c.Handle, "+") {
			t.Errorf("accepted a %s handle that is not E.164", c.Channel)
		}
	}
	if req.RequestedBy != "" || req.IdempotencyKey != "" {
		t.Errorf("DecodeRequest set RequestedBy or IdempotencyKey from the body")
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, tt := range decodeCases {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := httpapi.DecodeRequest(strings.NewReader(string(body)), 4096, channels)
		if err != nil {
			if code := gateway.ErrorCode(err); code != gateway.EINVALID && code != gateway.ETOOLARGE {
				t.Fatalf("code %q for bad input: %v", code, err)
			}
			return
		}
		checkAccepted(t, req)
	})
}
