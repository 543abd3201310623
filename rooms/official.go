package rooms

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/safeconnection/gateway"
)

// DefaultRegion is the region a number typed without its country code is
// read in: "020 7946 0101" is a London number.
const DefaultRegion = "GB"

// MaxTypedNumber bounds the length of a number as a person types it,
// spaces, brackets and dashes included; a longer text is no number.
const MaxTypedNumber = 40

// MaxTypedHandle bounds the length of a handle typed as text (an email
// address is at most 254 characters); a longer text is no handle.
const MaxTypedHandle = 254

// handleRef is one room's published video handle, as OfficialOn looks it up.
type handleRef struct {
	room    int
	channel gateway.Channel
	handle  string // as published, trimmed
	e164    string // the handle in E.164 form when it is written so ('+…')
	phone   bool   // it is written as a number: read it in the region asked
}

// handleRefs lists the rooms' video handles, room by room in file order,
// channels by name within a room.
func handleRefs(rooms []gateway.Room) []handleRef {
	var out []handleRef
	for i, r := range rooms {
		chans := make([]gateway.Channel, 0, len(r.Handles))
		for c := range r.Handles {
			chans = append(chans, c)
		}
		slices.Sort(chans)
		for _, c := range chans {
			h := strings.TrimSpace(r.Handles[c])
			if h == "" {
				continue
			}
			ref := handleRef{room: i, channel: c, handle: h, phone: phoneLike(h)}
			if ref.phone && strings.HasPrefix(h, "+") {
				ref.e164, _ = readNumber(h, "", false)
			}
			out = append(out, ref)
		}
	}
	return out
}

// phoneLike reports whether s is written with nothing but what a phone
// number is written with (readNumber's alphabet).
func phoneLike(s string) bool {
	return s != "" && strings.Trim(s, "0123456789+ -().") == "" && strings.ContainsAny(s, "0123456789")
}

// videoHandles returns t's video handles, indexing them on first use.
func (t *table) videoHandles() []handleRef {
	t.handlesOnce.Do(func() { t.handles = handleRefs(t.rooms) })
	return t.handles
}

// number returns the handle in E.164 form when it is a phone number, read
// in region when it is written without its country code; "" when not.
func (h handleRef) number(region string) string {
	if h.e164 != "" || !h.phone || strings.HasPrefix(h.handle, "+") {
		return h.e164
	}
	n, _ := readNumber(h.handle, region, false)
	return n
}

// OfficialOn returns the room that the number or handle typed is an
// official way to reach, the channel it is the room's on (gateway.VoiceLine for the
// room's published number, the handle's channel for one of its published
// video handles) and, when it is a phone number, the number in E.164 form.
//
// A number is read in every notation Official reads, and matched exactly
// against the published numbers first, then against the video handles
// that are phone numbers (a WhatsApp number), each read in region too; a
// handle need only be a number of a possible length, not one assigned. A
// text that is no number (a FaceTime email address) is matched against
// the handles that are not phone numbers, exactly but for case and the
// spaces around it. Anything else is not official: a near miss, a
// device's own SIM number or handle, the supervisor desk's number unless
// the room publishes it as a handle.
func (s *Set) OfficialOn(typed, region string) (room gateway.Room, channel gateway.Channel, number string, ok bool) {
	t := s.tab()
	// A handle need not be a number assigned to anyone yet (a WhatsApp
	// number in the 07700 900 range is not): read the typed number as one
	// possible, then match it exactly.
	if n, isNumber := readNumber(typed, region, false); isNumber {
		if i, ok := t.byNumber[n]; ok {
			return cloneRoom(t.rooms[i]), gateway.VoiceLine, n, true
		}
		for _, h := range t.videoHandles() {
			if h.number(region) == n {
				return cloneRoom(t.rooms[h.room]), h.channel, n, true
			}
		}
		return gateway.Room{}, "", "", false
	}
	typed = strings.TrimSpace(typed)
	if typed == "" || len(typed) > MaxTypedHandle || !utf8.ValidString(typed) {
		return gateway.Room{}, "", "", false
	}
	for _, h := range t.videoHandles() {
		if strings.EqualFold(h.handle, typed) && h.number(region) == "" {
			return cloneRoom(t.rooms[h.room]), h.channel, "", true
		}
	}
	return gateway.Room{}, "", "", false
}

// Official returns the room whose published number is the number typed, in
// any notation a person writes it: "020 7946 0101", "+44 20 7946 0101",
// "0044 20 7946 0101", "(020) 7946-0101". A number without its country code
// is read as a number of region (an ISO 3166 code, DefaultRegion when
// empty). Only the published numbers are official: a near miss, a device's
// own SIM number or the supervisor desk's number is not. It reports false
// for anything it cannot read as a number. OfficialOn also knows the
// rooms' video handles.
func (s *Set) Official(typed, region string) (gateway.Room, bool) {
	n, ok := ParseTyped(typed, region)
	if !ok {
		return gateway.Room{}, false
	}
	t := s.tab()
	i, ok := t.byNumber[n]
	if !ok {
		return gateway.Room{}, false
	}
	return cloneRoom(t.rooms[i]), true
}

// ParseTyped reads a phone number as a person types it and returns it in
// E.164 form, and whether it is a valid number. A number without its
// country code is read as a number of region (DefaultRegion when empty).
func ParseTyped(typed, region string) (string, bool) {
	return readNumber(typed, region, true)
}

// readNumber is ParseTyped; when valid is false it takes a number of a
// possible length for its region that is not (yet) a valid one too.
func readNumber(typed, region string, valid bool) (string, bool) {
	typed = strings.TrimSpace(typed)
	if typed == "" || len(typed) > MaxTypedNumber || !utf8.ValidString(typed) {
		return "", false
	}
	for _, r := range typed {
		// Digits, the separators people write, and '+': nothing else, so
		// that letters (phonenumbers reads "0800 FLOWERS" as digits) and
		// extensions are not taken for a number.
		if !strings.ContainsRune("0123456789+ -().", r) {
			return "", false
		}
	}
	if region == "" {
		region = DefaultRegion
	}
	n, err := phonenumbers.Parse(typed, strings.ToUpper(region))
	if err != nil || (valid && !phonenumbers.IsValidNumber(n)) || (!valid && !phonenumbers.IsPossibleNumber(n)) {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}
