package yamlconf

import (
	"errors"
	"reflect"
	"testing"
)

const linesDoc = `listen: 0.0.0.0:7443
tls:
  ca: /etc/ca.pem

alerting:
  sinks:
    - name: soc
      url: ftp://x
    - name: am
      kinds: [a,
        b]
devices: []
`

func TestLines(t *testing.T) {
	t.Parallel()
	got := Lines([]byte(linesDoc))
	want := map[string]int{"listen": 1, "tls": 2, "tls.ca": 3, "alerting": 5, "alerting.sinks": 6,
		"alerting.sinks[0]": 7, "alerting.sinks[0].name": 7, "alerting.sinks[0].url": 8,
		"alerting.sinks[1]": 9, "alerting.sinks[1].name": 9, "alerting.sinks[1].kinds": 10,
		"alerting.sinks[1].kinds[0]": 10, "alerting.sinks[1].kinds[1]": 11, "devices": 12}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Lines = %v, want %v", got, want)
	}
	if got := Lines([]byte("a: [b\n")); len(got) != 0 {
		t.Errorf("Lines of a broken document = %v, want none", got)
	}
}

func TestLocate(t *testing.T) {
	t.Parallel()
	lines := Lines([]byte(linesDoc))
	tests := []struct {
		name string
		err  error
		skip []string
		want string
	}{
		{"key", Fieldf("tls.ca", "tls.ca: open /etc/ca.pem: no such file"), nil, "f.yaml:3: tls.ca: open /etc/ca.pem: no such file"},
		{"list item key", Fieldf("alerting.sinks[0].url", "bad url"), nil, "f.yaml:8: bad url"},
		{"flow list item on its own line", Fieldf("alerting.sinks[1].kinds[1]", "empty"), nil, "f.yaml:11: empty"},
		{"missing key: its parent", Fieldf("tls.cert", "tls.cert: required"), nil, "f.yaml:2: tls.cert: required"},
		{"missing section: the file", Fieldf("api.listen", "api.listen: bad"), nil, "f.yaml: api.listen: bad"},
		{"not a field", errors.New("db and store are both set"), nil, "f.yaml: db and store are both set"},
		{"overridden by a flag", Fieldf("tls.ca", "tls.ca: open /x: no such file"), []string{"tls"}, "tls.ca: open /x: no such file"},
		{"joined, under a prefix", errors.Join(Fieldf("listen", "one"),
			Under("alerting.sinks", errors.Join(Under("[1]", Fieldf("name", "two")), errors.New("three")))), nil,
			"f.yaml:1: one\nf.yaml:6: three\nf.yaml:9: two"},
		{"in the order of the file", errors.Join(Fieldf("devices", "d"), Fieldf("tls.ca", "c"), errors.New("x"), Fieldf("listen", "l")), nil,
			"f.yaml: x\nf.yaml:1: l\nf.yaml:3: c\nf.yaml:12: d"},
	}
	for _, tc := range tests {
		got := Locate("f.yaml", lines, tc.err, tc.skip...)
		if got == nil || got.Error() != tc.want {
			t.Errorf("%s: Locate = %v, want %q", tc.name, got, tc.want)
		}
	}
	if got := Locate("f.yaml", lines, nil); got != nil {
		t.Errorf("Locate(nil) = %v, want nil", got)
	}
}

func TestNameProblem(t *testing.T) {
	for name, want := range map[string]string{
		"soc": "", "soc mail": "", "": "name: required",
		" soc":   `name " soc": no leading or trailing space or control characters`,
		"soc\n":  `name "soc\n": no leading or trailing space or control characters`,
		"s\x7fc": `name "s\x7fc": no leading or trailing space or control characters`,
	} {
		if got := NameProblem(name); got != want {
			t.Errorf("NameProblem(%q) = %q, want %q", name, got, want)
		}
	}
}
