package filetail

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" means success
	}{
		{"defaults", Config{Paths: []string{"/var/log/app.log"}}, ""},
		{"glob and end", Config{Paths: []string{"/var/log/*.log"}, StartAt: "end"}, ""},
		{"beginning", Config{Paths: []string{"x.log"}, StartAt: "beginning"}, ""},
		{"no paths", Config{}, "no paths"},
		{"empty path", Config{Paths: []string{""}}, "empty path"},
		{"bad glob", Config{Paths: []string{"/var/log/[a.log"}}, "bad glob pattern"},
		{"bad StartAt", Config{Paths: []string{"a"}, StartAt: "middle"}, "StartAt"},
		{"negative max line", Config{Paths: []string{"a"}, MaxLineBytes: -1}, "MaxLineBytes -1 is negative"},
		{"negative read buf", Config{Paths: []string{"a"}, ReadBufBytes: -5}, "ReadBufBytes -5 is negative"},
		{"huge read buf", Config{Paths: []string{"a"}, ReadBufBytes: 1 << 30}, "above the limit"},
		{"negative poll", Config{Paths: []string{"a"}, PollEvery: -time.Second}, "PollEvery"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl, err := New(tc.cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if tl.Name() != "filetail" {
					t.Errorf("Name() = %q, want filetail", tl.Name())
				}
				if tl.maxLine != defaultMaxLineBytes || tl.readChunk != defaultReadBufBytes || tl.pollEvery != time.Second {
					t.Errorf("defaults: got max %d read %d poll %v", tl.maxLine, tl.readChunk, tl.pollEvery)
				}
				for _, p := range tl.patterns {
					if !filepath.IsAbs(p) {
						t.Errorf("pattern %q is not absolute", p)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestLinesByteExact: every byte of a line comes through as it is, with
// the right range, identity, source, kind and time; an empty file yields
// nothing.
func TestLinesByteExact(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	want := []string{"plain", "crlf\r", "\xff\xfe invalid utf-8 \xc3", "nul\x00inside", "", "tab\tend", "émoji ✓", "\r", strings.Repeat("x", 1500)}
	content := strings.Join(want, "\n") + "\n"
	path := filepath.Join(dir, "a.log")
	writeFile(t, path, content)
	writeFile(t, filepath.Join(dir, "empty.log"), "")

	em, stop := startTailer(t, testConfig(filepath.Join(dir, "*.log")))
	em.waitLines(t, len(want))
	time.Sleep(5 * testPoll) // nothing more may come: not from the empty file, not twice
	stop()
	recs := em.all()
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d:\n%s", len(recs), len(want), dump(recs))
	}
	id := idOf(t, path, collectors.FingerprintMax)
	var off int64
	for i, r := range recs {
		if string(r.Body) != want[i] {
			t.Errorf("record %d body %q, want %q", i, r.Body, want[i])
		}
		if r.Kind != collectors.KindLog || r.Source != "file:"+path || r.Flags != 0 || !r.Time.Equal(fixedTime) {
			t.Errorf("record %d: kind %v source %q flags %d time %v", i, r.Kind, r.Source, r.Flags, r.Time)
		}
		end := off + int64(len(want[i])) + 1
		if r.File == nil || r.File.Start != off || r.File.End != end {
			t.Fatalf("record %d range %+v, want [%d,%d)", i, r.File, off, end)
		}
		if content[r.File.Start:r.File.End] != want[i]+"\n" {
			t.Errorf("record %d: file bytes of its range differ from its body", i)
		}
		if r.File.ID != id {
			t.Errorf("record %d identity %+v, want %+v", i, r.File.ID, id)
		}
		off = end
	}
}

// TestChunking: the records do not depend on how reads cut the file; tiny
// read buffers and line limits give what the pure splitter gives, whether
// the emitter takes runs of lines or one line at a time.
func TestChunking(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var b []byte
	for range 300 {
		n := rng.IntN(40)
		if rng.IntN(10) == 0 {
			n = rng.IntN(300)
		}
		for range n {
			b = append(b, byte(rng.IntN(256)))
		}
		b = append(b, '\n')
	}
	b = append(b, "unfinished"...)
	content := string(b)
	for _, sz := range []struct {
		readBuf, maxLine int
		plain            bool
	}{{1, 1, false}, {3, 5, false}, {7, 4, false}, {64, 17, false}, {4096, 100, false}, {0, 0, false}, {7, 4, true}, {0, 0, true}} {
		t.Run(fmt.Sprintf("read%d_max%d_plain%t", sz.readBuf, sz.maxLine, sz.plain), func(t *testing.T) {
			t.Parallel()
			maxLine := sz.maxLine
			if maxLine == 0 {
				maxLine = defaultMaxLineBytes
			}
			want, rest := splitAll([]byte(content), maxLine, false)
			path := filepath.Join(t.TempDir(), "a.log")
			writeFile(t, path, content)
			cfg := testConfig(path)
			cfg.ReadBufBytes, cfg.MaxLineBytes = sz.readBuf, sz.maxLine
			em, stop := runTailer(t, cfg, &fakeEmitter{plain: sz.plain})
			em.waitLines(t, len(want))
			time.Sleep(3 * testPoll)
			stop()
			got := em.all()
			if len(got) != len(want) {
				t.Fatalf("got %d records, want %d (rest %q held)\n%s", len(got), len(want), rest, dump(got[len(want)-3:len(want)+3]))
			}
			var off int64
			for i, r := range got {
				if string(r.Body) != want[i].body || r.Flags != want[i].flags {
					t.Fatalf("record %d: got %q flags %d, want %q flags %d", i, r.Body, r.Flags, want[i].body, want[i].flags)
				}
				if r.File.Start != off {
					t.Fatalf("record %d starts at %d, want %d", i, r.File.Start, off)
				}
				off = r.File.End
			}
			if int(off) != len(content)-len(rest) {
				t.Errorf("records cover %d bytes, want %d", off, len(content)-len(rest))
			}
		})
	}
}

// TestLongLines: lines over MaxLineBytes come in pieces flagged partial,
// all but the last; an unfinished long line is cut before its newline comes.
func TestLongLines(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "12345678\n123456789\nabcdefghijklmnopqrst\nshort\n")
	cfg := testConfig(path)
	cfg.MaxLineBytes = 8
	em, _ := startTailer(t, cfg)
	want := []piece{{"12345678", 0}, {"12345678", partial}, {"9", 0},
		{"abcdefgh", partial}, {"ijklmnop", partial}, {"qrst", 0}, {"short", 0}}
	got := em.waitLines(t, len(want))
	checkPieces(t, got, want)
	wantRanges := [][2]int64{{0, 9}, {9, 17}, {17, 19}, {19, 27}, {27, 35}, {35, 40}, {40, 46}}
	for i, r := range got[:len(wantRanges)] {
		if r.File.Start != wantRanges[i][0] || r.File.End != wantRanges[i][1] {
			t.Errorf("record %d range [%d,%d), want %v", i, r.File.Start, r.File.End, wantRanges[i])
		}
	}

	// A line still being written is cut once it passes the maximum.
	appendFile(t, path, "ABCDEFGHIJKLMNOPQR")
	got = em.waitLines(t, len(want)+2)
	checkPieces(t, got[len(want):], []piece{{"ABCDEFGH", partial}, {"IJKLMNOP", partial}})
	appendFile(t, path, "S\n")
	got = em.waitLines(t, len(want)+3)
	checkPieces(t, got[len(want)+2:], []piece{{"QRS", 0}})
}

func checkPieces(t *testing.T, got []collectors.Record, want []piece) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d:\n%s", len(got), len(want), dump(got))
	}
	for i := range want {
		if string(got[i].Body) != want[i].body || got[i].Flags != want[i].flags {
			t.Errorf("record %d: got %q flags %d, want %q flags %d", i, got[i].Body, got[i].Flags, want[i].body, want[i].flags)
		}
	}
}

// TestPartialLastLine: a line without its newline is held until it comes.
func TestPartialLastLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "one\ntw")
	em, _ := startTailer(t, testConfig(path))
	em.waitLines(t, 1)
	time.Sleep(5 * testPoll)
	if got := em.all(); len(got) != 1 {
		t.Fatalf("the unfinished line was emitted: got\n%s", dump(got))
	}
	appendFile(t, path, "o\nthree\n")
	got := em.waitLines(t, 3)
	checkPieces(t, got, []piece{{"one", 0}, {"two", 0}, {"three", 0}})
	if got[1].File.Start != 4 || got[1].File.End != 8 {
		t.Errorf("joined line range [%d,%d), want [4,8)", got[1].File.Start, got[1].File.End)
	}
}

func TestStartAt(t *testing.T) {
	t.Parallel()
	old, oldWant := lines("old", 0, 3)
	newText, newWant := lines("new", 0, 2)
	later, laterWant := lines("later", 0, 2)
	tests := []struct {
		startAt string
		want    []string
	}{
		{"", append(append(append([]string{}, oldWant...), newWant...), laterWant...)},
		{"beginning", append(append(append([]string{}, oldWant...), newWant...), laterWant...)},
		{"end", append(append([]string{}, newWant...), laterWant...)},
	}
	for _, tc := range tests {
		t.Run(tc.startAt, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "a.log")
			writeFile(t, path, old)
			cfg := testConfig(filepath.Join(dir, "*.log"))
			cfg.StartAt = tc.startAt
			em, _ := startTailer(t, cfg)
			// Positioned at 0 or at the end, depending on StartAt,
			// then at the end once read: wait for the end.
			waitOpenAt(t, path, int64(len(old)))
			appendFile(t, path, newText)
			// A file that appears later starts at 0, whatever StartAt.
			writeFile(t, filepath.Join(dir, "b.log"), later)
			em.waitLines(t, len(tc.want))
			time.Sleep(3 * testPoll)
			got := em.all()
			// Two files: compare per source.
			var a, b []string
			for _, r := range got {
				if strings.HasSuffix(r.Source, "a.log") {
					a = append(a, string(r.Body))
				} else {
					b = append(b, string(r.Body))
				}
			}
			if all := append(a, b...); !equalStrings(all, tc.want) {
				t.Errorf("got %q, want %q", all, tc.want)
			}
		})
	}
}

