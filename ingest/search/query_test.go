package search

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

var matchTests = []struct {
	query string
	line  string
	want  bool
}{
	{"failed", "Failed password for root", true},
	{"fail", "Failed password for root", false}, // whole words
	{"failed root", "Failed password for root", true},
	{"failed admin", "Failed password for root", false},
	{`"password for root"`, "Failed password for root from 10.0.0.1", true},
	{`"password root"`, "Failed password for root", false},
	{"10.0.0.1", "from 10.0.0.1 port 22", true},
	{"10.0.0.1", "from 10.0.0.12 port 22", false},
	{"failed -root", "Failed password for root", false},
	{"failed -admin", "Failed password for root", true},
	{`re:"port \d+"`, "from 10.0.0.1 port 22", true},
	{`re:"port \d+$"`, "from 10.0.0.1 port x", false},
	{`re:(?i)FAILED`, "failed", true},
	{`re:FAILED`, "failed", false},
	{`-re:^x`, "abc", true},
	{`ÄRGER`, "großer ärger hier", true},
	{`"a\"b"`, `x a"b y`, true},
	{`user=bob`, `sshd: user=bob ok`, true},
	{`user=bob`, `sshd: user=bobby ok`, false},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchTests {
		q, err := Parse(tt.query)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.query, err)
		}
		if got := q.Matcher().Match([]byte(tt.line)); got != tt.want {
			t.Errorf("%q on %q: got %v, want %v", tt.query, tt.line, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct {
		query string
		pos   int // 1-based, as the message says
		msg   string
	}{
		{"", 1, "empty query"},
		{"   ", 1, "empty query"},
		{`foo "bar`, 5, "never closed"},
		{`foo re:a(b`, 8, "missing closing )"},
		{`foo re:`, 5, "re: without a pattern"},
		{`a ""`, 3, "empty phrase"},
		{`ab"c`, 3, "quote inside a word"},
		{"a \xff", 3, "invalid UTF-8"},
	} {
		_, err := Parse(tt.query)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): got %v, want a SyntaxError", tt.query, err)
			continue
		}
		if se.Pos+1 != tt.pos || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Parse(%q): got %q (position %d), want position %d and %q", tt.query, err, se.Pos+1, tt.pos, tt.msg)
		}
	}
}

func TestTokens(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"Failed root", []string{"failed", "root"}},
		{"-root x", nil},
		{`"password for ROOT"`, []string{"password", "for", "root"}},
		{"10.0.0.1", []string{"10"}},
		{`re:"failed password for (\w+)"`, []string{"password", "for"}},
		{`re:"\bfailed password"`, []string{"failed"}},
		{`re:"(?i)token apple pie"`, []string{"apple"}}, // k and s left out under folding
		{`re:a|b`, nil},
		{`re:"(foo bar baz)+"`, []string{"bar"}},
		{`re:"(foo bar baz)?"`, nil},
		{"ärger", nil},
	} {
		q, err := Parse(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Tokens(); !slices.Equal(got, tt.want) {
			t.Errorf("Tokens(%q) = %q, want %q", tt.query, got, tt.want)
		}
	}
}

// Every token a filter is asked about is in the filter of a line the
// query matches: the filter never hides a match.
func TestFilterHoldsMatches(t *testing.T) {
	for _, tt := range matchTests {
		if !tt.want {
			continue
		}
		q, _ := Parse(tt.query)
		checkFilter(t, q, []byte(tt.line))
	}
}

func checkFilter(t *testing.T, q *Query, line []byte) {
	t.Helper()
	var fb FilterBuilder
	fb.Add([]byte("some other line"))
	fb.Add(line)
	f := fb.Finish()
	var hs []uint64
	for _, tok := range q.Tokens() {
		hs = append(hs, tokenHash(tok))
	}
	if ok, err := filterHas(f, hs); !ok || err != nil {
		t.Errorf("query %q matches %q but its filter says no (%v)", q.Text, line, err)
	}
}

func TestFilterSkips(t *testing.T) {
	var fb FilterBuilder
	for i := range 2000 {
		fb.Add([]byte("sshd[" + strings.Repeat("x", i%7) + "]: accepted publickey for user" + string(rune('a'+i%26))))
	}
	f := fb.Finish()
	miss := 0
	for i := range 1000 {
		if ok, _ := filterHas(f, []uint64{tokenHash("absent" + strings.Repeat("q", i%50) + string(rune('a'+i%26)))}); ok {
			miss++
		}
	}
	if miss > 30 {
		t.Errorf("%d of 1000 absent tokens pass the filter, want about 1 %%", miss)
	}
	if ok, _ := filterHas(f, []uint64{tokenHash("publickey")}); !ok {
		t.Error("a present token does not pass")
	}
	if ok, err := filterHas([]byte{9, 9}, nil); !ok || err == nil {
		t.Error("an unreadable filter must pass every batch and say so")
	}
}

func TestSpans(t *testing.T) {
	q, _ := Parse(`failed re:\d+ -x`)
	got := q.Spans([]byte("Failed for 42 failed"))
	want := [][2]int{{0, 6}, {11, 13}, {14, 20}}
	if !slices.Equal(got, want) {
		t.Errorf("Spans = %v, want %v", got, want)
	}
}

func FuzzQuery(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.query, tt.line)
	}
	f.Add(`re:(?i)k`, "\u212a")
	f.Fuzz(func(t *testing.T, query, line string) {
		q, err := Parse(query)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos < 0 || se.Pos > len(query) {
				t.Fatalf("Parse(%q): %v", query, err)
			}
			return
		}
		m := q.Matcher()
		if m.Match([]byte(line)) {
			checkFilter(t, q, []byte(line))
			for _, sp := range q.Spans([]byte(line)) {
				if sp[0] < 0 || sp[1] > len(line) || sp[0] >= sp[1] {
					t.Fatalf("span %v out of %q", sp, line)
				}
			}
		}
	})
}

func FuzzCursor(f *testing.F) {
	f.Add(cursor{}.String())
	f.Add("MS4yLjMuNA")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil {
			return
		}
		if back, err := parseCursor(c.String()); err != nil || back != c {
			t.Fatalf("cursor %q parses to %+v, which does not round-trip: %+v, %v", s, c, back, err)
		}
	})
}
