package filetail

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/internal/testpeer"
)

// TestRotateIntegration rotates a growing log with the real logrotate, in
// create and in copytruncate mode, while the tailer runs, and checks that
// every line comes exactly once, in order, with no gap.
//
// The writer pauses (closes its file) while logrotate runs and reopens it
// with O_APPEND after, as a daemon does on SIGHUP, so copytruncate's own race
// (lines written between its copy and its truncate are lost by logrotate
// itself) cannot lose lines. Before each rotation the test waits until the
// tailer has emitted the first line of the current file, so it has seen the
// previous rotation; it may still be behind within the current file. A
// tailer that follows a path cannot see a file that was rotated in and out
// again between two of its looks: that limit is not tested.
func TestRotateIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs logrotate")
	}
	lr := testpeer.LookPath(t, "logrotate", "logrotate", "/usr/sbin/logrotate")
	for _, mode := range []string{"create", "copytruncate"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			testRotateWith(t, lr, mode)
		})
	}
}

func testRotateWith(t *testing.T, logrotate, mode string) {
	const (
		chunks        = 25 // rotations: fewer than "rotate 30", so none is deleted
		linesPerChunk = 400
	)
	dir := t.TempDir() // 0700: logrotate refuses parent directories others can write
	path := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "logrotate.state")
	conf := filepath.Join(dir, "logrotate.conf")
	writeFile(t, conf, fmt.Sprintf("%s {\n\trotate 30\n\t%s\n\tnocompress\n\tmissingok\n}\n", path, mode))

	cfg := testConfig(path)
	cfg.PollEvery = 50 * time.Millisecond
	cfg.ReadBufBytes = 4096 // many reads per chunk: rotations land between them
	writeFile(t, path, "")
	em, _ := startTailer(t, cfg)

	var want []string
	for c := range chunks {
		w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i := range linesPerChunk {
			n := c*linesPerChunk + i
			// Lengths vary, so lines straddle reads and the
			// fingerprint boundary differently in every file.
			l := fmt.Sprintf("%s %06d %s", mode, n, strings.Repeat("x", n%97))
			want = append(want, l)
			b.WriteString(l + "\n")
		}
		if _, err := w.WriteString(b.String()); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		// The tailer reads this file now; rotate under it.
		em.waitLines(t, c*linesPerChunk+1)
		out, err := exec.Command(logrotate, "-f", "-s", state, conf).CombinedOutput()
		if err != nil {
			t.Fatalf("logrotate: %v\n%s", err, out)
		}
	}
	em.waitLines(t, len(want))
	time.Sleep(4 * cfg.PollEvery) // nothing more may come
	got := em.all()
	logs := ofKind(got, collectors.KindLog)
	if len(logs) != len(got) {
		t.Errorf("unexpected non-log records:\n%s", dump(ofKindNot(got, collectors.KindLog)))
	}
	b := bodies(logs)
	if len(b) != len(want) {
		t.Fatalf("got %d lines, want %d", len(b), len(want))
	}
	for i := range want {
		if b[i] != want[i] {
			t.Fatalf("line %d: got %q, want %q", i, b[i], want[i])
		}
	}
	// The rotated files are all still there: logrotate did rotate.
	if _, err := os.Stat(fmt.Sprintf("%s.%d", path, chunks)); err != nil {
		t.Errorf("logrotate did not make %d rotations: %v", chunks, err)
	}
}

func ofKindNot(recs []collectors.Record, k collectors.Kind) []collectors.Record {
	var out []collectors.Record
	for _, r := range recs {
		if r.Kind != k {
			out = append(out, r)
		}
	}
	return out
}
