package rooms

import (
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

// Official returns the room whose published number is the number typed, in
// any notation a person writes it: "020 7946 0101", "+44 20 7946 0101",
// "0044 20 7946 0101", "(020) 7946-0101". A number without its country code
// is read as a number of region (an ISO 3166 code, DefaultRegion when
// empty). Only the published numbers are official: a near miss, a device's
// own SIM number or the supervisor desk's number is not. It reports false
// for anything it cannot read as a number.
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
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}
