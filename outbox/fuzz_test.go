package outbox_test

import (
	"encoding/base64"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/outbox"
)

// FuzzParseSecret: a secret from the configuration parses to a key of 24
// to 64 bytes, or is refused with EINVALID; never a panic.
func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{"", outbox.SecretPrefix, outbox.SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 32)),
		base64.StdEncoding.EncodeToString(make([]byte, 64)), outbox.SecretPrefix + "%%%", outbox.SecretPrefix + "QUJD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := outbox.ParseSecret(s)
		if err != nil {
			if gateway.ErrorCode(err) != gateway.EINVALID {
				t.Fatalf("ParseSecret(%q): code %s, want EINVALID", s, gateway.ErrorCode(err))
			}
			return
		}
		if len(key) < 24 || len(key) > 64 {
			t.Fatalf("ParseSecret(%q) gave a key of %d bytes", s, len(key))
		}
	})
}
