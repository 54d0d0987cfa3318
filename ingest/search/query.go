// Package search finds stored log lines across devices and days: the query
// language (words, "quoted phrases", -word, re:PATTERN), the token filters
// that let a search skip batches that cannot match, the indexer that builds
// them behind ingestion, and the search itself, which decodes candidate
// batches in parallel and confirms every line against the query.
//
// It never trusts an index over the signed batch: a filter only says which
// batches may be skipped, and every result is a record decoded from the
// stored batch bytes that matched the query there. An edited index can hide
// a line from a search, never invent one. It never writes anything but the
// filters and their cursor.
package search

import (
	"bytes"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// MaxQueryLen bounds a query's length in bytes.
const MaxQueryLen = 4096

// Query is a parsed query: every term must hold for a line to match.
type Query struct {
	Text  string
	terms []term
}

type term struct {
	text    string         // as typed, without quotes, the leading '-' or "re:"
	lower   []byte         // lower-cased (ASCII) text of a word or phrase
	re      *regexp.Regexp // re: terms, and words with non-ASCII letters (case folded)
	exclude bool           // -word: the line must not match
	tokens  []string       // tokens a matching line must hold (filter prefilter)
}

// SyntaxError is a query that does not parse; Pos is the byte offset
// (from 0) where the problem is.
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("query: at position %d: %s", e.Pos+1, e.Msg) }

// Parse reads a query: words separated by spaces (all must match, case
// insensitive, each as whole words: "fail" does not match "failed"),
// "quoted phrases" (matched the same way, spaces included; \" and \\
// escape), -word or -"phrase" to exclude lines holding it, and re:PATTERN
// (RE2, case sensitive unless it says (?i); re:"a pattern with spaces").
func Parse(s string) (*Query, error) {
	if len(s) > MaxQueryLen {
		return nil, &SyntaxError{MaxQueryLen, fmt.Sprintf("query longer than %d bytes", MaxQueryLen)}
	}
	if !utf8.ValidString(s) {
		return nil, &SyntaxError{invalidUTF8At(s), "invalid UTF-8"}
	}
	q := &Query{Text: s}
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		t := term{}
		if s[i] == '-' && i+1 < len(s) && !isSpace(s[i+1]) {
			t.exclude = true
			i++
		}
		isRE := strings.HasPrefix(s[i:], "re:")
		if isRE {
			i += 3
		}
		textPos := i
		var text string
		var err error
		if i < len(s) && s[i] == '"' {
			text, i, err = quoted(s, i)
			if err != nil {
				return nil, err
			}
		} else {
			for i < len(s) && !isSpace(s[i]) {
				if s[i] == '"' {
					return nil, &SyntaxError{i, `a quote inside a word: quote the whole phrase, "like this"`}
				}
				i++
			}
			text = s[textPos:i]
		}
		if text == "" {
			what := "an empty phrase"
			if isRE {
				what = "re: without a pattern"
			}
			return nil, &SyntaxError{start, what}
		}
		if isRE {
			if t.re, err = regexp.Compile(text); err != nil {
				return nil, &SyntaxError{textPos, fmt.Sprintf("bad regular expression: %v", unwrapRE(err))}
			}
			t.text = "re:" + text
			if !t.exclude {
				t.tokens = regexTokens(text)
			}
		} else {
			t.text = text
			t.lower = lowerASCII(nil, []byte(text))
			if !isASCII(text) {
				// Case folding beyond ASCII: a case-insensitive regexp
				// with the same word edges.
				t.re = regexp.MustCompile(`(?i)` + edge(text[0], true) + regexp.QuoteMeta(text) + edge(text[len(text)-1], false))
			}
			if !t.exclude {
				t.tokens = wordTokens(text)
			}
		}
		q.terms = append(q.terms, t)
	}
	if len(q.terms) == 0 {
		return nil, &SyntaxError{0, "empty query: give at least one word, phrase or re:PATTERN"}
	}
	return q, nil
}

