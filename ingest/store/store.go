// Package store is where the collector keeps what devices send: the signed
// batches exactly as received, a record index derived from them, each
// device's chain head and file checkpoints, the certificates that signed, the
// sessions and the integrity events. Store is the interface; the embedded
// default is in store/sqlite, and another engine can implement the same
// interface when several collectors share state.
//
// A store never re-serialises a batch: the bytes it keeps are the bytes that
// were signed, so anyone can re-verify them later. It never decides whether a
// batch is authentic (the server does that before committing) but it does
// enforce what must hold whatever the caller believes: one batch per
// (device, sequence), and a head that moves only from the head the caller
// saw. It never imports the agent or the collectors.
package store

import (
	"context"
	"errors"
	"iter"
	"time"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// Errors a Store returns; the server maps them to gRPC status codes.
var (
	// ErrDuplicateSeq: a batch with that (device, seq) is already stored.
	// The unique constraint of the store raises it, not a prior lookup.
	ErrDuplicateSeq = errors.New("store: batch sequence already stored")
	// ErrHeadMoved: the device's head is not the one the caller judged the
	// batch against (something else stored a batch for this device).
	ErrHeadMoved = errors.New("store: chain head moved")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store: closed")
)

// Integrity event kinds, as stored and as docs/PROTOCOL.md names them.
const (
	EventIdentityMismatch  = "identity_mismatch"
	EventMalformed         = "malformed"
	EventBadSignature      = "bad_signature"
	EventReplay            = "replay"
	EventFork              = "fork"
	EventGap               = "gap"
	EventConcurrentSession = "concurrent_session"
)

// Ingester is what the gRPC service needs: the state a session starts from,
// and durable writes. Every write returns only after it is committed.
type Ingester interface {
	// Head is the device's stored chain head (zero for a device never seen).
	Head(ctx context.Context, device string) (Head, error)
	// Checkpoints are the device's acknowledged file offsets, by source.
	Checkpoints(ctx context.Context, device string) ([]Checkpoint, error)
	// BatchDigest is the digest of the stored batch (device, seq), if any.
	BatchDigest(ctx context.Context, device string, seq uint64) (digest [32]byte, ok bool, err error)

	// CommitBatch stores a verified batch, its record index, the new head,
	// the advanced checkpoints and b.Events in one transaction. It returns
	// ErrDuplicateSeq if (device, seq) is taken and ErrHeadMoved if the
	// stored head is not b.ExpectHead or the batch's seq is not past it
	// (the head never moves back). Once a call has been queued its
	// result is awaited even if ctx ends, so a nil error always means stored.
	CommitBatch(ctx context.Context, b *Batch) error
	// AddIntegrityEvent stores an event not tied to a stored batch.
	AddIntegrityEvent(ctx context.Context, e IntegrityEvent) error
	// PutKey stores a device certificate the first time its key is seen.
	PutKey(ctx context.Context, k Key) error
	// StartSession records an accepted stream and returns its id.
	StartSession(ctx context.Context, s Session) (int64, error)
	// EndSession records the end of the stream id.
	EndSession(ctx context.Context, id int64, end time.Time, batches, bytes int64) error
}

// Reader answers queries over what is stored.
type Reader interface {
	Devices(ctx context.Context) ([]Device, error)
	Head(ctx context.Context, device string) (Head, error)
	Checkpoints(ctx context.Context, device string) ([]Checkpoint, error)
	Keys(ctx context.Context, device string) ([]Key, error)
	// Records yields the indexed records matching q in order device (first
	// seen first), batch seq, record index. Each needed batch is decoded once.
	Records(ctx context.Context, q RecordQuery) iter.Seq2[Record, error]
	// CountRecords is the number of records Records would yield; it decodes
	// only batches whose segments straddle a time bound.
	CountRecords(ctx context.Context, q RecordQuery) (int64, error)
	IntegrityEvents(ctx context.Context, q EventQuery) ([]IntegrityEvent, error)
	// Batches yields a device's stored batches in seq order, each with its
	// segment rows, for re-verification.
	Batches(ctx context.Context, device string) iter.Seq2[*StoredBatch, error]
}

// Store is a complete store.
type Store interface {
	Ingester
	Reader
	Close() error
}

// Head is a device's chain head: the last stored sequence and its digest.
type Head struct {
	Seq  uint64
	Hash []byte // nil when Seq is 0
}

// FileID names one file: device, inode and a SHA-256 over its first FPLen
// bytes (wire offbox.v1.FileIdentity).
type FileID struct {
	Dev, Inode uint64
	FPLen      uint32
	FP         []byte
}

// Checkpoint is the acknowledged position in one source's current file.
type Checkpoint struct {
	Source string
	File   FileID
	Offset int64 // bytes from the file's start, stored
}

// Batch is a verified batch ready to commit.
type Batch struct {
	Device     string
	Bytes      []byte // exactly as received and signed
	Signature  []byte
	Digest     [32]byte        // seal.Digest(Bytes)
	Decoded    *offboxv1.Batch // seal.Open(Bytes); nil: the store decodes
	Received   time.Time       // collector clock
	ExpectHead uint64          // the head seq the verdict was judged against
	Events     []IntegrityEvent
}

// Segment is one index row: a maximal run of consecutive records of a batch
// with the same source and kind (and, for file lines, the same file and
// contiguous byte ranges), duplicates left out.
type Segment struct {
	First, Count         int // record indexes [First, First+Count)
	Source               string
	Kind                 offboxv1.Kind
	MinTimeNs, MaxTimeNs int64 // device time
	File                 *FileSpan
	ReceivedNs           int64 // the batch's received time; set by the store, not by Index
}

// FileSpan is the file part of a segment: which file and which bytes.
type FileSpan struct {
	Dev, Inode uint64
	Start, End int64
}

// Record is one stored record with where it is stored.
type Record struct {
	Device   string
	Seq      uint64
	Index    int
	Received time.Time
	*offboxv1.Record
}

// RecordQuery filters records; zero fields do not filter.
type RecordQuery struct {
	Device string
	Source string
	Kind   offboxv1.Kind // KIND_UNSPECIFIED: any
	Since  time.Time     // device time, inclusive
	Until  time.Time     // device time, exclusive
}

// MatchTime reports whether a record's time is within q's bounds.
func (q *RecordQuery) MatchTime(ns int64) bool {
	if !q.Since.IsZero() && ns < q.Since.UnixNano() {
		return false
	}
	if !q.Until.IsZero() && ns >= q.Until.UnixNano() {
		return false
	}
	return true
}

// IntegrityEvent is a break of trust or of the chain, kept for alerting.
type IntegrityEvent struct {
	ID     int64
	Device string
	Time   time.Time // collector clock
	Kind   string    // Event*
	Seq    uint64    // the batch concerned, 0 if none
	Detail string
}

// EventQuery filters integrity events; zero fields do not filter.
type EventQuery struct {
	Device string
	Kind   string
	Since  time.Time
	Until  time.Time
}

// Key is a device certificate, kept so signatures can be re-checked later.
type Key struct {
	Device    string
	KeyID     []byte // SHA-256 of the certificate's SubjectPublicKeyInfo
	CertDER   []byte
	FirstSeen time.Time
}

// Session is one accepted stream.
type Session struct {
	Device       string
	SessionID    []byte
	BootID       string
	AgentVersion string
	RemoteAddr   string
	Connected    time.Time
}

// Device is a device the store knows.
type Device struct {
	Name                string
	FirstSeen, LastSeen time.Time
	Head                Head
}

// StoredBatch is a batch row and its segment rows.
type StoredBatch struct {
	Device         string
	Seq            uint64
	Digest         []byte
	PrevHash       []byte
	KeyID          []byte
	Signature      []byte
	Received       time.Time
	SealedNs       int64
	BootID         string
	SessionID      []byte
	RecordCount    int
	DroppedRecords uint64
	DroppedBytes   uint64
	Bytes          []byte
	Segments       []Segment
}
