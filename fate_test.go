package gateway_test

import (
	"testing"

	"github.com/safeconnection/gateway"
)

func TestParseFateRoundTrip(t *testing.T) {
	for _, f := range []gateway.Fate{gateway.NotPlaced, gateway.PlacedFailed, gateway.Unknown} {
		got, err := gateway.ParseFate(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFate(%q) = %v, %v", f.String(), got, err)
		}
		b, err := f.MarshalText()
		var back gateway.Fate
		if err != nil || back.UnmarshalText(b) != nil || back != f {
			t.Errorf("text round trip of %v: %q, %v -> %v", f, b, err, back)
		}
	}
	if _, err := gateway.ParseFate("maybe"); gateway.ErrorCode(err) != gateway.EINVALID {
		t.Errorf("ParseFate(maybe) = %v, want EINVALID", err)
	}
	if f, err := gateway.ParseFate(""); f != 0 || err != nil {
		t.Errorf("ParseFate(\"\") = %v, %v, want no fate", f, err)
	}
}
