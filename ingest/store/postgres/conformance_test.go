package postgres

import (
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/postgres/pgtest"
	"github.com/offbox/offbox/ingest/store/storetest"
)

// TestConformance runs the suite every store engine passes.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) func(t *testing.T) store.Store {
		url := pgtest.URL(t)
		return func(t *testing.T) store.Store {
			t.Helper()
			s, err := Open(ctx, url, Options{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}
