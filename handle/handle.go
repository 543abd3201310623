// Package handle checks the handles by which officers and ops-room devices
// are reached on a channel: E.164 telephone numbers (by libphonenumber's
// numbering plans), e-mail addresses and app user names. The adapter
// packages' channel descriptors pick their channel's check from these; the
// HTTP layer checks devices' SIM numbers with E164.
//
// Every check takes a handle already trimmed and returns it normalised, or
// EINVALID with a message that does not repeat it.
package handle

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/safeconnection/gateway"
)

// MaxLen is the longest handle, in characters.
const MaxLen = 254

var e164Shape = regexp.MustCompile(`^\+[1-9][0-9]{5,14}$`)

// fictionalUK is Ofcom's range of UK mobile numbers reserved for drama and
// testing (07700 900000 to 900999). libphonenumber does not list it as
// valid, but it can reach no one, and demos and tests use it.
var fictionalUK = regexp.MustCompile(`^\+447700900[0-9]{3}$`)

// E164 requires s to be a valid E.164 number: '+' then digits, a real
// number by the numbering plan of its country (or one of Ofcom's fictional
// mobile numbers, +447700900000 to +447700900999). EINVALID.
func E164(s string) (string, error) {
	if !e164Shape.MatchString(s) {
		return "", gateway.Errorf(gateway.EINVALID, "must be an E.164 number: '+', the country code and the number, digits only (+447911123456)")
	}
	if fictionalUK.MatchString(s) {
		return s, nil
	}
	num, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", gateway.Errorf(gateway.EINVALID, "is not a valid phone number")
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// Email requires s to be a bare e-mail address. EINVALID.
func Email(s string) (string, error) {
	if len(s) > MaxLen || !Printable(s) || strings.ContainsAny(s, " <>") {
		return "", gateway.Errorf(gateway.EINVALID, "is not an e-mail address")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", gateway.Errorf(gateway.EINVALID, "is not an e-mail address")
	}
	return s, nil
}

// UserName requires s to be an e-mail address or an app's user name: 1 to
// MaxLen printable characters. EINVALID.
func UserName(s string) (string, error) {
	if utf8.RuneCountInString(s) > MaxLen || !Printable(s) {
		return "", gateway.Errorf(gateway.EINVALID, "must be an e-mail address or a user name of 1 to %d printable characters", MaxLen)
	}
	return s, nil
}

// Printable reports whether s is valid UTF-8 of printable characters only.
func Printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}
