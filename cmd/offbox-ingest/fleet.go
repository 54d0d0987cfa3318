package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offbox/offbox/ingest/alerts"
	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/notify"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/postgres"
	"github.com/offbox/offbox/ingest/store/sqlite"
)

// openStore opens the configured store: SQLite (db), or PostgreSQL (store),
// which is also the coordinator of the collectors sharing it.
func openStore(cfg config.Config, log *slog.Logger) (store.Store, store.Coordinator, error) {
	if cfg.Store == "" {
		st, err := sqlite.Open(cfg.DB, sqlite.Options{Sync: cfg.SQLiteSync})
		return st, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := postgres.Open(ctx, cfg.Store, postgres.Options{Logger: log.With("part", "store")})
	if err != nil {
		return nil, nil, err
	}
	return st, st, nil
}

// retentionEvery is how often retention runs while this collector leads.
const retentionEvery = time.Hour

// fleetWork is what is done once for all collectors sharing a store:
// detection (its timer rules must not fire once per collector), alert
// delivery (or every collector would send each alert) and retention. A
// collector alone (no coordinator) always does it; collectors sharing a
// store do it while they lead.
type fleetWork struct {
	coord     store.Coordinator // nil: alone
	runner    *alerts.Runner
	disp      *notify.Dispatcher
	st        store.Store
	retention time.Duration // 0: keep everything
	log       *slog.Logger

	leading atomic.Bool
}

// offer hands a committed batch to detection, when it runs here.
func (f *fleetWork) offer(b *store.Batch) {
	if f.leading.Load() {
		f.runner.Offer(b)
	}
}

// run does the work until ctx ends, taking and retaking leadership when
// there is a coordinator. Only a failure of detection itself is returned.
func (f *fleetWork) run(ctx context.Context) error {
	if f.coord == nil {
		return f.work(ctx)
	}
	for {
		leading, resign, err := f.coord.Lead(ctx)
		if err != nil {
			return nil // ctx ended
		}
		f.log.Info("leading: detection, alert delivery and retention run on this collector")
		err = f.work(leading)
		resign()
		if err != nil || ctx.Err() != nil {
			return err
		}
		f.log.Warn("leadership lost: detection, alert delivery and retention stop here until this collector leads again")
	}
}

// work runs detection, delivery and retention until ctx ends.
func (f *fleetWork) work(ctx context.Context) error {
	f.leading.Store(true)
	defer f.leading.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = f.disp.Run(ctx) }()
	go func() { defer wg.Done(); f.retain(ctx) }()
	err := f.runner.Run(ctx)
	cancel()
	wg.Wait()
	return err
}

// retain prunes what is older than the retention once detection has caught
// up (the store keeps what detection has not read), then hourly.
func (f *fleetWork) retain(ctx context.Context) {
	if f.retention == 0 {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-f.runner.CaughtUp():
	}
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		if err := prune(ctx, f.st, f.retention, time.Now(), f.log); err != nil && ctx.Err() == nil {
			f.log.Error("retention failed; retrying later", "err", err, "retry_in", retentionEvery)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// prune removes the batches received more than keep before now and logs
// what went.
func prune(ctx context.Context, st store.Retention, keep time.Duration, now time.Time, log *slog.Logger) error {
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
