package main

import (
	"regexp"
	"strings"
	"testing"
)

// flagEntryRE splits help output into its flag entries: "  -name ..." and
// the indented lines below it.
var flagEntryRE = regexp.MustCompile(`(?m)^  -(\S+)[^\n]*(\n    \t[^\n]*)*`)

// flagEntries are the flags help lists, by name, each with its text.
func flagEntries(help string) map[string]string {
	m := map[string]string{}
	for _, e := range flagEntryRE.FindAllStringSubmatch(help, -1) {
		m[e[1]] = e[0]
	}
	return m
}

// TestHelpEveryCommand: help CMD and CMD -h print, on stdout with exit 0,
// the usage line, what the command does and every flag, each default once.
// triageFlags are the flags of every alerts ACTION.
var triageFlags = []string{"id", "comment", "to", "device", "label", "kind", "severity", "state", "since", "until", "all-matching", "yes"}

func TestHelpEveryCommand(t *testing.T) {
	t.Parallel()
	db := []string{"db", "config"}
	tests := []struct {
		cmd   string
		flags []string
	}{
		{"serve", []string{"config", "listen", "ca", "cert", "key", "db"}},
		{"check-config", []string{"config", "syntax-only"}},
		{"dev-certs", []string{"out", "device", "operator"}},
		{"records", append(db, "device", "source", "kind", "since", "until", "json", "count", "ref")},
		{"events", append(db, "device", "kind", "since", "until", "json")},
		{"alerts", append(db, "device", "label", "kind", "severity", "state", "since", "until", "json", "evidence")},
		{"alerts ack", append(db, triageFlags...)},
		{"alerts resolve", append(db, triageFlags...)},
		{"alerts reopen", append(db, triageFlags...)},
		{"alerts assign", append(db, triageFlags...)},
		{"alerts note", append(db, triageFlags...)},
		{"search", append(db, "device", "label", "source", "kind", "since", "until", "limit", "count", "context", "json", "asc", "timeout")},
		{"verify", append(db, "device")},
		{"revoke", append(db, "device", "reason")},
		{"token create", append(db, "device", "label", "ttl", "after-revoke")},
		{"operator-token create", append(db, "name", "ttl")},
		{"operator-token list", db},
		{"operator-token revoke", append(db, "name")},
		{"forward status", db},
		{"version", nil},
		{"appliance add", append(db, "name", "relay", "label")},
		{"appliance list", db},
		{"appliance remove", append(db, "name")},
	}
	if len(tests) != len(commandHelp) {
		t.Errorf("%d commands tested, %d have help: test them all", len(tests), len(commandHelp))
	}
	for _, tt := range tests {
		words := strings.Fields(tt.cmd)
		for _, args := range [][]string{append([]string{"help"}, words...), append(words, "-h")} {
			out, errOut, code := runFunc(args...)
			if code != 0 || errOut != "" {
				t.Errorf("%q: exit %d, stderr %q; want exit 0, help on stdout only", args, code, errOut)
			}
			if want := "usage: offbox-ingest " + tt.cmd; !strings.HasPrefix(out, want) {
				t.Errorf("%q: stdout starts %q, want %q", args, firstLine(out), want)
			}
			if about := commandHelp[tt.cmd].About; about == "" || !strings.Contains(out, "\n"+about+"\n") {
				t.Errorf("%q: no line saying what the command does in\n%s", args, out)
			}
			entries := flagEntries(out)
			for _, f := range tt.flags {
				e, ok := entries[f]
				if !ok {
					t.Errorf("%q: flag -%s missing from\n%s", args, f, out)
					continue
				}
				if n := strings.Count(e, "(default"); n > 1 {
					t.Errorf("%q: -%s shows its default %d times: %q", args, f, n, e)
				}
			}
			// Flags added since this table was written must be described too.
			for name, e := range entries {
				if _, text, _ := strings.Cut(e, "\t"); strings.TrimSpace(text) == "" {
					t.Errorf("%q: -%s has no description: %q", args, name, e)
				}
			}
			if len(entries) < len(tt.flags) {
				t.Errorf("%q: %d flags listed, want at least %d", args, len(entries), len(tt.flags))
			}
		}
	}
}

// TestHelpShowsDefaultsOnce: the token lifetime reads as it is typed, once.
func TestHelpShowsDefaultsOnce(t *testing.T) {
	t.Parallel()
	out, _, _ := runFunc("token", "create", "-h")
	ttl := flagEntries(out)["ttl"]
	if strings.Contains(ttl, "24h0m0s") || strings.Count(ttl, "(default") != 1 || !strings.Contains(ttl, "24h") {
		t.Errorf("-ttl help %q: want its default once, as 24h", ttl)
	}
	out, _, _ = runFunc("operator-token", "create", "-h")
	if got, want := flagEntries(out)["ttl"], "(default 2160h)"; !strings.Contains(got, want) {
		t.Errorf("operator-token create -ttl help %q: want %q", got, want)
	}
}

// TestHelpOfCommandGroups: help token and operator-token -h list the
// subcommands with what each does; help of an unknown command is a usage
// error.
func TestHelpOfCommandGroups(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help", "token"}, {"token", "-h"}, {"help", "operator-token"}} {
		out, errOut, code := runFunc(args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "subcommands:") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 0 listing the subcommands", args, code, out, errOut)
		}
		for name, c := range commandHelp {
			if strings.HasPrefix(name, args[len(args)-1]+" ") || (args[0] != "help" && strings.HasPrefix(name, args[0]+" ")) {
				if !strings.Contains(out, c.About) {
					t.Errorf("%q: %s's description missing from\n%s", args, name, out)
				}
			}
		}
	}
	if out, errOut, code := runFunc("help", "frobnicate"); code != 2 || out != "" || !strings.Contains(errOut, "unknown command") {
		t.Errorf("help frobnicate: exit %d, stdout %q, stderr %q; want exit 2 on stderr", code, out, errOut)
	}
}

// TestUsageErrorGoesToStderr: a bad flag is named on stderr, with the
// usage line, exit 2, nothing on stdout.
func TestUsageErrorGoesToStderr(t *testing.T) {
	t.Parallel()
	out, errOut, code := runFunc("token", "create", "-nope")
	if code != 2 || out != "" || !strings.Contains(errOut, "-nope") ||
		!strings.Contains(errOut, "usage: offbox-ingest token create") || strings.Contains(errOut, "-after-revoke\n") {
		t.Errorf("token create -nope: exit %d, stdout %q, stderr %q; want exit 2, the flag and the usage line on stderr", code, out, errOut)
	}
}

// TestDevCertsNamesWhatIsMissing: the usage error names the flag not given,
// not the one that was.
func TestDevCertsNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args      []string
		want, not string
	}{
		{[]string{"dev-certs", "-out", t.TempDir()}, "at least one -device or -operator is required", "-out and"},
		{[]string{"dev-certs", "-device", "a"}, "-out is required", "-device"},
		{[]string{"dev-certs"}, "-out and at least one -device or -operator are required", ""},
	} {
		_, errOut, code := runFunc(tc.args...)
		first := firstLine(errOut)
		if code != 2 || !strings.Contains(first, tc.want) || (tc.not != "" && strings.Contains(first, tc.not)) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 saying %q", tc.args, code, errOut, tc.want)
		}
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }
