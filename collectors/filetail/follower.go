package filetail

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// errRewritten says the file being read no longer starts with the bytes its
// identity was computed over: it was truncated and rewritten in place.
var errRewritten = errors.New("file rewritten in place")

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

// resume positions the current file at cp, finishing the checkpointed file
// first if it was rotated or truncated while the agent was down.
func (fl *follower) resume(ctx context.Context, cp collectors.Checkpoint) error {
	// The file at the path is the checkpointed one (same inode) or a copy
	// of it (copytruncate leaves the copy a new inode) when it starts with
	// the fingerprinted bytes and reaches the offset. The same inode below
	// the offset was truncated: its rest is in a copy, as when the path
	// holds another file now.
	cur := fl.cur.st
	if cur.size < cp.Offset || !hasPrefix(fl.cur.f, cp.ID, &fl.scratch) {
		return fl.finishRotated(ctx, cp, cur)
	}
	if cur.dev == cp.ID.Dev && cur.ino == cp.ID.Inode {
		return fl.seekCurrent(cp.Offset)
	}
	// Same first bytes, another inode: a copy, or a new file that begins
	// as the old one did (a banner; a short file's fingerprint covers
	// little). The checkpointed file itself, renamed beside the path,
	// tells which.
	f, st, ok := findRotated(fl.path, cp.ID, cp.Offset, cur, &fl.scratch)
	if ok && st.dev == cp.ID.Dev && st.ino == cp.ID.Inode {
		return fl.finishOther(ctx, openFile{f: f, st: st, id: identify(f, st, &fl.scratch), pos: cp.Offset})
	}
	if ok {
		f.Close()
	}
	return fl.seekCurrent(cp.Offset)
}

// finishRotated reads the file named by cp from cp.Offset to its end if it
// can be found beside the path (skipping the file skip), and records a gap if
// it cannot.
func (fl *follower) finishRotated(ctx context.Context, cp collectors.Checkpoint, skip fileStat) error {
	f, st, ok := findRotated(fl.path, cp.ID, cp.Offset, skip, &fl.scratch)
	if !ok {
		fl.t.log.Warn("rotated file not found, lines lost", "path", fl.path, "offset", cp.Offset)
		return fl.emitGap(ctx, "rotated file not found", -1,
			fmt.Sprintf("%s was rotated; the file holding the lines after offset %d was not found", fl.path, cp.Offset))
	}
	of := openFile{f: f, st: st, id: identify(f, st, &fl.scratch), pos: cp.Offset}
	after := modTime(f)
	fl.markDone(of.id)
	if err := fl.finishOther(ctx, of); err != nil {
		return err
	}
	return fl.finishSuccessors(ctx, after)
}

