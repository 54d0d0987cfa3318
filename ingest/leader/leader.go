// Package leader holds the collector's work that runs once for all
// collectors sharing a store: detection (its timer rules must not fire once
// per collector), alert delivery (or every collector would send each alert),
// forwarding (likewise) and retention. A collector alone always does it;
// collectors sharing a store do it while they lead, as the store's
// Coordinator decides. It is a batch's path after commit: the ingest server
// hands each committed batch to Offer. It never stores, serves or decides
// leadership itself.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// DefaultRetainEvery is how often retention runs while this collector
// leads (Config.RetainEvery's zero value).
const DefaultRetainEvery = time.Hour

// Detector is detection over what is stored (*alerts.Runner).
type Detector interface {
	// Offer tells detection a batch was committed (nil: something else
	// was stored); it never blocks.
	Offer(b *store.Batch)
	// Run detects until ctx ends; an error is a failure of detection.
	Run(ctx context.Context) error
	// CaughtUp is closed once detection has read what was stored before
	// it ran: retention removes only what detection has read.
	CaughtUp() <-chan struct{}
}

// Deliverer sends the alerts in the store's outbox (*notify.Dispatcher).
type Deliverer interface {
	Run(ctx context.Context) error
}

// Coordinator elects the leader among collectors sharing a store (the
// Lead method of store.Coordinator).
type Coordinator interface {
	// Lead waits until this collector leads, or ctx ends (ctx's error).
	// leading ends when leadership is lost or ctx ends; resign gives it up.
	Lead(ctx context.Context) (leading context.Context, resign func(), err error)
}

// Pruner removes old batches (the Prune method of store.Retention).
type Pruner interface {
	Prune(ctx context.Context, cutoff, now time.Time) ([]store.Pruned, error)
}

// Config is what the leader runs.
type Config struct {
	Coordinator Coordinator   // nil: this collector is alone and always leads
	Detector    Detector      // required
	Delivery    Deliverer     // required
	Forward     Deliverer     // forward sinks (*forward.Forwarder); nil: none
	Store       Pruner        // pruned by retention; required when Keep > 0
	Keep        time.Duration // how long batches are kept after receipt; 0 keeps everything
	RetainEvery time.Duration // between retention runs; 0 means DefaultRetainEvery
	Now         func() time.Time
	Logger      *slog.Logger // nil: slog.Default()
}

// Leader runs Config's work while this collector leads. Create it with New.
type Leader struct {
	cfg     Config
	leading atomic.Bool
}

// New checks cfg.
func New(cfg Config) (*Leader, error) {
	switch {
	case cfg.Detector == nil || cfg.Delivery == nil:
		return nil, errors.New("leader: Detector and Delivery are required")
	case cfg.Keep < 0:
		return nil, errors.New("leader: Keep must not be negative")
	case cfg.Keep > 0 && cfg.Store == nil:
		return nil, errors.New("leader: retention needs a Store")
	}
	if cfg.RetainEvery <= 0 {
		cfg.RetainEvery = DefaultRetainEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Leader{cfg: cfg}, nil
}

// Offer hands a committed batch to detection, when it runs here. It never
// blocks: it is called on the ingest path.
func (l *Leader) Offer(b *store.Batch) {
	if l.leading.Load() {
		l.cfg.Detector.Offer(b)
	}
}

// Leading reports whether the work runs here now.
func (l *Leader) Leading() bool { return l.leading.Load() }

// Run does the work until ctx ends, taking and retaking leadership when
// there is a coordinator. Only a failure of detection itself is returned.
func (l *Leader) Run(ctx context.Context) error {
	if l.cfg.Coordinator == nil {
		return l.work(ctx)
	}
	for {
		leading, resign, err := l.cfg.Coordinator.Lead(ctx)
		if err != nil {
			return nil // ctx ended
		}
		l.cfg.Logger.Info("leading: detection, alert delivery, forwarding and retention run on this collector")
		err = l.work(leading)
		resign()
		if err != nil || ctx.Err() != nil {
			return err
		}
		l.cfg.Logger.Warn("leadership lost: detection, alert delivery, forwarding and retention stop here until this collector leads again")
	}
}

// work runs detection, delivery and retention until ctx ends.
func (l *Leader) work(ctx context.Context) error {
	l.leading.Store(true)
	defer l.leading.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = l.cfg.Delivery.Run(ctx) }()
	if l.cfg.Forward != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = l.cfg.Forward.Run(ctx) }()
	}
	go func() { defer wg.Done(); l.retain(ctx) }()
	err := l.cfg.Detector.Run(ctx)
	cancel()
	wg.Wait()
	return err
}

// retain prunes what is older than Keep once detection has caught up (the
// store keeps what detection has not read), then every RetainEvery.
func (l *Leader) retain(ctx context.Context) {
	if l.cfg.Keep == 0 {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-l.cfg.Detector.CaughtUp():
	}
	every := l.cfg.RetainEvery
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if keep, ok := l.forwardKeep(ctx); !ok {
			l.cfg.Logger.Error("retention: the forward sinks' backlog cannot be read; retrying later", "retry_in", every)
		} else if err := Prune(ctx, l.cfg.Store, keep, l.cfg.Now(), l.cfg.Logger); err != nil && ctx.Err() == nil {
			l.cfg.Logger.Error("retention failed; retrying later", "err", err, "retry_in", every)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// forwardKeep is Keep, lengthened so that retention removes nothing a
// forward sink has not sent yet (its backlog is the store).
func (l *Leader) forwardKeep(ctx context.Context) (time.Duration, bool) {
	h, ok := l.cfg.Forward.(interface {
		Oldest(context.Context) (time.Time, error)
	})
	if !ok {
		return l.cfg.Keep, true
	}
	oldest, err := h.Oldest(ctx)
	if err != nil {
		return 0, false
	}
	if age := l.cfg.Now().Sub(oldest); !oldest.IsZero() && age > l.cfg.Keep {
		l.cfg.Logger.Warn("retention keeps batches a forward sink has not sent yet", "oldest_unsent", oldest.UTC().Format(time.RFC3339))
		return age, true
	}
	return l.cfg.Keep, true
}

// Prune removes the batches received more than keep before now and logs
// what went.
func Prune(ctx context.Context, st Pruner, keep time.Duration, now time.Time, log *slog.Logger) error {
	if keep <= 0 {
		return errors.New("retention must be positive")
	}
	cutoff := now.Add(-keep)
	removed, err := st.Prune(ctx, cutoff, now)
	if err != nil {
		return err
	}
	for _, p := range removed {
		log.Info("retention removed batches", "device", p.Device, "seqs", fmt.Sprintf("%d..%d", p.FirstSeq, p.LastSeq),
			"batches", p.Batches, "records", p.Records, "received_before", cutoff.UTC().Format(time.RFC3339))
	}
	return nil
}
