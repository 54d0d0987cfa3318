package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/offbox/offbox/ingest/config"
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
