// Package watch records changes to configuration files and local accounts:
// a watched file modified, created, deleted or given another mode or owner;
// a password changed in /etc/shadow; an account added to, removed from or
// changed in /etc/passwd; and, at start and daily, the age of every password.
// It reads everything under a host root, sees changes through inotify on the
// parent directories plus a periodic rescan, and keeps its baseline in
// memory only: it never writes to disk. It never puts a password hash, or
// anything derived from one, into a record or a log line: to notice that a
// hash changed it keeps a digest keyed with a random per-run key, in memory.
// A source it cannot read is reported as an agent_status record, once per
// change of state; it never stops for one.
//
// Records (Source is "watch:" and the path on the device, not under Root):
//
//   - config_change: body changeBody; change is "modified" (content),
//     "metadata" (mode, uid or gid only), "created" or "deleted". An
//     mtime-only change (touch) is no record. The first look is a baseline,
//     never a record; after a time unreadable a file is compared with the
//     last version read.
//   - password_change: a user's hash field changed in shadow (or the
//     password field in passwd, on systems without shadow). Users that
//     appear or vanish are account changes, seen in passwd.
//   - account_change: one per account added, removed or changed (uid, gid,
//     home, shell); uid0 flags root's powers.
//   - password_age: at start and every AgeEvery, every shadow user,
//     locked and passwordless ones included and flagged; oldest_* counts
//     only passwords in use (not locked, not empty, not to be changed at
//     next login).
//   - agent_status: a path missing or unreadable (attr error), a glob that
//     matches nothing, inotify unavailable; and one more (attr status) when
//     that ends.
//
// Files named shadow, gshadow, their "-" backups, nshadow, opasswd and
// master.passwd are never watched as config files, even when a glob
// matches them: their hashes would be in the diff and the SHA-256.
package watch

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/offbox/offbox/collectors"
)

// Config says what to watch. Its zero value watches the defaults under "/".
// The yaml tags are its keys in the agent's configuration file (offbox.yaml;
// json the same, for the config hash); a field the file does not set is "-".
type Config struct {
	Root         string           `yaml:"-" json:"-"`                                   // host root that every path below is read under; "" means "/"
	Paths        []string         `yaml:"paths" json:"paths"`                           // absolute files and globs (filepath.Match syntax) to watch; nil means DefaultPaths()
	DiffPaths    []string         `yaml:"diff_paths" json:"diff_paths"`                 // globs of paths whose records carry a unified diff; none by default: config files hold secrets
	MaxDiffBytes int              `yaml:"max_diff_bytes" json:"max_diff_bytes"`         // cap on a diff, cut at a line boundary and flagged diff_truncated; 0 means 16 KiB
	Shadow       string           `yaml:"shadow" json:"shadow"`                         // shadow(5) file; "" means /etc/shadow, "-" disables
	Passwd       string           `yaml:"passwd" json:"passwd"`                         // passwd(5) file; "" means /etc/passwd, "-" disables
	RescanEvery  time.Duration    `yaml:"rescan" json:"rescan"`                         // rescan besides inotify: catches missed events and new glob matches; 0 means 30s
	AgeEvery     time.Duration    `yaml:"password_age_every" json:"password_age_every"` // period of the password_age record (one is also sent at start); 0 means 24h
	Now          func() time.Time `yaml:"-" json:"-"`                                   // record times and password ages; nil means time.Now
	Logger       *slog.Logger     `yaml:"-" json:"-"`                                   // nil means slog.Default()
}

// DefaultPaths are the files watched when Config.Paths is nil: sshd, OpenWrt
// UCI, FRR, ifupdown, sudo, name resolution, cron and nftables.
func DefaultPaths() []string {
	return []string{
		"/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/*.conf",
		"/etc/config/*",
		"/etc/frr/*.conf",
		"/etc/network/interfaces",
		"/etc/sudoers", "/etc/sudoers.d/*",
		"/etc/hosts", "/etc/resolv.conf",
		"/etc/crontab",
		"/etc/nftables.conf",
	}
}

// Defaults of Config's zero values (offbox check-config shows them).
const (
	DefaultMaxDiffBytes = 16 << 10
	DefaultShadow       = "/etc/shadow"
	DefaultPasswd       = "/etc/passwd"
	DefaultRescanEvery  = 30 * time.Second
	DefaultAgeEvery     = 24 * time.Hour
)

const (
	sourcePrefix = "watch:"
	// debounce is the quiet after the last inotify event before a scan, so
	// that one save (truncate then write, or write then rename) is one record.
	debounce = 150 * time.Millisecond
	// maxDebounce bounds the wait while events keep coming.
	maxDebounce = time.Second
	// maxDiffInput is the most bytes of a DiffPaths file kept in memory to
	// diff the next version against; a longer file gets no diff.
	maxDiffInput = 1 << 20
	// maxAccountsFile is the most bytes of shadow or passwd read.
	maxAccountsFile = 16 << 20
)

// Collector watches files and accounts. Create it with New.
type Collector struct {
	root        string   // absolute and clean; "/" for the host itself
	globRoot    string   // root with glob metacharacters quoted; "" for "/"
	paths       []string // logical (on the device), absolute, clean
	defaults    bool     // paths are DefaultPaths(): one that does not exist is not a problem
	diffPaths   []string
	dirs        []string // real directories to watch with inotify
	maxDiff     int      // bytes
	shadow      string   // logical; "" disabled
	passwd      string   // logical; "" disabled
	rescanEvery time.Duration
	ageEvery    time.Duration
	now         func() time.Time
	log         *slog.Logger

	noNotify bool // tests: find changes by rescans alone
}

