package filetail

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/offbox/offbox/collectors"
)

// follower tails one path, in its own goroutine, across rotations. It owns
// every file it opens; records of one path leave it in file order.
type follower struct {
	t          *Tailer
	out        collectors.Emitter
	path       string
	source     string
	startAtEnd bool          // begin a file found at start, without checkpoint, at its end
	wake       chan struct{} // poked by file events; capacity 1
	timer      *time.Timer   // the poll

	cur        openFile
	lastSize   int64     // cur's size at the last stat that showed no truncation
	rotatedAt  time.Time // when the path was first seen naming another file than cur; zero if not
	everOpened bool
	problem    string // what is wrong, as last reported; "" when reading fine

	// done holds the identities of the files this path has been read to
	// the end of, newest last, so that a rotated file is never read twice
	// when looking for the files rotated past while the follower was behind.
	done []collectors.FileID

	// buf[:pend] holds the start of a line not finished yet; it ends at
	// file offset cur.pos. Reads fill buf[pend:].
	buf     []byte
	pend    int
	rec     collectors.Record // reused for every line: Emit copies what it keeps
	rng     collectors.FileRange
	lines   collectors.LinesEmitter // out, when it takes runs of lines (runs.go)
	cut     []collectors.Line       // the run of lines being cut, for lines
	scratch [collectors.FingerprintMax]byte
}

// openFile is a file being read.
type openFile struct {
	f   *os.File // nil: none
	st  fileStat // at open
	id  collectors.FileID
	pos int64 // next byte to read
}

func newFollower(t *Tailer, out collectors.Emitter, path string, startAtEnd bool) *follower {
	fl := &follower{
		t:          t,
		out:        out,
		path:       path,
		source:     sourcePrefix + path,
		startAtEnd: startAtEnd,
		wake:       make(chan struct{}, 1),
		lastSize:   -1,
	}
	fl.rec = collectors.Record{Kind: collectors.KindLog, Source: fl.source, File: &fl.rng}
	fl.lines, _ = out.(collectors.LinesEmitter)
	return fl
}

// poke wakes the follower without blocking.
func (fl *follower) poke() {
	select {
	case fl.wake <- struct{}{}:
	default:
	}
}

// close releases what the follower holds.
func (fl *follower) close() {
	if fl.cur.f != nil {
		fl.cur.f.Close()
		fl.cur = openFile{}
	}
	if fl.timer != nil {
		fl.timer.Stop()
	}
}

// What readAndCheck found.
type step int

const (
	stepWait   step = iota // nothing new: wait for an event or the poll
	stepRead               // more bytes to read now
	stepReopen             // cur is done with: open the path afresh, at 0
)

// run follows the path until ctx ends (nil) or the path is gone for good
// (nil: a new follower starts if it reappears), or the emitter fails.
func (fl *follower) run(ctx context.Context) error {
	if err := fl.start(ctx); err != nil {
		return ignoreCtx(ctx, err)
	}
	for {
		if fl.cur.f == nil {
			gone, err := fl.reopen(ctx)
			if err != nil {
				return ignoreCtx(ctx, err)
			}
			if gone {
				return nil
			}
			if fl.cur.f == nil { // unreadable: try again later
				if err := fl.wait(ctx); err != nil {
					return nil
				}
				continue
			}
		}
		st, err := fl.readAndCheck(ctx)
		if err != nil {
			return ignoreCtx(ctx, err)
		}
		switch st {
		case stepRead, stepReopen:
			continue
		}
		if err := fl.wait(ctx); err != nil {
			return nil
		}
	}
}

