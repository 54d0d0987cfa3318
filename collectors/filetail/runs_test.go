package filetail

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offbox/offbox/collectors"
)

// cutShort takes runs of lines until it has taken limit lines, then
// refuses the rest of the run it is in, as the queue does when its context
// ends while it waits for room.
type cutShort struct {
	fakeEmitter
	limit int
	calls int
}

func (e *cutShort) EmitLines(ctx context.Context, r collectors.Record, data []byte, lines []collectors.Line) (int, error) {
	e.calls++
	room := e.limit - len(e.all())
	if room >= len(lines) {
		return e.fakeEmitter.EmitLines(ctx, r, data, lines)
	}
	n, _ := e.fakeEmitter.EmitLines(ctx, r, data, lines[:max(room, 0)])
	return n, context.Canceled
}

// TestRunsCutShort: lines go to a LinesEmitter in runs of at most runMax,
// each line's range where the line lies; when a run is cut short, what was
// not emitted stays held, from the first line not emitted on, so a caller
// that went on would skip nothing.
func TestRunsCutShort(t *testing.T) {
	t.Parallel()
	var sb strings.Builder
	for i := range 600 {
		fmt.Fprintf(&sb, "line %d%s\n", i, strings.Repeat("x", i%13))
	}
	sb.WriteString("unfinished")
	data := sb.String()
	for _, limit := range []int{0, 1, 255, 256, 257, 300, 600} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			t.Parallel()
			tl, err := New(testConfig(filepath.Join(t.TempDir(), "a.log")))
			if err != nil {
				t.Fatal(err)
			}
			em := &cutShort{limit: limit}
			fl := newFollower(tl, em, "/var/log/a.log", false)
			fl.buf = make([]byte, len(data)+10)
			copy(fl.buf, data)
			fl.cur.pos = 1000 + int64(len(data)) // the data ends there in the file
			err = fl.emitLines(context.Background(), fl.buf[:len(data)], false)
			got := em.all()
			wantErr := limit < 600
			if (err != nil) != wantErr {
				t.Fatalf("emitLines = %v, want an error: %t", err, wantErr)
			}
			if len(got) != limit {
				t.Fatalf("%d lines emitted, want %d", len(got), limit)
			}
			if want := limit/runMax + 1; limit < 600 && em.calls != want { // runs of runMax, then the one cut short
				t.Errorf("%d runs for %d lines cut short, want %d", em.calls, limit, want)
			}
			off := int64(1000)
			for i, r := range got {
				want := fmt.Sprintf("line %d%s", i, strings.Repeat("x", i%13))
				if string(r.Body) != want || r.File.Start != off || r.File.End != off+int64(len(want))+1 {
					t.Fatalf("line %d = %q [%d, %d), want %q from %d", i, r.Body, r.File.Start, r.File.End, want, off)
				}
				off = r.File.End
			}
			if held := string(fl.buf[:fl.pend]); held != data[off-1000:] {
				t.Errorf("held %d bytes starting %q, want the %d from the first line not emitted", len(held), held[:min(len(held), 20)], len(data)-int(off-1000))
			}
		})
	}
}
