package sqlrow

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// Op is one write: Apply runs inside a transaction of type Tx (with the
// other ops of its group, or alone after one of them failed); the
// engine's commit sends its result on Done once the transaction has
// committed or failed. Apply may run more than once (after a rollback),
// so it only sets what it returns.
type Op[Tx any] struct {
	Size  int // batch bytes, to bound a group
	Apply func(ctx context.Context, tx Tx) error
	Done  chan error
}

// Queue is an engine's write queue: writes queue on it and one loop takes
// what is waiting (up to maxGroup ops or maxBytes) into one group for the
// engine's commit, so many devices committing at once share one
// transaction.
type Queue[Tx any] struct {
	maxGroup, maxBytes int
	commit             func(group []*Op[Tx])
	linger             time.Duration // see StartQueue; 0: never wait
	manySmall          bool          // the group committed last held several ops, each small (loop's)

	mu     sync.RWMutex // guards closed against sends on a closed ops
	closed bool
	ops    chan *Op[Tx]
	exited chan struct{}
}

// StartQueue starts the loop that hands each group to commit, which must
// send every op's result on its Done. With linger > 0 the loop waits up
// to linger for more ops when every op of the group it has gathered is
// small (under lingerBytes) and so was every op of the group before it,
// which held more than one: many small writers (a fleet of quiet
// devices) are committing at once, and each commit has a fixed cost
// (SQLite writes each page a group touched whole to its WAL, and a fleet's
// rows are on as many pages as it has devices). The wait ends at maxGroup
// ops or maxBytes. Large batches never wait: one ends a wait, and groups
// holding one start none.
func StartQueue[Tx any](maxGroup, maxBytes int, linger time.Duration, commit func(group []*Op[Tx])) *Queue[Tx] {
	q := &Queue[Tx]{maxGroup: maxGroup, maxBytes: maxBytes, linger: linger, commit: commit,
		ops: make(chan *Op[Tx], 1024), exited: make(chan struct{})}
	go q.loop()
	return q
}

// Do queues a write and waits for its commit. ctx bounds only the wait
// for room in the queue: once queued, the write's result is awaited
// whatever ctx does, so the caller always learns whether it was stored.
func (q *Queue[Tx]) Do(ctx context.Context, size int, apply func(context.Context, Tx) error) error {
	o := &Op[Tx]{Size: size, Apply: apply, Done: make(chan error, 1)}
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return store.ErrClosed
	}
	select {
	case q.ops <- o:
	case <-ctx.Done():
		q.mu.RUnlock()
		return ctx.Err()
	}
	q.mu.RUnlock()
	return <-o.Done
}

// Close stops accepting writes and waits until the queued ones are done.
func (q *Queue[Tx]) Close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ops)
	}
	q.mu.Unlock()
	<-q.exited
}

// lingerBytes: an op this large (a batch of this size pays its own
// commit) ends a wait and starts none.
const lingerBytes = 16 << 10

func (q *Queue[Tx]) loop() {
	defer close(q.exited)
	var t *time.Timer
	for first := range q.ops {
		group, size, large := q.take([]*Op[Tx]{first}, first.Size, first.Size >= lingerBytes, nil)
		if q.linger > 0 && q.manySmall && !large {
			if t == nil {
				t = time.NewTimer(q.linger)
			} else {
				t.Reset(q.linger)
			}
			group, _, large = q.take(group, size, large, t)
			t.Stop()
		}
		q.manySmall = len(group) > 1 && !large
		q.commit(group)
	}
}

// take adds ops to group (of size bytes; large if it holds an op of
// lingerBytes or more) while it holds fewer than maxGroup ops and under
// maxBytes. Without a timer it takes only what is already waiting: under
// load the queue fills while the previous group commits, and when idle a
// lone write goes at once. With one (the linger) it waits for more until
// t fires or a large op comes.
func (q *Queue[Tx]) take(group []*Op[Tx], size int, large bool, t *time.Timer) ([]*Op[Tx], int, bool) {
	for len(group) < q.maxGroup && size < q.maxBytes && (t == nil || !large) {
		var o *Op[Tx]
		var ok bool
		if t == nil {
			select {
			case o, ok = <-q.ops:
			default:
				return group, size, large
			}
		} else {
			select {
			case o, ok = <-q.ops:
			case <-t.C:
				return group, size, large
			}
		}
		if !ok {
			return group, size, large
		}
		group = append(group, o)
		size += o.Size
		large = large || o.Size >= lingerBytes
	}
	return group, size, large
}

// Hold makes Close wait until release is called, for work that runs
// beside the queue but must finish before the store closes; it returns
// store.ErrClosed once the queue is closed.
func (q *Queue[Tx]) Hold() (release func(), err error) {
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return nil, store.ErrClosed
	}
	return q.mu.RUnlock, nil
}

// GroupDefaults is an engine's bounds of one write group, maxGroup ops
// and maxBytes batch bytes, with each 0 made the default both engines
// share: 128 ops, 64 MiB.
func GroupDefaults(maxGroup, maxBytes int) (int, int) {
	return cmp.Or(maxGroup, 128), cmp.Or(maxBytes, 64<<20)
}
