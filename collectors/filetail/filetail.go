// Package filetail tails log files line by line into records, following them
// across rename and copytruncate rotation, and resumes from the offsets the
// central collector acknowledged. It never writes to disk: no positions file,
// no registry, no spool; the log file itself is the buffer, and when the
// agent's queue is full the tailer simply waits. Loss it cannot avoid (a
// rotated file that is gone) becomes a gap record, never silence.
package filetail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/offbox/offbox/collectors"
)

// Config says what to tail. Its zero value, given Paths, is the default.
// The yaml tags are its keys in the agent's configuration file (offbox.yaml;
// json the same, for the config hash); a field the file does not set is "-".
type Config struct {
	Paths        []string         `yaml:"tail" json:"tail"`                     // file paths and globs (filepath.Glob syntax); re-globbed every PollEvery
	StartAt      string           `yaml:"start_at" json:"start_at"`             // "beginning" (default, "") or "end": where a file without checkpoint that existed at start begins; later files always begin at 0
	MaxLineBytes int              `yaml:"max_line_bytes" json:"max_line_bytes"` // longer lines become records of at most this many bytes, FlagPartial on all but the last; 0 means 64 KiB
	PollEvery    time.Duration    `yaml:"-" json:"-"`                           // fallback polling, glob rescan, and the grace a rotated file gets; 0 means 1s
	ReadBufBytes int              `yaml:"-" json:"-"`                           // bytes per read; 0 means 256 KiB
	Logger       *slog.Logger     `yaml:"-" json:"-"`                           // nil: slog.Default()
	Now          func() time.Time `yaml:"-" json:"-"`                           // record time; nil: time.Now
}

const (
	defaultMaxLineBytes = 64 << 10
	defaultReadBufBytes = 256 << 10
	defaultPollEvery    = time.Second
	// maxSizeBytes bounds MaxLineBytes and ReadBufBytes: each tailed file
	// holds a buffer of about their sum, and the agent runs on small routers.
	maxSizeBytes = 64 << 20
)

// Tailer is the file collector. Create it with New.
//
// Each path matched by Paths has one goroutine that reads it in order. It
// follows rotation:
//   - rename and create: the old file stays open and is read to its end
//     before the new file at the path is read from 0, once the new file has
//     data or one PollEvery after the rename (the writer may still append to
//     the old file until it reopens);
//   - copytruncate: when the file shrinks below the offset read, or no
//     longer starts with the bytes it was fingerprinted over, the rest is read
//     from the copy beside it (same first bytes, at least as long), then the
//     file from 0; without a copy a gap record says what was lost;
//   - after a restart, Resume's checkpoints do the same with the rotated or
//     copied file found by identity beside the path (see identity.go).
//
// When the follower falls behind (its emitter blocked because the collector
// is down, or the agent was stopped) the path may be rotated several times
// before it gets to the new file. After finishing a file it therefore reads,
// oldest first, every sibling (same name prefix, not compressed) written at
// or after the finished file and not read yet, before the file now at the
// path. A file rotated past and compressed before the follower got to it
// cannot be read; its lines are lost without a byte count.
type Tailer struct {
	patterns   []string // absolute and clean
	startAtEnd bool
	maxLine    int // bytes
	bufSize    int // bytes of each follower's read window
	readChunk  int // bytes asked for per read
	pollEvery  time.Duration
	log        *slog.Logger
	now        func() time.Time

	mu          sync.Mutex
	checkpoints map[string]collectors.Checkpoint // by clean path; taken by the first follower of the path
}

var (
	_ collectors.Collector = (*Tailer)(nil)
	_ collectors.Resumer   = (*Tailer)(nil)
	_ collectors.Acker     = (*Tailer)(nil)
)

// New checks cfg and returns a Tailer.
func New(cfg Config) (*Tailer, error) {
	if len(cfg.Paths) == 0 {
		return nil, errors.New("filetail: no paths to tail")
	}
	t := &Tailer{
		maxLine:     cfg.MaxLineBytes,
		readChunk:   cfg.ReadBufBytes,
		pollEvery:   cfg.PollEvery,
		log:         cfg.Logger,
		now:         cfg.Now,
		checkpoints: make(map[string]collectors.Checkpoint),
	}
	for _, p := range cfg.Paths {
		if p == "" {
			return nil, errors.New("filetail: empty path")
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("filetail: path %q: %w", p, err)
		}
		// Match reports a malformed pattern only when it gets far enough
		// to see it, so check against the pattern's own text too.
		if _, err := filepath.Match(abs, ""); err != nil {
			return nil, fmt.Errorf("filetail: bad glob pattern %q: %w", p, err)
		}
		if _, err := filepath.Match(abs, abs); err != nil {
			return nil, fmt.Errorf("filetail: bad glob pattern %q: %w", p, err)
		}
		t.patterns = append(t.patterns, abs)
	}
	switch cfg.StartAt {
	case "", "beginning":
	case "end":
		t.startAtEnd = true
	default:
		return nil, fmt.Errorf("filetail: StartAt %q: want \"beginning\" or \"end\"", cfg.StartAt)
	}
	if err := checkSize("MaxLineBytes", &t.maxLine, defaultMaxLineBytes); err != nil {
		return nil, err
	}
	if err := checkSize("ReadBufBytes", &t.readChunk, defaultReadBufBytes); err != nil {
		return nil, err
	}
	switch {
	case t.pollEvery < 0:
		return nil, fmt.Errorf("filetail: PollEvery %v is negative", t.pollEvery)
	case t.pollEvery == 0:
		t.pollEvery = defaultPollEvery
	}
	// A held partial line is at most maxLine bytes, and each read must
	// still have room for readChunk more.
	t.bufSize = t.maxLine + t.readChunk
	if t.log == nil {
		t.log = slog.Default()
	}
	t.log = t.log.With("collector", "filetail")
	if t.now == nil {
		t.now = time.Now
	}
	return t, nil
}

