package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/offbox/offbox/ingest/store"
)

// lockKey is the advisory lock key for name: the first 8 bytes of its
// SHA-256, so every collector computes the same key with no table.
func lockKey(name string) int64 {
	sum := sha256.Sum256([]byte(name))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

var leaderKey = lockKey("offbox/leader")

// lockQueryTimeout bounds one statement on the lock connection. It is not
// the caller's ctx: pgx closes a connection whose query is cancelled, and
// that would drop every lock this collector holds.
const lockQueryTimeout = 10 * time.Second

// locker holds this Store's advisory locks on a connection of its own
// (session locks live as long as the session, so they cannot come from a
// pool). It is made on first use; when it breaks, every lock and the
// leadership it held are reported lost and the next use connects again.
type locker struct {
	s *Store

	mu      sync.Mutex // guards everything below and every use of conn
	conn    *pgx.Conn  // nil until first use, and after a loss
	gen     int        // counts connections, so a release after a loss unlocks nothing
	used    bool       // a connection was wanted once: keep one
	closed  bool
	held    map[string]*heldLock // by device name
	leading *leadership          // nil when not leader

	stop chan struct{}
	done chan struct{}
}

type heldLock struct {
	key  int64
	gen  int
	lost chan struct{}
}

type leadership struct {
	gen    int
	cancel context.CancelFunc
}

func newLocker(s *Store) *locker {
	l := &locker{s: s, held: make(map[string]*heldLock), stop: make(chan struct{}), done: make(chan struct{})}
	go l.watch()
	return l
}

// connLocked returns the lock connection, connecting if there is none.
func (l *locker) connLocked(ctx context.Context) (*pgx.Conn, error) {
	if l.closed {
		return nil, store.ErrClosed
	}
	l.used = true
	if l.conn != nil {
		return l.conn, nil
	}
	c, err := pgx.Connect(ctx, l.s.url)
	if err != nil {
		return nil, fmt.Errorf("store: lock connection to %s: %w", l.s.name, err)
	}
	l.conn = c
	l.gen++
	return c, nil
}

// loseLocked ends the connection and tells every holder: each held lock's
// lost channel is closed and the leadership context cancelled, since the
// server released them with the session (or will, once it notices).
func (l *locker) loseLocked(cause error) {
	if len(l.held) > 0 || l.leading != nil {
		l.s.opt.Logger.Warn("store: lock connection lost; releasing device locks and leadership",
			"devices", len(l.held), "leader", l.leading != nil, "err", cause)
	}
	for dev, h := range l.held {
		close(h.lost)
		delete(l.held, dev)
	}
	if l.leading != nil {
		l.leading.cancel()
		l.leading = nil
	}
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		l.conn.Close(ctx)
		cancel()
		l.conn = nil
	}
}

// tryLockLocked tries the session lock key on the lock connection; an
// error loses the connection.
func (l *locker) tryLockLocked(key int64) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), lockQueryTimeout)
	defer cancel()
	c, err := l.connLocked(ctx)
	if err != nil {
		return false, err
	}
	var got bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		l.loseLocked(err)
		return false, fmt.Errorf("store: advisory lock: %w", err)
	}
	return got, nil
}

// unlockLocked releases key if the connection that took it (gen) is
// still the current one; otherwise the server already released it.
func (l *locker) unlockLocked(key int64, gen int) {
	if l.conn == nil || l.gen != gen {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lockQueryTimeout)
	defer cancel()
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
		l.loseLocked(err)
	}
}

// LockDevice implements store.Coordinator.
func (s *Store) LockDevice(ctx context.Context, device string) (release func(), lost <-chan struct{}, ok bool, err error) {
	if s.lk == nil {
		return nil, nil, false, errReadOnly
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, false, err
	}
	l := s.lk
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil, false, store.ErrClosed
	}
	if _, mine := l.held[device]; mine {
		// Advisory locks are re-entrant within a session: refuse here what
		// another collector would be refused.
		return nil, nil, false, nil
	}
	key := lockKey("offbox/device/" + device)
	got, err := l.tryLockLocked(key)
	if err != nil || !got {
		return nil, nil, false, err
	}
	h := &heldLock{key: key, gen: l.gen, lost: make(chan struct{})}
	l.held[device] = h
	var once sync.Once
	release = func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.held[device] != h {
				return // lost already, or the store closed
			}
			delete(l.held, device)
			l.unlockLocked(h.key, h.gen)
		})
	}
	return release, h.lost, true, nil
}

// Lead implements store.Coordinator.
func (s *Store) Lead(ctx context.Context) (context.Context, func(), error) {
	if s.lk == nil {
		return nil, nil, errReadOnly
	}
	l := s.lk
	t := time.NewTicker(s.opt.LeaderPoll)
	defer t.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		leading, resign, err := l.tryLead(ctx)
		if errors.Is(err, store.ErrClosed) {
			return nil, nil, err
		}
		if err != nil {
			s.opt.Logger.Warn("store: leader election", "err", err)
		}
		if leading != nil {
			return leading, resign, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-t.C:
		}
	}
}

// tryLead takes the leader lock if free; leading is nil if not.
func (l *locker) tryLead(ctx context.Context) (leading context.Context, resign func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil, store.ErrClosed
	}
	if l.leading != nil {
		return nil, nil, nil // this collector leads already, under another call
	}
	got, err := l.tryLockLocked(leaderKey)
	if err != nil || !got {
		return nil, nil, err
	}
	leading, cancel := context.WithCancel(ctx)
	ld := &leadership{gen: l.gen, cancel: cancel}
	l.leading = ld
	var once sync.Once
	resign = func() {
		once.Do(func() {
			l.mu.Lock()
			if l.leading == ld {
				l.leading = nil
				l.unlockLocked(leaderKey, ld.gen)
			}
			l.mu.Unlock()
			cancel()
		})
	}
	// ctx ending gives the lock up too, so a follower can take over.
	context.AfterFunc(leading, resign)
	return leading, resign, nil
}

// watch checks the lock connection every LockCheck: a connection that
// broke (server restart, network, pg_terminate_backend) loses every
// lock, and a new one is made at once, backing off while that fails.
func (l *locker) watch() {
	defer close(l.done)
	backoff := l.s.opt.LockCheck
	t := time.NewTimer(l.s.opt.LockCheck)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		next := l.s.opt.LockCheck
		l.mu.Lock()
		if l.conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), max(l.s.opt.LockCheck, time.Second))
			if _, err := l.conn.Exec(ctx, `SELECT 1`); err != nil {
				l.loseLocked(err)
			}
			cancel()
		}
		if l.conn == nil && l.used && !l.closed {
			ctx, cancel := context.WithTimeout(context.Background(), lockQueryTimeout)
			if _, err := l.connLocked(ctx); err != nil {
				l.s.opt.Logger.Warn("store: lock connection", "err", err)
				backoff = min(backoff*2, 30*time.Second)
				next = backoff
			} else {
				backoff = l.s.opt.LockCheck
			}
			cancel()
		}
		l.mu.Unlock()
		t.Reset(next)
	}
}

// close releases every lock by ending the connection, and stops watch.
func (l *locker) close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.loseLocked(store.ErrClosed)
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	return nil
}
