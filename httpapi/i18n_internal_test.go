package httpapi

import (
	"bytes"
	"encoding/json"
	"html/template"
	"maps"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/template/parse"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/ledger"
)

// sameOnPurpose are the messages whose Welsh is the English: a sample
// reference, and patterns made only of placeholders.
var sameOnPurpose = map[string]bool{
	"form.reference.placeholder": true, // K7QX-M4TR
	"time.date":                  true, // {weekday} {day} {month} {year}
	"time.clock":                 true, // {hour}:{minute} {ampm}
}

// readMessageFile reads a message file key by key, failing on a key given
// twice (encoding/json would keep the last quietly) or a value that is not
// a string.
func readMessageFile(t *testing.T, lang Lang) map[string]string {
	t.Helper()
	name := "public/messages/" + string(lang) + ".json"
	b, err := publicFiles.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%s is not a JSON object: %v %v", name, tok, err)
	}
	out := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		key := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %s: %v", name, key, err)
		}
		s, ok := v.(string)
		if !ok {
			t.Errorf("%s: %s is %T, not text", name, key, v)
		}
		if _, dup := out[key]; dup {
			t.Errorf("%s: %s is given twice", name, key)
		}
		out[key] = s
	}
	return out
}

// markupTags are the tags a message may hold: strong, and links to the
// gateway's own pages.
var (
	anyTag     = regexp.MustCompile(`<[^>]*>`)
	allowedTag = regexp.MustCompile(`^(<strong>|</strong>|<a href="/[a-z/{}]*">|</a>)$`)
)

func placeholdersOf(s string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func tagsOf(s string) []string {
	out := anyTag.FindAllString(s, -1)
	sort.Strings(out)
	return out
}

// TestMessageFiles walks the two message files: the same keys in both,
// none given twice, no empty text, Welsh that is not the English (but
// where listed as the same on purpose), the same placeholders and the same
// markup in both languages, and no markup but <strong> and local links.
func TestMessageFiles(t *testing.T) {
	en, cy := readMessageFile(t, LangEnglish), readMessageFile(t, LangWelsh)
	if !maps.Equal(en, publicMessages[LangEnglish]) || !maps.Equal(cy, publicMessages[LangWelsh]) {
		t.Fatal("the embedded messages are not the files' texts")
	}
	for k := range en {
		if _, ok := cy[k]; !ok {
			t.Errorf("%s is in en.json, not in cy.json", k)
		}
	}
	for k := range cy {
		if _, ok := en[k]; !ok {
			t.Errorf("%s is in cy.json, not in en.json", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(en)) {
		e, c := en[k], cy[k]
		if strings.TrimSpace(e) == "" || strings.TrimSpace(c) == "" {
			t.Errorf("%s: an empty text (en %q, cy %q)", k, e, c)
			continue
		}
		if e == c && !sameOnPurpose[k] {
			t.Errorf("%s: the Welsh is the English, %q", k, c)
		}
		if pe, pc := placeholdersOf(e), placeholdersOf(c); !slices.Equal(pe, pc) {
			t.Errorf("%s: placeholders %v in English, %v in Welsh", k, pe, pc)
		}
		if te, tc := tagsOf(e), tagsOf(c); !slices.Equal(te, tc) {
			t.Errorf("%s: markup %v in English, %v in Welsh", k, te, tc)
		}
		for _, text := range []string{e, c} {
			for _, tag := range anyTag.FindAllString(text, -1) {
				if !allowedTag.MatchString(tag) {
					t.Errorf("%s: %s in %q: a message may hold only <strong> and links to the gateway's pages", k, tag, text)
				}
			}
			if n := len(anyTag.FindAllString(text, -1)); strings.Count(text, "<") != n || strings.Count(text, ">") != n {
				t.Errorf("%s: a stray < or > in %q", k, text)
			}
		}
	}
}

// templateKeys are the message keys the templates name in their t and tx
// calls; it fails on a call whose key is not written out, which no test
// could check.
func templateKeys(t *testing.T) map[string][]string {
	t.Helper()
	keys := map[string][]string{}
	var walk func(name string, n parse.Node)
	walk = func(name string, n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(name, c)
				}
			}
		case *parse.ActionNode:
			walk(name, n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(name, c)
				}
			}
		case *parse.CommandNode:
			if id, ok := n.Args[0].(*parse.IdentifierNode); ok && (id.Ident == "t" || id.Ident == "tx") {
				if len(n.Args) < 2 {
					t.Errorf("%s: %s without a key", name, n)
				} else if s, ok := n.Args[1].(*parse.StringNode); ok {
					keys[s.Text] = append(keys[s.Text], name)
				} else {
					t.Errorf("%s: %s: the key must be written out", name, n)
				}
			}
			for _, a := range n.Args {
				walk(name, a)
			}
		case *parse.IfNode:
			walk(name, n.Pipe)
			walk(name, n.List)
			walk(name, n.ElseList)
		case *parse.RangeNode:
			walk(name, n.Pipe)
			walk(name, n.List)
			walk(name, n.ElseList)
		case *parse.WithNode:
			walk(name, n.Pipe)
			walk(name, n.List)
			walk(name, n.ElseList)
		case *parse.TemplateNode:
			walk(name, n.Pipe)
		}
	}
	for _, tm := range publicPages[LangEnglish].Templates() {
		if tm.Tree != nil {
			walk(tm.Name(), tm.Tree.Root)
		}
	}
	return keys
}

