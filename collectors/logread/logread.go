// Package logread follows OpenWrt's log ring buffer through `logread -f`
// and hands each line on as a log record, byte-exact. logread -f replays
// the whole ring buffer when it starts, so after it exits and is restarted
// the collector skips the replayed lines it already emitted (it remembers
// the hashes and times of the last lines, in memory only). What the ring
// buffer lost while logread was down cannot be recovered. The package never
// writes to disk.
package logread

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/offbox/offbox/collectors"
)

// Source is the source name of logread records.
const Source = "logread"

// Config says what to run. Its zero value runs `logread -f`.
// The yaml tags are its keys in the agent's configuration file (offbox.yaml;
// json the same, for the config hash); a field the file does not set is "-".
type Config struct {
	Command      []string         `yaml:"command" json:"command"` // argv; nil means ["logread", "-f"]
	Remember     int              `yaml:"-" json:"-"`             // lines remembered to skip a replay; 0 means 4096 (more than a default 64 KiB ring holds)
	MaxLineBytes int              `yaml:"-" json:"-"`             // longer lines are cut into records flagged partial; 0 means 64 KiB
	RestartMin   time.Duration    `yaml:"-" json:"-"`             // wait before restarting after an exit; 0 means 1s, doubling to RestartMax
	RestartMax   time.Duration    `yaml:"-" json:"-"`             // 0 means 30s
	Logger       *slog.Logger     `yaml:"-" json:"-"`             // nil: slog.Default()
	Now          func() time.Time `yaml:"-" json:"-"`             // record time; nil: time.Now
}

// DefaultCommand is the argv run when Config.Command is nil.
func DefaultCommand() []string { return []string{"logread", "-f"} }

// Collector follows logread. Create it with New.
type Collector struct {
	argv       []string
	maxLine    int
	restartMin time.Duration
	restartMax time.Duration
	log        *slog.Logger
	now        func() time.Time
	seen       *memory
}

var _ collectors.Collector = (*Collector)(nil)

// New checks cfg and finds the command.
func New(cfg Config) (*Collector, error) {
	c := &Collector{argv: cfg.Command, maxLine: cfg.MaxLineBytes, restartMin: cfg.RestartMin, restartMax: cfg.RestartMax,
		log: cfg.Logger, now: cfg.Now}
	if len(c.argv) == 0 {
		c.argv = DefaultCommand()
	}
	if c.argv[0] == "" {
		return nil, errors.New("logread: empty command")
	}
	path, err := exec.LookPath(c.argv[0])
	if err != nil {
		return nil, fmt.Errorf("logread: %w", err)
	}
	c.argv = append([]string{path}, c.argv[1:]...)
	remember := cfg.Remember
	switch {
	case remember < 0 || c.maxLine < 0:
		return nil, errors.New("logread: negative Remember or MaxLineBytes")
	case remember == 0:
		remember = 4096
	}
	if c.maxLine == 0 {
		c.maxLine = 64 << 10
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
	c.log = c.log.With("collector", "logread")
	if c.now == nil {
		c.now = time.Now
	}
	c.seen = newMemory(remember)
	return c, nil
}

// Name implements collectors.Collector.
func (c *Collector) Name() string { return "logread" }

// Run runs the command until ctx ends, restarting it with backoff.
func (c *Collector) Run(ctx context.Context, out collectors.Emitter) error {
	wait := c.restartMin
	for {
		n, err := c.follow(ctx, out)
		if ctx.Err() != nil {
			return nil
		}
		if n > 0 {
			wait = c.restartMin
		}
		c.log.Warn("logread ended; restarting", "lines", n, "err", err, "after", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, c.restartMax)
		c.seen.replay = true
	}
}

// follow runs the command once; n counts the lines emitted.
func (c *Collector) follow(ctx context.Context, out collectors.Emitter) (n int, err error) {
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	n, rerr := c.emitLines(ctx, stdout, out)
	if rerr != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	werr := cmd.Wait()
	if rerr == nil {
		rerr = werr
	}
	return n, rerr
}

func (c *Collector) emitLines(ctx context.Context, r io.Reader, out collectors.Emitter) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	n := 0
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if err == bufio.ErrBufferFull && len(line) < c.maxLine {
			continue
		}
		complete := err == nil
		if complete {
			line = line[:len(line)-1]
		}
		if len(line) > 0 || complete {
			emitted, eerr := c.emitLine(ctx, line, complete || err != bufio.ErrBufferFull, out)
			if eerr != nil {
				return n, eerr
			}
			if emitted {
				n++
			}
		}
		line = line[:0]
		if err != nil && err != bufio.ErrBufferFull {
			if err == io.EOF {
				return n, nil
			}
			return n, err
		}
	}
}

