package httpapi

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var testLive = &Live{Key: []byte("a test key of the live check links"), BaseURL: "https://police.example.org/"}

// TestCheckWordsList: the words are plain (lower-case letters, 3 to 10 of
// them), distinct, and there are 256.
func TestCheckWordsList(t *testing.T) {
	words := CheckWords()
	plain := regexp.MustCompile(`^[a-z]{3,10}$`)
	seen := map[string]bool{}
	for _, w := range words {
		if !plain.MatchString(w) || seen[w] {
			t.Errorf("the word %q is not plain, or is there twice", w)
		}
		seen[w] = true
	}
	if len(words) != 256 {
		t.Errorf("%d words, want 256", len(words))
	}
}

// TestCheckWords: a verification's word is its own, the same each time and
// on every instance with the key, drawn from the list with two digits,
// another key's another, and 1,000 verifications' words nearly all
// different.
func TestCheckWords(t *testing.T) {
	shape := regexp.MustCompile(`^([a-z]+) ([1-9][0-9])$`)
	seen := map[string]int{}
	for i := 0; i < 1000; i++ {
		id := fmt.Sprintf("v_%020d", i)
		w := testLive.Word(id)
		m := shape.FindStringSubmatch(w)
		if m == nil || !slices.Contains(CheckWords(), m[1]) {
			t.Fatalf("the word %q of %s", w, id)
		}
		if again := (&Live{Key: testLive.Key}).Word(id); again != w {
			t.Fatalf("the word of %s is %q, then %q", id, w, again)
		}
		seen[w]++
	}
	if len(seen) < 950 {
		t.Errorf("1,000 verifications drew %d different words, want at least 950", len(seen))
	}
	if other := (&Live{Key: []byte("another key")}).Word("v_1"); other == testLive.Word("v_1") {
		t.Logf("two keys drew the same word for one verification (one chance in 23,040)")
	}
	if (&Live{}).Word("v_1") != "" || (*Live)(nil).URL("v_1") != "" {
		t.Error("a gateway without the live check makes words or links")
	}
}

// TestLiveTokens: a link's token names its verification and carries 128
// bits; any other token (a character changed, another key's, another
// verification's MAC, a non-canonical encoding) is refused.
func TestLiveTokens(t *testing.T) {
	id := "v_0123456789abcdef0123"
	tok := testLive.Token(id)
	if got, ok := testLive.verify(tok); !ok || got != id {
		t.Fatalf("the token %q verifies as %q, %v", tok, got, ok)
	}
	if u := testLive.URL(id); u != "https://police.example.org/live/"+tok {
		t.Errorf("the link %q", u)
	}
	if testLive.Host() != "police.example.org" {
		t.Errorf("the host %q", testLive.Host())
	}
	dot := strings.IndexByte(tok, '.')
	if n := len(tok) - dot - 1; n != 22 {
		t.Errorf("the MAC is %d characters, want 22 (128 bits)", n)
	}
	for i := range tok {
		for _, c := range []byte{'A', 'B', '_', '-', '.', '0'} {
			if tok[i] == c {
				continue
			}
			bad := tok[:i] + string(c) + tok[i+1:]
			if _, ok := testLive.verify(bad); ok {
				t.Errorf("the token with character %d changed to %q verifies: %q", i, c, bad)
			}
		}
	}
	other := (&Live{Key: []byte("another key")}).Token(id)
	swapped := "v_other" + tok[dot:]
	for _, bad := range []string{other, swapped, "", ".", id, id + ".", tok + "=", strings.Repeat("a", 200)} {
		if _, ok := testLive.verify(bad); ok {
			t.Errorf("the token %q verifies", bad)
		}
	}
}

// FuzzLiveToken: whatever token a client sends, verify never panics and
// accepts only the token the key makes for the ID it names.
func FuzzLiveToken(f *testing.F) {
	for _, seed := range []string{testLive.Token("v_1"), "v_1.AAAAAAAAAAAAAAAAAAAAAA", "v_1.", ".x", "", "v_1.%%%", "a.b.c",
		testLive.Token("v_1") + "A", strings.Repeat(".", 130)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, ok := testLive.verify(token)
		if ok && testLive.Token(id) != token {
			t.Fatalf("%q verifies as %q, whose token is %q", token, id, testLive.Token(id))
		}
	})
}
