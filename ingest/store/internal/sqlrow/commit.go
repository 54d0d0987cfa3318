package sqlrow

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// PrepareCommit readies b for a commit before the engine queues it, so a
// batch that cannot be stored fails its own call and not the group it
// would have joined: it decodes b.Bytes unless b.Decoded is set, refuses
// a sequence number the signed 64-bit seq columns cannot hold, and fills
// in a zero Digest. b itself is never changed (the caller's inputs are
// not ours to change): when the digest is filled in, the batch returned
// is a copy.
func PrepareCommit(b *store.Batch) (*store.Batch, *offboxv1.Batch, error) {
	dec := b.Decoded
	if dec == nil {
		var err error
		if dec, err = seal.Open(b.Bytes); err != nil {
			return nil, nil, err
		}
	}
	if seq := dec.GetHeader().GetSeq(); seq > math.MaxInt64 {
		return nil, nil, fmt.Errorf("store: sequence %d out of range", seq)
	}
	if b.Digest == ([32]byte{}) {
		withDigest := *b
		withDigest.Digest = seal.Digest(b.Bytes)
		b = &withDigest
	}
	return b, dec, nil
}

// ScanCheckpoint scans a checkpoint row: source, file_dev, file_inode,
// fp_len, fp, offset.
func ScanCheckpoint(r Scanner) (store.Checkpoint, error) {
	var cp store.Checkpoint
	var dev, ino, fpLen int64
	if err := r.Scan(&cp.Source, &dev, &ino, &fpLen, &cp.File.FP, &cp.Offset); err != nil {
		return cp, fmt.Errorf("store: checkpoint: %w", err)
	}
	cp.File.Dev, cp.File.Inode, cp.File.FPLen = uint64(dev), uint64(ino), uint32(fpLen)
	return cp, nil
}

// CommitResult is what a commit tells the caller: the batch's row and its
// index segments.
type CommitResult struct {
	Row  int64
	Segs []store.Segment
}

// Commit readies b (PrepareCommit), queues commit of it on q and, once
// it is stored, tells b its row and segments.
func Commit[T any](ctx context.Context, q *Queue[T], b *store.Batch,
	commit func(context.Context, T, *store.Batch, *offboxv1.Batch) (CommitResult, error)) error {
	c, dec, err := PrepareCommit(b)
	if err != nil {
		return err
	}
	var res CommitResult
	err = q.Do(ctx, len(c.Bytes), func(ctx context.Context, tx T) (err error) {
		res, err = commit(ctx, tx, c, dec)
		return err
	})
	if err == nil {
		b.Row, b.Segments = res.Row, res.Segs
	}
	return err
}

// NormalizeEvent readies e for its row: a zero time is now, and a
// sequence number the signed seq column cannot hold is clamped (a hostile
// sequence number is still an event worth keeping).
func NormalizeEvent(e *store.IntegrityEvent, now func() time.Time) {
	if e.Time.IsZero() {
		e.Time = now()
	}
	if e.Seq > math.MaxInt64 {
		e.Seq = math.MaxInt64
	}
}

// DeviceID finds the row id of device name in tx, creating the row on
// first sight (seen at seen).
type DeviceID[T any] func(ctx context.Context, tx T, name string, seen time.Time) (int64, error)

// OnDevice runs fn as one write of its own on q, with the row id of
// device (seen at seen), which deviceID finds or creates in the same
// transaction.
func OnDevice[T any](ctx context.Context, q *Queue[T], deviceID DeviceID[T], device string, seen time.Time,
	fn func(ctx context.Context, tx T, dev int64) error) error {
	return q.Do(ctx, 0, func(ctx context.Context, tx T) error {
		dev, err := deviceID(ctx, tx, device, seen)
		if err != nil {
			return err
		}
		return fn(ctx, tx, dev)
	})
}

// MovedHead is the outcome of the statement that moves the head to b's
// seq: its error err, else store.ErrHeadMoved unless it changed one row
// (n): the head was not the one the caller judged against.
func MovedHead(b *store.Batch, seq, n int64, err error) error {
	if err != nil {
		return fmt.Errorf("store: move head: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("%w: device %s: expected head %d before seq %d", store.ErrHeadMoved, b.Device, b.ExpectHead, seq)
	}
	return nil
}

// Committed ends a commit of b once its head has moved: it stores b's
// integrity events for device row dev with insertEvent, and is the
// result: batch row row and its segments segs, received at recv.
func Committed[T any](ctx context.Context, tx T, b *store.Batch, dev int64,
	insertEvent func(context.Context, T, int64, store.IntegrityEvent) error,
	row int64, segs []store.Segment, recv int64) (CommitResult, error) {
	for _, e := range b.Events {
		if err := insertEvent(ctx, tx, dev, e); err != nil {
			return CommitResult{}, err
		}
	}
	for i := range segs {
		segs[i].ReceivedNs = recv
	}
	return CommitResult{Row: row, Segs: segs}, nil
}
