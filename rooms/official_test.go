package rooms

import (
	"testing"
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
