package authlog

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// labelled is one corpus line with the event a person expects from it.
type labelled struct {
	lineNo               int
	kind                 string // "none" for lines that are not events
	user, source, method string
	version              string // appliance.tsv only: the firmware version a restart line names
	count                int
	line                 []byte
}

var refTime = time.Date(2026, time.November, 22, 19, 0, 0, 0, time.UTC)

func loadCorpus(tb testing.TB) []labelled {
	tb.Helper()
	return loadCorpusFile(tb, "corpus.tsv")
}

// loadCorpusFile reads a labelled corpus file from testdata.
func loadCorpusFile(tb testing.TB, name string) []labelled {
	tb.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []labelled
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		text := sc.Text()
		if strings.HasPrefix(text, "#") {
			continue
		}
		// appliance.tsv has a version column after method.
		cols := 6
		if name == "appliance.tsv" {
			cols = 7
		}
		f := strings.SplitN(text, "\t", cols)
		if len(f) != cols {
			tb.Fatalf("%s:%d: %d fields, want %d", name, n, len(f), cols)
		}
		version := ""
		if cols == 7 {
			version = f[4]
			f = append(f[:4], f[5:]...)
		}
		c, err := strconv.Atoi(f[4])
		if err != nil {
			tb.Fatalf("%s:%d: count %q: %v", name, n, f[4], err)
		}
		line := f[5]
		if strings.HasPrefix(line, `"`) {
			if line, err = strconv.Unquote(line); err != nil {
				tb.Fatalf("%s:%d: %v", name, n, err)
			}
		}
		out = append(out, labelled{n, f[0], f[1], f[2], f[3], version, c, []byte(line)})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestCorpusPrecisionRecall measures detection on the labelled corpus. A
// parsed event is a true positive only when kind, user and source all match
// the label; a wrong event counts both as a false positive and a false
// negative. Every labelled line must come out as labelled: one missed or
// false event fails the test, since a parser branch lost in a refactoring
// costs a single line and would hide inside any ratio. Precision and
// recall are logged, and must stay at least 0.98 besides. Method and count
// are checked as well and reported separately.
func TestCorpusPrecisionRecall(t *testing.T) {
	corpus := loadCorpus(t)
	if len(corpus) < 400 {
		t.Fatalf("corpus has %d lines, want at least 400", len(corpus))
	}
	var tp, fp, fn, positives, fieldErrs int
	for _, c := range corpus {
		ev, ok := Parse(c.line, refTime)
		want := c.kind != "none"
		if want {
			positives++
		}
		switch {
		case !ok && !want:
		case !ok && want:
			fn++
			t.Errorf("corpus.tsv:%d: missed %s user=%q source=%q\n\t%q", c.lineNo, c.kind, c.user, c.source, c.line)
		case ok && !want:
			fp++
			t.Errorf("corpus.tsv:%d: false event %+v\n\t%q", c.lineNo, ev, c.line)
		case string(ev.Kind) != c.kind || ev.User != c.user || ev.Source != c.source:
			fp++
			fn++
			t.Errorf("corpus.tsv:%d: got %s user=%q source=%q, want %s user=%q source=%q\n\t%q",
				c.lineNo, ev.Kind, ev.User, ev.Source, c.kind, c.user, c.source, c.line)
		default:
			tp++
			if ev.Method != c.method || ev.Count != c.count {
				fieldErrs++
				t.Errorf("corpus.tsv:%d: got method=%q count=%d, want method=%q count=%d\n\t%q",
					c.lineNo, ev.Method, ev.Count, c.method, c.count, c.line)
			}
		}
	}
	precision := float64(tp) / float64(max(tp+fp, 1))
	recall := float64(tp) / float64(max(tp+fn, 1))
	t.Logf("corpus: %d lines, %d events, %d negatives", len(corpus), positives, len(corpus)-positives)
	t.Logf("precision %.4f (%d/%d)  recall %.4f (%d/%d)  method/count errors %d", precision, tp, tp+fp, recall, tp, tp+fn, fieldErrs)
	if precision < 0.98 || recall < 0.98 {
		t.Fatalf("precision %.4f, recall %.4f: want both >= 0.98", precision, recall)
	}
}

// TestCorpusCoversEverySource guards the corpus itself: each source and
// header the package claims to read appears in it.
func TestCorpusCoversEverySource(t *testing.T) {
	corpus := loadCorpus(t)
	var all strings.Builder
	for _, c := range corpus {
		all.Write(c.line)
		all.WriteByte('\n')
	}
	s := all.String()
	for _, want := range []string{
		"sshd[", "sshd-session[", "dropbear[", "sudo[", "su[", "login[", "passwd[", "chpasswd[", "usermod[", "useradd[", "userdel[",
		"type=USER_AUTH", "%SEC_LOGIN-4-LOGIN_FAILED", "%SEC_LOGIN-5-LOGIN_SUCCESS", "%SSH-5-SSH2_USERAUTH",
		"SSHD_LOGIN_FAILED", "UI_AUTH_EVENT", "LOGIN_FAILED: ", "via winbox", "logid=\"0100032002\"", "logid=\"0100032001\"",
		"luci: failed login", "luci: accepted login", "Login incorrect", "Login OK", "message repeated",
		"<86>1 2026-", "+01:00 core", "2026 authpriv.info", "\nNov ", "<38>Nov",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("corpus has no line with %q", want)
		}
	}
}
