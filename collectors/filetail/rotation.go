package filetail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/offbox/offbox/collectors"
)

// Rotation: a follower notices that its path names another file (or none),
// finishes the old file, any files rotated past while it was behind, and,
// on resume, the checkpointed file wherever rotation moved it.

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
