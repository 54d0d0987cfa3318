// Package forward sends what the collector stores on to a log platform a
// team already runs: every stored record (and, with alerts: true, every
// alert) to RFC 5424 syslog over TLS (or TCP, or UDP) or to an HTTP
// endpoint as NDJSON, Elasticsearch _bulk or Splunk HEC.
//
// The store is the only queue (docs/ARCHITECTURE.md): each sink reads the
// committed batches after its cursor, in commit order (so in order per
// device), sends at most batch_records records at a time, and saves its
// cursor in the store once the destination has taken them. It keeps one
// bounded batch in memory and nothing on disk, so a slow, refusing or dead
// destination costs lag, never memory, and never slows ingestion or
// detection, which do not wait for it. It runs while this collector leads
// (ingest/leader), so collectors sharing a PostgreSQL store send once.
package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// Item is one thing to forward: a stored record, or an alert.
type Item struct {
	Device   string
	Seq      uint64
	Index    int
	Received time.Time        // collector clock
	Record   *offboxv1.Record // nil for an alert
	Alert    *store.Alert     // nil for a record
}

// Sink is one destination. Send returns nil only once the destination has
// taken every item (what "taken" means is the sink's: an HTTP 2xx, or a
// syslog stream's write completed and acknowledged by the receiver's TCP).
type Sink interface {
	Send(ctx context.Context, items []Item) error
	Close() error
}

// rewinder is a Sink whose acknowledgement is weaker than the receiver
// having stored what it took (a syslog stream): after a failed send the
// runner resends from before the last send that succeeded, since the
// receiver may have lost what its TCP had acknowledged.
type rewinder interface{ rewind() bool }

// Store is what forwarding reads and writes.
type Store interface {
	store.ForwardStore
	BatchesAfter(ctx context.Context, after int64, limit int) ([]*store.StoredBatch, error)
}

// Config is what New needs. Zero durations take their defaults.
type Config struct {
	Sinks      []SinkConfig // checked by CheckSinks
	Store      Store        // required
	Logger     *slog.Logger // nil: slog.Default()
	Poll       time.Duration
	MinBackoff time.Duration // first wait after a failure; 0: 1s
	MaxBackoff time.Duration // longest; 0: 1m
	Now        func() time.Time
	// MeasureEvery is how often each sink's backlog is measured for
	// Stats, even while a send hangs; 0: 5s.
	MeasureEvery time.Duration
}

// Default intervals.
const (
	DefaultPoll         = 500 * time.Millisecond // how often an idle sink looks for new batches
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = time.Minute
	DefaultMeasureEvery = 5 * time.Second
	failureLogEvery     = time.Minute // a failing sink logs once a minute, not once per attempt
)

// Forwarder runs every configured sink, each in a goroutine of its own.
type Forwarder struct {
	cfg     Config
	runners []*runner
}

// New makes every sink (reading its TLS files), so a bad configuration
// fails before the collector listens. It connects to nothing.
func New(cfg Config) (*Forwarder, error) {
	if cfg.Store == nil && len(cfg.Sinks) > 0 {
		return nil, errors.New("forward: a Store is required")
	}
	if err := CheckSinks(cfg.Sinks, true); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MeasureEvery <= 0 {
		cfg.MeasureEvery = DefaultMeasureEvery
	}
	f := &Forwarder{cfg: cfg}
	for _, sc := range cfg.Sinks {
		s, err := NewSink(sc)
		if err != nil {
			for _, r := range f.runners {
				r.sink.Close()
			}
			return nil, fmt.Errorf("forward %s: %w", sc.Name, err)
		}
		f.runners = append(f.runners, &runner{f: f, sc: sc, sink: s, log: cfg.Logger.With("sink", sc.Name),
			stats: Stats{Sink: sc.Name, Type: sc.Type}})
	}
	return f, nil
}

// NewSink makes the sink c describes.
func NewSink(c SinkConfig) (Sink, error) {
	switch c.Type {
	case TypeSyslog:
		return newSyslog(c)
	case TypeHTTP:
		return newHTTP(c)
	}
	return nil, fmt.Errorf("type %q: want syslog or http", c.Type)
}

// Run forwards until ctx ends, then closes the sinks. A sink's failures
// are retried with backoff, counted in Stats and logged once a minute;
// they never end Run.
func (f *Forwarder) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, r := range f.runners {
		wg.Add(1)
		go func() { defer wg.Done(); r.run(ctx) }()
	}
	wg.Wait()
	return nil
}

// Close closes every sink's connection (Run's end does too).
func (f *Forwarder) Close() error {
	var errs []error
	for _, r := range f.runners {
		errs = append(errs, r.sink.Close())
	}
	return errors.Join(errs...)
}

// Stats is a sink's progress since this collector started, for the
// dashboard and metrics.
type Stats struct {
	Sink, Type  string
	Cursor      store.ForwardCursor
	Records     int64 // records sent and acknowledged
	Alerts      int64 // alerts sent and acknowledged
	Sends       int64 // successful sends
	Failures    int64 // failed sends
	LastError   string
	LastErrorAt time.Time
	Backlog     store.ForwardBacklog // as last measured
	Measured    time.Time            // when Backlog was measured
}

