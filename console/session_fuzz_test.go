package console

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// tokenStore is a Store that knows one credential.
type tokenStore struct {
	Store
	tok gateway.Token
}

func (s tokenStore) Token(_ context.Context, id string) (gateway.Token, error) {
	if id != s.tok.ID {
		return gateway.Token{}, gateway.Errorf(gateway.ENOTFOUND, "no token %q", id)
	}
	return s.tok, nil
}

// FuzzSessionCookie feeds the session cookie's decoder what a browser may
// send: it never panics, and accepts only a value it signed itself.
func FuzzSessionCookie(f *testing.F) {
	now := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
	c := &Console{Key: []byte("console-key-for-fuzzing-0123456789abcdef"), Now: func() time.Time { return now },
		Store: tokenStore{tok: gateway.Token{ID: "t_1", Role: gateway.RoleSupervisor, Name: "PS 42"}}}
	good := c.sign("s1|t_1|" + "1796360400" + "|" + "00112233445566778899aabbccddeeff")
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(c.sign("s1|t_1|1|x"))                                            // expired
	f.Add(c.sign("s1|t_2|1796360400|x"))                                   // another credential
	f.Add(c.sign("p1|1796360400|x"))                                       // a sign-in form's cookie
	f.Add(c.sign("s1|t_1|1796360400|x|y"))                                 // a field too many
	f.Add(c.sign("s2|t_1|1796360400|0|00112233445566778899aabbccddeeff"))  // the current form
	f.Add(c.sign("s2|t_1|1796360400|-1|00112233445566778899aabbccddeeff")) // a negative count
	f.Add(c.sign("s2|t_1|1796360400|x|00112233445566778899aabbccddeeff"))  // a count that is no number
	f.Add("czF8dF8xfDE3OTYzNjA0MDB8eA.AAAA")                               // unsigned
	f.Add("")
	f.Add(".")
	f.Add("%%%.%%%")
	f.Fuzz(func(t *testing.T, value string) {
		r, _ := http.NewRequest("GET", "/console/rooms", nil)
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: value})
		s, err := c.readSession(r)
		if err != nil {
			if gateway.ErrorCode(err) != gateway.EUNAUTHORIZED {
				t.Fatalf("readSession(%q): %v, want unauthorized", value, err)
			}
			return
		}
		// The value the server read (the cookie jar's quoting aside) is
		// exactly one the console signed.
		read := r.Cookies()[0].Value
		payload, ok := c.unsign(read)
		if !ok || c.sign(payload) != read || s.TokenID != "t_1" || !now.Before(s.Expires) {
			t.Fatalf("readSession(%q) accepted %+v", value, s)
		}
	})
}
