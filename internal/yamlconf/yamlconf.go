// Package yamlconf loads YAML configuration strictly and says what is wrong
// the way a person fixes it: the file and line, the key, and what was
// expected ("offbox.yaml:4: unknown key "heartbaet" (did you mean
// "heartbeat"?)", "offbox.yaml:4: heartbeat: "15x" is not a duration (e.g.
// 15s, 1m)"). An unknown key, a wrong type or a second document is an error.
// Problems found after decoding (a file that does not exist, a bad URL) are
// FieldErrors naming their key, which Locate places at the key's line. It
// reads only the bytes it is given and never the Go type names: those mean
// nothing to whoever edits the file.
package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load decodes the YAML file at path into v (a pointer to a struct with yaml
// tags) rejecting unknown keys.
func Load(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return Decode(path, data, v)
}

// Decode is Load over bytes; name is used in error messages.
func Decode(name string, data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: all defaults
		}
		return errors.New(syntax(name, data, err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: more than one YAML document", name)
	}
	if t := reflect.TypeOf(v); t != nil && t.Kind() == reflect.Pointer {
		c := checker{name: name}
		c.walk(&doc, t.Elem(), "")
		if len(c.errs) > 0 {
			return errors.New(strings.Join(c.errs, "\n"))
		}
	}
	// The strict decoder stays the last word: whatever the walk above does
	// not know (a type it does not model) is still refused, in yaml's words.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(v); err != nil {
		return errors.New(located(name, err))
	}
	return nil
}

var lineRE = regexp.MustCompile(`line (\d+): `)

// located rewrites yaml.v3's "line N: msg" into "file:N: msg".
func located(name string, err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			msgs[i] = lineRE.ReplaceAllString(e, name+":$1: ")
		}
		return strings.Join(msgs, "\n")
	}
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	if lineRE.MatchString(s) {
		return lineRE.ReplaceAllString(s, name+":$1: ")
	}
	return name + ": " + s
}

// syntax explains a parse error. yaml.v3 reports an unclosed flow
// collection ("[a, b") or quote on the line where its scanner gave up (often
// line 1 or the end of the file), so the opener is looked for and named.
func syntax(name string, data []byte, err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = lineRE.ReplaceAllString(msg, "")
	open := unclosed(data)
	switch {
	case open.char != 0 && (strings.Contains(msg, "']'") || strings.Contains(msg, "'}'") || strings.Contains(msg, "end of stream")):
		closer := map[byte]string{'[': "]", '{': "}", '"': `"`, '\'': "'"}[open.char]
		return fmt.Sprintf("%s:%d: %q is never closed (no matching %q): %s", name, open.line, string(open.char), closer, msg)
	case strings.Contains(msg, "cannot start any token") && bytes.Contains(data, []byte("\t")):
		return fmt.Sprintf("%s:%d: a tab is not allowed for indentation in YAML; use spaces", name, lineOfTab(data))
	}
	return located(name, err)
}

type opener struct {
	char byte
	line int
}

// unclosed finds the first flow bracket or quote that is never closed,
// outside comments. It is a heuristic for the error message only.
func unclosed(data []byte) opener {
	var stack []opener
	var quote opener
	line := 1
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '\n' {
			line++
			if quote.char == '\'' || quote.char == '"' {
				// YAML allows multi-line quoted scalars; keep looking.
			}
			continue
		}
		if quote.char != 0 {
			switch {
			case quote.char == '"' && c == '\\':
				i++
			case quote.char == '\'' && c == '\'' && i+1 < len(data) && data[i+1] == '\'':
				i++
			case c == quote.char:
				quote = opener{}
			}
			continue
		}
		switch c {
		case '#':
			if i == 0 || data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '\n' {
				for i < len(data) && data[i] != '\n' {
					i++
				}
				i--
			}
		case '"', '\'':
			// A quote opens a scalar only where one starts, not inside a word (it's).
			if i == 0 || strings.ContainsRune(" \t\n[{,:-", rune(data[i-1])) {
				quote = opener{c, line}
			}
		case '[', '{':
			stack = append(stack, opener{c, line})
		case ']', '}':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if quote.char != 0 {
		return quote
	}
	if len(stack) > 0 {
		return stack[0]
	}
	return opener{}
}

func lineOfTab(data []byte) int {
	return bytes.Count(data[:bytes.IndexByte(data, '\t')], []byte("\n")) + 1
}

// checker walks the parsed document beside the Go type it will fill, and
// collects every problem with its line.
type checker struct {
	name string
	errs []string
}

func (c *checker) errorf(n *yaml.Node, format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf("%s:%d: ", c.name, n.Line)+fmt.Sprintf(format, args...))
}