// finishOther reads of (a rotated file or a copy) to its end as this path's
// records, then closes it. Bytes of an unfinished line held from the current
// file continue in of at the same offset.
func (fl *follower) finishOther(ctx context.Context, of openFile) error {
	saved, savedSize := fl.cur, fl.lastSize
	fl.cur = of
	err := fl.seekCurrent(of.pos)
	if err == nil {
		err = fl.drain(ctx)
	}
	of.f.Close()
	fl.cur, fl.lastSize = saved, savedSize
	return err
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

// checkRotation looks whether the path still names the file being read. If
// it names another file, or none, the old file is drained and the path
// reopened: right away once the new file has data (the writer has moved
// on), else after a grace of one poll interval in which the writer may still
// append to the old file.
func (fl *follower) checkRotation(ctx context.Context) (step, error) {
	fi, err := os.Stat(fl.path)
	if err == nil && statOf(fi).sameFile(fl.cur.st) {
		fl.rotatedAt = time.Time{}
		return stepWait, nil
	}
	if fl.rotatedAt.IsZero() {
		fl.rotatedAt = time.Now()
	}
	newHasData := err == nil && fi.Mode().IsRegular() && fi.Size() > 0
	if !newHasData && time.Since(fl.rotatedAt) < fl.t.pollEvery {
		return stepWait, nil
	}
	// Read the old file once more after seeing the new one has data:
	// every line the writer put in the old file came before that.
	if err := fl.drain(ctx); err != nil {
		return stepWait, err
	}
	finished := fl.cur
	fl.markDone(finished.id)
	after := modTime(finished.f)
	finished.f.Close()
	fl.cur = openFile{}
	fl.rotatedAt = time.Time{}
	if err := fl.finishSuccessors(ctx, after); err != nil {
		return stepWait, err
	}
	return stepReopen, nil
}

// markDone remembers a file read to its end (a bounded list).
func (fl *follower) markDone(id collectors.FileID) {
	const keep = 64
	if len(fl.done) == keep {
		copy(fl.done, fl.done[1:])
		fl.done = fl.done[:keep-1]
	}
	fl.done = append(fl.done, id)
}

// isDone says f (with stat st) is a file already read to its end.
func (fl *follower) isDone(f *os.File, st fileStat) bool {
	for _, id := range fl.done {
		if id.Dev == st.dev && id.Inode == st.ino && hasPrefix(f, id, &fl.scratch) {
			return true
		}
	}
	return false
}

func modTime(f *os.File) time.Time {
	fi, err := f.Stat()
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// finishSuccessors reads, oldest first, the files that were rotated past
// while this follower was behind (its emitter blocked, or the agent
// catching up): siblings of the path, not yet read, last written after the
// file just finished. Rotation renames a file once it is no longer written,
// so last-write order is rotation order. Without this a second rotation
// before the follower reached the new file would skip that file's lines.
func (fl *follower) finishSuccessors(ctx context.Context, after time.Time) error {
	for i := 0; i < 64; i++ {
		f, st, mt, ok := fl.nextSuccessor(after, fl.cur.st)
		if !ok {
			return nil
		}
		of := openFile{f: f, st: st, id: identify(f, st, &fl.scratch)}
		fl.t.log.Info("reading a file rotated while behind", "path", fl.path, "inode", st.ino, "bytes", st.size)
		fl.markDone(of.id)
		if err := fl.finishOther(ctx, of); err != nil {
			return err
		}
		after = mt
	}
	return nil
}

// nextSuccessor finds the oldest sibling of the path (same name prefix, not
// compressed, not the file now at the path) written at or after after (file
// times are coarse: equal is possible) and not yet
// read, and not held (the file still being read after a copytruncate, which
// may have been renamed away from the path since). The caller owns the
// returned file.
func (fl *follower) nextSuccessor(after time.Time, held fileStat) (*os.File, fileStat, time.Time, bool) {
	if after.IsZero() {
		return nil, fileStat{}, time.Time{}, false
	}
	var atPath fileStat
	if fi, err := os.Stat(fl.path); err == nil {
		atPath = statOf(fi)
	}
	dir, base := filepath.Split(fl.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fileStat{}, time.Time{}, false
	}
	var best *os.File
	var bestSt fileStat
	var bestMt time.Time
	for _, e := range entries {
		n := e.Name()
		if n == base || !strings.HasPrefix(n, base) || hasCompressedSuffix(n) {
			continue
		}
		f, st, err := openRegular(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		mt := modTime(f)
		if mt.Before(after) || (atPath.ino != 0 && st.sameFile(atPath)) || (held.ino != 0 && st.sameFile(held)) || fl.isDone(f, st) ||
			(best != nil && !mt.Before(bestMt)) {
			f.Close()
			continue
		}
		if best != nil {
			best.Close()
		}
		best, bestSt, bestMt = f, st, mt
	}
	return best, bestSt, bestMt, best != nil
}

// handleTruncation deals with the current file having shrunk below what was
// read (or having been rewritten): copytruncate. The rest of the old content
// is read from the copy if one is found beside the path; otherwise a gap is
// recorded with the bytes known lost (oldSize - position, if oldSize is
// known). Then the file is read again from 0.
func (fl *follower) handleTruncation(ctx context.Context, oldSize int64) error {
	fl.t.log.Info("file truncated", "path", fl.path, "offset", fl.cur.pos)
	f, st, ok := findRotated(fl.path, fl.cur.id, fl.cur.pos, fl.cur.st, &fl.scratch)
	if ok {
		of := openFile{f: f, st: st, id: identify(f, st, &fl.scratch), pos: fl.cur.pos}
		fl.markDone(of.id)
		after := modTime(f)
		if err := fl.finishOther(ctx, of); err != nil {
			return err
		}
		// Copies of later truncations, made while this one was behind.
		if err := fl.finishSuccessors(ctx, after); err != nil {
			return err
		}
	} else {
		if err := fl.flushPartial(ctx); err != nil {
			return err
		}
		// Bytes seen past the offset are known lost; having seen none
		// says nothing about what was written after the last look.
		lost := int64(-1)
		if oldSize > fl.cur.pos {
			lost = oldSize - fl.cur.pos
		}
		fl.t.log.Warn("file truncated and no copy found, lines may be lost", "path", fl.path, "bytes", lost)
		body := fmt.Sprintf("%s was truncated at offset %d and no copy was found", fl.path, fl.cur.pos)
		if err := fl.emitGap(ctx, "truncated, copy not found", lost, body); err != nil {
			return err
		}
	}
	fi, err := fl.cur.f.Stat()
	if err != nil {
		return fl.report(ctx, "cannot stat file", err)
	}
	f = fl.cur.f
	fl.setCurrent(f, statOf(fi))
	return fl.seekCurrent(0)
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

// errTruncated says the file being read is now shorter than the offset
// reached; oldSize is its size at the last look before (-1: unknown).
type errTruncated struct{ oldSize int64 }

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

// checkUnchanged reports whether the current file has bytes past the offset
// reached, or errTruncated / errRewritten if it no longer holds what was
// read: shorter than the offset, or a different start.
func (fl *follower) checkUnchanged() (more bool, err error) {
	fi, err := fl.cur.f.Stat()
	if err != nil {
		return false, readErr{err}
	}
	size := fi.Size()
	if size < fl.cur.pos {
		return false, errTruncated{oldSize: fl.lastSize}
	}
	if !hasPrefix(fl.cur.f, fl.cur.id, &fl.scratch) {
		return false, errRewritten
	}
	fl.lastSize = size
	return size > fl.cur.pos, nil
}

// growIdentity recomputes the fingerprint of a file shorter than
// FingerprintMax bytes when reading has reached past it (see the identity
// rule in identity.go). It returns errRewritten if the file no longer starts
// with the bytes the old fingerprint covered.
func (fl *follower) growIdentity(readTo int64) error {
	id := &fl.cur.id
	want := min(readTo, collectors.FingerprintMax)
	if want <= int64(id.FPLen) {
		return nil
	}
	prefix, err := readPrefix(fl.cur.f, want, &fl.scratch)
	if err != nil {
		return readErr{err}
	}
	if len(prefix) < int(id.FPLen) || sha256.Sum256(prefix[:id.FPLen]) != id.FP {
		return errRewritten
	}
	id.FPLen = uint32(len(prefix))
	id.FP = sha256.Sum256(prefix)
	return nil
}

// emitLines emits the records in data, which ends at file offset cur.pos,
// and keeps the unfinished rest at the front of buf. With final set the rest
// is emitted too (FlagNoNewline).
func (fl *follower) emitLines(ctx context.Context, data []byte, final bool) error {
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
