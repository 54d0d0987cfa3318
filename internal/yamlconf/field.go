package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// FieldError is a problem with the value of one key, found after decoding
// (a file that does not exist, a bad URL). Path names the key as Lines
// does ("tls.ca", "alerting.sinks[0].url") so that Locate can add the line;
// the message itself is Err's, which already names the key in the words of
// the file.
type FieldError struct {
	Path string
	Err  error
}

func (e *FieldError) Error() string { return e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Field is err as the problem of the key at path.
func Field(path string, err error) error {
	if err == nil {
		return nil
	}
	return &FieldError{Path: path, Err: err}
}

// Fieldf is Field with a message made by fmt.Sprintf.
func Fieldf(path, format string, args ...any) error {
	return &FieldError{Path: path, Err: fmt.Errorf(format, args...)}
}

// Under puts every problem in err (joined errors are taken apart) under
// the key prefix: a FieldError's path is prefixed ("url" under
// "alerting.sinks[0]" is "alerting.sinks[0].url"), any other error becomes
// the problem of prefix itself. It returns nil for nil.
func Under(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, &FieldError{Path: joinPath(prefix, fe.Path), Err: fe.Err})
			continue
		}
		out = append(out, &FieldError{Path: prefix, Err: e})
	}
	return errors.Join(out...)
}

func joinPath(prefix, path string) string {
	switch {
	case path == "":
		return prefix
	case prefix == "" || strings.HasPrefix(path, "["):
		return prefix + path
	}
	return prefix + "." + path
}

// flatten takes joined errors apart (errors.Join, and joins of joins).
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// Lines maps the path of every key in a YAML document to the line the key
// is on ("tls.ca", "alerting.sinks[0]" for a list item, "alerting.sinks[0].url").
// A document that does not parse has no lines.
func Lines(data []byte) map[string]int {
	var doc yaml.Node
	lines := map[string]int{}
	if yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc) != nil {
		return lines
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := join(path, n.Content[i].Value)
				if _, seen := lines[p]; !seen {
					lines[p] = n.Content[i].Line
				}
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				lines[p] = c.Line
				walk(c, p)
			}
		}
	}
	walk(&doc, "")
	return lines
}

// Locate names the file, and the line where it can, in every problem in
// err: "offbox-ingest.yaml:12: tls.ca: open …". A FieldError whose key is
// not in the file is placed at its nearest enclosing key that is, or at the
// file alone; so is any other error. skip lists paths (and their children)
// whose value did not come from the file (a command-line flag overrode
// it): those get no file name at all. The problems come in the order of
// their lines (those without one first), so the output is the same from
// run to run and reads like the file. It returns nil for nil.
func Locate(name string, lines map[string]int, err error, skip ...string) error {
	if err == nil {
		return nil
	}
	type located struct {
		line int
		err  error
	}
	var out []located
	for _, e := range flatten(err) {
		var fe *FieldError
		switch {
		case !errors.As(e, &fe):
			out = append(out, located{0, fmt.Errorf("%s: %w", name, e)})
		case overridden(fe.Path, skip):
			out = append(out, located{0, e})
		default:
			if line := lineOf(lines, fe.Path); line > 0 {
				out = append(out, located{line, fmt.Errorf("%s:%d: %w", name, line, e)})
			} else {
				out = append(out, located{0, fmt.Errorf("%s: %w", name, e)})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].line < out[j].line })
	errs := make([]error, len(out))
	for i, l := range out {
		errs[i] = l.err
	}
	return errors.Join(errs...)
}

func overridden(path string, skip []string) bool {
	for _, s := range skip {
		if path == s || strings.HasPrefix(path, s+".") || strings.HasPrefix(path, s+"[") {
			return true
		}
	}
	return false
}

// lineOf is the line of path, else of its nearest parent in the file, else 0.
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

// NameProblem is what is wrong with name as the configured name of a sink
// or the like (a key in the store, a label in output): "name: required"
// when empty, a complaint when it has leading or trailing space or control
// characters, "" when nothing.
func NameProblem(name string) string {
	switch {
	case name == "":
		return "name: required"
	case strings.TrimSpace(name) != name || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Sprintf("name %q: no leading or trailing space or control characters", name)
	}
	return ""
}