// emitLine emits one line (or, last false, the start of one) unless it is
// part of a replay of lines already emitted. Lines longer than the maximum come in pieces: each is checked
// and emitted on its own.
func (c *Collector) emitLine(ctx context.Context, line []byte, last bool, out collectors.Emitter) (bool, error) {
	for len(line) > c.maxLine {
		if _, err := c.emitPiece(ctx, line[:c.maxLine], collectors.FlagPartial, out); err != nil {
			return false, err
		}
		line = line[c.maxLine:]
	}
	var flags uint32
	if !last {
		flags = collectors.FlagPartial
	}
	return c.emitPiece(ctx, line, flags, out)
}

func (c *Collector) emitPiece(ctx context.Context, b []byte, flags uint32, out collectors.Emitter) (bool, error) {
	ts, attrs := parseLine(b)
	if c.seen.skip(b, ts) {
		return false, nil
	}
	if err := out.Emit(ctx, collectors.Record{Time: c.now(), Kind: collectors.KindLog, Source: Source, Body: b, Attrs: attrs, Flags: flags}); err != nil {
		return false, err
	}
	c.seen.add(b, ts)
	return true, nil
}

// memory is the last lines emitted, as hashes with their logread times,
// and whether a replay is being skipped.
type memory struct {
	seed   maphash.Seed
	ring   []mark
	next   int
	counts map[uint64]int
	replay bool // after a restart, until the first line not emitted before
}

type mark struct {
	hash uint64
	ts   time.Time
	set  bool
}

func newMemory(n int) *memory {
	return &memory{seed: maphash.MakeSeed(), ring: make([]mark, n), counts: make(map[uint64]int, n)}
}

func (m *memory) add(b []byte, ts time.Time) {
	h := maphash.Bytes(m.seed, b)
	if old := m.ring[m.next]; old.set {
		if m.counts[old.hash]--; m.counts[old.hash] <= 0 {
			delete(m.counts, old.hash)
		}
	}
	m.ring[m.next] = mark{hash: h, ts: ts, set: true}
	m.next = (m.next + 1) % len(m.ring)
	m.counts[h]++
}

// skip reports whether b, during a replay, was emitted before: it is one
// of the lines remembered, or older than all of them (the ring buffer
// still held it, the memory no longer). The first line that is neither
// ends the replay.
func (m *memory) skip(b []byte, ts time.Time) bool {
	if !m.replay {
		return false
	}
	if m.counts[maphash.Bytes(m.seed, b)] > 0 {
		return true
	}
	if oldest := m.oldest(); !ts.IsZero() && !oldest.IsZero() && ts.Before(oldest) {
		return true
	}
	m.replay = false
	return false
}

// oldest is the time of the oldest remembered line, zero if unknown.
func (m *memory) oldest() time.Time {
	for i := 0; i < len(m.ring); i++ {
		if k := m.ring[(m.next+i)%len(m.ring)]; k.set {
			return k.ts
		}
	}
	return time.Time{}
}

// parseLine reads the head of a logread line, "Sun Nov  2 18:00:00 2026
// daemon.info dnsmasq[123]: text": its time (zero if absent) and the
// facility.priority and tag as attributes. It is pure.
func parseLine(b []byte) (time.Time, []collectors.Attr) {
	const stamp = len("Mon Jan _2 15:04:05 2006")
	if len(b) < stamp+1 || b[stamp] != ' ' {
		return time.Time{}, nil
	}
	ts, err := time.ParseInLocation(time.ANSIC, string(b[:stamp]), time.Local)
	if err != nil {
		return time.Time{}, nil
	}
	rest := string(b[stamp+1:])
	level, rest, _ := strings.Cut(rest, " ")
	fac, sev, ok := strings.Cut(level, ".")
	if !ok || fac == "" || sev == "" {
		return ts, nil
	}
	attrs := []collectors.Attr{{Key: "facility", Value: fac}, {Key: "severity", Value: sev}}
	if tag, _, ok := strings.Cut(rest, ": "); ok && !strings.Contains(tag, " ") && tag != "" {
		app, pid, hasPID := strings.Cut(tag, "[")
		attrs = append(attrs, collectors.Attr{Key: "app", Value: app})
		if hasPID {
			attrs = append(attrs, collectors.Attr{Key: "procid", Value: strings.TrimSuffix(pid, "]")})
		}
	}
	return ts, attrs
}