// rotation while the agent was down, found again from a checkpoint.
func TestResume(t *testing.T) {
	t.Parallel()
	first, firstWant := lines("first", 0, 4) // acknowledged: the first 2 lines
	more, moreWant := lines("more", 0, 2)    // written after the checkpoint, before rotation
	newer, newerWant := lines("newer", 0, 3) // the file at the path after rotation
	grow, growWant := lines("grow", 0, 60)   // makes a small file pass FingerprintMax
	ackOff := int64(len(firstWant[0]) + 1 + len(firstWant[1]) + 1)
	rest := append(append([]string{}, firstWant[2:]...), moreWant...)

	tests := []struct {
		name string
		// setup runs with the agent down, after the checkpoint was taken
		// of a.log; it returns the path of the file that must finish the
		// checkpointed lines ("" for none).
		setup    func(t *testing.T, dir, path string) string
		wantGap  bool
		want     []string
		appendTo string // content written to the path after the tailer has started
	}{
		{
			name:  "same file",
			setup: func(t *testing.T, dir, path string) string { appendFile(t, path, more); return path },
			want:  rest,
		},
		{
			name: "small file grew past the fingerprint",
			setup: func(t *testing.T, dir, path string) string {
				appendFile(t, path, more+grow)
				return path
			},
			want: append(append([]string{}, rest...), growWant...),
		},
		{
			name: "renamed and recreated",
			setup: func(t *testing.T, dir, path string) string {
				appendFile(t, path, more)
				rot := path + ".1"
				mustRename(t, path, rot)
				// A compressed copy of the same bytes is never read.
				copyFile(t, rot, path+".2.gz")
				writeFile(t, path, newer)
				return rot
			},
			want: append(append([]string{}, rest...), newerWant...),
		},
		{
			name: "renamed, the new file begins as the old one did",
			setup: func(t *testing.T, dir, path string) string {
				appendFile(t, path, more)
				rot := path + ".1"
				mustRename(t, path, rot)
				writeFile(t, path, first+newer)
				return rot
			},
			want: concat(rest, firstWant, newerWant),
		},
		{
			name: "path holds a copy, the original is gone",
			setup: func(t *testing.T, dir, path string) string {
				appendFile(t, path, more)
				copyFile(t, path, path+".tmp")
				os.Remove(path)
				mustRename(t, path+".tmp", path)
				return path
			},
			want: rest,
		},
		{
			name: "renamed, dated name, not recreated yet",
			setup: func(t *testing.T, dir, path string) string {
				appendFile(t, path, more)
				rot := path + "-20260101"
				mustRename(t, path, rot)
				return rot
			},
			want:     append(append([]string{}, rest...), newerWant...),
			appendTo: newer,
		},
		{
			name: "copytruncate",
			setup: func(t *testing.T, dir, path string) string {
				appendFile(t, path, more)
				cp := path + ".1"
				copyFile(t, path, cp)
				truncateTo(t, path, newer)
				return cp
			},
			want: append(append([]string{}, rest...), newerWant...),
		},
		{
			name: "rotated file gone",
			setup: func(t *testing.T, dir, path string) string {
				mustRename(t, path, filepath.Join(t.TempDir(), "elsewhere"))
				writeFile(t, path, newer)
				return ""
			},
			wantGap: true,
			want:    newerWant,
		},
		{
			name: "inode reused by another file",
			setup: func(t *testing.T, dir, path string) string {
				// Same inode, other first bytes: a new file.
				truncateTo(t, path, newer)
				return ""
			},
			wantGap: true,
			want:    newerWant,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "a.log")
			writeFile(t, path, first)
			cp := collectors.Checkpoint{Source: "file:" + path, ID: idOf(t, path, len(first)), Offset: ackOff}
			finisher := tc.setup(t, dir, path)
			var finisherIno uint64
			if finisher != "" {
				finisherIno = inodeOf(t, finisher)
			}

			cfg := testConfig(path)
			cfg.StartAt = "end" // a checkpoint wins over StartAt
			em, _ := startTailer(t, cfg, cp)
			if tc.appendTo != "" {
				em.waitLines(t, len(rest))
				appendFile(t, path, tc.appendTo)
			}
			em.waitLines(t, len(tc.want))
			time.Sleep(3 * testPoll)
			got := em.all()
			logs := ofKind(got, collectors.KindLog)
			if b := bodies(logs); !equalStrings(b, tc.want) {
				t.Fatalf("got lines %q, want %q\n%s", b, tc.want, dump(got))
			}
			gaps := ofKind(got, collectors.KindGap)
			if tc.wantGap {
				if len(gaps) != 1 || got[0].Kind != collectors.KindGap {
					t.Fatalf("want one gap record first, got:\n%s", dump(got))
				}
				g := gaps[0]
				if g.Source != "file:"+path || attr(g, "reason") != "rotated file not found" || attr(g, "bytes") != "unknown" || len(g.Body) == 0 {
					t.Errorf("gap record: %s", dump(gaps))
				}
			} else if len(gaps) != 0 {
				t.Errorf("unexpected gap:\n%s", dump(got))
			}
			// The checkpointed lines resume at the checkpoint offset
			// and carry the identity of the file they were read from.
			if !tc.wantGap {
				if logs[0].File.Start != ackOff {
					t.Errorf("first record starts at %d, want %d", logs[0].File.Start, ackOff)
				}
				for _, r := range logs[:len(rest)] {
					if r.File.ID.Inode != finisherIno || r.Source != "file:"+path {
						t.Errorf("record %q: inode %d source %q, want inode %d of %s", r.Body, r.File.ID.Inode, r.Source, finisherIno, finisher)
					}
				}
			}
		})
	}
}

