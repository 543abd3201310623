package rooms

import (
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
)

func TestOfficialRecognisesEveryNotation(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, room := range set.Rooms() {
		national := "0" + room.Number[3:] // +4420... → 020...
		notations := []string{
			room.Number,
			"+44 " + room.Number[3:5] + " " + room.Number[5:9] + " " + room.Number[9:],
			"0044 " + room.Number[3:5] + " " + room.Number[5:9] + " " + room.Number[9:],
			national,
			national[:3] + " " + national[3:7] + " " + national[7:],
			"(" + national[:3] + ") " + national[3:7] + "-" + national[7:],
			"  " + national + "  ",
			"+44 (0)" + room.Number[3:],
			national[:3] + "." + national[3:7] + "." + national[7:],
		}
		for _, typed := range notations {
			got, ok := set.Official(typed, "")
			if !ok || got.ID != room.ID {
				t.Errorf("Official(%q) = %q, %v; want room %s", typed, got.ID, ok, room.ID)
			}
		}
	}
}

func TestOfficialRefusesNearMisses(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	room := set.Rooms()[0]
	// One digit off in the middle: the rooms' numbers differ in their last
	// digits, so a change there could land on another room's.
	mid := len(room.Number) / 2
	oneOff := room.Number[:mid] + string('0'+(room.Number[mid]-'0'+1)%10) + room.Number[mid+1:]
	if _, taken := set.ByNumber(oneOff); taken {
		t.Fatalf("%s is a room's number: pick another near miss", oneOff)
	}
	for _, typed := range []string{
		oneOff,                           // one digit off
		room.Number[:len(room.Number)-1], // one digit short
		room.Number + "1",                // one digit more
		room.DeskNumber,                  // the supervisor desk is not published
		"+447700900123",                  // a mobile number
		"07700 900123",                   // the same, nationally
		"+12025550101",                   // another country
		"020 7946 0101 ext 2",            // an extension
		"0800 FLOWERS",                   // letters
		"",
		"+",
		"020 7946 0101 020 7946 0101 020 7946 0101 0101",
	} {
		if got, ok := set.Official(typed, ""); ok {
			t.Errorf("Official(%q) = room %s; want not official", typed, got.ID)
		}
	}
}

func TestOfficialReadsNationalNumbersInTheRegionGiven(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	room := set.Rooms()[0]
	national := "0" + room.Number[3:]
	if _, ok := set.Official(national, "US"); ok {
		t.Errorf("Official(%q, US): official; a national number is read in the region given", national)
	}
	if got, ok := set.Official(national, "gb"); !ok || got.ID != room.ID {
		t.Errorf("Official(%q, gb) = %q, %v; want %s", national, got.ID, ok, room.ID)
	}
}

// FuzzParseTyped checks that a typed number never panics the parser and
// that whatever it accepts is E.164 that parses back to itself.
func FuzzParseTyped(f *testing.F) {
	for _, s := range []string{
		"020 7946 0101", "+44 20 7946 0101", "0044 20 7946 0101", "(020) 7946-0101", "+44 (0)20 7946 0101",
		"07700 900123", "", "+", "0800 FLOWERS", "((((", "+999999999999999999999", "0", "+44 20 7946 01011",
		"1-800-555-0100", "\x00", "٠٢٠", "+44\u00a020",
	} {
		f.Add(s, "GB")
	}
	f.Add("020 7946 0101", "")
	f.Add("020 7946 0101", "ZZ")
	f.Fuzz(func(t *testing.T, typed, region string) {
		n, ok := ParseTyped(typed, region)
		if !ok {
			if n != "" {
				t.Fatalf("ParseTyped(%q) = %q with false", typed, n)
			}
			return
		}
		if checkE164(n) != "" {
			t.Fatalf("ParseTyped(%q) = %q: %s", typed, n, checkE164(n))
		}
		if again, ok := ParseTyped(n, region); !ok || again != n {
			t.Fatalf("ParseTyped(%q) = %q, %v; want it back", n, again, ok)
		}
	})
}

// Every room's WhatsApp number, which the numbers page lists as a way to
// reach the room, is official in every notation its published number is.
func TestOfficialOnRecognisesEveryRoomsWhatsAppNumber(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, room := range set.Rooms() {
		h := room.Handles["whatsapp"]
		if len(h) != len("+447700900801") || h[:3] != "+44" {
			t.Fatalf("room %s: WhatsApp handle %q; the notations below are of a +44 7xxx xxxxxx number", room.ID, h)
		}
		national := "0" + h[3:] // +447700… → 07700…
		for _, typed := range []string{
			h,
			"+44 " + h[3:7] + " " + h[7:],
			"0044 " + h[3:7] + " " + h[7:],
			national,
			national[:5] + " " + national[5:],
			"(" + national[:5] + ") " + national[5:8] + "-" + national[8:],
			"+44 (0)" + h[3:],
			national[:5] + "." + national[5:8] + "." + national[8:],
			"  " + national + "  ",
		} {
			got, channel, number, ok := set.OfficialOn(typed, "")
			if !ok || got.ID != room.ID || channel != "whatsapp" || number != h {
				t.Errorf("OfficialOn(%q) = %q, %q, %q, %v; want room %s on whatsapp, %s", typed, got.ID, channel, number, ok, room.ID, h)
			}
		}
		// The published number is the room's voice number.
		national = "0" + room.Number[3:]
		if got, channel, number, ok := set.OfficialOn(national, ""); !ok || got.ID != room.ID || channel != gateway.VoiceLine || number != room.Number {
			t.Errorf("OfficialOn(%q) = %q, %q, %q, %v; want room %s, voice", national, got.ID, channel, number, ok, room.ID)
		}
	}
}

