package yamlconf

import (
	"strings"
	"testing"
	"time"
)

type sample struct {
	Server    string        `yaml:"server"`
	Every     time.Duration `yaml:"every"`
	Heartbeat time.Duration `yaml:"heartbeat"`
	Tail      []string      `yaml:"tail"`
	Batch     struct {
		MaxBytes int  `yaml:"max_bytes"`
		Gzip     bool `yaml:"gzip"`
	} `yaml:"batch"`
	Limits map[string]uint16 `yaml:"limits"`
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, wantErr string
		want              sample
	}{
		{name: "ok", in: "server: a:1\nevery: 5s\ntail: [x, y]\n", want: sample{Server: "a:1", Every: 5 * time.Second, Tail: []string{"x", "y"}}},
		{name: "empty", in: ""},
		{name: "unknown key", in: "server: a\nsevrer: b\n", wantErr: `agent.yaml:2: unknown key "sevrer" (did you mean "server"?)`},
		{name: "swapped letters", in: "server: a\nevery: 1s\n\nheartbaet: 15s\n", wantErr: `agent.yaml:4: unknown key "heartbaet" (did you mean "heartbeat"?)`},
		{name: "nested unknown key", in: "batch:\n  max_bytes: 1\n  bogus: 2\n", wantErr: `agent.yaml:3: unknown key "bogus" under "batch"` + "\n"},
		{name: "no near key", in: "zzzzzzzz: 1\n", wantErr: `agent.yaml:1: unknown key "zzzzzzzz"` + "\n"},
		{name: "bad duration", in: "server: a\nb: 1\nc: 2\nheartbeat: 15x\n", wantErr: `agent.yaml:2: unknown key "b"`},
		{name: "bad duration alone", in: "server: a\n\n\nheartbeat: 15x\n", wantErr: `agent.yaml:4: heartbeat: "15x" is not a duration (e.g. 15s, 1m)`},
		{name: "duration without unit", in: "every: 15\n", wantErr: `agent.yaml:1: every: "15" is not a duration (e.g. 15s, 1m)`},
		{name: "wrong type", in: "server: a\nevery: [1]\n", wantErr: "agent.yaml:2: every: want a single value, not a list"},
		{name: "scalar for list", in: "tail: /var/log/x\n", wantErr: `agent.yaml:1: tail: want a list (e.g. [a, b], or one "- item" per line), not the single value "/var/log/x"`},
		{name: "scalar for section", in: "batch: 10\n", wantErr: `agent.yaml:1: batch: want keys under it (a mapping), not the single value "10"`},
		{name: "bad int", in: "batch:\n  max_bytes: lots\n", wantErr: `agent.yaml:2: batch.max_bytes: "lots" is not a whole number`},
		{name: "bad bool", in: "batch:\n  gzip: maybe\n", wantErr: `agent.yaml:2: batch.gzip: "maybe" is not true or false`},
		{name: "map value out of range", in: "limits:\n  a: 70000\n", wantErr: `agent.yaml:2: limits.a: "70000" is not a whole number of zero or more`},
		{name: "two errors", in: "sevrer: a\nevery: x\n", wantErr: "agent.yaml:1: unknown key \"sevrer\" (did you mean \"server\"?)\nagent.yaml:2: every: \"x\" is not a duration"},
		{name: "unclosed bracket", in: "server: a\ntail: [x\nevery: 5s\n", wantErr: `agent.yaml:2: "[" is never closed`},
		{name: "unclosed brace", in: "server: a\n# a [comment\nbatch: {max_bytes: 1\n\n", wantErr: `agent.yaml:3: "{" is never closed`},
		{name: "unclosed quote", in: "server: 'abc\nevery: 5s\n", wantErr: `agent.yaml:1: "'" is never closed`},
		{name: "tab", in: "batch:\n\tmax_bytes: 1\n", wantErr: "agent.yaml:2: a tab is not allowed for indentation"},
		{name: "two docs", in: "server: a\n---\nserver: b\n", wantErr: "agent.yaml: more than one YAML document"},
		{name: "null keeps default", in: "server:\nbatch:\n", want: sample{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got sample
			err := Decode("agent.yaml", []byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error()+"\n", tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Server != tt.want.Server || got.Every != tt.want.Every || strings.Join(got.Tail, ",") != strings.Join(tt.want.Tail, ",") {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"server: a:1\nevery: 5s\n", "x: [", "---\n---\n", "tail: {a: b}", "server: 'a\n", "batch: *x\n", "a: &x {b: c}\nbatch: *x\n", "limits: {a: [1]}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v sample
		err := Decode("f.yaml", data, &v) // must not panic
		if err == nil {
			return
		}
		// Every problem is named by the file, and none speaks Go.
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "f.yaml") {
				t.Errorf("error line %q does not start with the file name", line)
			}
			if strings.Contains(line, "yamlconf.") || strings.Contains(line, "main.") {
				t.Errorf("error line %q names a Go type", line)
			}
		}
	})
}