var durationType = reflect.TypeOf(time.Duration(0))

func (c *checker) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, k := range n.Content {
			c.walk(k, t, path)
		}
		return
	case yaml.AliasNode:
		if n.Alias != nil {
			c.walk(n.Alias, t, path)
		}
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value keeps the default
	}
	what := func() string {
		if path == "" {
			return "the file"
		}
		return path
	}
	switch {
	case t.Kind() == reflect.Struct && t != reflect.TypeOf(time.Time{}):
		if n.Kind != yaml.MappingNode {
			c.errorf(n, "%s: want keys under it (a mapping), not %s", what(), describe(n))
			return
		}
		fields := structFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue // a merge key: its contents are checked where they are defined
			}
			f, ok := fields[k.Value]
			if !ok {
				where := ""
				if path != "" {
					where = fmt.Sprintf(" under %q", path)
				}
				hint := ""
				if s := closest(k.Value, fields); s != "" {
					hint = fmt.Sprintf(" (did you mean %q?)", s)
				}
				c.errorf(k, "unknown key %q%s%s", k.Value, where, hint)
				continue
			}
			c.walk(v, f, join(path, k.Value))
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.errorf(n, "%s: want keys under it (a mapping), not %s", what(), describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() != reflect.Uint8:
		if n.Kind != yaml.SequenceNode {
			c.errorf(n, "%s: want a list (e.g. [a, b], or one \"- item\" per line), not %s", what(), describe(n))
			return
		}
		for i, e := range n.Content {
			c.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case t.Kind() == reflect.Interface:
		// Anything goes.
	default:
		if n.Kind != yaml.ScalarNode {
			c.errorf(n, "%s: want a single value, not %s", what(), describe(n))
			return
		}
		p := reflect.New(t)
		if err := n.Decode(p.Interface()); err == nil {
			return
		}
		switch {
		case t == durationType:
			c.errorf(n, "%s: %q is not a duration (e.g. 15s, 1m)", what(), n.Value)
		case t.Kind() == reflect.Bool:
			c.errorf(n, "%s: %q is not true or false", what(), n.Value)
		case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
			c.errorf(n, "%s: %q is not a whole number (or is out of range)", what(), n.Value)
		case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr:
			c.errorf(n, "%s: %q is not a whole number of zero or more (or is out of range)", what(), n.Value)
		case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
			c.errorf(n, "%s: %q is not a number", what(), n.Value)
		default:
			c.errorf(n, "%s: %q is not a valid value", what(), n.Value)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "keys (a mapping)"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("the single value %q", n.Value)
	}
}

// structFields maps each yaml key of t (inline structs flattened) to its
// field's type; fields tagged "-" or unexported are not keys.
func structFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range structFields(ft) {
					m[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default key
		}
		m[name] = f.Type
	}
	return m
}

// closest is the known key nearest to key by edit distance, if near enough
// to be a typo.
func closest(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	best, bestD := "", 1<<30
	for _, k := range names {
		if d := distance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	limit := 2
	if len(key) > 8 {
		limit = 3
	}
	if bestD <= limit || (best != "" && (strings.Contains(best, key) || strings.Contains(key, best)) && len(key) > 2) {
		return best
	}
	return ""
}

// distance is the Damerau-Levenshtein (optimal string alignment) distance:
// a swap of two letters ("heartbaet") counts as one edit.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