// A FaceTime handle that is an email address is official as typed, but for
// case and the spaces around it; nothing near it is.
func TestOfficialOnRecognisesTextHandlesExactly(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, room := range set.Rooms() {
		h := room.Handles["facetime"]
		if h == "" {
			t.Fatalf("room %s has no FaceTime handle", room.ID)
		}
		for _, typed := range []string{h, " " + h + " ", strings.ToUpper(h)} {
			if got, channel, number, ok := set.OfficialOn(typed, ""); !ok || got.ID != room.ID || channel != "facetime" || number != "" {
				t.Errorf("OfficialOn(%q) = %q, %q, %q, %v; want room %s on facetime", typed, got.ID, channel, number, ok, room.ID)
			}
		}
		for _, typed := range []string{h[1:], h + "x", strings.Replace(h, "@", "@x", 1), strings.Split(h, "@")[0]} {
			if got, channel, _, ok := set.OfficialOn(typed, ""); ok {
				t.Errorf("OfficialOn(%q) = room %s on %s; want not official", typed, got.ID, channel)
			}
		}
	}
}

// A handset's own SIM number, a near miss of a room's WhatsApp number and
// the desk numbers are not official; nor is what Official refuses.
func TestOfficialOnRefusesNearMisses(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	room := set.Rooms()[3]
	h := room.Handles["whatsapp"] // +447700900804
	mid := len(h) / 2
	oneOff := h[:mid] + string('0'+(h[mid]-'0'+1)%10) + h[mid+1:]
	typeds := []string{
		"+447700900001", "07700 900001", "0044 7700 900001", "(07700) 900-001", // a handset's SIM number
		oneOff,             // one digit off
		h[:len(h)-1],       // one digit short
		h + "1",            // one digit more
		"07700 900813",     // the next room's, were there a thirteenth
		"+12025550101",     // another country
		"07700 900804 ext", // letters
		"0800 FLOWERS",
		"not a number",
		"whatsapp",
		"",
		"+",
	}
	for _, r := range set.Rooms() {
		typeds = append(typeds, r.DeskNumber, "0"+r.DeskNumber[3:])
	}
	for _, typed := range typeds {
		if got, channel, _, ok := set.OfficialOn(typed, ""); ok {
			t.Errorf("OfficialOn(%q) = room %s on %s; want not official", typed, got.ID, channel)
		}
	}
	// A WhatsApp number is not a published voice number: Official, which
	// knows those only, does not take it.
	if got, ok := set.Official(h, ""); ok {
		t.Errorf("Official(%q) = room %s; it is a video handle, not the published number", h, got.ID)
	}
}

// A handle written without its country code is read in the region asked,
// as the number typed is; and an override's handles are the ones looked up.
func TestOfficialOnReadsHandlesInTheRegionGiven(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	ce, _ := set.Room("CE")
	o := gateway.OverrideOf(ce)
	o.Handles = map[gateway.Channel]string{"whatsapp": "07700 900899", "facetime": "ops-ce@example.invalid"}
	if err := set.Override([]gateway.RoomOverride{o}); err != nil {
		t.Fatal(err)
	}
	for _, typed := range []string{"+447700900899", "07700900899"} {
		if got, channel, number, ok := set.OfficialOn(typed, "GB"); !ok || got.ID != "CE" || channel != "whatsapp" || number != "+447700900899" {
			t.Errorf("OfficialOn(%q, GB) = %q, %q, %q, %v; want CE on whatsapp", typed, got.ID, channel, number, ok)
		}
	}
	if got, channel, _, ok := set.OfficialOn("+447700900899", "US"); ok {
		t.Errorf("OfficialOn(+447700900899, US) = %s on %s; the handle 07700 900899 is not that number in the US", got.ID, channel)
	}
	for _, typed := range []string{ce.Handles["whatsapp"], ce.Handles["facetime"]} {
		if got, channel, _, ok := set.OfficialOn(typed, ""); ok {
			t.Errorf("OfficialOn(%q) = %s on %s; the override replaced that handle", typed, got.ID, channel)
		}
	}
	if got, channel, _, ok := set.OfficialOn("ops-ce@example.invalid", ""); !ok || got.ID != "CE" || channel != "facetime" {
		t.Errorf("OfficialOn(the override's FaceTime handle) = %q, %q, %v", got.ID, channel, ok)
	}
}
