package filetail

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/offbox/offbox/collectors"
)

// Truncation: a file that shrank below the offset read, or was rewritten in
// place (copytruncate), is detected before every read; what was lost is
// read from the copy when one is found, and otherwise recorded as a gap.

// errRewritten says the file being read no longer starts with the bytes its
// identity was computed over: it was truncated and rewritten in place.
var errRewritten = errors.New("file rewritten in place")

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

// errTruncated says the file being read is now shorter than the offset
// reached; oldSize is its size at the last look before (-1: unknown).
type errTruncated struct{ oldSize int64 }

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
