package main

import (
	"flag"
	"regexp"
	"strings"
	"testing"
)

// flagEntryRE splits help output into its flag entries: "  -name ..." and
// the indented lines below it.
var flagEntryRE = regexp.MustCompile(`(?m)^  -(\S+)[^\n]*(\n    \t[^\n]*)*`)

func flagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// TestHelpEveryCommand: offbox help CMD and offbox CMD -h print, on stdout
// with exit 0, the usage line, what the command does and every flag, each
// default once.
func TestHelpEveryCommand(t *testing.T) {
	tests := []struct {
		cmd   string
		flags []string
	}{
		{"version", nil},
		{"check-config", []string{"config", "syntax-only"}},
		{"run", flagNames(newRunFlags().fs)},
		{"inspect", flagNames(newInspectFlags().fs)},
		{"enroll", []string{"server", "ca", "token", "token-file", "dir", "key-type", "server-name", "if-needed"}},
	}
	if len(tests) != len(commandHelp) {
		t.Errorf("%d commands tested, %d have help: test them all", len(tests), len(commandHelp))
	}
	for _, tt := range tests {
		for _, args := range [][]string{{"help", tt.cmd}, {tt.cmd, "-h"}} {
			code, out, errOut := runCmd(t, args...)
			if code != 0 || errOut != "" {
				t.Errorf("%q: exit %d, stderr %q; want exit 0, help on stdout only", args, code, errOut)
			}
			if want := "usage: offbox " + tt.cmd; !strings.HasPrefix(out, want) {
				t.Errorf("%q: stdout %q, want it to start %q", args, out, want)
			}
			if about := commandHelp[tt.cmd].About; about == "" || !strings.Contains(out, "\n"+about+"\n") {
				t.Errorf("%q: no line saying what the command does in\n%s", args, out)
			}
			entries := map[string]string{}
			for _, e := range flagEntryRE.FindAllStringSubmatch(out, -1) {
				entries[e[1]] = e[0]
			}
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

// TestUsageListsCommandsWithDescriptions: offbox help, with no command,
// lists every command with a line saying what it does.
func TestUsageListsCommandsWithDescriptions(t *testing.T) {
	code, out, _ := runCmd(t, "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	lines := strings.Split(out, "\n")
	for name := range commandHelp {
		i := -1
		for j, l := range lines {
			if strings.HasPrefix(l, "  "+name) {
				i = j
			}
		}
		if i < 0 || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "        ") || len(strings.TrimSpace(lines[i+1])) < 10 {
			t.Errorf("usage: command %s missing or without a description in\n%s", name, out)
		}
	}
}

// TestUsageErrorsNameWhatWasGiven: a usage error goes to stderr with exit 2
// and names only what is wrong.
func TestUsageErrorsNameWhatWasGiven(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    string
		notWant string
	}{
		{[]string{"enroll", "-dir", "/x", "-server", "h:1"}, "-ca is required", "-dir"},
		{[]string{"enroll", "-dir", "/x"}, "-ca and -server are required", "-dir"},
		{[]string{"check-config"}, "-config is required", "unexpected"},
		{[]string{"check-config", "-config", "x", "extra"}, `unexpected arguments ["extra"]`, "required"},
		{[]string{"run", "-nope"}, "-nope", "-dry-run"},
		{[]string{"version", "-nope"}, "-nope", "Print"},
	} {
		code, out, errOut := runCmd(t, tc.args...)
		first, _, _ := strings.Cut(errOut, "\n") // the error; the usage line follows
		if code != 2 || out != "" || !strings.Contains(first, tc.want) || strings.Contains(first, tc.notWant) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 saying %q and not %q", tc.args, code, out, errOut, tc.want, tc.notWant)
		}
	}
}
