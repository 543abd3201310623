package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode"
)

// TestTableCells: a value cannot break a table's alignment or reach the
// terminal as an escape sequence; an empty one shows as "-".
func TestTableCells(t *testing.T) {
	var out bytes.Buffer
	tb := newTable(&out, "ID", "NAME", "NOTE")
	tb.row("AW-1", "desk\t4\nsecond line", "\x1b[31mred\x1b[0m")
	tb.row("AW-22", "", "\u2028ok")
	if err := tb.flush(); err != nil {
		t.Fatal(err)
	}
	want := "ID     NAME                NOTE\n" +
		"AW-1   desk 4 second line   [31mred [0m\n" +
		"AW-22  -                    ok\n"
	if out.String() != want {
		t.Errorf("table\n%q\nwant\n%q", out.String(), want)
	}
	if got := oneLine("refused:\n\tno \x1b[2Jdevice"); got != "refused: no [2Jdevice" {
		t.Errorf("oneLine: %q", got)
	}
}

// TestChange: the ops record's before and after, as one cell.
func TestChange(t *testing.T) {
	for _, tc := range []struct{ before, after, want string }{
		{`{"status":"in_service","name":"a"}`, `{"status":"out_of_service","name":"a"}`, "status: in_service → out_of_service"},
		{`{"number":"+447700900555"}`, `{"number":"+447700900556","handles":{"zoom":"x"}}`, `handles: - → {"zoom":"x"}; number: +447700900555 → +447700900556`},
		{`null`, `{"room":"AW"}`, "room: - → AW"},
		{``, ``, ""},
		{`null`, `null`, ""},
		{`"in_service"`, `"retired"`, "in_service → retired"},
		{`[1, 2]`, `3`, "[1,2] → 3"},
	} {
		if got := change(json.RawMessage(tc.before), json.RawMessage(tc.after)); got != tc.want {
			t.Errorf("change(%s, %s) = %q, want %q", tc.before, tc.after, got, tc.want)
		}
	}
}

// FuzzChange: whatever JSON the gateway sends as an entry's before and
// after, the cell neither panics nor holds a control character once in a
// table.
func FuzzChange(f *testing.F) {
	f.Add(`{"status":"in_service"}`, `{"status":"retired"}`)
	f.Add(`null`, `{"neighbours":["AS","CN"]}`)
	f.Add(`"a\nb"`, `{"x":"\u001b[2J"}`)
	f.Add(`[`, `{}`)
	f.Fuzz(func(t *testing.T, before, after string) {
		cell := sanitize(change(json.RawMessage(before), json.RawMessage(after)))
		if strings.IndexFunc(cell, unicode.IsControl) >= 0 {
			t.Errorf("cell %q holds a control character", cell)
		}
	})
}