// Lag is how long the oldest record not yet forwarded has waited, as of
// Measured (0: nothing waits).
func (s Stats) Lag() time.Duration {
	if s.Backlog.Oldest.IsZero() {
		return 0
	}
	return max(0, s.Measured.Sub(s.Backlog.Oldest))
}

// Stats returns each sink's Stats, in configuration order.
func (f *Forwarder) Stats() []Stats {
	out := make([]Stats, len(f.runners))
	for i, r := range f.runners {
		r.mu.Lock()
		out[i] = r.stats
		r.mu.Unlock()
	}
	return out
}

type runner struct {
	f    *Forwarder
	sc   SinkConfig
	sink Sink
	log  *slog.Logger

	mu    sync.Mutex
	stats Stats

	items       []Item             // reused: the one bounded send in memory
	batch       *store.StoredBatch // the batch being sent, while more than one send
	recs        []*offboxv1.Record // its records, decoded
	failingFrom time.Time
	lastLog     time.Time
	failed      int64 // failures since the last log line
}

func (r *runner) run(ctx context.Context) {
	defer r.sink.Close()
	backoff := r.f.cfg.MinBackoff
	var cur store.ForwardCursor
	for {
		c, err := r.f.cfg.Store.ForwardCursor(ctx, r.sc.Name)
		if err == nil && c.Updated.IsZero() {
			// A new sink's cursor is saved at once, so its lag shows on
			// the dashboard even if it never delivers anything.
			err = r.save(ctx, c, 0, 0)
		}
		if err == nil {
			cur = c
			break
		}
		if !r.wait(ctx, r.failure(err, &backoff)) {
			return
		}
	}
	r.setCursor(cur)
	go r.measureEvery(ctx)
	prev := cur // where a rewinding sink resends from after a failure
	for ctx.Err() == nil {
		next, n, err := r.step(ctx, cur)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if rw, ok := r.sink.(rewinder); ok && rw.rewind() {
				cur = prev
				r.setCursor(cur)
			}
			if !r.wait(ctx, r.failure(err, &backoff)) {
				return
			}
			continue
		}
		if r.failed > 0 || !r.failingFrom.IsZero() {
			r.log.Info("forwarding again", "failures_since_start", r.stats.Failures, "down_for", r.f.cfg.Now().Sub(r.failingFrom).Round(time.Second))
			r.failingFrom, r.failed = time.Time{}, 0
		}
		backoff = r.f.cfg.MinBackoff
		if n > 0 {
			prev = cur
		}
		cur = next
		if n == 0 {
			r.setCursor(cur)
			r.measure(ctx)
		}
		if n == 0 && !r.wait(ctx, r.f.cfg.Poll) {
			return
		}
	}
}

// step sends what comes after cur (a part of one batch, or a page of
// alerts) and saves the cursor past it. n is 0 when there was nothing to
// send, else how many items were sent (at least 1 when the step moved past
// a batch whose records the index all leaves out).
func (r *runner) step(ctx context.Context, cur store.ForwardCursor) (next store.ForwardCursor, n int, err error) {
	// A send under way when the forwarder stops gets stopGrace to finish
	// and its cursor saved: cut off, the destination may have taken what
	// is then sent again after the restart.
	ctx, done := finishing(ctx, stopGrace)
	defer done()
	limit := r.sc.batchRecords()
	// A batch larger than one send is read and decoded once: the rest of
	// it is kept until it is sent (the one batch a sink holds).
	bs := []*store.StoredBatch{r.batch}
	if r.batch == nil || r.batch.Row != cur.BatchRow {
		r.batch, r.recs = nil, nil
		if bs, err = r.f.cfg.Store.BatchesAfter(ctx, cur.BatchRow-1, 1); err != nil {
			return cur, 0, err
		}
	}
	if len(bs) == 1 {
		b := bs[0]
		if b.Row != cur.BatchRow {
			cur.BatchRow, cur.Index = b.Row, 0
		}
		items, done, err := r.records(b, cur.Index, limit)
		if err != nil { // the server verified it before storing: the store is damaged
			r.log.Error("stored batch does not decode; not forwarded (run verify)", "device", b.Device, "seq", b.Seq, "err", err)
			items, done = nil, true
		}
		if r.batch = b; done {
			r.batch, r.recs = nil, nil
		}
		next = cur
		if len(items) > 0 {
			if err := r.sink.Send(ctx, items); err != nil {
				return cur, 0, err
			}
			next.Index = items[len(items)-1].Index + 1
		}
		if done {
			next.BatchRow, next.Index = b.Row+1, 0
		}
		if err := r.save(ctx, next, int64(len(items)), 0); err != nil {
			return cur, 0, err
		}
		return next, max(len(items), 1), nil
	}
	if !r.sc.Alerts {
		return cur, 0, nil
	}
	as, err := r.f.cfg.Store.AlertsAfter(ctx, cur.AlertID, limit)
	if err != nil || len(as) == 0 {
		return cur, 0, err
	}
	items := r.items[:0]
	for i := range as {
		items = append(items, Item{Device: as[i].Device, Received: as[i].LastReceived, Alert: &as[i]})
	}
	r.items = items
	if err := r.sink.Send(ctx, items); err != nil {
		return cur, 0, err
	}
	next = cur
	next.AlertID = as[len(as)-1].ID
	if err := r.save(ctx, next, 0, int64(len(items))); err != nil {
		return cur, 0, err
	}
	return next, len(items), nil
}