func mustRename(t testing.TB, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// TestRotateLive: rotation while the tailer runs and the emitter is blocked,
// so the rotation happens with lines still unread. Every line comes exactly
// once, the old file's before the new file's.
func TestRotateLive(t *testing.T) {
	t.Parallel()
	// Read in one chunk, then stuck in Emit. Longer than FingerprintMax,
	// so the whole fingerprint is taken at the first read.
	before, beforeWant := lines("before", 0, 80)
	unread, unreadWant := lines("unread", 0, 3) // written while stuck: unread at rotation
	after, afterWant := lines("after", 0, 2)    // the new file's
	middle, middleWant := lines("middle", 0, 4) // a file rotated in and out while behind
	// Longer than before+unread: a rewrite that only the fingerprint tells.
	longAfter, longAfterWant := lines("after-long-enough-to-pass-the-old-offset", 0, 80)

	tests := []struct {
		name     string
		rotate   func(t *testing.T, path string)
		tail     string // unfinished last line of the old file
		want     []string
		wantFlag map[string]uint32
	}{
		{
			name: "rename and create",
			rotate: func(t *testing.T, path string) {
				mustRename(t, path, path+".1")
				writeFile(t, path, after)
			},
			want: concat(beforeWant, unreadWant, afterWant),
		},
		{
			name: "rename and create, old file ends without newline",
			rotate: func(t *testing.T, path string) {
				appendFile(t, path, "no newline at the end")
				mustRename(t, path, path+".1")
				writeFile(t, path, after)
			},
			want:     concat(beforeWant, unreadWant, []string{"no newline at the end"}, afterWant),
			wantFlag: map[string]uint32{"no newline at the end": noNewline},
		},
		{
			name: "rename, writer appends to the old file, then create",
			rotate: func(t *testing.T, path string) {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				mustRename(t, path, path+".1")
				f.WriteString("late to the old file\n")
				writeFile(t, path, after)
			},
			want: concat(beforeWant, unreadWant, []string{"late to the old file"}, afterWant),
		},
		{
			// The follower is still stuck in the first file while the
			// path is rotated twice: the middle file must not be skipped.
			name: "rename and create twice while behind",
			rotate: func(t *testing.T, path string) {
				mustRename(t, path, path+".1")
				writeFile(t, path, middle)
				time.Sleep(20 * time.Millisecond) // distinct last-write times
				mustRename(t, path+".1", path+".2")
				mustRename(t, path, path+".1")
				writeFile(t, path, after)
			},
			want: concat(beforeWant, unreadWant, middleWant, afterWant),
		},
		{
			name: "copytruncate twice while behind",
			rotate: func(t *testing.T, path string) {
				copyFile(t, path, path+".1")
				truncateTo(t, path, middle)
				time.Sleep(20 * time.Millisecond)
				mustRename(t, path+".1", path+".2")
				copyFile(t, path, path+".1")
				truncateTo(t, path, after)
			},
			want: concat(beforeWant, unreadWant, middleWant, afterWant),
		},
		{
			// The truncated file, still held, is renamed away before the
			// follower notices the truncation: it must be read once.
			name: "copytruncate then rename and create while behind",
			rotate: func(t *testing.T, path string) {
				copyFile(t, path, path+".1")
				truncateTo(t, path, middle)
				time.Sleep(20 * time.Millisecond)
				mustRename(t, path+".1", path+".2")
				mustRename(t, path, path+".1")
				writeFile(t, path, after)
			},
			want: concat(beforeWant, unreadWant, middleWant, afterWant),
		},
		{
			name: "copytruncate, new content shorter than the offset",
			rotate: func(t *testing.T, path string) {
				copyFile(t, path, path+".1")
				truncateTo(t, path, after)
			},
			want: concat(beforeWant, unreadWant, afterWant),
		},
		{
			name: "copytruncate, new content past the offset already",
			rotate: func(t *testing.T, path string) {
				copyFile(t, path, path+"-20260101")
				truncateTo(t, path, longAfter)
			},
			want: concat(beforeWant, unreadWant, longAfterWant),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, path, before)
			em, _ := startBlocked(t, testConfig(path))
			em.waitBlocked(t)
			appendFile(t, path, unread)
			tc.rotate(t, path)
			em.unblock()
			em.waitLines(t, len(tc.want))
			time.Sleep(5 * testPoll)
			got := em.all()
			if b := bodies(got); !equalStrings(b, tc.want) {
				t.Fatalf("got %q, want %q\n%s", b, tc.want, dump(got))
			}
			for _, r := range got {
				if r.Flags != tc.wantFlag[string(r.Body)] {
					t.Errorf("record %q flags %d, want %d", r.Body, r.Flags, tc.wantFlag[string(r.Body)])
				}
			}
		})
	}
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestCopytruncateNoCopy: truncated with no copy to be found, the bytes
// seen but not read are recorded as a gap, then the file is read from 0.
func TestCopytruncateNoCopy(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.log")
	const line = "123456789\n" // 10 bytes: one per read
	writeFile(t, path, strings.Repeat(line, 6))
	cfg := testConfig(path)
	cfg.ReadBufBytes = len(line)
	em, _ := startBlocked(t, cfg)
	em.waitBlocked(t) // the first line read, the file seen 60 bytes long
	truncateTo(t, path, "new\n")
	em.unblock()
	got := em.waitFor(t, "the gap and the new line", func(recs []collectors.Record) bool {
		return len(ofKind(recs, collectors.KindGap)) == 1 && len(recs) > 0 && string(recs[len(recs)-1].Body) == "new"
	})
	gap := ofKind(got, collectors.KindGap)[0]
	if attr(gap, "bytes") != "50" || attr(gap, "reason") != "truncated, copy not found" {
		t.Errorf("gap attrs %v, want bytes=50 reason=truncated, copy not found", gap.Attrs)
	}
	logs := ofKind(got, collectors.KindLog)
	if b := bodies(logs); !equalStrings(b, []string{"123456789", "new"}) {
		t.Errorf("lines %q, want the one read before truncation and the new one", b)
	}
	if logs[1].File.Start != 0 {
		t.Errorf("new line at %d, want 0", logs[1].File.Start)
	}
}

