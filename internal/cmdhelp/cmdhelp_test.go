package cmdhelp

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestFlagsShowEachDefaultOnce(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Duration("ttl", 24*time.Hour, "lifetime (default: the configuration's, else 24h)")
	fs.Duration("every", 90*time.Minute, "how often")
	fs.String("key-type", "ed25519", "key `type`")
	fs.Bool("v", false, "verbose")
	fs.Int("n", 0, "count")
	var b bytes.Buffer
	Flags(&b, fs)
	got := b.String()
	for _, want := range []string{
		"  -ttl duration\n    \tlifetime (default: the configuration's, else 24h)\n",
		"  -every duration\n    \thow often (default 1h30m)\n",
		"  -key-type type\n    \tkey type (default \"ed25519\")\n",
		"  -v\tverbose\n",
		"  -n int\n    \tcount\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Flags output lacks %q; got\n%s", want, got)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{24 * time.Hour, "24h"}, {90 * time.Minute, "1h30m"}, {time.Minute, "1m"}, {15 * time.Second, "15s"},
		{time.Hour + time.Second, "1h0m1s"}, {1500 * time.Millisecond, "1.5s"},
	} {
		if got := ShortDuration(tt.d); got != tt.want {
			t.Errorf("ShortDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestParseSplitsHelpFromErrors: -h goes to the Stderr's Help writer with
// code 0; a bad flag to stderr with code 2.
func TestParseSplitsHelpFromErrors(t *testing.T) {
	c := Command{Usage: "prog cmd [-a]", About: "Does a thing."}
	for _, tt := range []struct {
		args               []string
		code               int
		wantOut, wantErr   string
		notInOut, notInErr string
	}{
		{[]string{"-h"}, 0, "Does a thing.", "", "", "usage"},
		{[]string{"-zz"}, 2, "", "-zz", "usage", "Does a thing."},
	} {
		var out, errb bytes.Buffer
		fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
		fs.Bool("a", false, "the a flag")
		fs.SetOutput(Stderr{Writer: &errb, Help: &out})
		code, ok := Parse(fs, tt.args, c, "prog help cmd")
		if ok || code != tt.code || !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errb.String(), tt.wantErr) ||
			(tt.notInOut != "" && strings.Contains(out.String(), tt.notInOut)) || strings.Contains(errb.String(), tt.notInErr) {
			t.Errorf("%q: code %d ok %v, stdout %q, stderr %q", tt.args, code, ok, out.String(), errb.String())
		}
	}
}