// calendarKeys are the keys receiptTime looks up.
func calendarKeys() []string {
	out := []string{"time.when", "time.date", "time.clock", "time.am", "time.pm"}
	for d := time.Sunday; d <= time.Saturday; d++ {
		out = append(out, "day."+strings.ToLower(d.String()))
	}
	for m := time.January; m <= time.December; m++ {
		out = append(out, "month."+strings.ToLower(m.String()))
	}
	return out
}

// TestEveryKeyIsThere checks that every key a template, a title or the
// receipt's time uses is in both message files, and that no message is
// left that nothing uses.
func TestEveryKeyIsThere(t *testing.T) {
	used := templateKeys(t)
	if len(used) < 50 {
		t.Fatalf("found only %d keys in the templates: %v", len(used), slices.Sorted(maps.Keys(used)))
	}
	for page, key := range pageTitles {
		used[key] = append(used[key], page+"'s title")
	}
	for _, key := range calendarKeys() {
		used[key] = append(used[key], "receiptTime")
	}
	used["lang.switch"] = append(used["lang.switch"], "the switch")
	for _, key := range slices.Sorted(maps.Keys(used)) {
		for _, l := range Langs {
			if _, ok := publicMessages[l][key]; !ok {
				t.Errorf("%s (used by %v) is not in %s.json", key, used[key], l)
			}
		}
	}
	for key := range publicMessages[LangEnglish] {
		if _, ok := used[key]; !ok {
			t.Errorf("%s is in the message files, but nothing uses it", key)
		}
	}
	for name := range pageTitles {
		if publicPages[LangEnglish].Lookup(name) == nil {
			t.Errorf("pageTitles names %s, which is no template", name)
		}
	}
}