func checkSize(name string, v *int, def int) error {
	switch {
	case *v < 0:
		return fmt.Errorf("filetail: %s %d is negative", name, *v)
	case *v > maxSizeBytes:
		return fmt.Errorf("filetail: %s %d is above the limit of %d", name, *v, maxSizeBytes)
	case *v == 0:
		*v = def
	}
	return nil
}

// Name implements collectors.Collector.
func (t *Tailer) Name() string { return "filetail" }

// Resume takes the acknowledged checkpoints, one per source; those of sources
// this tailer does not follow are ignored. Call it before Run.
func (t *Tailer) Resume(cps []collectors.Checkpoint) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, cp := range cps {
		p, ok := strings.CutPrefix(cp.Source, sourcePrefix)
		if !ok || p == "" {
			continue
		}
		if cp.Offset < 0 {
			t.log.Warn("ignoring checkpoint with negative offset", "source", cp.Source, "offset", cp.Offset)
			continue
		}
		t.checkpoints[filepath.Clean(p)] = cp
	}
}

// Acked is a no-op. The tailer reads a rotated or copied file to its end
// before it lets go of it, and Emit has queued every line it returned for, so
// in-process nothing waits on acknowledgement; after a restart Resume
// carries the acknowledged offsets.
func (t *Tailer) Acked([]collectors.Checkpoint) {}

// takeCheckpoint returns path's checkpoint once; later followers of the same
// path (it vanished and came back) start fresh.
func (t *Tailer) takeCheckpoint(path string) (collectors.Checkpoint, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cp, ok := t.checkpoints[path]
	delete(t.checkpoints, path)
	return cp, ok
}

// checkpointPaths lists the paths that still have a checkpoint.
func (t *Tailer) checkpointPaths() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	paths := make([]string, 0, len(t.checkpoints))
	for p := range t.checkpoints {
		paths = append(paths, p)
	}
	return paths
}

const sourcePrefix = "file:"

// Run tails until ctx ends, then returns nil. It returns an error only if
// the emitter fails for another reason than ctx ending.
func (t *Tailer) Run(ctx context.Context, out collectors.Emitter) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &runner{
		t:         t,
		ctx:       ctx,
		cancel:    cancel,
		out:       out,
		followers: make(map[string]*follower),
		watched:   make(map[string]bool),
		noMatch:   make(map[string]bool),
		rescan:    make(chan struct{}, 1),
	}
	r.startWatcher()
	defer r.wg.Wait() // after the watcher closes and ctx is cancelled (defers run last-in first-out)
	defer cancel(nil)
	defer r.stopWatcher()

	ticker := time.NewTicker(t.pollEvery)
	defer ticker.Stop()
	for initial := true; ; initial = false {
		// A select with several ready cases picks any: look at ctx
		// first, so that no follower starts after it ended.
		if ctx.Err() == nil {
			r.scan(initial)
		}
		select {
		case <-ctx.Done():
			if err := context.Cause(ctx); !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return nil
		case <-ticker.C:
		case <-r.rescan:
		}
	}
}

// runner is the state of one Run: the followers by path and the watches.
type runner struct {
	t      *Tailer
	ctx    context.Context
	cancel context.CancelCauseFunc
	out    collectors.Emitter
	wg     sync.WaitGroup

	mu        sync.Mutex
	followers map[string]*follower // one per path at most: per-path order is strict

	watcher     *fsnotify.Watcher // nil: polling only
	watcherDone chan struct{}
	watched     map[string]bool // directories: true watched, false failed (logged once)
	noMatch     map[string]bool // patterns reported as matching nothing
	rescan      chan struct{}   // a file was created in a watched directory
	watchWarned bool
}

