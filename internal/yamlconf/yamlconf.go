// Package yamlconf loads YAML configuration strictly: an unknown key, a wrong
// type or a second document is an error that names the file and the line.
package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

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

var lineRE = regexp.MustCompile(`line (\d+): `)

// Decode is Load over bytes; name is used in error messages.
func Decode(name string, data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: all defaults
		}
		return fmt.Errorf("config %s", located(name, err))
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: more than one YAML document", name)
	}
	return nil
}

// located rewrites yaml.v3's "line N: msg" into "file:N: msg".
func located(name string, err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msg := ""
		for i, e := range te.Errors {
			if i > 0 {
				msg += "; "
			}
			msg += lineRE.ReplaceAllString(e, name+":$1: ")
		}
		return msg
	}
	s := err.Error()
	s = regexp.MustCompile(`^yaml: `).ReplaceAllString(s, "")
	if lineRE.MatchString(s) {
		return lineRE.ReplaceAllString(s, name+":$1: ")
	}
	return name + ": " + s
}