// TestUnreadable: a path that cannot be read is reported once, as an agent
// status record, and read when it can be. Tests run as root, for whom chmod
// 000 does not stop reading, so unreadable here is a directory at the path
// or a symlink to nothing.
func TestUnreadable(t *testing.T) {
	t.Parallel()
	text, want := lines("back", 0, 2)
	tests := []struct {
		name    string
		break_  func(t *testing.T, path string)
		fix     func(t *testing.T, path string)
		wantErr string
		// The path stays there while fixed, so the same follower
		// must report the end of the problem. A removed directory
		// may end its follower instead, if it looks in between, and
		// a new follower starts on the file without a problem.
		wantRecovered bool
	}{
		{
			name:    "directory at the path",
			break_:  func(t *testing.T, path string) { os.Mkdir(path, 0o755) },
			fix:     func(t *testing.T, path string) { os.Remove(path); writeFile(t, path, text) },
			wantErr: "is a directory",
		},
		{
			name: "dangling symlink",
			break_: func(t *testing.T, path string) {
				if err := os.Symlink(path+".target", path); err != nil {
					t.Fatal(err)
				}
			},
			fix:           func(t *testing.T, path string) { writeFile(t, path+".target", text) },
			wantErr:       "no such file",
			wantRecovered: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			tc.break_(t, path)
			em, _ := startTailer(t, testConfig(path))
			em.waitFor(t, "a status record", func(recs []collectors.Record) bool { return len(recs) > 0 })
			time.Sleep(6 * testPoll) // several polls: still one record
			got := em.all()
			if len(got) != 1 || got[0].Kind != collectors.KindAgentStatus || got[0].Source != "file:"+path ||
				!strings.Contains(attr(got[0], "error"), tc.wantErr) || len(got[0].Body) == 0 {
				t.Fatalf("want one agent status with error %q, got:\n%s", tc.wantErr, dump(got))
			}
			tc.fix(t, path)
			got = em.waitLines(t, len(want))
			if b := bodies(ofKind(got, collectors.KindLog)); !equalStrings(b, want) {
				t.Errorf("after the fix got %q, want %q", b, want)
			}
			time.Sleep(3 * testPoll)
			// Between removing the directory and creating the file
			// the path is missing: a scan may say so, rightly.
			var st []collectors.Record
			for _, r := range ofKind(em.all(), collectors.KindAgentStatus) {
				if attr(r, "error") != "no file matches" {
					st = append(st, r)
				}
			}
			recovered := len(st) == 2 && attr(st[1], "error") == "" && strings.Contains(string(st[1].Body), "again")
			if len(st) > 2 || len(st) == 2 && !recovered || tc.wantRecovered && !recovered {
				t.Errorf("want the problem reported once, then its end (required: %v), got:\n%s", tc.wantRecovered, dump(st))
			}
		})
	}
}

