package httpapi

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
)

// The public's pages are in English and in Welsh (a force in Wales must
// offer its public services in Welsh). Every word they show comes from a
// message file, one a language, that a force may correct:
// public/messages/en.json and public/messages/cy.json, each a flat map of
// a key to its text. A text may hold <strong>…</strong> and links to the
// gateway's own pages (<a href="/numbers">…</a>), and the names in braces
// ({room}, {number}) that the page fills in; the page escapes what it fills
// in. JSON answers are in neither: their values are machine-readable and
// stay English.

// Lang is a language the public's pages are in.
type Lang string

// The languages of the public's pages; English is the default.
const (
	LangEnglish Lang = "en"
	LangWelsh   Lang = "cy"
)

// Langs are the public's pages' languages, English first.
var Langs = []Lang{LangEnglish, LangWelsh}

// HTML is the language's tag for <html lang>.
func (l Lang) HTML() string {
	if l == LangWelsh {
		return "cy"
	}
	return "en-GB"
}

// other is the language the page's switch offers.
func (l Lang) other() Lang {
	if l == LangWelsh {
		return LangEnglish
	}
	return LangWelsh
}

// LangCookie is the cookie that keeps the language she chose with the
// page's switch (?lang=cy, ?lang=en), for a year.
const LangCookie = "lang"

// langMatcher matches Accept-Language to the pages' languages; English
// when nothing matches.
var langMatcher = language.NewMatcher([]language.Tag{language.BritishEnglish, language.MustParse("cy")})

// parseLang reads a language as ?lang= and the cookie give it.
func parseLang(s string) (Lang, bool) {
	switch Lang(strings.ToLower(strings.TrimSpace(s))) {
	case LangEnglish:
		return LangEnglish, true
	case LangWelsh:
		return LangWelsh, true
	}
	return "", false
}

// RequestLang returns the language r's page is in: ?lang= (the page's
// switch), else the lang cookie, else the best match of Accept-Language
// (English by default); chosen reports whether it was chosen on the page
// (the query or the cookie) rather than by the browser.
func RequestLang(r *http.Request) (lang Lang, chosen bool) {
	if l, ok := parseLang(r.URL.Query().Get("lang")); ok {
		return l, true
	}
	if c, err := r.Cookie(LangCookie); err == nil {
		if l, ok := parseLang(c.Value); ok {
			return l, true
		}
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return LangEnglish, false
	}
	if _, i, conf := langMatcher.Match(tags...); conf != language.No && i == 1 {
		return LangWelsh, false
	}
	return LangEnglish, false
}

