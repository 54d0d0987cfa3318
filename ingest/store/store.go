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
//
// Long because it is the store's whole contract, every type the engines
// and the storetest suite share, in one place.
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
	// ErrCursorMoved: SaveAlerts was given From and the stored detect
	// cursor is not there (another collector's detection saved since).
	ErrCursorMoved = errors.New("store: detect cursor moved")
	// ErrCommitUnknown: the connection to the database was lost while a
	// transaction committed, so whether the write was stored cannot be
	// known. It is not tried again, which could store it twice: the
	// caller learns the outcome from the store (for a batch, the head the
	// device's next hello reads).
	ErrCommitUnknown = errors.New("store: connection lost during commit: outcome unknown")
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
	// EventChainRestart: an authentic batch with seq 1 and no prev_hash
	// from a device whose head is past 1 (its agent began a new chain).
	EventChainRestart = "chain_restart"
	// EventRevoked: a revoked certificate was refused, or its open stream
	// closed.
	EventRevoked = "revoked"
	// EventKeyRotation: the device moved to a new key, announced by a
	// record signed with the old one (informational).
	EventKeyRotation = "key_rotation"
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
	// result is awaited even if ctx ends, so a nil error always means
	// stored; an error means not stored, except ErrCommitUnknown.
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
	AlertStore
	TrustStore
	ForwardStore
	Retention
	TriageStore
	ApplianceStore
	Close() error
}

// Retention removes old batches and keeps what proves they existed.
type Retention interface {
	// Prune removes the batches received before cutoff, with their record
	// index, in one transaction. It keeps every device's head, keys,
	// checkpoints, sessions, integrity events and alerts, and records per
	// device what it removed (a Pruned, At = now), so verification can
	// still account for every sequence number. A store that drops whole
	// time partitions removes only partitions that end at or before
	// cutoff: it may keep batches older than cutoff, never removes newer
	// ones. It never removes a batch detection has not read yet (Row past
	// the detect cursor): a backlog stays until a later Prune, so retention
	// cannot make detection skip anything. It returns what this call
	// removed, by device name.
	Prune(ctx context.Context, cutoff, now time.Time) ([]Pruned, error)
	// Pruned returns the removals recorded for device ("" for every
	// device), oldest first (by At, then device name).
	Pruned(ctx context.Context, device string) ([]Pruned, error)
}

// Pruned is one removal of a device's batches by retention.
type Pruned struct {
	Device            string
	FirstSeq, LastSeq uint64 // the lowest and highest sequence removed
	Batches, Records  int64  // how many batches were removed, and records in them
	// LastDigest is the digest of batch LastSeq: the prev_hash the device's
	// next stored batch must carry.
	LastDigest                     []byte
	OldestReceived, NewestReceived time.Time // collector clock, of the removed batches
	Cutoff                         time.Time // the cutoff asked for
	At                             time.Time // when removed (collector clock)
	// Checkpoints are the device's file checkpoints as they stood after
	// batch LastSeq, by source: where replaying the kept batches' index
	// starts (a kept batch may resend lines of a removed one, which the
	// store indexed as duplicates). They include sources whose last lines
	// went in an earlier removal. Nil for removals recorded before the
	// store kept them.
	Checkpoints []Checkpoint
}

// Coordinator lets several collectors share one store: one open stream per
// device across all of them, and one leader for the work done once for the
// fleet (detection, whose timer rules must not fire once per collector, and
// alert delivery). A store used by one collector alone needs none.
type Coordinator interface {
	// LockDevice takes device's stream lock for this collector without
	// waiting; ok is false when another collector holds it. The lock is
	// held until release is called (release is idempotent) or until it is
	// lost, when the store connection that held it broke: then lost is
	// closed, and the stream must end, since another collector may take
	// the device. A collector must not ask again for a device it holds.
	LockDevice(ctx context.Context, device string) (release func(), lost <-chan struct{}, ok bool, err error)
	// Lead waits until this collector is the leader, or ctx ends (ctx's
	// error). The returned context ends when leadership is lost or ctx
	// ends; resign gives leadership up (idempotent).
	Lead(ctx context.Context) (leading context.Context, resign func(), err error)
}