// scan globs every pattern and starts a follower for each new match.
func (r *runner) scan(initial bool) {
	var pending []string
	if initial {
		pending = r.t.checkpointPaths()
	}
	for _, pat := range r.t.patterns {
		matches, _ := filepath.Glob(pat) // the only error is a bad pattern, refused by New
		isGlob := hasMeta(pat)
		if dir := filepath.Dir(pat); !hasMeta(dir) {
			r.watchDir(dir) // so that a new file wakes the scan
		}
		found := 0
		for _, m := range matches {
			if r.following(m) {
				found++
				continue
			}
			// A glob that matches a directory is not about it; a
			// plain path that is a directory is reported by its
			// follower.
			if isGlob {
				if fi, err := os.Stat(m); err == nil && fi.IsDir() {
					continue
				}
			}
			found++
			r.watchDir(filepath.Dir(m))
			r.follow(m, initial)
		}
		// A checkpointed path that is missing now may have been rotated
		// away while the agent was down: its follower finishes the
		// rotated file.
		for _, p := range pending {
			if ok, _ := filepath.Match(pat, p); ok {
				if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
					r.follow(p, initial)
				}
			}
		}
		// A follower still finishing a file the pattern matched (the
		// path was renamed away, its successor not created yet) means
		// the pattern is not without files.
		if found == 0 && r.followsMatchOf(pat) {
			found = 1
		}
		r.reportMatches(pat, found)
	}
}

func (r *runner) following(path string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.followers[path] != nil
}

// followsMatchOf says whether a follower runs for a path pat matches.
func (r *runner) followsMatchOf(pat string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range r.followers {
		if ok, _ := filepath.Match(pat, p); ok {
			return true
		}
	}
	return false
}

func hasMeta(path string) bool { return strings.ContainsAny(path, `*?[\`) }

// reportMatches logs and records a pattern that matches nothing, once per
// change between matching and not.
func (r *runner) reportMatches(pat string, found int) {
	none := found == 0
	if none == r.noMatch[pat] {
		return
	}
	r.noMatch[pat] = none
	if !none {
		r.t.log.Info("path matches files again", "path", pat)
		return
	}
	r.t.log.Warn("path matches no file", "path", pat)
	rec := collectors.Record{
		Time:   r.t.now(),
		Kind:   collectors.KindAgentStatus,
		Source: sourcePrefix + pat,
		Body:   []byte("no file matches " + pat),
		Attrs:  []collectors.Attr{{Key: "error", Value: "no file matches"}},
	}
	if err := r.out.Emit(r.ctx, rec); err != nil {
		r.fail(err)
	}
}

// follow starts a follower for path unless one runs.
func (r *runner) follow(path string, initial bool) {
	if r.ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	if _, ok := r.followers[path]; ok {
		r.mu.Unlock()
		return
	}
	fl := newFollower(r.t, r.out, path, initial && r.t.startAtEnd)
	r.followers[path] = fl
	r.mu.Unlock()

	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := fl.run(r.ctx)
		fl.close()
		r.mu.Lock()
		delete(r.followers, path)
		r.mu.Unlock()
		if err != nil {
			r.fail(err)
		}
	}()
}

// fail stops the run for an error that is not ctx ending.
func (r *runner) fail(err error) {
	if r.ctx.Err() != nil {
		return
	}
	r.cancel(fmt.Errorf("filetail: %w", err))
}

// startWatcher starts fsnotify. Without it the tailer polls, which it always
// does as well, so a missed event never stalls a file.
func (r *runner) startWatcher() {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.t.log.Warn("file events unavailable, polling only", "error", err, "every", r.t.pollEvery)
		return
	}
	r.watcher = w
	r.watcherDone = make(chan struct{})
	go r.forwardEvents()
}

func (r *runner) stopWatcher() {
	if r.watcher == nil {
		return
	}
	r.watcher.Close()
	<-r.watcherDone
}

// forwardEvents wakes the follower of the file an event is about, and
// rescans the globs when a file appears.
func (r *runner) forwardEvents() {
	defer close(r.watcherDone)
	for {
		select {
		case ev, ok := <-r.watcher.Events:
			if !ok {
				return
			}
			r.mu.Lock()
			if fl := r.followers[ev.Name]; fl != nil {
				fl.poke()
			}
			r.mu.Unlock()
			if ev.Has(fsnotify.Create) {
				select {
				case r.rescan <- struct{}{}:
				default:
				}
			}
		case err, ok := <-r.watcher.Errors:
			if !ok {
				return
			}
			// Typically a queue overflow: events were lost, so
			// look at every file now.
			r.t.log.Debug("file event error", "error", err)
			r.mu.Lock()
			for _, fl := range r.followers {
				fl.poke()
			}
			r.mu.Unlock()
		}
	}
}

// watchDir adds an fsnotify watch on dir. A failure (the directory does not
// exist yet, too many watches) is retried at the next scan and logged once.
func (r *runner) watchDir(dir string) {
	if r.watcher == nil || r.watched[dir] {
		return
	}
	if err := r.watcher.Add(dir); err != nil {
		if _, seen := r.watched[dir]; !seen {
			r.t.log.Debug("cannot watch directory, polling it", "dir", dir, "error", err)
		}
		if !r.watchWarned && !errors.Is(err, os.ErrNotExist) {
			r.watchWarned = true
			r.t.log.Warn("cannot watch directory, polling it", "dir", dir, "error", err, "every", r.t.pollEvery)
		}
		r.watched[dir] = false
		return
	}
	r.watched[dir] = true
}