// TestVanished: a deleted file is reported once, the tailer keeps running,
// and a new file at the path is read from 0.
func TestVanished(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "one\n")
	em, _ := startTailer(t, testConfig(filepath.Join(dir, "*.log")))
	em.waitLines(t, 1)
	os.Remove(path)
	em.waitFor(t, "two status records", func(recs []collectors.Record) bool {
		return len(ofKind(recs, collectors.KindAgentStatus)) >= 2
	})
	time.Sleep(6 * testPoll) // no more: once per change, not per poll
	st := ofKind(em.all(), collectors.KindAgentStatus)
	// The file vanished; then the glob matches nothing: two facts, once each.
	if len(st) != 2 || !strings.Contains(string(st[0].Body), "vanished") || attr(st[0], "error") == "" ||
		!strings.Contains(string(st[1].Body), "no file matches") {
		t.Fatalf("want vanished then no-match reported once each, got:\n%s", dump(st))
	}
	writeFile(t, path, "two\n")
	got := em.waitLines(t, 2)
	logs := ofKind(got, collectors.KindLog)
	if string(logs[1].Body) != "two" || logs[1].File.Start != 0 {
		t.Errorf("after recreation got %q at %d, want \"two\" at 0", logs[1].Body, logs[1].File.Start)
	}
}