// AlertStore is what detection, delivery and alert queries need. Detection
// follows the store: it reads batches and integrity events past its
// cursor, in commit order, and saves the alerts they raised together with
// the moved cursor, so after a restart it neither misses nor repeats any.
type AlertStore interface {
	// DetectCursor is where detection stopped (zero: nothing processed).
	DetectCursor(ctx context.Context) (Cursor, error)
	// BatchesAfter returns at most limit stored batches with Row > after,
	// in Row order, each with Bytes and Segments.
	BatchesAfter(ctx context.Context, after int64, limit int) ([]*StoredBatch, error)
	// EventsAfter returns at most limit integrity events with ID > after,
	// in ID order.
	EventsAfter(ctx context.Context, after int64, limit int) ([]IntegrityEvent, error)
	// SaveAlerts upserts s.Alerts by GroupID (an alert already stored keeps
	// its ID and Created; every other column takes the new value), queues a
	// pending delivery, due now, to each sink an upsert names (an existing
	// delivery of that alert to that sink goes back to pending, due now,
	// its attempts kept), replaces the detect state of each device in
	// s.States, and, when s.Cursor is not nil, moves the detect cursor to
	// it and counts one more save (Cursor.Saves); all in one transaction.
	SaveAlerts(ctx context.Context, s AlertSave) error
	// DetectStates returns every device's saved detect state (the opaque
	// bytes last given in AlertSave.States), by device name.
	DetectStates(ctx context.Context) (map[string][]byte, error)
	// RecordAccess stores one read of the collector's data (the audit
	// trail); detection turns it into a log_access alert.
	RecordAccess(ctx context.Context, a Access) error
	// AccessesAfter returns at most limit accesses with ID > after, in ID order.
	AccessesAfter(ctx context.Context, after int64, limit int) ([]Access, error)
	// Alerts returns the stored alerts matching q, newest LastReceived
	// first.
	Alerts(ctx context.Context, q AlertQuery) ([]Alert, error)
	// DueDeliveries returns at most limit pending deliveries to sink whose
	// NextAttempt is at or before now, oldest first, each with its alert.
	DueDeliveries(ctx context.Context, sink string, now time.Time, limit int) ([]Delivery, error)
	// FinishDelivery records one attempt's outcome: d.State, d.Attempts,
	// d.NextAttempt, d.LastError and d.Delivered as given. When d.Queued is
	// set (DueDeliveries sets it) and the delivery was queued again since
	// (the alert escalated while this attempt was under way), the outcome
	// is not recorded: the delivery stays pending, due now, and the newer
	// alert goes out.
	FinishDelivery(ctx context.Context, d Delivery) error
	// PendingDeliveries counts deliveries not yet delivered, by sink.
	PendingDeliveries(ctx context.Context) (map[string]int, error)
	// Record returns one stored record (for an alert's evidence); ok is
	// false if (device, seq, index) is not stored.
	Record(ctx context.Context, device string, seq uint64, index int) (rec Record, ok bool, err error)
}

// Cursor is how far detection has read: the last batch Row, integrity
// event ID and access ID it processed.
type Cursor struct {
	BatchRow int64
	EventID  int64
	AccessID int64
	// Saves counts the saves that set the cursor. The store keeps the
	// count (SaveAlerts ignores the caller's), so a save fenced with From
	// fails after any other save, even one that left the rows in place.
	Saves int64
}

// Access is one read of the collector's data: a CLI query or an API request.
type Access struct {
	ID     int64 // assigned by the store
	Time   time.Time
	Who    string // the operator: OS user for the CLI, the authenticated name for the API
	Via    string // "cli", "api" or "dashboard"
	Remote string // the API client's address; "" for the CLI
	What   string // the command or request with its filters
}

