// Package journal follows the systemd journal through journalctl's export
// format, without cgo, and hands each entry on as a log record: MESSAGE
// byte-exact as the body; unit, priority, pid, uid, boot id, identifier and
// the cursor as attributes; the entry's realtime as the record time. It
// resumes after the entry the central collector acknowledged: each record
// carries its journal position as a one-unit range of the journal's
// sequence (see Resume), so the agent's file checkpoints, which the
// collector stores and deduplicates by, work for the journal unchanged.
// The journal is the buffer: when the agent's queue is full the collector
// waits. It never writes to disk.
package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/offbox/offbox/collectors"
)

// Source is the source name of journal records.
const Source = "journal"

// Config says which journal to follow. Its zero value follows the local
// system journal from its beginning.
// The yaml tags are its keys in the agent's configuration file (offbox.yaml;
// json the same, for the config hash); a field the file does not set is "-".
type Config struct {
	Command    string           `yaml:"command" json:"command"`     // journalctl; "" finds journalctl in PATH
	Args       []string         `yaml:"args" json:"args"`           // more journalctl arguments, e.g. ["--unit", "sshd.service"]
	File       string           `yaml:"file" json:"file"`           // --file: one journal file ("" for the system journal)
	Directory  string           `yaml:"directory" json:"directory"` // --directory: a journal directory
	StartAt    string           `yaml:"start_at" json:"start_at"`   // without a checkpoint: "beginning" (default, "") or "end" (new entries only)
	RestartMin time.Duration    `yaml:"-" json:"-"`                 // wait before restarting journalctl after it exits; 0 means 1s, doubling to RestartMax
	RestartMax time.Duration    `yaml:"-" json:"-"`                 // 0 means 30s
	Logger     *slog.Logger     `yaml:"-" json:"-"`                 // nil: slog.Default()
	Now        func() time.Time `yaml:"-" json:"-"`                 // for entries without a realtime; nil: time.Now
}

// DefaultCommand is what runs when Config.Command is "" (found in PATH).
const DefaultCommand = "journalctl"

// Collector follows the journal. Create it with New.
type Collector struct {
	cfg        Config
	command    string
	log        *slog.Logger
	now        func() time.Time
	restartMin time.Duration
	restartMax time.Duration

	mu    sync.Mutex
	after string // cursor to continue after; "" for none
}

var (
	_ collectors.Collector = (*Collector)(nil)
	_ collectors.Resumer   = (*Collector)(nil)
)

