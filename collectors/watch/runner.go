package watch

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/offbox/offbox/collectors"
)

// The runner: one Run's state, the scans of the watched files and the
// accounts, and the records they produce.

// runner is the state of one Run; only its goroutine touches it.
type runner struct {
	c   *Collector
	ctx context.Context
	out collectors.Emitter
	err error // the first failed Emit: Run stops

	w       *fsnotify.Watcher // nil without inotify
	watched map[string]uint64 // real directory → inode of the watch
	wantDir map[string]bool   // the collector's dirs

	files    map[string]*fileTrack // by logical path
	problems map[string]string     // by record source: the reported problem
	owners   map[uint32]string     // uid → user, loaded once per scan when needed

	key        []byte // HMAC key of the hash digests; random per Run, memory only
	shadow     shadowTrack
	passwd     passwdTrack
	agePending bool // a password_age record is due once shadow is readable
}

// fileTrack is what is known of one watched path.
type fileTrack struct {
	explicit bool     // named without a glob: its absence is a problem
	known    presence // unreadable here means unknown: no baseline yet
	last     fileObs  // when known == present
}

// relevant says whether an inotify event on real path name may change a
// watched file, or is a watched directory coming or going.
func (r *runner) relevant(name string) bool {
	if r.wantDir[name] {
		return true
	}
	p := r.c.logical(name)
	return (p != "" && (p == r.c.shadow || p == r.c.passwd)) || matchesAny(r.c.paths, p)
}

// scan looks at everything and records what changed since the last scan.
// The first scan is the baseline.
func (r *runner) scan(initial bool) {
	r.owners = nil
	if r.w != nil {
		r.syncWatches()
	}
	r.scanFiles(initial)
	if initial && r.c.defaults {
		if absent := r.c.absentDefaults(); len(absent) > 0 {
			r.c.log.Debug("watch: default paths absent on this device, watched if they appear", "paths", absent)
		}
	}
	if r.c.passwd != "" {
		r.scanPasswd()
	}
	if r.c.shadow != "" {
		r.scanShadow()
	}
	if r.agePending && r.shadow.known {
		r.agePending = false
		r.emitAge()
	}
}

// syncWatches adds a watch on every wanted directory that exists, and
// renews one whose directory was replaced.
func (r *runner) syncWatches() {
	for _, d := range r.c.dirs {
		var ino uint64
		fi, err := os.Stat(d)
		if err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				ino = uint64(st.Ino)
			}
		}
		if old, ok := r.watched[d]; ok {
			if err == nil && old == ino {
				continue
			}
			r.w.Remove(d) // the kernel may have dropped it already
			delete(r.watched, d)
		}
		if err != nil || !fi.IsDir() {
			continue // rescans notice it appearing
		}
		src, p := sourcePrefix+r.c.logical(d), r.c.logical(d)
		if err := r.w.Add(d); err != nil {
			r.setProblem(src, p, fmt.Sprintf("cannot watch the directory (%v): changes are found by rescans every %v", reasonOf(err), r.c.rescanEvery), "")
			continue
		}
		r.setProblem(src, p, "", "watched")
		r.watched[d] = ino
	}
}

// scanFiles looks at every watched path.
func (r *runner) scanFiles(initial bool) {
	paths, globs := r.c.expand()
	for _, pat := range sortedKeys(globs) {
		r.setProblem(sourcePrefix+pat, pat, globs[pat], "matches files again")
	}
	all := make(map[string]bool, len(paths)+len(r.files))
	for p := range paths {
		all[p] = true
	}
	for p := range r.files {
		all[p] = true
	}
	for _, p := range sortedKeys(all) {
		explicit, wanted := paths[p]
		ft, ok := r.files[p]
		if !ok {
			ft = &fileTrack{explicit: explicit, known: unreadable}
			if !initial {
				ft.known = absent // a glob did not match it before
			}
			r.files[p] = ft
		}
		diff := matchesAny(r.c.diffPaths, p)
		o := fileObs{state: absent}
		if wanted {
			var keep int64
			if diff {
				keep = maxDiffInput
			}
			o = r.c.observe(p, keep)
		}
		r.applyFile(p, ft, o, diff)
		if !wanted && ft.known == absent {
			delete(r.files, p)
		}
	}
}

// applyFile compares a look at p with what was known and records the change.
// An mtime-only change (touch) is not a change; a mode or owner change is
// one ("metadata"). After a time unreadable the file is compared with its
// last readable version; a file never readable before gets a baseline.
func (r *runner) applyFile(p string, ft *fileTrack, o fileObs, diff bool) {
	src := sourcePrefix + p
	switch o.state {
	case present:
		r.setProblem(src, p, "", "readable again")
		switch ft.known {
		case absent:
			r.emitChange(p, "created", nil, &o, diff)
		case present:
			old := ft.last
			switch {
			case old.sum != o.sum:
				r.emitChange(p, "modified", &old, &o, diff)
			case old.mode != o.mode || old.uid != o.uid || old.gid != o.gid:
				r.emitChange(p, "metadata", &old, &o, false)
			}
		}
		ft.known, ft.last = present, o
	case absent:
		if ft.known == present {
			r.emitChange(p, "deleted", &ft.last, nil, diff)
		}
		ft.known, ft.last = absent, fileObs{}
		if ft.explicit {
			r.setProblem(src, p, "missing", "readable again")
		} else {
			r.setProblem(src, p, "", "gone")
		}
	case unreadable:
		r.setProblem(src, p, o.reason, "")
	}
}

