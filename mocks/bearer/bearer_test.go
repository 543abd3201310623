package bearer

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func request(auth string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

func TestTokens(t *testing.T) {
	var tk Tokens
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if tk.Valid(request("Bearer a"), now) {
		t.Fatal("a token never issued is valid")
	}
	if ttl := tk.Issue("a", 0, now); ttl != DefaultTTL {
		t.Fatalf("default lifetime %v", ttl)
	}
	if ttl := tk.Issue("b", time.Minute, now); ttl != time.Minute {
		t.Fatalf("lifetime %v", ttl)
	}
	for _, c := range []struct {
		auth string
		at   time.Time
		want bool
	}{
		{"Bearer a", now.Add(59 * time.Minute), true},
		{"Bearer a", now.Add(time.Hour), false},
		{"Bearer b", now.Add(59 * time.Second), true},
		{"Bearer b", now.Add(time.Minute), false},
		{"a", now, false},
		{"Basic a", now, false},
		{"", now, false},
	} {
		if got := tk.Valid(request(c.auth), c.at); got != c.want {
			t.Errorf("%q at +%v: valid %v, want %v", c.auth, c.at.Sub(now), got, c.want)
		}
	}
	tk.Expire()
	if tk.Valid(request("Bearer a"), now) || tk.Valid(request("Bearer b"), now) {
		t.Fatal("a token outlived Expire")
	}
	tk.Issue("c", time.Minute, now)
	if !tk.Valid(request("Bearer c"), now) {
		t.Fatal("a token issued after Expire is not valid")
	}
}
