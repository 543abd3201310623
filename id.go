package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// ReferenceAlphabet holds the characters of a public reference: upper-case
// letters and digits with none that can be mistaken for another when read
// aloud or written down (no 0/O, 1/I/L, 2/Z, 5/S, 8/B, U/V).
const ReferenceAlphabet = "ACDEFGHJKMNPQRTWXY34679"

// NewID returns a random identifier with the prefix: "v_" for verifications,
// "a_" for attempts, "d_" for devices, "o_" for orders, "t_" for tokens.
func NewID(prefix string) string {
	var b [10]byte
	rand.Read(b[:])
	return prefix + strings.ToLower(hex.EncodeToString(b[:]))
}

// NewReference returns a public reference: eight characters from
// ReferenceAlphabet in two groups, "K7QX-M4TR".
func NewReference() string {
	var b [8]byte
	rand.Read(b[:])
	out := make([]byte, 0, 9)
	for i, c := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, ReferenceAlphabet[int(c)%len(ReferenceAlphabet)])
	}
	return string(out)
}

// NormalizeReference upper-cases a reference as typed by a member of the
// public and drops spaces and dashes, then puts the dash back; it returns ""
// when what is left cannot be a reference.
func NormalizeReference(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == ' ' || r == '-':
			continue
		case strings.ContainsRune(ReferenceAlphabet, r):
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != 8 {
		return ""
	}
	t := b.String()
	return t[:4] + "-" + t[4:]
}

// NewSecret returns a random secret for a credential, and the hash to store.
func NewSecret() (secret, hash string) {
	var b [24]byte
	rand.Read(b[:])
	secret = "sc_" + hex.EncodeToString(b[:])
	return secret, HashSecret(secret)
}

// HashSecret returns the hex SHA-256 of a credential's secret, as stored.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
