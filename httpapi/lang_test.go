package httpapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
)

// langEnv is the public's pages with the live check on.
func langEnv(t *testing.T) (get func(path string, h map[string]string) response, live *httpapi.Live, finish func() gateway.Verification) {
	t.Helper()
	live = &httpapi.Live{Key: []byte("a test key of the live check links"), BaseURL: "https://police.example.org/"}
	env := httpapitest.New(t, func(s *httpapi.Server) {
		publicServer(t, s, nil)
		s.Public.Live = live
	})
	return func(path string, h map[string]string) response {
			t.Helper()
			return do(t, env, call{method: "GET", path: path, header: h})
		}, live, func() gateway.Verification {
			return finished(t, env, &gateway.Outcome{Result: gateway.OutcomeVerified, Supervisor: "PS 42", At: time.Now()}, time.Now())
		}
}

// wantLang fails unless the page is in the language: its <html lang>, its
// title, its Content-Language, and Vary naming what chose it.
func wantLang(t *testing.T, r response, lang httpapi.Lang, title string) {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	tag := map[httpapi.Lang]string{httpapi.LangEnglish: "en-GB", httpapi.LangWelsh: "cy"}[lang]
	if !bytes.Contains(r.body, []byte(`<html lang="`+tag+`">`)) || !bytes.Contains(r.body, []byte("<title>"+title+" – Metropolitan Police</title>")) {
		t.Errorf("want a page in %s, titled %q:\n%.600s", lang, title, r.body)
	}
	if got := r.header.Get("Content-Language"); got != tag {
		t.Errorf("Content-Language %q, want %q", got, tag)
	}
	if v := strings.Join(r.header.Values("Vary"), ", "); !strings.Contains(v, "Accept-Language") || !strings.Contains(v, "Cookie") {
		t.Errorf("Vary %q, want Accept-Language and Cookie", v)
	}
}

// TestPagesInWelsh: Accept-Language chooses the language of the pages
// (Welsh for cy; English when Welsh is less wanted, or nothing matches),
// ?lang= and its cookie win over it, and ?lang= sets the cookie.
func TestPagesInWelsh(t *testing.T) {
	get, _, _ := langEnv(t)
	en, cy := httpapi.LangEnglish, httpapi.LangWelsh
	for _, c := range []struct {
		path   string
		header map[string]string
		lang   httpapi.Lang
		title  string
	}{
		{"/numbers", nil, en, "Official numbers"},
		{"/numbers", map[string]string{"Accept-Language": "cy"}, cy, "Rhifau swyddogol"},
		{"/numbers", map[string]string{"Accept-Language": "cy-GB,cy;q=0.9,en-GB;q=0.8"}, cy, "Rhifau swyddogol"},
		{"/numbers", map[string]string{"Accept-Language": "cy;q=0.1, en"}, en, "Official numbers"},
		{"/numbers", map[string]string{"Accept-Language": "fr-FR"}, en, "Official numbers"},
		{"/numbers?lang=cy", map[string]string{"Accept-Language": "en-GB"}, cy, "Rhifau swyddogol"},
		{"/numbers?lang=en", map[string]string{"Accept-Language": "cy", "Cookie": "lang=cy"}, en, "Official numbers"},
		{"/numbers", map[string]string{"Accept-Language": "en-GB", "Cookie": "lang=cy"}, cy, "Rhifau swyddogol"},
		{"/numbers", map[string]string{"Accept-Language": "cy", "Cookie": "lang=en"}, en, "Official numbers"},
		{"/receipt", map[string]string{"Accept-Language": "cy"}, cy, "Gwirio derbynneb"},
		{"/live", map[string]string{"Accept-Language": "cy"}, cy, "Gwiriad byw"},
		{"/numbers/check?number=020+7946+0101", map[string]string{"Accept-Language": "cy"}, cy, "Gwirio rhif"},
	} {
		r := get(c.path, c.header)
		wantLang(t, r, c.lang, c.title)
		cookie := r.header.Get("Set-Cookie")
		if strings.Contains(c.path, "lang=") {
			want := "lang=" + strings.SplitN(c.path, "lang=", 2)[1]
			for _, part := range []string{want, "Path=/", "Max-Age=31536000", "HttpOnly", "SameSite=Lax"} {
				if !strings.Contains(cookie, part) {
					t.Errorf("%s: Set-Cookie %q, want %s", c.path, cookie, part)
				}
			}
		} else if cookie != "" {
			t.Errorf("%s: a cookie %q without ?lang=", c.path, cookie)
		}
	}

	// The number check's answer in Welsh.
	r := get("/numbers/check?number=020+7946+0101", map[string]string{"Accept-Language": "cy"})
	if text := pageText(r.body); !strings.Contains(text, "Ydy, mae hwn yn rhif swyddogol") || !strings.Contains(text, "Ffoniwch 999") && !strings.Contains(text, "ffoniwch 999") {
		t.Errorf("the number check in Welsh:\n%s", text)
	}
	r = get("/numbers/check?number=07700+900123", map[string]string{"Accept-Language": "cy"})
	if text := pageText(r.body); !strings.Contains(text, "Nac ydy, nid yw hwn yn rhif swyddogol") {
		t.Errorf("a number that is not official, in Welsh:\n%s", text)
	}
}