// ignoreCtx turns an error caused by ctx ending into nil: that is the normal
// way to stop.
func ignoreCtx(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// wait blocks until an event, the poll interval, or ctx ends.
func (fl *follower) wait(ctx context.Context) error {
	if fl.timer == nil {
		fl.timer = time.NewTimer(fl.t.pollEvery)
	} else {
		fl.timer.Reset(fl.t.pollEvery)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-fl.wake:
	case <-fl.timer.C:
	}
	return nil
}

// start opens the path the first time: at its checkpoint, or where StartAt
// says. A missing path with a checkpoint still gets its rotated file finished.
func (fl *follower) start(ctx context.Context) error {
	cp, hasCP := fl.t.takeCheckpoint(fl.path)
	f, st, err := openRegular(fl.path)
	if err != nil {
		if hasCP {
			if err := fl.finishRotated(ctx, cp, fileStat{}); err != nil {
				return err
			}
		}
		// The loop reports why the path cannot be opened, and opens it
		// at 0 once it can: it is a file that appeared later.
		return nil
	}
	fl.setCurrent(f, st)
	if err := fl.clearProblem(ctx); err != nil {
		return err
	}
	switch {
	case hasCP:
		return fl.resume(ctx, cp)
	case fl.startAtEnd:
		// The end as it is now; an unfinished last line is picked up
		// from here on, cut.
		return fl.seekCurrent(st.size)
	}
	return nil
}

// drain reads the current file to its end and emits the unfinished last
// line: the file is done with.
func (fl *follower) drain(ctx context.Context) error {
	err := fl.readToEOF(ctx)
	if err != nil && !isFileErr(err) {
		return err
	}
	if err != nil {
		// Nothing more can be had from this file; what is lost
		// was written after the last look, and is not known.
		fl.t.log.Warn("reading a rotated file stopped early", "path", fl.path, "error", err)
	}
	return fl.flushPartial(ctx)
}

// reopen opens the path afresh at offset 0. gone says it no longer exists
// and the follower should end; fl.cur.f stays nil while it is unreadable.
func (fl *follower) reopen(ctx context.Context) (gone bool, err error) {
	f, st, oerr := openRegular(fl.path)
	if oerr != nil {
		if _, lerr := os.Lstat(fl.path); errors.Is(lerr, os.ErrNotExist) {
			if fl.everOpened {
				err = fl.report(ctx, "file vanished", oerr)
			}
			return true, err
		}
		return false, fl.report(ctx, "cannot read file", oerr)
	}
	fl.setCurrent(f, st)
	return false, fl.clearProblem(ctx)
}

// setCurrent makes f, just opened at offset 0, the file being read.
func (fl *follower) setCurrent(f *os.File, st fileStat) {
	fl.cur = openFile{f: f, st: st, id: identify(f, st, &fl.scratch)}
	fl.lastSize = st.size
	fl.pend = 0
	fl.rotatedAt = time.Time{}
	fl.everOpened = true
}

func (fl *follower) seekCurrent(off int64) error {
	if _, err := fl.cur.f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	fl.cur.pos = off
	return nil
}

// readAndCheck reads what is there, then, at the end, checks whether the
// path was rotated.
func (fl *follower) readAndCheck(ctx context.Context) (step, error) {
	err := fl.readToEOF(ctx)
	var trunc errTruncated
	switch {
	case errors.As(err, &trunc):
		return stepRead, fl.handleTruncation(ctx, trunc.oldSize)
	case errors.Is(err, errRewritten):
		return stepRead, fl.handleTruncation(ctx, -1)
	case isReadErr(err):
		return stepWait, fl.report(ctx, "cannot read file", err)
	case err != nil:
		return stepWait, err
	}
	if err := fl.clearProblem(ctx); err != nil {
		return stepWait, err
	}
	return fl.checkRotation(ctx)
}

// readErr marks a failed read, as opposed to a failed emit.
type readErr struct{ err error }

func (e readErr) Error() string { return e.err.Error() }
func (e readErr) Unwrap() error { return e.err }

func isReadErr(err error) bool {
	var re readErr
	return errors.As(err, &re)
}

// isFileErr says err is about the file read, not about emitting.
func isFileErr(err error) bool {
	var trunc errTruncated
	return isReadErr(err) || errors.Is(err, errRewritten) || errors.As(err, &trunc)
}

func (e errTruncated) Error() string { return "file truncated" }

// readToEOF reads the current file to its end, emitting every complete line
// (and the pieces of overlong ones). Before each read it checks that the file
// still holds what was read so far (checkUnchanged): when the emitter has
// been blocking, the file may have been truncated and rewritten meanwhile,
// and reading on at the old offset would emit the middle of the new content.
func (fl *follower) readToEOF(ctx context.Context) error {
	if fl.buf == nil {
		fl.buf = make([]byte, fl.t.bufSize)
	}
	for {
		more, err := fl.checkUnchanged()
		if err != nil || !more {
			return err
		}
		n, err := fl.cur.f.Read(fl.buf[fl.pend:min(len(fl.buf), fl.pend+fl.t.readChunk)])
		if n > 0 {
			if fl.cur.id.FPLen < collectors.FingerprintMax {
				if gerr := fl.growIdentity(fl.cur.pos + int64(n)); gerr != nil {
					return gerr // the bytes just read are not of this file: dropped
				}
			}
			fl.cur.pos += int64(n)
			// One time per read: the lines of a chunk were seen together.
			fl.rec.Time = fl.t.now()
			if err := fl.emitLines(ctx, fl.buf[:fl.pend+n], false); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || (n == 0 && err == nil) {
			return nil
		}
		if err != nil {
			return readErr{err}
		}
	}
}

// emitLines emits the records in data, which ends at file offset cur.pos,
// and keeps the unfinished rest at the front of buf. With final set the rest
// is emitted too (FlagNoNewline).
func (fl *follower) emitLines(ctx context.Context, data []byte, final bool) error {
	if fl.lines != nil {
		return fl.emitRuns(ctx, data, final)
	}
	base := fl.cur.pos - int64(len(data))
	fl.rng.ID = fl.cur.id
	off := 0
	for {
		body, n, flags, ok := nextLine(data[off:], fl.t.maxLine, final)
		if !ok {
			break
		}
		fl.rng.Start = base + int64(off)
		fl.rng.End = fl.rng.Start + int64(n)
		fl.rec.Body = body
		fl.rec.Flags = flags
		if err := fl.out.Emit(ctx, fl.rec); err != nil {
			// Keep what was not emitted, so nothing is skipped if
			// the caller were to go on.
			fl.pend = copy(fl.buf, data[off:])
			return err
		}
		off += n
	}
	fl.pend = copy(fl.buf, data[off:])
	return nil
}

// flushPartial emits the held unfinished line, the file having ended.
func (fl *follower) flushPartial(ctx context.Context) error {
	if fl.pend == 0 {
		return nil
	}
	fl.rec.Time = fl.t.now()
	return fl.emitLines(ctx, fl.buf[:fl.pend], true)
}

// report logs and records a problem with the path, once per change.
func (fl *follower) report(ctx context.Context, what string, err error) error {
	msg := what + ": " + err.Error()
	if msg == fl.problem {
		return nil
	}
	fl.problem = msg
	fl.t.log.Warn(what, "path", fl.path, "error", err)
	return fl.out.Emit(ctx, collectors.Record{
		Time:   fl.t.now(),
		Kind:   collectors.KindAgentStatus,
		Source: fl.source,
		Body:   []byte(msg),
		Attrs:  []collectors.Attr{{Key: "error", Value: err.Error()}},
	})
}

// clearProblem logs and records that a reported problem is over.
func (fl *follower) clearProblem(ctx context.Context) error {
	if fl.problem == "" {
		return nil
	}
	fl.problem = ""
	fl.t.log.Info("reading file again", "path", fl.path)
	return fl.out.Emit(ctx, collectors.Record{
		Time:   fl.t.now(),
		Kind:   collectors.KindAgentStatus,
		Source: fl.source,
		Body:   []byte("reading " + fl.path + " again"),
	})
}

// emitGap records lines lost: lost bytes, or -1 when unknown.
func (fl *follower) emitGap(ctx context.Context, reason string, lost int64, body string) error {
	bytes := "unknown"
	if lost >= 0 {
		bytes = strconv.FormatInt(lost, 10)
	}
	return fl.out.Emit(ctx, collectors.Record{
		Time:   fl.t.now(),
		Kind:   collectors.KindGap,
		Source: fl.source,
		Body:   []byte(body),
		Attrs:  []collectors.Attr{{Key: "reason", Value: reason}, {Key: "bytes", Value: bytes}},
	})
}
