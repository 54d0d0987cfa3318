package sqlrow

import (
	"context"
	"sync"
	"testing"
	"time"
)

// queueRig runs a Queue whose commit records each group's op sizes and,
// while hold is set, waits for release before returning.
type queueRig struct {
	q       *Queue[struct{}]
	mu      sync.Mutex
	groups  [][]int
	hold    chan struct{} // nil: commit at once
	holding chan struct{} // a held commit has started
}

func newQueueRig(t *testing.T, linger time.Duration) *queueRig {
	r := &queueRig{holding: make(chan struct{}, 1)}
	r.q = StartQueue(128, 64<<20, linger, func(group []*Op[struct{}]) {
		sizes := make([]int, len(group))
		for i, o := range group {
			sizes[i] = o.Size
		}
		r.mu.Lock()
		r.groups = append(r.groups, sizes)
		hold := r.hold
		r.mu.Unlock()
		if hold != nil {
			r.holding <- struct{}{}
			<-hold
		}
		for _, o := range group {
			o.Done <- nil
		}
	})
	t.Cleanup(r.q.Close)
	return r
}

// do queues an op of size and returns a channel closed once it committed.
func (r *queueRig) do(t *testing.T, size int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		if err := r.q.Do(context.Background(), size, nil); err != nil {
			t.Error(err)
		}
		close(done)
	}()
	return done
}

func (r *queueRig) lastGroup() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.groups[len(r.groups)-1]
}

func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not committed after 10s", what)
	}
}

// busy makes the queue's last group hold several small ops: one commit is
// held while three more queue behind it, and they commit together.
func (r *queueRig) busy(t *testing.T) { r.busyWith(t, 100) }

// busyWith is busy with ops of size.
func (r *queueRig) busyWith(t *testing.T, size int) {
	r.mu.Lock()
	r.hold = make(chan struct{})
	hold := r.hold
	r.mu.Unlock()
	first := r.do(t, size)
	<-r.holding
	var rest []<-chan struct{}
	for range 3 {
		rest = append(rest, r.do(t, size))
	}
	for len(r.q.ops) < 3 {
		time.Sleep(time.Millisecond)
	}
	r.mu.Lock()
	r.hold = nil
	r.mu.Unlock()
	close(hold)
	waitDone(t, first, "held op")
	for _, d := range rest {
		waitDone(t, d, "op queued behind it")
	}
	if g := r.lastGroup(); len(g) != 3 {
		t.Fatalf("the ops queued behind a held commit committed as %v, want one group of 3", g)
	}
}

// A lone writer never waits for the linger, however long it is.
func TestQueueLoneWriteDoesNotLinger(t *testing.T) {
	r := newQueueRig(t, time.Hour)
	for i := range 3 {
		waitDone(t, r.do(t, 100), "a lone write")
		if g := r.lastGroup(); len(g) != 1 {
			t.Fatalf("write %d committed as %v", i, g)
		}
	}
}

// Once many small writes commit together, a small group waits for more,
// and a large write ends the wait: it commits with what waited, at once.
// Large writes committing together start no wait.
func TestQueueLingersForSmallWrites(t *testing.T) {
	r := newQueueRig(t, time.Hour)
	r.busy(t)
	a := r.do(t, 200)
	b := r.do(t, 300)
	for len(r.q.ops) > 0 { // both taken by the lingering loop
		time.Sleep(time.Millisecond)
	}
	select {
	case <-a:
		t.Fatal("a tiny write after a busy group committed without waiting for more")
	case <-time.After(50 * time.Millisecond):
	}
	big := r.do(t, lingerBytes)
	for _, d := range []<-chan struct{}{a, b, big} {
		waitDone(t, d, "a write of the lingering group")
	}
	if g := r.lastGroup(); len(g) != 3 || g[2] != lingerBytes {
		t.Fatalf("lingering group committed as %v, want the two tiny writes and the large one", g)
	}

	r.busyWith(t, lingerBytes)
	waitDone(t, r.do(t, 100), "a tiny write after a group of large ones")
	if g := r.lastGroup(); len(g) != 1 {
		t.Fatalf("committed as %v", g)
	}
}

// A lingering group of small writes grows to maxGroup ops, however many
// bytes they add up to (a fleet's one-line batches), and commits once it
// has them, without waiting out the linger.
func TestQueueLingerFillsGroup(t *testing.T) {
	r := newQueueRig(t, time.Hour)
	r.busy(t)
	var done []<-chan struct{}
	for range 128 {
		done = append(done, r.do(t, lingerBytes/8)) // 8 of them make lingerBytes
	}
	for _, d := range done {
		waitDone(t, d, "a write of a full lingering group")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if g := r.groups[len(r.groups)-1]; len(g) != 128 {
		t.Fatalf("lingering small writes committed as groups of %v, want the last of 128", groupSizes(r.groups))
	}
}

func groupSizes(groups [][]int) []int {
	n := make([]int, len(groups))
	for i, g := range groups {
		n[i] = len(g)
	}
	return n
}

// The linger is bounded: a tiny group commits once it has passed.
func TestQueueLingerEnds(t *testing.T) {
	r := newQueueRig(t, 20*time.Millisecond)
	r.busy(t)
	waitDone(t, r.do(t, 100), "a tiny write after a busy group")
	if g := r.lastGroup(); len(g) != 1 {
		t.Fatalf("committed as %v", g)
	}
}