// New checks cfg and returns a collector. It reads nothing but the root.
func New(cfg Config) (*Collector, error) {
	root := cfg.Root
	if root == "" {
		root = "/"
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("watch: root: %w", err)
	}
	if !isDir(root) {
		return nil, fmt.Errorf("watch: root %s is not a directory", root)
	}
	c := &Collector{
		root:        root,
		maxDiff:     cfg.MaxDiffBytes,
		rescanEvery: cfg.RescanEvery,
		ageEvery:    cfg.AgeEvery,
		now:         cfg.Now,
		log:         cfg.Logger,
	}
	if root != "/" {
		c.globRoot = escapeMeta(root)
	}
	if c.shadow, err = accountsPath("shadow", cfg.Shadow, DefaultShadow); err != nil {
		return nil, err
	}
	if c.passwd, err = accountsPath("passwd", cfg.Passwd, DefaultPasswd); err != nil {
		return nil, err
	}
	paths := cfg.Paths
	if paths == nil {
		// The defaults cover many kinds of device; a Debian host has no
		// /etc/config/*, an OpenWrt router no /etc/sudoers. Those that are
		// absent are skipped quietly, and watched once they appear.
		paths, c.defaults = DefaultPaths(), true
	}
	if c.paths, err = patterns("path", paths); err != nil {
		return nil, err
	}
	for _, p := range c.paths {
		if !hasMeta(p) && c.isSensitive(p) {
			return nil, fmt.Errorf("watch: path %s holds password hashes: it is watched as Shadow, never as a config file", p)
		}
	}
	if c.diffPaths, err = patterns("diff path", cfg.DiffPaths); err != nil {
		return nil, err
	}
	switch {
	case c.maxDiff < 0:
		return nil, fmt.Errorf("watch: negative MaxDiffBytes %d", c.maxDiff)
	case c.maxDiff == 0:
		c.maxDiff = DefaultMaxDiffBytes
	}
	switch {
	case c.rescanEvery < 0 || c.ageEvery < 0:
		return nil, fmt.Errorf("watch: negative RescanEvery or AgeEvery")
	case c.rescanEvery == 0:
		c.rescanEvery = DefaultRescanEvery
	}
	if c.ageEvery == 0 {
		c.ageEvery = DefaultAgeEvery
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	seen := make(map[string]bool)
	dirOf := append(append([]string(nil), c.paths...), c.shadow, c.passwd)
	for _, p := range dirOf {
		if p == "" {
			continue
		}
		if d := filepath.Dir(p); !hasMeta(d) && !seen[d] {
			seen[d] = true
			c.dirs = append(c.dirs, c.real(d))
		}
	}
	return c, nil
}

// accountsPath is the logical path of the shadow or passwd file.
func accountsPath(what, p, def string) (string, error) {
	switch {
	case p == "-":
		return "", nil
	case p == "":
		return def, nil
	case !filepath.IsAbs(p) || hasMeta(p):
		return "", fmt.Errorf("watch: %s %q is not an absolute file path", what, p)
	}
	return filepath.Clean(p), nil
}

// patterns checks and cleans absolute paths and globs, dropping repeats.
func patterns(what string, ps []string) ([]string, error) {
	var out []string
	seen := make(map[string]bool)
	for _, p := range ps {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("watch: %s %q is not absolute", what, p)
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return nil, fmt.Errorf("watch: %s %q: %w", what, p, err)
		}
		p = filepath.Clean(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// Name is "watch".
func (c *Collector) Name() string { return "watch" }

// Run takes a baseline of every watched file and of the accounts, sends a
// password_age record, then records changes until ctx ends. A baseline is
// not a change: Run reports only what changes while it runs.
func (c *Collector) Run(ctx context.Context, out collectors.Emitter) error {
	r := &runner{
		c:          c,
		ctx:        ctx,
		out:        out,
		files:      make(map[string]*fileTrack),
		problems:   make(map[string]string),
		watched:    make(map[string]uint64),
		wantDir:    make(map[string]bool),
		agePending: true,
		key:        make([]byte, 32),
	}
	rand.Read(r.key) // never fails (crypto/rand panics rather than return an error)
	for _, d := range c.dirs {
		r.wantDir[d] = true
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if !c.noNotify {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			r.setProblem(sourcePrefix+"inotify", "", fmt.Sprintf("inotify unavailable (%v): changes are found by rescans every %v", err, c.rescanEvery), "")
		} else {
			r.w = w
			defer w.Close()
			events, errs = w.Events, w.Errors
		}
	}
	r.scan(true)

	rescan := time.NewTicker(c.rescanEvery)
	defer rescan.Stop()
	age := time.NewTicker(c.ageEvery)
	defer age.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	pending := false    // a scan is due when settle fires
	var first time.Time // of the events the pending scan is for
	due := func() {
		now := time.Now()
		if !pending {
			pending, first = true, now
		}
		settle.Reset(max(0, min(debounce, first.Add(maxDebounce).Sub(now))))
	}
	for r.err == nil {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
			} else if r.relevant(ev.Name) {
				due()
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// An overflow lost events: look at everything.
			c.log.Warn("watch: inotify error; rescanning", "error", err)
			due()
		case <-settle.C:
			pending = false
			r.scan(false)
		case <-rescan.C:
			if !pending {
				r.scan(false)
			}
		case <-age.C:
			r.agePending = true
			if !pending {
				r.scan(false)
			}
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return r.err
}
