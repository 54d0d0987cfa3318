// Command testreport reads `go test -json` on standard input and prints
// what a person wants from `make test`: one line per package as go test
// prints it, the whole output of every failed test and of every package that
// failed to build, then the skipped tests grouped by what would run them
// (the Debian package named in the skip message, see internal/testpeer), and
// a closing "N passed, N failed, N skipped" line. It exits 1 when anything
// failed or the input ends without a package's result (a crashed go test).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// event is one line of test2json output.
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail name the package here
	Test       string
	Elapsed    float64
	Output     string
}

type key struct{ pkg, test string }

// report accumulates the events.
type report struct {
	out      io.Writer
	outputs  map[key][]string // of tests (and packages) still running
	skips    []skip
	passed   int
	failed   int
	pending  map[string]bool // packages started and not ended
	failPkgs []string
}

type skip struct{ pkg, test, why string }

func newReport(out io.Writer) *report {
	return &report{out: out, outputs: map[key][]string{}, pending: map[string]bool{}}
}

// noise is test2json's own framing, which the plain go test output lacks.
var noise = regexp.MustCompile(`^(=== (RUN|PAUSE|CONT|NAME)\s|\s*--- (PASS|SKIP): |FAIL\n$|FAIL\t|ok  \t|PASS\n$)`)

func (r *report) add(e event) {
	pkg := e.Package
	if pkg == "" {
		pkg = e.ImportPath
	}
	k := key{pkg, e.Test}
	switch e.Action {
	case "start":
		r.pending[pkg] = true
	case "output", "build-output":
		r.outputs[k] = append(r.outputs[k], e.Output)
	case "build-fail":
		fmt.Fprint(r.out, strings.Join(r.outputs[k], ""))
		delete(r.outputs, k)
	case "skip":
		if e.Test == "" {
			// A package without test files, or one whose tests were all filtered.
			fmt.Fprintf(r.out, "?   \t%s\t[no test files]\n", pkg)
			delete(r.pending, pkg)
			return
		}
		r.skips = append(r.skips, skip{pkg, e.Test, skipReason(r.outputs[k])})
		delete(r.outputs, k)
	case "pass":
		if e.Test == "" {
			fmt.Fprintf(r.out, "ok  \t%s\t%.3fs\n", pkg, e.Elapsed)
			delete(r.pending, pkg)
			r.dropPackage(pkg)
			return
		}
		r.passed++
		delete(r.outputs, k)
	case "fail":
		if e.Test == "" {
			// The package's own output: a panic, a timeout, a TestMain's words.
			for _, l := range r.outputs[k] {
				if !noise.MatchString(l) {
					fmt.Fprint(r.out, l)
				}
			}
			// Tests that never ended: a timeout or a crash ended the
			// package under them, and their output says where it hung.
			for _, k := range r.running(pkg) {
				fmt.Fprintf(r.out, "--- unfinished: %s\n", k.test)
				for _, l := range r.outputs[k] {
					if !noise.MatchString(l) {
						fmt.Fprint(r.out, l)
					}
				}
			}
			fmt.Fprintf(r.out, "FAIL\t%s\t%.3fs\n", pkg, e.Elapsed)
			delete(r.pending, pkg)
			r.failPkgs = append(r.failPkgs, pkg)
			r.dropPackage(pkg)
			return
		}
		r.failed++
		for _, l := range r.outputs[k] {
			if !noise.MatchString(l) {
				fmt.Fprint(r.out, l)
			}
		}
		delete(r.outputs, k)
	}
}

// running lists the tests of pkg that started and have not ended, in name
// order.
func (r *report) running(pkg string) []key {
	var ks []key
	for k := range r.outputs {
		if k.pkg == pkg && k.test != "" {
			ks = append(ks, k)
		}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].test < ks[j].test })
	return ks
}

// dropPackage forgets the buffered output of a package that ended.
func (r *report) dropPackage(pkg string) {
	for k := range r.outputs {
		if k.pkg == pkg {
			delete(r.outputs, k)
		}
	}
}

// aptRE finds the command that installs a missing peer: a Debian package,
// or a Go program (mailpit).
var aptRE = regexp.MustCompile(`apt-get install [a-z0-9][a-z0-9.+-]*|go install [a-zA-Z0-9./_-]+@v[0-9][a-z0-9.+-]*`)

// skipReason is the message a skipped test gave: its last output line that
// is not test2json's framing.
func skipReason(lines []string) string {
	why := ""
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || noise.MatchString(l) || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		why = t
	}
	// Drop the file:line prefix t.Skip adds.
	if i := strings.Index(why, ": "); i > 0 && strings.Contains(why[:i], ".go:") {
		why = why[i+2:]
	}
	return why
}

// summary prints the skips grouped by the package that would run them, then
// the closing line.
func (r *report) summary() {
	if len(r.skips) > 0 {
		byPkg := map[string][]skip{}
		for _, s := range r.skips {
			p := "(no package named)"
			if m := aptRE.FindString(s.why); m != "" {
				p = m
			} else if strings.Contains(s.why, "-short") {
				p = "(-short)"
			}
			byPkg[p] = append(byPkg[p], s)
		}
		names := make([]string, 0, len(byPkg))
		for p := range byPkg {
			names = append(names, p)
		}
		sort.Strings(names)
		fmt.Fprintf(r.out, "\nskipped %d tests:\n", len(r.skips))
		for _, p := range names {
			ss := byPkg[p]
			if strings.HasPrefix(p, "(") {
				fmt.Fprintf(r.out, "  %s: %d\n", p, len(ss))
			} else {
				fmt.Fprintf(r.out, "  %s: %d\n", p, len(ss))
			}
			for _, s := range ss {
				fmt.Fprintf(r.out, "    %s %s: %s\n", strings.TrimPrefix(s.pkg, "github.com/offbox/offbox/"), s.test, s.why)
			}
		}
		fmt.Fprintln(r.out, "  (scripts/install-test-deps.sh installs them all; OFFBOX_INTEGRATION=1 turns these skips into failures)")
	}
	pending := make([]string, 0, len(r.pending))
	for p := range r.pending {
		pending = append(pending, p)
	}
	sort.Strings(pending)
	for _, p := range pending {
		fmt.Fprintf(r.out, "FAIL\t%s\t(no result: go test ended before this package did)\n", p)
		r.failPkgs = append(r.failPkgs, p)
	}
	if len(r.failPkgs) > 0 {
		fmt.Fprintf(r.out, "\nfailed packages: %s\n", strings.Join(r.failPkgs, " "))
	}
	fmt.Fprintf(r.out, "\n%d passed, %d failed, %d skipped\n", r.passed, r.failed, len(r.skips))
}

func main() {
	r := newReport(os.Stdout)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// go test's own words (a build error before test2json, "go: ...").
			fmt.Println(string(line))
			continue
		}
		r.add(e)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		r.failPkgs = append(r.failPkgs, "(input)")
	}
	r.summary()
	if r.failed > 0 || len(r.failPkgs) > 0 {
		os.Exit(1)
	}
}