// edge is the regexp that bounds a word at a token character c.
func edge(c byte, start bool) string {
	if !isTokenByte(c) || c >= 0x80 {
		return ""
	}
	if start {
		return `(?:^|[^\pL\pN_])`
	}
	return `(?:$|[^\pL\pN_])`
}

func unwrapRE(err error) string {
	if e, ok := err.(*syntax.Error); ok {
		return fmt.Sprintf("%s: `%s`", e.Code, e.Expr)
	}
	return err.Error()
}

// quoted reads a quoted phrase starting at s[i] == '"'; it returns the
// phrase and the index after the closing quote.
func quoted(s string, i int) (string, int, error) {
	open := i
	var b strings.Builder
	i++
	for i < len(s) {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
				b.WriteByte(s[i+1])
				i += 2
				continue
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
		i++
	}
	return "", 0, &SyntaxError{open, "a quote that is never closed"}
}

func invalidUTF8At(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				return i
			}
		}
	}
	return 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Tokens a matching line must hold: what the filters are asked about. A
// query with none cannot use them (every candidate batch is scanned).
func (q *Query) Tokens() []string {
	var out []string
	for _, t := range q.terms {
		out = append(out, t.tokens...)
	}
	return out
}

// Matcher matches lines against a query, with a buffer of its own: one
// per goroutine.
type Matcher struct {
	q   *Query
	buf []byte
}

// Matcher returns a new matcher of q.
func (q *Query) Matcher() *Matcher { return &Matcher{q: q} }

// Match reports whether line matches every term.
func (m *Matcher) Match(line []byte) bool {
	lowered := false
	for i := range m.q.terms {
		t := &m.q.terms[i]
		var hit bool
		if t.re != nil {
			hit = t.re.Match(line)
		} else {
			if !lowered {
				m.buf = lowerASCII(m.buf[:0], line)
				lowered = true
			}
			hit = findWord(m.buf, t.lower) >= 0
		}
		if hit == t.exclude {
			return false
		}
	}
	return true
}

// Spans returns where the query's positive terms match in line, as
// [start, end) byte offsets, sorted and not overlapping: what a page
// highlights.
func (q *Query) Spans(line []byte) [][2]int {
	low := lowerASCII(nil, line)
	var spans [][2]int
	for _, t := range q.terms {
		if t.exclude {
			continue
		}
		if t.re != nil {
			for _, m := range t.re.FindAllIndex(line, 100) {
				if m[1] > m[0] {
					spans = append(spans, [2]int{m[0], m[1]})
				}
			}
			continue
		}
		for off := 0; off < len(low) && len(spans) < 1000; {
			j := findWord(low[off:], t.lower)
			if j < 0 {
				break
			}
			spans = append(spans, [2]int{off + j, off + j + len(t.lower)})
			off += j + len(t.lower)
		}
	}
	return mergeSpans(spans)
}

func mergeSpans(s [][2]int) [][2]int {
	if len(s) < 2 {
		return s
	}
	for i := 1; i < len(s); i++ { // insertion sort: few spans
		for j := i; j > 0 && s[j][0] < s[j-1][0]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	out := s[:1]
	for _, sp := range s[1:] {
		last := &out[len(out)-1]
		if sp[0] <= last[1] {
			last[1] = max(last[1], sp[1])
			continue
		}
		out = append(out, sp)
	}
	return out
}

// findWord is the offset of the first occurrence of w in s that is a
// whole word: where w starts (ends) with a token byte, the byte before
// (after) it is not one. -1 if none.
func findWord(s, w []byte) int {
	if len(w) == 0 {
		return -1
	}
	checkStart, checkEnd := isTokenByte(w[0]), isTokenByte(w[len(w)-1])
	for off := 0; off+len(w) <= len(s); {
		j := bytes.Index(s[off:], w)
		if j < 0 {
			return -1
		}
		at := off + j
		okStart := !checkStart || at == 0 || !isTokenByte(s[at-1])
		end := at + len(w)
		okEnd := !checkEnd || end == len(s) || !isTokenByte(s[end])
		if okStart && okEnd {
			return at
		}
		off = at + 1
	}
	return -1
}