// pageCases are data for every public page and every branch of it.
func pageCases() map[string][2]any {
	page := func(name string, m map[string]any) [2]any {
		data := map[string]any{"Force": "Metropolitan Police", "LiveOn": true, "Title": "T", "LangChosen": true}
		for k, v := range m {
			data[k] = v
		}
		return [2]any{name, data}
	}
	apps := map[gateway.Channel]string{"whatsapp": "WhatsApp"}
	rooms := []NumberRoom{{ID: "AW", Name: "Central West", Number: "+442079460101", Boroughs: []string{"Camden", "Westminster"},
		Handles: map[gateway.Channel]string{"whatsapp": "+447700900501"}}, {ID: "B", Name: "East", Number: "+442079460102", Boroughs: []string{"Hackney"}}}
	pr := rooms[0]
	cases := map[string][2]any{
		"numbers":       page("numbers.html", map[string]any{"Rooms": rooms, "Apps": apps}),
		"numbers-empty": page("numbers.html", map[string]any{"Rooms": rooms, "Apps": apps, "Empty": true}),
		"check-voice":   page("check.html", map[string]any{"Check": NumberCheck{Official: true, Number: "+442079460101", Channel: "voice", Room: &pr}}),
		"check-video":   page("check.html", map[string]any{"Check": NumberCheck{Official: true, Number: "+447700900501", Channel: "whatsapp", Room: &pr}, "App": "WhatsApp"}),
		"check-handle":  page("check.html", map[string]any{"Check": NumberCheck{Official: true, Channel: "facetime", Handle: "aw@police.example", Room: &pr}, "App": "FaceTime"}),
		"check-no":      page("check.html", map[string]any{"Check": NumberCheck{}}),
		"receipt-form":  page("receipt-form.html", nil),
		"receipt-none":  page("receipt-none.html", map[string]any{"Reference": "ABCD"}),
		"busy":          page("busy.html", map[string]any{"Wait": 7}),
		"live-none":     page("live-none.html", nil),
		"live-form":     page("live-form.html", nil),
	}
	at := time.Date(2026, 12, 3, 14, 35, 0, 0, time.UTC)
	for _, o := range []string{ReceiptVerified, ReceiptRefused, ReceiptNotCompleted} {
		rec := Receipt{Reference: "K7QX-M4TR", Force: "Metropolitan Police", Room: "Central West", Time: at, Outcome: o}
		if o == ReceiptVerified {
			rec.Officer, rec.Supervisor, rec.WordRead = "PC 1234", "PS 42", true
			rec.Record = &ledger.Position{Origin: "police.example/log", First: 3, Last: 9, Size: 12, Root: "abc="}
			nosup := rec
			nosup.Supervisor = ""
			cases["receipt-nosupervisor"] = page("receipt.html", map[string]any{"Receipt": nosup})
		}
		cases["receipt-"+o] = page("receipt.html", map[string]any{"Receipt": rec})
	}
	for _, st := range []string{LiveConnecting, LiveConnected, LiveVerified, LiveRefused, LiveEnded} {
		lv := LiveView{Force: "Metropolitan Police", Room: "Central West", Word: "amber 42", Host: "police.example", Token: "v_1.abc", Stage: st}
		switch st {
		case LiveConnected:
			lv.WordRead = true
		case LiveVerified:
			lv.Officer, lv.Supervisor = "PC 1234", "PS 42"
		}
		if st == LiveVerified || st == LiveRefused || st == LiveEnded {
			lv.Final, lv.Reference = true, "K7QX-M4TR"
		}
		cases["live-"+st] = page("live.html", map[string]any{"Live": lv, "Script": "/live.js", "Refresh": 5})
		cases["livebody-"+st] = [2]any{"livebody", lv}
	}
	return cases
}

// englishOnly are words of the English pages that a Welsh page must not
// show.
var englishOnly = regexp.MustCompile(`\b(the|operations room|officer|receipt|number|check|call|verified|Reference|Supervisor|Police force|Time|Outcome)\b`)

// englishPhrases are the English messages' phrases of two words or more,
// between their markup and placeholders.
func englishPhrases() []string {
	var out []string
	for k, v := range publicMessages[LangEnglish] {
		if sameOnPurpose[k] {
			continue
		}
		for _, f := range regexp.MustCompile(`<[^>]*>|\{[a-z_]+\}`).Split(v, -1) {
			if f = strings.Trim(f, " .,:'s"); len(strings.Fields(f)) >= 2 {
				out = append(out, f)
			}
		}
	}
	return out
}

// TestPagesRenderInBothLanguages renders every page, in every branch, in
// English and in Welsh: without a missing key or an unfilled placeholder,
// the Welsh in Welsh words.
func TestPagesRenderInBothLanguages(t *testing.T) {
	cases := pageCases()
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		c := cases[name]
		var out [2]string
		for i, l := range Langs {
			data := c[1]
			if m, ok := data.(map[string]any); ok {
				m = maps.Clone(m)
				m["Lang"], m["HTMLLang"], m["SwitchURL"], m["SwitchLang"] = l, l.HTML(), "?lang="+string(l.other()), l.other().HTML()
				data = m
			}
			var b strings.Builder
			if err := publicPages[l].ExecuteTemplate(&b, c[0].(string), data); err != nil {
				t.Errorf("%s in %s: %v", name, l, err)
				continue
			}
			out[i] = b.String()
			if m := placeholder.FindString(out[i]); m != "" {
				t.Errorf("%s in %s: %s left unfilled", name, l, m)
			}
		}
		if out[0] == out[1] {
			t.Errorf("%s: the Welsh page is the English one", name)
		}
		text := anyTag.ReplaceAllString(out[1], " ")
		// What the page fills in is no part of its words.
		for _, v := range []string{"Metropolitan Police", "Central West", "amber 42", "police.example/log", "police.example"} {
			text = strings.ReplaceAll(text, v, "")
		}
		if m := englishOnly.FindString(text); m != "" {
			t.Errorf("%s in Welsh still says %q:\n%s", name, m, text)
		}
		for _, f := range englishPhrases() {
			if strings.Contains(text, f) {
				t.Errorf("%s in Welsh still says %q", name, f)
			}
		}
	}
}

