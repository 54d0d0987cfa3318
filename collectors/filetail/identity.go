package filetail

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/offbox/offbox/collectors"
)

// File identity.
//
// A file is named by (device, inode, fingerprint), the fingerprint being the
// SHA-256 of its first FPLen = min(size, collectors.FingerprintMax) bytes.
// While a file is shorter than FingerprintMax its fingerprint covers fewer
// bytes, so it changes as the file grows. The rule that keeps a growing file
// "the same file":
//
//   - a record carries the identity computed over the first
//     min(bytes read so far, FingerprintMax) bytes; the tailer recomputes it
//     whenever it has read past the old FPLen (at most until 1 KiB), and only
//     after checking that the old FPLen-byte prefix still hashes to the old
//     fingerprint (otherwise the file was rewritten in place: a new file);
//   - a file matches an identity when its first id.FPLen bytes hash to id.FP
//     (the file may since have grown past FPLen), and either its device and
//     inode are id's (the file itself, possibly renamed) or its size is at
//     least the offset reached (a copy, as copytruncate makes).
//
// Two files whose first FPLen bytes are equal are indistinguishable by
// fingerprint; device and inode separate them unless one is a copy.

// fileStat is the part of a stat the tailer uses.
type fileStat struct {
	dev, ino uint64
	size     int64
}

func statOf(fi os.FileInfo) fileStat {
	st := fileStat{size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		// The conversions are needed: Dev is uint32 on linux/mips.
		st.dev, st.ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	return st
}

func (s fileStat) sameFile(o fileStat) bool { return s.dev == o.dev && s.ino == o.ino }

// errNotRegular says the path is a directory, device, FIFO or socket.
var errNotRegular = errors.New("not a regular file")

// openRegular opens path read-only and checks that it is a regular file.
// O_NONBLOCK keeps a FIFO at the path from blocking the open; it has no effect
// on reads of regular files.
func openRegular(path string) (*os.File, fileStat, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fileStat{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fileStat{}, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		if fi.IsDir() {
			return nil, fileStat{}, fmt.Errorf("%s: is a directory, %w", path, errNotRegular)
		}
		return nil, fileStat{}, fmt.Errorf("%s: %s, %w", path, fi.Mode().Type(), errNotRegular)
	}
	return f, statOf(fi), nil
}

// readPrefix reads up to n (at most FingerprintMax) leading bytes of f into
// scratch; fewer if the file is shorter now.
func readPrefix(f *os.File, n int64, scratch *[collectors.FingerprintMax]byte) ([]byte, error) {
	n = min(n, collectors.FingerprintMax)
	got, err := f.ReadAt(scratch[:n], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return scratch[:got], nil
}

// identify computes f's identity over its first min(size, FingerprintMax) bytes.
func identify(f *os.File, st fileStat, scratch *[collectors.FingerprintMax]byte) collectors.FileID {
	id := collectors.FileID{Dev: st.dev, Inode: st.ino}
	prefix, err := readPrefix(f, st.size, scratch)
	if err != nil {
		prefix = nil // an unreadable prefix fingerprints as empty; reads will report the error
	}
	id.FPLen = uint32(len(prefix))
	id.FP = sha256.Sum256(prefix)
	return id
}

// hasPrefix reports whether f's first id.FPLen bytes hash to id.FP.
func hasPrefix(f *os.File, id collectors.FileID, scratch *[collectors.FingerprintMax]byte) bool {
	if id.FPLen > collectors.FingerprintMax {
		return false
	}
	prefix, err := readPrefix(f, int64(id.FPLen), scratch)
	if err != nil || len(prefix) != int(id.FPLen) {
		return false
	}
	return sha256.Sum256(prefix) == id.FP
}

// compressedSuffixes mark rotated files the tailer cannot read as text.
var compressedSuffixes = []string{".gz", ".xz", ".bz2", ".zst"}

// findRotated looks beside path for the file named by want that holds at
// least minSize bytes: a rotated file (same device and inode) or a copy (a
// copytruncate copy). Candidates are siblings whose names start with path's
// base name (app.log.1, app.log-20260101), not compressed, and not the file
// skip. A same-inode match wins over a copy; among copies the first by name.
// The caller owns the returned file.
func findRotated(path string, want collectors.FileID, minSize int64, skip fileStat, scratch *[collectors.FingerprintMax]byte) (*os.File, fileStat, bool) {
	dir, base := filepath.Split(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fileStat{}, false
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		n := e.Name()
		if n == base || !strings.HasPrefix(n, base) || hasCompressedSuffix(n) {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)

	var copyF *os.File
	var copySt fileStat
	for _, n := range names {
		f, st, err := openRegular(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		if st.sameFile(skip) || st.size < minSize || !hasPrefix(f, want, scratch) {
			f.Close()
			continue
		}
		if st.dev == want.Dev && st.ino == want.Inode {
			if copyF != nil {
				copyF.Close()
			}
			return f, st, true
		}
		if copyF == nil {
			copyF, copySt = f, st
		} else {
			f.Close()
		}
	}
	return copyF, copySt, copyF != nil
}

func hasCompressedSuffix(name string) bool {
	for _, s := range compressedSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}