// TestGlobNoMatch: a pattern that matches nothing is reported once, not
// every poll, and files that appear later are read from 0.
func TestGlobNoMatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig(filepath.Join(dir, "*.log"))
	cfg.StartAt = "end"
	em, _ := startTailer(t, cfg)
	em.waitFor(t, "a status record", func(recs []collectors.Record) bool { return len(recs) > 0 })
	time.Sleep(6 * testPoll)
	got := em.all()
	if len(got) != 1 || got[0].Kind != collectors.KindAgentStatus || attr(got[0], "error") == "" ||
		got[0].Source != "file:"+filepath.Join(dir, "*.log") {
		t.Fatalf("want one agent status, got:\n%s", dump(got))
	}
	writeFile(t, filepath.Join(dir, "x.log"), "hello\n")
	got = em.waitLines(t, 1)
	if b := bodies(ofKind(got, collectors.KindLog)); !equalStrings(b, []string{"hello"}) {
		t.Errorf("got %q, want [hello]", b)
	}
}

// TestEmitterBlocking: while the emitter blocks, the tailer waits and
// reads no further than its buffer; when it unblocks, every line comes once,
// in order.
func TestEmitterBlocking(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a.log")
	text, want := lines("blocked", 0, 2000) // 23 bytes a line
	cfg := testConfig(path)
	cfg.ReadBufBytes = 4096
	writeFile(t, path, "")
	em, _ := startTailer(t, cfg)
	em.block()
	waitOpenAt(t, path, 0)
	appendFile(t, path, text)
	em.waitBlocked(t)
	time.Sleep(6 * testPoll)
	if n := len(em.all()); n != 0 {
		t.Fatalf("%d records passed a blocked emitter", n)
	}
	// The file is the buffer: the tailer has read one chunk, not the file.
	if pos := maxPos(t, path); pos <= 0 || pos > int64(cfg.ReadBufBytes) {
		t.Errorf("blocked tailer read to %d, want within the first %d bytes", pos, cfg.ReadBufBytes)
	}
	em.unblock()
	got := em.waitLines(t, len(want))
	time.Sleep(3 * testPoll)
	if b := bodies(em.all()); !equalStrings(b, want) {
		t.Fatalf("got %d lines, want %d, in order, once each", len(b), len(want))
	}
	_ = got
}