// stopGrace is how long a step under way may go on once the forwarder
// is stopped.
const stopGrace = 5 * time.Second

// finishing is a context that ends grace after ctx does (or when done is
// called).
func finishing(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return c, func() { stop(); cancel() }
}

// records are at most limit indexed records of b from index from on;
// done says none are left after them. Records the index leaves out
// (lines already stored, resent) are not forwarded again.
func (r *runner) records(b *store.StoredBatch, from, limit int) (items []Item, done bool, err error) {
	if r.batch != b || r.recs == nil {
		dec, err := seal.Open(b.Bytes)
		if err != nil {
			return nil, true, err
		}
		r.recs = dec.GetRecords()
	}
	recs := r.recs
	items = r.items[:0]
	defer func() { r.items = items[:0:cap(items)] }()
	for _, seg := range b.Segments {
		for i := max(seg.First, from); i < seg.First+seg.Count && i < len(recs); i++ {
			if len(items) == limit {
				return items, false, nil
			}
			items = append(items, Item{Device: b.Device, Seq: b.Seq, Index: i, Received: b.Received, Record: recs[i]})
		}
	}
	return items, true, nil
}

func (r *runner) save(ctx context.Context, c store.ForwardCursor, records, alerts int64) error {
	c.Sink, c.Updated = r.sc.Name, r.f.cfg.Now()
	if err := r.f.cfg.Store.SaveForwardCursor(ctx, c); err != nil {
		return fmt.Errorf("saving the cursor: %w", err)
	}
	r.mu.Lock()
	r.stats.Cursor = c
	r.stats.Records += records
	r.stats.Alerts += alerts
	if records+alerts > 0 {
		r.stats.Sends++
	}
	r.mu.Unlock()
	return nil
}

func (r *runner) setCursor(c store.ForwardCursor) {
	r.mu.Lock()
	r.stats.Cursor = c
	r.mu.Unlock()
}

// measureEvery measures the backlog every MeasureEvery until ctx ends,
// so Stats' lag grows while a send hangs.
func (r *runner) measureEvery(ctx context.Context) {
	t := time.NewTicker(r.f.cfg.MeasureEvery)
	defer t.Stop()
	for {
		r.measure(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// measure reads what is stored past the sink's cursor into Stats.
func (r *runner) measure(ctx context.Context) {
	r.mu.Lock()
	c := r.stats.Cursor
	r.mu.Unlock()
	b, err := r.f.cfg.Store.ForwardBacklog(ctx, c)
	if err != nil {
		return
	}
	r.mu.Lock()
	r.stats.Backlog, r.stats.Measured = b, r.f.cfg.Now()
	r.mu.Unlock()
}

// failure counts err and returns how long to wait before the next try
// (backoff doubles up to MaxBackoff, with jitter). The first failure is
// logged, then one line a minute while it lasts.
func (r *runner) failure(err error, backoff *time.Duration) time.Duration {
	now := r.f.cfg.Now()
	r.mu.Lock()
	r.stats.Failures++
	r.stats.LastError, r.stats.LastErrorAt = err.Error(), now
	r.mu.Unlock()
	r.failed++
	if r.failingFrom.IsZero() {
		r.failingFrom = now
	}
	if r.lastLog.IsZero() || now.Sub(r.lastLog) >= failureLogEvery {
		r.log.Warn("forwarding failed; the records wait in the store", "err", err, "failed_attempts", r.failed, "retry_in", *backoff)
		r.lastLog, r.failed = now, 0
	}
	d := *backoff
	*backoff = min(2**backoff, r.f.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

func (r *runner) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Oldest is the received time of the oldest batch some configured sink
// has not delivered yet (zero: none waits). Retention keeps it and
// everything received after it, so a sink that is down loses nothing to
// retention; a sink removed from the configuration no longer holds any.
func (f *Forwarder) Oldest(ctx context.Context) (time.Time, error) {
	var oldest time.Time
	for _, r := range f.runners {
		c, err := f.cfg.Store.ForwardCursor(ctx, r.sc.Name)
		if err != nil {
			return time.Time{}, err
		}
		b, err := f.cfg.Store.ForwardBacklog(ctx, c)
		if err != nil {
			return time.Time{}, err
		}
		if !b.Oldest.IsZero() && (oldest.IsZero() || b.Oldest.Before(oldest)) {
			oldest = b.Oldest
		}
	}
	return oldest, nil
}
