package store

import (
	"bytes"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// Index derives the segment rows of one batch and advances cps, the
// device's checkpoints by source, past the batch's file records. It is pure
// so that the store (at commit) and verify (replaying a device's batches in
// seq order from empty checkpoints) compute exactly the same rows.
//
// A file record is a duplicate when its file is the checkpoint's file (same
// device, inode and fingerprint) and its range ends at or before the
// checkpoint's offset: its bytes were stored before, so it is left out of the
// index and ends the current run. Any other file record moves its source's
// checkpoint to its file and end. changed lists the sources whose checkpoint
// moved, in first-change order.
func Index(recs []*offboxv1.Record, cps map[string]Checkpoint) (segs []Segment, changed []string) {
	open := -1 // index in segs of the run the next record may extend; -1: none
	for i, r := range recs {
		f := r.GetFile()
		if f != nil {
			cp, ok := cps[r.GetSource()]
			if ok && isDuplicate(cp, f) {
				open = -1
				continue
			}
			cps[r.GetSource()] = Checkpoint{Source: r.GetSource(), File: fileID(f.GetFile()), Offset: f.GetEnd()}
			changed = appendOnce(changed, r.GetSource())
		}
		if open >= 0 && extends(&segs[open], r) {
			s := &segs[open]
			s.Count++
			s.MinTimeNs = min(s.MinTimeNs, r.GetTimeNs())
			s.MaxTimeNs = max(s.MaxTimeNs, r.GetTimeNs())
			if f != nil {
				s.File.End = f.GetEnd()
				// A short file's fingerprint grows with it (see
				// collectors/filetail): the run keeps its last record's.
				s.File.FPLen, s.File.FP = f.GetFile().GetFingerprintLen(), f.GetFile().GetFingerprint()
			}
			continue
		}
		segs = append(segs, newSegment(i, r))
		open = len(segs) - 1
	}
	return segs, changed
}

func newSegment(i int, r *offboxv1.Record) Segment {
	s := Segment{First: i, Count: 1, Source: r.GetSource(), Kind: r.GetKind(),
		MinTimeNs: r.GetTimeNs(), MaxTimeNs: r.GetTimeNs()}
	if f := r.GetFile(); f != nil {
		id := f.GetFile()
		s.File = &FileSpan{Dev: id.GetDev(), Inode: id.GetInode(), Start: f.GetStart(), End: f.GetEnd(),
			FPLen: id.GetFingerprintLen(), FP: id.GetFingerprint()}
	}
	return s
}

// extends reports whether r continues run s: same source and kind, and for
// file lines the same file with r starting where the run ends, so that the
// run's byte range covers exactly its records.
func extends(s *Segment, r *offboxv1.Record) bool {
	if r.GetSource() != s.Source || r.GetKind() != s.Kind {
		return false
	}
	f := r.GetFile()
	if (f == nil) != (s.File == nil) {
		return false
	}
	if f == nil {
		return true
	}
	id := f.GetFile()
	return id.GetDev() == s.File.Dev && id.GetInode() == s.File.Inode && f.GetStart() == s.File.End
}

func isDuplicate(cp Checkpoint, f *offboxv1.FileRange) bool {
	return SameFile(cp.File, fileID(f.GetFile())) && f.GetEnd() <= cp.Offset
}

// SameFile reports whether two identities name the same file. The
// fingerprint is part of the identity: a file truncated in place and
// rewritten (copytruncate) keeps its inode but not its first bytes, and its
// new lines must not be taken for the old ones.
func SameFile(a, b FileID) bool {
	return a.Dev == b.Dev && a.Inode == b.Inode && a.FPLen == b.FPLen && bytes.Equal(a.FP, b.FP)
}

func fileID(f *offboxv1.FileIdentity) FileID {
	return FileID{Dev: f.GetDev(), Inode: f.GetInode(), FPLen: f.GetFingerprintLen(), FP: f.GetFingerprint()}
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
