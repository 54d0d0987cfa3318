package watch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// presence is what a look at a path found.
type presence uint8

const (
	absent     presence = iota // no such file (for a glob: no longer matched)
	unreadable                 // something is there but cannot be read as a file; reason says why
	present                    // a regular file, read and hashed
)

// fileObs is one look at a watched path.
type fileObs struct {
	state   presence
	reason  string // unreadable: why
	sum     [32]byte
	size    int64 // bytes hashed
	mode    uint32
	uid     uint32
	gid     uint32
	mtime   time.Time
	content []byte // when asked for and at most the asked bytes
	tooBig  bool   // content asked for but the file was longer
}

func (o fileObs) sha() string {
	if o.state != present {
		return ""
	}
	return hex.EncodeToString(o.sum[:])
}

func (o fileObs) modeString() string { return fmt.Sprintf("%04o", o.mode) }

// observe reads the regular file at logical path p under the root and hashes
// it, keeping its content when keep > 0 and it is at most keep bytes. It
// opens without blocking (a FIFO at the path must not hang the collector)
// and follows symbolic links.
func (c *Collector) observe(p string, keep int64) fileObs {
	real := c.real(p)
	f, err := os.OpenFile(real, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return openFailure(real, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileObs{state: unreadable, reason: reasonOf(err)}
	}
	if !fi.Mode().IsRegular() {
		return fileObs{state: unreadable, reason: "not a regular file: " + typeName(fi.Mode())}
	}
	o := fileObs{state: present, mtime: fi.ModTime(), mode: uint32(fi.Mode().Perm())}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		o.mode, o.uid, o.gid = uint32(st.Mode)&0o7777, st.Uid, st.Gid
	}
	h := sha256.New()
	if keep > 0 {
		data, err := io.ReadAll(io.LimitReader(f, keep+1))
		if err != nil {
			return fileObs{state: unreadable, reason: reasonOf(err)}
		}
		h.Write(data)
		o.size = int64(len(data))
		if o.size <= keep {
			o.content = data
		} else {
			o.tooBig = true
		}
	}
	n, err := io.Copy(h, f)
	if err != nil {
		return fileObs{state: unreadable, reason: reasonOf(err)}
	}
	o.size += n
	h.Sum(o.sum[:0])
	return o
}

// openFailure classifies a failed open: a missing file is absent, a symbolic
// link to nothing and anything else is unreadable with the reason.
func openFailure(real string, err error) fileObs {
	if errors.Is(err, fs.ErrNotExist) {
		if fi, lerr := os.Lstat(real); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(real)
			return fileObs{state: unreadable, reason: "dangling symbolic link to " + target}
		}
		return fileObs{state: absent}
	}
	if errors.Is(err, fs.ErrPermission) {
		return fileObs{state: unreadable, reason: "permission denied (the agent's user or group may not read it)"}
	}
	return fileObs{state: unreadable, reason: reasonOf(err)}
}

// reasonOf is an error without the path that os adds: reasons are reported
// with the logical path, not the one under the root.
func reasonOf(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func typeName(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return m.Type().String()
}

// sensitive names are never watched as configuration, even when a glob
// matches them: their hash or diff would carry password hashes. /etc/shadow
// is watched through Config.Shadow, which never emits its content.
var sensitive = map[string]bool{
	"shadow": true, "shadow-": true, "gshadow": true, "gshadow-": true,
	"nshadow": true, "opasswd": true, "master.passwd": true,
}

func (c *Collector) isSensitive(p string) bool {
	return sensitive[filepath.Base(p)] || (c.shadow != "" && p == c.shadow)
}

// expand lists the logical paths to look at, true for those named without a
// glob (their absence is a problem), and per glob pattern the problem that it
// matches nothing ("" when it does). Glob matches skip directories, the
// sensitive files, and names starting with a dot unless the pattern's last
// element does (editor swap files; as a shell glob does).
func (c *Collector) expand() (paths map[string]bool, globProblems map[string]string) {
	paths = make(map[string]bool)
	globProblems = make(map[string]string)
	for _, pat := range c.paths {
		if !hasMeta(pat) {
			paths[pat] = !c.defaults // explicit: its absence is a problem
			continue
		}
		matches, _ := filepath.Glob(c.globRoot + pat) // the pattern was checked in New
		n := 0
		for _, m := range matches {
			p := c.logical(m)
			if c.isSensitive(p) ||
				(strings.HasPrefix(filepath.Base(p), ".") && !strings.HasPrefix(filepath.Base(pat), ".")) {
				continue
			}
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				continue
			}
			if _, ok := paths[p]; !ok {
				paths[p] = false
			}
			n++
		}
		switch {
		case n > 0 || c.defaults:
			globProblems[pat] = ""
		case !hasMeta(filepath.Dir(pat)) && !isDir(c.real(filepath.Dir(pat))):
			globProblems[pat] = "no file matches: directory " + filepath.Dir(pat) + " is missing"
		default:
			globProblems[pat] = "no file matches"
		}
	}
	return paths, globProblems
}

// absentDefaults lists the default paths that match no file now.
func (c *Collector) absentDefaults() []string {
	var absent []string
	for _, pat := range c.paths {
		if hasMeta(pat) {
			if m, _ := filepath.Glob(c.globRoot + pat); len(m) == 0 {
				absent = append(absent, pat)
			}
		} else if _, err := os.Lstat(c.real(pat)); err != nil {
			absent = append(absent, pat)
		}
	}
	return absent
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// escapeMeta quotes glob metacharacters so that a root directory is matched
// literally.
func escapeMeta(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// real is logical path p under the root.
func (c *Collector) real(p string) string {
	if c.root == "/" {
		return p
	}
	return c.root + p
}

// logical is the path on the device of real path r under the root.
func (c *Collector) logical(r string) string {
	if c.root == "/" {
		return r
	}
	return strings.TrimPrefix(r, c.root)
}

// matchesAny says whether logical path p matches one of the patterns.
func matchesAny(pats []string, p string) bool {
	for _, pat := range pats {
		if ok, _ := filepath.Match(pat, p); ok {
			return true
		}
	}
	return false
}