// setLang prepares w's headers for a page in a language: it keeps the
// language chosen by the query in the lang cookie, and says the page
// varies with the header and the cookie.
func setLang(w http.ResponseWriter, r *http.Request, lang Lang) {
	h := w.Header()
	h.Add("Vary", "Accept-Language, Cookie")
	h.Set("Content-Language", lang.HTML())
	if l, ok := parseLang(r.URL.Query().Get("lang")); ok {
		http.SetCookie(w, &http.Cookie{Name: LangCookie, Value: string(l), Path: "/", MaxAge: 365 * 24 * 60 * 60,
			HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	}
}

// switchURL is the page's own address in the other language, relative to
// it: its query with ?lang= set ("?lang=cy", "?number=…&lang=cy"); bare,
// only ?lang=, for a page that must be the same whatever was typed (no
// receipt, a live link that does not work).
func switchURL(r *http.Request, to Lang, bare bool) string {
	q := url.Values{}
	if !bare {
		q = r.URL.Query()
	}
	q.Set("lang", string(to))
	return "?" + q.Encode()
}

// publicMessages are the message files' texts, by language and key.
var publicMessages = func() map[Lang]map[string]string {
	out := map[Lang]map[string]string{}
	for _, l := range Langs {
		b, err := publicFiles.ReadFile("public/messages/" + string(l) + ".json")
		if err != nil {
			panic("httpapi: the " + string(l) + " messages are not embedded: " + err.Error())
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			panic("httpapi: public/messages/" + string(l) + ".json: " + err.Error())
		}
		out[l] = m
	}
	return out
}()

// placeholder is a name in braces in a message: {room}.
var placeholder = regexp.MustCompile(`\{([a-z_]+)\}`)

// message returns the text of key in lang with its placeholders filled
// in from args (name, value, name, value…), each value escaped for HTML
// when html (but a template.HTML, which goes in as it is). An error for a
// key the language has not, a placeholder without its value, or args
// that are not pairs: a page renders whole in one language, or not at all.
func message(lang Lang, html bool, key string, args ...any) (string, error) {
	text, ok := publicMessages[lang][key]
	if !ok {
		return "", fmt.Errorf("no message %q in public/messages/%s.json", key, lang)
	}
	if len(args)%2 != 0 {
		return "", fmt.Errorf("message %q: its values are not in name, value pairs", key)
	}
	vals := map[string]string{}
	for i := 0; i < len(args); i += 2 {
		name, ok := args[i].(string)
		if !ok {
			return "", fmt.Errorf("message %q: a value's name is %v, not a string", key, args[i])
		}
		var v string
		switch a := args[i+1].(type) {
		case template.HTML:
			v = string(a)
			if !html {
				return "", fmt.Errorf("message %q: HTML in {%s}, in text", key, name)
			}
		case string:
			v = a
		case int:
			v = strconv.Itoa(a)
		case int64:
			v = strconv.FormatInt(a, 10)
		default:
			v = fmt.Sprint(a)
		}
		if _, isHTML := args[i+1].(template.HTML); html && !isHTML {
			v = template.HTMLEscapeString(v)
		}
		vals[name] = v
	}
	var missing []string
	out := placeholder.ReplaceAllStringFunc(text, func(m string) string {
		name := m[1 : len(m)-1]
		v, ok := vals[name]
		if !ok {
			missing = append(missing, m)
		}
		return v
	})
	if missing != nil {
		return "", fmt.Errorf("message %q in %s: no value for %s", key, lang, strings.Join(missing, ", "))
	}
	return out, nil
}

// langFuncs are the templates' functions in lang:
//
//	{{t "key" "name" value…}}  the message, as HTML (its own markup kept)
//	{{tx "key"}}               the message as plain text, for an attribute
//	{{when .Time}}             a receipt's time, as people say it
//	{{tag "span" "class" v}}   v in <span class="class">, to fill a message in
func langFuncs(lang Lang) template.FuncMap {
	return template.FuncMap{
		"t": func(key string, args ...any) (template.HTML, error) {
			s, err := message(lang, true, key, args...)
			return template.HTML(s), err
		},
		"tx": func(key string, args ...any) (string, error) {
			s, err := message(lang, false, key, args...)
			if err == nil && strings.ContainsAny(s, "<>") {
				err = fmt.Errorf("message %q in %s has markup, where only text may go", key, lang)
			}
			return s, err
		},
		"when": func(t time.Time) (string, error) { return receiptTime(lang, t) },
		"tag":  markupTag,
		"tel":  telLink,
		"join": func(s []string) string { return strings.Join(s, ", ") },
	}
}

// markupTag is text in a <span> or <strong> of a class, to fill a
// message's placeholder in.
func markupTag(name, class, text string) (template.HTML, error) {
	if name != "span" && name != "strong" {
		return "", fmt.Errorf("tag: no <%s> in a message", name)
	}
	return template.HTML("<" + name + ` class="` + template.HTMLEscapeString(class) + `">` +
		template.HTMLEscapeString(text) + "</" + name + ">"), nil
}

// telLink is a number to call, as a link: the number as people dial it.
func telLink(e164 string) template.HTML {
	return template.HTML(`<a class="number" href="tel:` + template.HTMLEscapeString(e164) + `">` +
		template.HTMLEscapeString(nationalNumber(e164)) + "</a>")
}

// receiptTime says a receipt's time as people say it in lang: "Thursday
// 3 December 2026, about 2:35 pm".
func receiptTime(lang Lang, t time.Time) (string, error) {
	day, err := message(lang, false, "day."+strings.ToLower(t.Weekday().String()))
	if err != nil {
		return "", err
	}
	month, err := message(lang, false, "month."+strings.ToLower(t.Month().String()))
	if err != nil {
		return "", err
	}
	ampm, err := message(lang, false, "time."+strings.ToLower(t.Format("PM")))
	if err != nil {
		return "", err
	}
	date, err := message(lang, false, "time.date", "weekday", day, "day", t.Day(), "month", month, "year", t.Year())
	if err != nil {
		return "", err
	}
	clock, err := message(lang, false, "time.clock", "hour", t.Format("3"), "minute", t.Format("04"), "ampm", ampm)
	if err != nil {
		return "", err
	}
	return message(lang, false, "time.when", "date", date, "time", clock)
}

// publicPages are the public's pages, parsed once in each language.
var publicPages = func() map[Lang]*template.Template {
	out := map[Lang]*template.Template{}
	for _, l := range Langs {
		funcs := langFuncs(l)
		funcs["national"] = nationalNumber
		out[l] = template.Must(template.New("").Funcs(funcs).ParseFS(publicFiles, "public/*.html"))
	}
	return out
}()