// Severities, lowest first (as ingest/detect names them).
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Alert is a stored alert: one or more grouped occurrences of a kind on a
// device (Device "" for alerts about the collector, such as log access).
type Alert struct {
	ID       int64  // assigned by the store
	GroupID  string // detect's group identity; unique
	Kind     string
	Severity string
	Device   string
	Key      string
	Summary  string
	Fields   map[string]string
	Labels   map[string]string
	First    time.Time // device time of the first occurrence
	Last     time.Time // and of the latest
	Count    int
	Evidence []AlertRef
	Created  time.Time // collector clock, when first stored
	Updated  time.Time // collector clock, last upsert

	// Collector clock: when the first and the latest occurrence were
	// received (zero on save: the save's Now). Queries filter and sort by
	// LastReceived, never by the device's Last: a device sets its own
	// clock, and one dated years ahead must not push other devices'
	// alerts out of a list or a time window.
	FirstReceived time.Time
	LastReceived  time.Time

	State, Assignee string // triage (State*; "" nobody), derived from the alert's transitions (TriageStore)
}

// AlertRef is one record behind an alert: the batch (Device, Seq) and the
// record Index in it; Index -1 means the batch as a whole (integrity events).
type AlertRef struct {
	Device string `json:"device"`
	Seq    uint64 `json:"seq"`
	Index  int    `json:"index"`
}

// AlertSave is one SaveAlerts call.
type AlertSave struct {
	Alerts []AlertUpsert
	States map[string][]byte // device → detection's baseline for it (opaque to the store)
	Cursor *Cursor           // nil: leave the cursor
	// From, when set, is the cursor the caller read: nothing is saved and
	// the error is ErrCursorMoved unless the stored cursor, Saves
	// included, still equals it (a fence against a detection that lost
	// its leadership).
	From *Cursor
	Now  time.Time
}

// AlertUpsert is one alert to store, and the sinks (by name) to deliver it
// to now; none: store only.
type AlertUpsert struct {
	Alert Alert
	Sinks []string
}

// AlertQuery filters alerts; zero fields do not filter. Since and Until
// bound LastReceived (since inclusive, until exclusive), the collector's
// clock, never the device's.
type AlertQuery struct {
	Device   string
	Kind     string
	Severity string            // at least this severity
	Labels   map[string]string // every label must match
	Since    time.Time
	Until    time.Time
	Limit    int      // 0: no limit
	State    string   // State*: only alerts in that state
	Kinds    []string // any of these kinds (with Kind, either)
	IDs      []int64  // only these alerts
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
)

// Delivery is one alert's delivery to one sink.
type Delivery struct {
	AlertID     int64
	Sink        string
	State       string // Delivery*
	Attempts    int
	NextAttempt time.Time
	LastError   string
	Delivered   time.Time // zero until delivered
	Queued      time.Time // when it was last queued, as DueDeliveries read it (NextAttempt then)
	Alert       Alert     // filled by DueDeliveries
	Escalation  bool      // an escalation (TriageStore.Escalate), apart from the alert's ordinary delivery
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

	// Set by a successful CommitBatch: the batch's row (StoredBatch.Row)
	// and its index segments.
	Row      int64
	Segments []Segment
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
	// FPLen and FP are the file's fingerprint as the run's last record
	// carries it: the identity the source's checkpoint takes from it. FP
	// is nil in segments stored before the store kept it.
	FPLen uint32
	FP    []byte
}

// Record is one stored record with where it is stored.
type Record struct {
	Device   string
	Seq      uint64
	Index    int
	Received time.Time
	Via      string // the relay that signed it, for an appliance's record (its batch header's); "" for a device's own
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
	BootID string // the batch's boot id when known (chain_restart), else ""
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
	Row            int64 // the store's commit-order position (BatchesAfter); 0 where not filled
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
