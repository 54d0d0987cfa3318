// The previous boot's crash records, from pstore (ramoops, ERST, EFI):
// listed, and the last 8 KiB of each dmesg or console record carried with
// its most telling line (crash.go parses it). Only ever read.

package boot

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// readPstore lists the pstore records and reads the crash records among them.
func (r *reader) readPstore() *Pstore {
	names, err := r.listDir(pathPstore)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			r.miss(pathPstore, "not present: pstore is not mounted or not in this kernel")
		} else {
			r.missErr(pathPstore, err)
		}
		return nil
	}
	p := &Pstore{HasRecords: len(names) > 0, Count: len(names), Files: names}
	r.readCrashRecords(p, names)
	if len(p.Files) > maxPstoreFiles {
		p.Files = p.Files[:maxPstoreFiles]
	}
	return p
}

// readCrashRecords carries the text of the first maxCrashRecords kernel log
// records among names (dmesg-* before console-*, each in name order) and the
// most telling line of them all. Other records (pmsg-* from user space,
// ftrace-*) say nothing about why the kernel died.
func (r *reader) readCrashRecords(p *Pstore, names []string) {
	var picked []string
	for _, prefix := range []string{"dmesg-", "console-"} {
		for _, n := range names {
			if strings.HasPrefix(n, prefix) && len(picked) < maxCrashRecords {
				picked = append(picked, n)
			}
		}
	}
	var best crashLine
	for _, n := range picked {
		name := pathPstore + "/" + n
		rec, text, err := r.crashRecord(name)
		if err != nil {
			r.missErr(name, err)
			continue
		}
		rec.File = n
		p.Records = append(p.Records, rec)
		c := parseCrashLine(text)
		p.Panic = p.Panic || c.panic
		if c.rank > best.rank {
			best = c
		}
	}
	p.CrashLine = escapeText([]byte(best.line))
}

// crashRecord reads the last maxCrashBytes of a pstore record, from the first
// line that starts in them, without reading the rest: a record (console-*,
// a dmesg of a large log buffer) can be megabytes. text is what
// parseCrashLine is given: the record's first line (pstore's header) and
// what was read.
func (r *reader) crashRecord(name string) (rec CrashRecord, text []byte, err error) {
	f, err := os.OpenFile(r.path(name), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return rec, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return rec, nil, err
	}
	if !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return rec, nil, syscall.EISDIR
		}
		return rec, nil, errNotRegular
	}
	rec.Bytes = fi.Size()
	if fi.Size() <= maxCrashBytes {
		b, err := io.ReadAll(io.LimitReader(f, maxCrashBytes))
		if err != nil {
			return rec, nil, err
		}
		rec.Text = escapeText(b)
		return rec, b, nil
	}
	head := make([]byte, maxCrashHeader)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return rec, nil, err
	}
	head = head[:n]
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i+1]
	} else {
		head = append(head, '\n')
	}
	tail := make([]byte, maxCrashBytes)
	n, err = f.ReadAt(tail, fi.Size()-maxCrashBytes)
	if err != nil && err != io.EOF {
		return rec, nil, err
	}
	tail = tail[:n]
	// The cut fell inside a line: start at the next one, so no half
	// line (or half UTF-8 sequence) is taken for the kernel's words.
	if i := bytes.IndexByte(tail, '\n'); i >= 0 && i+1 < len(tail) {
		tail = tail[i+1:]
	}
	rec.Text, rec.Truncated = escapeText(tail), true
	return rec, append(head, tail...), nil
}