// TestMissingKeyIsAnError: a template naming a key a language has not, or
// a message without its placeholder's value, does not render.
func TestMissingKeyIsAnError(t *testing.T) {
	for _, l := range Langs {
		tm := template.Must(template.New("x").Funcs(langFuncs(l)).Parse(`<p>{{t "no.such.key"}}</p>`))
		if err := tm.Execute(&strings.Builder{}, nil); err == nil || !strings.Contains(err.Error(), "no.such.key") {
			t.Errorf("%s: a missing key renders (%v)", l, err)
		}
		if _, err := message(l, true, "busy.text"); err == nil {
			t.Errorf("%s: busy.text renders without its {seconds}", l)
		}
		if _, err := message(l, false, "foot.danger"); err != nil {
			t.Error(err)
		}
		tx := template.Must(template.New("x").Funcs(langFuncs(l)).Parse(`<p title="{{tx "foot.danger"}}"></p>`))
		if err := tx.Execute(&strings.Builder{}, nil); err == nil {
			t.Errorf("%s: a message with markup went into an attribute", l)
		}
	}
	got, err := message(LangWelsh, true, "receipt-none.text", "reference", "<b>")
	if err != nil || !strings.Contains(got, "&lt;b&gt;") {
		t.Errorf("a value is not escaped: %q, %v", got, err)
	}
}

// TestReceiptTime says a receipt's time in both languages, every day and
// month.
func TestReceiptTime(t *testing.T) {
	at := time.Date(2026, 12, 3, 14, 35, 0, 0, time.UTC)
	for l, want := range map[Lang]string{LangEnglish: "Thursday 3 December 2026, about 2:35 pm", LangWelsh: "Dydd Iau 3 Rhagfyr 2026, tua 2:35 yp"} {
		if got, err := receiptTime(l, at); got != want || err != nil {
			t.Errorf("%s: %q, %v; want %q", l, got, err, want)
		}
	}
	if got, _ := receiptTime(LangWelsh, time.Date(2027, 5, 1, 9, 5, 0, 0, time.UTC)); got != "Dydd Sadwrn 1 Mai 2027, tua 9:05 yb" {
		t.Errorf("in Welsh: %q", got)
	}
	for _, l := range Langs {
		for d := 0; d < 366; d += 13 {
			if _, err := receiptTime(l, at.AddDate(0, 0, d)); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestRequestLang: ?lang=, then the cookie, then Accept-Language (its
// best match; English when nothing matches).
func TestRequestLang(t *testing.T) {
	for _, c := range []struct {
		query, cookie, accept string
		want                  Lang
		chosen                bool
	}{
		{"", "", "", LangEnglish, false},
		{"", "", "cy", LangWelsh, false},
		{"", "", "cy-GB,cy;q=0.9,en;q=0.5", LangWelsh, false},
		{"", "", "cy;q=0.1, en", LangEnglish, false},
		{"", "", "en-US,en;q=0.8,cy;q=0.5", LangEnglish, false},
		{"", "", "fr-FR, de", LangEnglish, false},
		{"", "", "fr, cy;q=0.5", LangWelsh, false},
		{"", "", "not a header ;;;", LangEnglish, false},
		{"cy", "", "en", LangWelsh, true},
		{"en", "cy", "cy", LangEnglish, true},
		{"", "cy", "en", LangWelsh, true},
		{"", "en", "cy", LangEnglish, true},
		{"", "de", "cy", LangWelsh, false},
		{"xx", "", "cy", LangWelsh, false},
	} {
		r := httptest.NewRequest("GET", "/numbers?lang="+c.query, nil)
		if c.cookie != "" {
			r.Header.Set("Cookie", LangCookie+"="+c.cookie)
		}
		r.Header.Set("Accept-Language", c.accept)
		if got, chosen := RequestLang(r); got != c.want || chosen != c.chosen {
			t.Errorf("?lang=%s, cookie %q, Accept-Language %q: %s (chosen %v), want %s (%v)", c.query, c.cookie, c.accept, got, chosen, c.want, c.chosen)
		}
	}
}