// TestLanguageSwitch: every page offers the other language, on its own
// address; a language chosen on the page goes with its forms.
func TestLanguageSwitch(t *testing.T) {
	get, _, _ := langEnv(t)
	r := get("/numbers/check?number=020+7946+0101", nil)
	if !bytes.Contains(r.body, []byte(`<a href="?lang=cy&amp;number=020&#43;7946&#43;0101" lang="cy" hreflang="cy" id="lang-switch">Cymraeg</a>`)) {
		t.Errorf("no switch to Welsh on the same page:\n%s", r.body)
	}
	r = get("/numbers", map[string]string{"Accept-Language": "cy"})
	if !bytes.Contains(r.body, []byte(`<a href="?lang=en" lang="en-GB" hreflang="en-GB" id="lang-switch">English</a>`)) {
		t.Errorf("no switch to English:\n%s", r.body)
	}
	// Chosen by the browser: the forms need not say it.
	if bytes.Contains(r.body, []byte(`name="lang"`)) {
		t.Errorf("a language the browser chose is in the form:\n%s", r.body)
	}
	for _, path := range []string{"/numbers", "/receipt", "/live"} {
		for _, h := range []map[string]string{{"Cookie": "lang=cy"}, nil} {
			p := path
			if h == nil {
				p += "?lang=cy"
			}
			if r := get(p, h); !bytes.Contains(r.body, []byte(`<input type="hidden" name="lang" value="cy">`)) {
				t.Errorf("%s (%v): the form does not keep the language chosen:\n%s", p, h, r.body)
			}
		}
	}
	// A receipt not found: the switch carries nothing of what was typed.
	r = get("/receipt/ZZZZ-ZZZZ?x=1", nil)
	if !bytes.Contains(r.body, []byte(`<a href="?lang=cy" lang="cy"`)) {
		t.Errorf("the switch of a receipt not found:\n%s", r.body)
	}
}

// TestReceiptAndLiveInWelsh: a receipt and the live check in Welsh, the
// live check's event stream in the page's language; their JSON is the
// same in every language.
func TestReceiptAndLiveInWelsh(t *testing.T) {
	get, live, fin := langEnv(t)
	v := fin()
	cy := map[string]string{"Accept-Language": "cy"}
	r := get("/receipt/"+v.Reference, cy)
	wantLang(t, r, httpapi.LangWelsh, "Derbynneb")
	text := pageText(r.body)
	for _, want := range []string{"Cafodd y swyddog ei ddilysu", "Canlyniad wedi'i ddilysu", "Heddlu Metropolitan Police", "Rhif coler y swyddog " + testCollar, "Goruchwyliwr PS 42", ", tua ", "Ffoniwch 999"} {
		if !strings.Contains(text, want) && !strings.Contains(text, strings.ToLower(want[:1])+want[1:]) {
			t.Errorf("the receipt in Welsh does not say %q:\n%s", want, text)
		}
	}
	for _, path := range []string{"/receipt/" + v.Reference, "/numbers", "/v1/numbers", "/v1/numbers/check?number=020+7946+0101", "/live/" + live.Token(v.ID)} {
		a := get(path, jsonHeader())
		b := get(path, map[string]string{"Accept": "application/json", "Accept-Language": "cy", "Cookie": "lang=cy"})
		if a.status != http.StatusOK || !bytes.Equal(a.body, b.body) {
			t.Errorf("%s: the JSON differs in Welsh (%d):\n%s\n%s", path, a.status, a.body, b.body)
		}
	}

	page := get("/live/"+live.Token(v.ID), cy)
	wantLang(t, page, httpapi.LangWelsh, "Gwiriad byw")
	if !bytes.Contains(page.body, []byte(`data-events="/live/`+live.Token(v.ID)+`/events?lang=cy"`)) ||
		!bytes.Contains(page.body, []byte(`data-ended="Mae&#39;r gwiriad wedi dod i ben."`)) {
		t.Errorf("the live page's stream and script are not in Welsh:\n%s", page.body)
	}
	for lang, want := range map[string]string{"cy": "Cafodd y swyddog ei <strong>ddilysu</strong> gan ystafell reoli Central West.", "en": "The officer was <strong>verified</strong> by the Central West operations room."} {
		events := get("/live/"+live.Token(v.ID)+"/events?lang="+lang, map[string]string{"Accept-Language": "cy"})
		if events.status != http.StatusOK || !bytes.Contains(events.body, []byte("data: "+`<p class="outcome stage" data-stage="verified">`+want+"</p>")) {
			t.Errorf("the event stream in %s: %d\n%s", lang, events.status, events.body)
		}
	}
	// The stream without ?lang= reads the cookie, as the page did.
	events := get("/live/"+live.Token(v.ID)+"/events", map[string]string{"Cookie": "lang=cy"})
	if !bytes.Contains(events.body, []byte("Cafodd y swyddog ei")) {
		t.Errorf("the event stream with the cookie:\n%s", events.body)
	}
	// A link that does not work: one answer, in Welsh too.
	r1 := get("/live/v_0123456789abcdef0123.AAAAAAAAAAAAAAAAAAAAAA", cy)
	r2 := get("/live/v_1.BBBBBBBBBBBBBBBBBBBBBB", cy)
	if r1.status != http.StatusNotFound || !bytes.Equal(r1.body, r2.body) || !bytes.Contains(r1.body, []byte("Mae&#39;r gwiriad byw hwn wedi dod i ben")) && !bytes.Contains(r1.body, []byte("Mae'r gwiriad byw hwn wedi dod i ben")) {
		t.Errorf("a live link that does not work, in Welsh: %d\n%s", r1.status, r1.body)
	}
}
