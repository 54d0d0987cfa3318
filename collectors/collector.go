// Package collectors defines what an on-device source is: a Collector reads
// one kind of local fact (a log file, the boot, the clock, watched files) and
// hands Records to an Emitter. Collectors never import the agent, gRPC or each
// other, and never write to the device's disk.
package collectors

import (
	"context"
	"time"

	"github.com/offbox/offbox/internal/recordkind"
)

// Kind is the kind of observation a Record carries; the values equal the
// wire enum offbox.v1.Kind. The kinds and their names are defined once, in
// internal/recordkind; these names keep the collectors' spelling.
type Kind = recordkind.Kind

const (
	KindUnspecified    = recordkind.Unspecified
	KindLog            = recordkind.Log
	KindBoot           = recordkind.Boot
	KindHeartbeat      = recordkind.Heartbeat
	KindClock          = recordkind.Clock
	KindConfigChange   = recordkind.ConfigChange
	KindPasswordChange = recordkind.PasswordChange
	KindAccountChange  = recordkind.AccountChange
	KindGap            = recordkind.Gap
	KindAgentStatus    = recordkind.AgentStatus
	KindPasswordAge    = recordkind.PasswordAge
)

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, bool) { return recordkind.Parse(s) }

// Record flags; the values equal the wire enum offbox.v1.Flag.
const (
	FlagPartial   uint32 = 1 // a line longer than the maximum: more of it follows
	FlagNoNewline uint32 = 2 // the file ended (rotated, truncated) without a final newline
)

// FileID names one file across renames: device, inode and a SHA-256 over its
// first FPLen bytes (at most FingerprintMax).
type FileID struct {
	Dev   uint64
	Inode uint64
	FPLen uint32
	FP    [32]byte
}

// FingerprintMax is the number of leading bytes a file fingerprint covers once
// the file is that long.
const FingerprintMax = 1024

// FileRange locates a record in its file: bytes [Start, End), End past the newline.
type FileRange struct {
	ID         FileID
	Start, End int64
}

// Attr is one small key/value attribute of a record.
type Attr struct{ Key, Value string }

// Record is one observation. Body may alias a collector's buffer: an Emitter
// copies what it keeps before Emit returns.
type Record struct {
	Time   time.Time
	Kind   Kind
	Source string
	Body   []byte
	Attrs  []Attr
	File   *FileRange // file lines only
	Flags  uint32
}

// Emitter takes records from collectors. It is the agent's bounded queue.
type Emitter interface {
	// Emit queues r, waiting while the queue's byte budget is full (the
	// source waits: a file stays where it is). It returns ctx.Err() if ctx
	// ends first.
	Emit(ctx context.Context, r Record) error
	// TryEmit queues r if there is room and otherwise drops it, counting the
	// drop into the next batch. For sources that cannot wait.
	TryEmit(r Record) bool
}

// LinesEmitter is implemented by an Emitter that takes a run of lines of
// one file in one call: the file tailer's path, which spares a call, a
// lock and a record copy per line.
type LinesEmitter interface {
	// EmitLines queues each of lines as Emit would, in order: r with Body
	// and Flags the line's, and File's range the bytes the line takes in
	// the file, data holding the lines back to back from r.File.Start on.
	// It returns how many were queued: all, or fewer with ctx.Err() if ctx
	// ended while it waited for room.
	EmitLines(ctx context.Context, r Record, data []byte, lines []Line) (int, error)
}

// Line is one line of a run given to LinesEmitter.EmitLines.
type Line struct {
	Len   int    // bytes of its body, which starts where the line before it ended
	N     int    // bytes it takes in the file: its body and its newline, if any
	Flags uint32 // of its record
}

// Collector is one on-device source. Constructors do the setup that can fail;
// Run only reads, until ctx ends.
type Collector interface {
	Name() string
	Run(ctx context.Context, out Emitter) error
}

// Checkpoint is what the collector (the central service) has acknowledged for
// a source: the file and the offset stored so far.
type Checkpoint struct {
	Source string
	ID     FileID
	Offset int64
}

// Resumer is implemented by collectors that continue from acknowledged
// checkpoints. The agent calls Resume once, before Run, with what the
// collector service returned in its Welcome.
type Resumer interface {
	Resume(cps []Checkpoint)
}

// Acker is implemented by collectors that want to know what has been durably
// stored (a file tailer that must finish a rotated file before letting go).
type Acker interface {
	Acked(cps []Checkpoint)
}

// Offerer is implemented by an Emitter that can take a record without
// counting its refusal, for a source that counts and reports its own loss
// (syslog's per-source gap records): the chain then counts each loss once.
type Offerer interface {
	// Offer queues r if there is room and otherwise drops it uncounted: the
	// caller must report the loss itself.
	Offer(r Record) bool
}

// Reserver is implemented by an Emitter whose byte budget also covers
// memory a collector holds outside the queue (a TCP connection's buffers),
// so that the agent stays inside its budget however many peers connect.
type Reserver interface {
	// Reserve takes n bytes of the budget if they fit, without waiting, and
	// reports whether it did.
	Reserve(n int64) bool
	// Unreserve gives back n bytes that Reserve took.
	Unreserve(n int64)
}

// Reporter is implemented by collectors that keep running totals worth
// seeing in every heartbeat (connections refused, messages dropped).
type Reporter interface {
	// HeartbeatAttrs returns the totals since start; safe to call from any
	// goroutine.
	HeartbeatAttrs() []Attr
}