// changeBody is the body of a config_change record. The new file's fields
// are left out for "deleted", the old file's for "created".
type changeBody struct {
	Path          string  `json:"path"`
	Change        string  `json:"change"` // modified, created, deleted, metadata
	OldSHA256     string  `json:"old_sha256"`
	NewSHA256     string  `json:"new_sha256"`
	Size          *int64  `json:"size,omitempty"`
	Mode          string  `json:"mode,omitempty"` // octal, with setuid/setgid/sticky
	UID           *uint32 `json:"uid,omitempty"`
	GID           *uint32 `json:"gid,omitempty"`
	Owner         string  `json:"owner,omitempty"` // user of uid in the passwd under the root
	MTime         string  `json:"mtime,omitempty"` // RFC 3339
	OldSize       *int64  `json:"old_size,omitempty"`
	OldMode       string  `json:"old_mode,omitempty"`
	OldUID        *uint32 `json:"old_uid,omitempty"`
	OldGID        *uint32 `json:"old_gid,omitempty"`
	OldOwner      string  `json:"old_owner,omitempty"`
	Diff          string  `json:"diff,omitempty"`           // DiffPaths only
	DiffTruncated *bool   `json:"diff_truncated,omitempty"` // DiffPaths only
	DiffSkipped   string  `json:"diff_skipped,omitempty"`   // why there is no diff
}

func (r *runner) emitChange(p, change string, old, cur *fileObs, diff bool) {
	b := changeBody{Path: p, Change: change}
	if old != nil {
		b.OldSHA256 = old.sha()
		b.OldSize, b.OldMode, b.OldUID, b.OldGID = &old.size, old.modeString(), &old.uid, &old.gid
		b.OldOwner = r.ownerName(old.uid)
	}
	if cur != nil {
		b.NewSHA256 = cur.sha()
		b.Size, b.Mode, b.UID, b.GID = &cur.size, cur.modeString(), &cur.uid, &cur.gid
		b.Owner = r.ownerName(cur.uid)
		b.MTime = cur.mtime.UTC().Format(time.RFC3339Nano)
	}
	if diff && change != "metadata" {
		var a, z []byte
		tooBig := false
		if old != nil {
			a, tooBig = old.content, old.tooBig
		}
		if cur != nil {
			z, tooBig = cur.content, tooBig || cur.tooBig
		}
		truncated := true
		if tooBig {
			b.DiffSkipped = fmt.Sprintf("file larger than %d bytes", maxDiffInput)
		} else {
			b.Diff, truncated = unifiedDiff(p, a, z, r.c.maxDiff)
		}
		b.DiffTruncated = &truncated
	}
	r.emit(collectors.Record{
		Kind:   collectors.KindConfigChange,
		Source: sourcePrefix + p,
		Body:   marshal(b),
		Attrs: []collectors.Attr{
			{Key: "path", Value: p}, {Key: "change", Value: change},
			{Key: "old_sha256", Value: b.OldSHA256}, {Key: "new_sha256", Value: b.NewSHA256},
		},
	})
}

// setProblem records that source has a problem (reason), or none ("") any
// more, logging and emitting an agent_status record only when that changes.
// okWord says how a problem ended ("readable again", "gone").
func (r *runner) setProblem(src, p, reason, okWord string) {
	if r.problems[src] == reason {
		return
	}
	what := p
	if what == "" {
		what = "watch"
	}
	if reason == "" {
		delete(r.problems, src)
		r.c.log.Info("watch: "+okWord, "path", p)
		r.emit(collectors.Record{
			Kind:   collectors.KindAgentStatus,
			Source: src,
			Body:   []byte(what + ": " + okWord),
			Attrs:  []collectors.Attr{{Key: "path", Value: p}, {Key: "status", Value: okWord}},
		})
		return
	}
	r.problems[src] = reason
	r.c.log.Warn("watch: "+reason, "path", p)
	r.emit(collectors.Record{
		Kind:   collectors.KindAgentStatus,
		Source: src,
		Body:   []byte(what + ": " + reason),
		Attrs:  []collectors.Attr{{Key: "path", Value: p}, {Key: "error", Value: reason}},
	})
}

func (r *runner) emit(rec collectors.Record) {
	if r.err != nil {
		return
	}
	rec.Time = r.c.now()
	if err := r.out.Emit(r.ctx, rec); err != nil {
		r.err = err
	}
}

// ownerName is the user of uid in the passwd under the root, or "".
func (r *runner) ownerName(uid uint32) string {
	if r.owners == nil {
		r.owners = r.c.ownerNames()
	}
	return r.owners[uid]
}

// ownerNames maps uids to the first user with that uid in the passwd file
// under the root (Config.Passwd, or /etc/passwd when that is disabled).
func (c *Collector) ownerNames() map[uint32]string {
	names := make(map[uint32]string)
	p := c.passwd
	if p == "" {
		p = DefaultPasswd
	}
	o := c.observe(p, maxAccountsFile)
	if o.state != present || o.tooBig {
		return names
	}
	accts, _ := parsePasswd(o.content)
	for _, a := range accts {
		if _, ok := names[a.UID]; !ok {
			names[a.UID] = a.User
		}
	}
	return names
}

// digest is a keyed digest of a password field, to notice it changing.
func (r *runner) digest(s secret) [32]byte {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(s()))
	var d [32]byte
	m.Sum(d[:0])
	return d
}

// marshal is compact JSON without HTML escaping (diffs hold < and >).
func marshal(v any) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		panic("watch: marshal: " + err.Error()) // only plain structs are marshalled
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