// TestGrowingIdentity: while a file is shorter than FingerprintMax its
// records carry a fingerprint over what was read, which grows with the file
// and stays a prefix of it; device and inode never change.
func TestGrowingIdentity(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, path, "")
	em, _ := startTailer(t, testConfig(path))
	var all strings.Builder
	n := 0
	for all.Len() < 3*collectors.FingerprintMax {
		l := fmt.Sprintf("growing line %d %s\n", n, strings.Repeat("z", n%50))
		appendFile(t, path, l)
		all.WriteString(l)
		n++
		if n%10 == 0 {
			em.waitLines(t, n)
		}
	}
	got := em.waitLines(t, n)
	content := all.String()
	ino := inodeOf(t, path)
	var lastLen uint32
	for i, r := range got {
		id := r.File.ID
		if id.Inode != ino {
			t.Fatalf("record %d inode %d, want %d", i, id.Inode, ino)
		}
		if id.FPLen < lastLen || id.FPLen > collectors.FingerprintMax || int64(id.FPLen) < min(r.File.End, collectors.FingerprintMax) {
			t.Fatalf("record %d FPLen %d (previous %d, end %d)", i, id.FPLen, lastLen, r.File.End)
		}
		if sha256.Sum256([]byte(content[:id.FPLen])) != id.FP {
			t.Fatalf("record %d: fingerprint is not of the file's first %d bytes", i, id.FPLen)
		}
		lastLen = id.FPLen
	}
	if lastLen != collectors.FingerprintMax {
		t.Errorf("final FPLen %d, want %d", lastLen, collectors.FingerprintMax)
	}
}

// TestNoDiskWrites: the tailer creates and changes nothing on disk, and
// holds every file it opens read-only.
func TestNoDiskWrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	text, want := lines("x", 0, 50)
	writeFile(t, path, text)
	cwd, _ := os.Getwd()
	cwdBefore := tree(t, cwd)

	em, stop := startTailer(t, testConfig(filepath.Join(dir, "*.log")))
	em.waitLines(t, len(want))
	mustRename(t, path, path+".1")
	writeFile(t, path, "after rotation\n")
	em.waitLines(t, len(want)+1)
	before := tree(t, dir)
	sawOpen := false
	for range 10 {
		for _, fd := range openFDs(t) {
			if strings.HasPrefix(fd.target, dir) {
				sawOpen = true
				if fd.flags&syscall.O_ACCMODE != syscall.O_RDONLY {
					t.Errorf("%s is open with flags %o, want read-only", fd.target, fd.flags)
				}
			}
		}
		time.Sleep(testPoll)
	}
	stop()
	if !sawOpen {
		t.Error("never saw the tailer's file open: the read-only check checked nothing")
	}
	after := tree(t, dir)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the tailed directory changed:\nbefore %v\nafter  %v", before, after)
	}
	if cwdAfter := tree(t, cwd); fmt.Sprint(cwdAfter) != fmt.Sprint(cwdBefore) {
		t.Errorf("the working directory changed:\nbefore %v\nafter  %v", cwdBefore, cwdAfter)
	}
}

// TestResumeBadCheckpoint: checkpoints that make no sense never stop the
// tailer: a negative offset is ignored, one past any file or an impossible
// fingerprint length is a file not found (a gap), then the file from 0.
func TestResumeBadCheckpoint(t *testing.T) {
	t.Parallel()
	text, want := lines("line", 0, 3)
	tests := []struct {
		name    string
		cp      func(id collectors.FileID) (collectors.FileID, int64)
		wantGap bool
	}{
		{"negative offset", func(id collectors.FileID) (collectors.FileID, int64) { return id, -5 }, false},
		{"offset past the end", func(id collectors.FileID) (collectors.FileID, int64) { return id, 1 << 62 }, true},
		{"fingerprint too long", func(id collectors.FileID) (collectors.FileID, int64) {
			id.FPLen = 5000
			return id, 3
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "a.log")
			writeFile(t, path, text)
			id, off := tc.cp(idOf(t, path, len(text)))
			em, _ := startTailer(t, testConfig(path), collectors.Checkpoint{Source: "file:" + path, ID: id, Offset: off})
			em.waitLines(t, len(want))
			time.Sleep(3 * testPoll)
			got := em.all()
			if b := bodies(ofKind(got, collectors.KindLog)); !equalStrings(b, want) {
				t.Errorf("got %q, want %q", b, want)
			}
			if gaps := len(ofKind(got, collectors.KindGap)); gaps != map[bool]int{true: 1}[tc.wantGap] {
				t.Errorf("got %d gap records, want gap: %v\n%s", gaps, tc.wantGap, dump(got))
			}
		})
	}
}
