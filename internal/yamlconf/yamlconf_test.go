package yamlconf

import (
	"strings"
	"testing"
	"time"
)

type sample struct {
	Server string        `yaml:"server"`
	Every  time.Duration `yaml:"every"`
	Tail   []string      `yaml:"tail"`
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, wantErr string
		want              sample
	}{
		{name: "ok", in: "server: a:1\nevery: 5s\ntail: [x, y]\n", want: sample{Server: "a:1", Every: 5 * time.Second, Tail: []string{"x", "y"}}},
		{name: "empty", in: ""},
		{name: "unknown key", in: "server: a\nsevrer: b\n", wantErr: "agent.yaml:2: field sevrer not found"},
		{name: "wrong type", in: "server: a\nevery: [1]\n", wantErr: "agent.yaml:2:"},
		{name: "syntax", in: "server: a\ntail: [x\n", wantErr: "agent.yaml:"},
		{name: "two docs", in: "server: a\n---\nserver: b\n", wantErr: "more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got sample
			err := Decode("agent.yaml", []byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
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
	for _, s := range []string{"server: a:1\nevery: 5s\n", "x: [", "---\n---\n", "tail: {a: b}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v sample
		_ = Decode("f.yaml", data, &v) // must not panic
	})
}