// New checks cfg and finds journalctl.
func New(cfg Config) (*Collector, error) {
	c := &Collector{cfg: cfg, command: cfg.Command, log: cfg.Logger, now: cfg.Now,
		restartMin: cfg.RestartMin, restartMax: cfg.RestartMax}
	if c.command == "" {
		c.command = DefaultCommand
	}
	path, err := exec.LookPath(c.command)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	c.command = path
	if cfg.File != "" && cfg.Directory != "" {
		return nil, errors.New("journal: set File or Directory, not both")
	}
	switch cfg.StartAt {
	case "", "beginning", "end":
	default:
		return nil, fmt.Errorf("journal: StartAt %q: want \"beginning\" or \"end\"", cfg.StartAt)
	}
	if c.restartMin <= 0 {
		c.restartMin = time.Second
	}
	if c.restartMax <= 0 {
		c.restartMax = 30 * time.Second
	}
	c.restartMax = max(c.restartMax, c.restartMin)
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("collector", "journal")
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Name implements collectors.Collector.
func (c *Collector) Name() string { return "journal" }

// Resume takes the journal's checkpoint: its file identity is the
// sequence number id (16 bytes of fingerprint) and its offset the last
// acknowledged sequence number; journalctl continues after it.
func (c *Collector) Resume(cps []collectors.Checkpoint) {
	for _, cp := range cps {
		if cp.Source != Source || cp.ID.FPLen != 16 || cp.Offset <= 0 {
			continue
		}
		var p Position
		copy(p.SeqnumID[:], cp.ID.FP[:16])
		p.Seqnum = uint64(cp.Offset)
		c.mu.Lock()
		c.after = p.Cursor()
		c.mu.Unlock()
	}
}

// args is journalctl's command line after the command.
func (c *Collector) args() []string {
	a := []string{"--follow", "--output=export", "--no-pager", "--quiet"}
	if c.cfg.File != "" {
		a = append(a, "--file="+c.cfg.File)
	}
	if c.cfg.Directory != "" {
		a = append(a, "--directory="+c.cfg.Directory)
	}
	a = append(a, c.cfg.Args...)
	c.mu.Lock()
	after := c.after
	c.mu.Unlock()
	// --follow alone shows only the last 10 entries, with a cursor too.
	switch {
	case after != "":
		a = append(a, "--lines=all", "--after-cursor="+after)
	case c.cfg.StartAt == "end":
		a = append(a, "--lines=0")
	default:
		a = append(a, "--lines=all")
	}
	return a
}

// Run runs journalctl until ctx ends, restarting it with backoff after
// each exit and continuing after the last entry emitted.
func (c *Collector) Run(ctx context.Context, out collectors.Emitter) error {
	wait := c.restartMin
	for {
		start := time.Now()
		n, err := c.follow(ctx, out)
		if ctx.Err() != nil {
			return nil
		}
		if n > 0 || time.Since(start) > c.restartMax {
			wait = c.restartMin
		}
		c.log.Warn("journalctl ended; restarting", "entries", n, "err", err, "after", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, c.restartMax)
	}
}

// follow runs journalctl once and emits its entries.
func (c *Collector) follow(ctx context.Context, out collectors.Emitter) (int, error) {
	cmd := exec.CommandContext(ctx, c.command, c.args()...)
	// A wrapper's children go too: they hold stdout open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	n, derr := c.emitAll(ctx, stdout, out)
	if derr != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	werr := cmd.Wait()
	if derr == nil {
		derr = werr
	}
	if s := stderr.String(); s != "" && ctx.Err() == nil {
		c.log.Warn("journalctl stderr", "text", s)
	}
	return n, derr
}

func (c *Collector) emitAll(ctx context.Context, r io.Reader, out collectors.Emitter) (int, error) {
	d := NewDecoder(r)
	n := 0
	for {
		e, err := d.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if err := out.Emit(ctx, c.record(e)); err != nil {
			return n, err
		}
		n++
		if e.Cursor != "" {
			c.mu.Lock()
			c.after = e.Cursor
			c.mu.Unlock()
		}
	}
}

// record turns an entry into a log record; its position in the journal's
// sequence is the one-unit range [seqnum-1, seqnum) of a "file" whose
// identity is the sequence number id.
func (c *Collector) record(e Entry) collectors.Record {
	t := e.Realtime
	if t.IsZero() {
		t = c.now()
	}
	r := collectors.Record{Time: t, Kind: collectors.KindLog, Source: Source, Body: e.Message}
	for _, kv := range [...]collectors.Attr{{Key: "cursor", Value: e.Cursor}, {Key: "unit", Value: e.Unit},
		{Key: "priority", Value: e.Priority}, {Key: "pid", Value: e.PID}, {Key: "uid", Value: e.UID},
		{Key: "boot_id", Value: e.BootID}, {Key: "identifier", Value: e.Identifier}} {
		if kv.Value != "" {
			r.Attrs = append(r.Attrs, kv)
		}
	}
	if p, ok := ParseCursor(e.Cursor); ok && p.Seqnum > 0 && p.Seqnum <= 1<<62 {
		id := collectors.FileID{FPLen: 16}
		copy(id.FP[:], p.SeqnumID[:])
		r.File = &collectors.FileRange{ID: id, Start: int64(p.Seqnum) - 1, End: int64(p.Seqnum)}
	}
	return r
}

// limitedBuffer keeps the first 4 KiB written to it.
type limitedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
