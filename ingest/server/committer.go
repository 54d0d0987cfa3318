package server

import (
	"context"
	"sync"
)

// committer is a session's commit loop, run only while it has work: a
// goroutine starts when the read loop queues an outcome and none is
// running, and ends when the queue is empty. A fleet of quiet devices (a
// one-line batch a second each) then keeps no parked goroutine, and no
// stack, per stream for its commits (BenchmarkFanIn10k: five goroutines
// per connection instead of six).
type committer struct {
	ss     *session
	wctx   context.Context
	work   chan *item    // in arrival order; its capacity is how far judging runs ahead
	failed chan struct{} // closed at the first failure

	mu      sync.Mutex
	running bool // a loop goroutine owns work
	wg      sync.WaitGroup
	err     error // the first failure; written by the one running loop, read after wait
}

func newCommitter(ss *session, wctx context.Context, window int) *committer {
	return &committer{ss: ss, wctx: wctx, work: make(chan *item, window), failed: make(chan struct{})}
}

// queue hands it to the commit loop, starting one if none runs. It
// reports false, without queueing, once a commit has failed.
func (c *committer) queue(it *item) bool {
	select {
	case c.work <- it:
	case <-c.failed:
		return false
	}
	c.mu.Lock()
	if !c.running {
		c.running = true
		c.wg.Add(1)
		go c.loop()
	}
	c.mu.Unlock()
	return true
}

// loop stores and acknowledges what is queued, in order, and returns when
// nothing is. An item queued while it decides to return is either seen
// here (the length is read under mu) or starts a new loop (queue checks
// running under mu after sending).
func (c *committer) loop() {
	defer c.wg.Done()
	for {
		select {
		case it := <-c.work:
			c.settle(it)
			continue
		default:
		}
		c.mu.Lock()
		if len(c.work) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// settle stores and acknowledges one outcome. After a failure it stores
// nothing more (later verdicts assumed the failed commit) and only lets
// the items go.
func (c *committer) settle(it *item) {
	if c.err == nil {
		if c.err = c.ss.settle(c.wctx, it); c.err != nil {
			close(c.failed)
		}
	}
	close(it.done)
	c.ss.srv.inflight.release(it.charge)
}

// wait returns, once every queued item is settled, the first failure.
// The read loop calls it after it has stopped queueing.
func (c *committer) wait() error {
	c.wg.Wait()
	return c.err
}
