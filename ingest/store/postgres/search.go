package postgres

import (
	"context"
	"github.com/jackc/pgx/v5"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

var _ store.SearchStore = (*Store)(nil)

var searchSQL = sqlrow.SearchSQL{
	// ? placeholders are rendered as $n by sqlrow.
	Segments: func(where, order, limit string) string {
		return `SELECT s.received_ns, s.device_id, s.batch_seq, s.first_index, s.count FROM segments s` +
			where + ` ORDER BY s.received_ns ` + order + `, s.device_id ` + order + `, s.batch_seq ` + order + `, s.first_index` + limit
	},
	Filters: func(where string) string {
		return `SELECT device_id, batch_seq, received_ns, bits FROM search_filters` + where
	},
	Devices: `SELECT id, name FROM devices`,
	Cursor:  `SELECT batch_row FROM search_cursor WHERE id = 1`,
	SaveFilter: `INSERT INTO search_filters (device_id, batch_seq, received_ns, bits)
		VALUES ((SELECT id FROM devices WHERE name = $1), $2, $3, $4)
		ON CONFLICT (received_ns, device_id, batch_seq) DO UPDATE SET bits = excluded.bits`,
	SetCursor: `UPDATE search_cursor SET batch_row = $1 WHERE id = 1`,
	KeysAfter: `SELECT l.row, d.name, l.seq, l.received_ns FROM batch_log l JOIN devices d ON d.id = l.device_id
		WHERE l.row > $1 ORDER BY l.row LIMIT $2`,
}

func (s *Store) search() sqlrow.SearchCore[pgx.Tx] {
	c := s.core()
	return c.Search(&searchSQL)
}

// SearchBatches implements store.SearchStore.
func (s *Store) SearchBatches(ctx context.Context, q store.SearchQuery) ([]store.SearchBatch, error) {
	return s.search().SearchBatches(ctx, q)
}

// SearchBatchBytes implements store.SearchStore.
func (s *Store) SearchBatchBytes(ctx context.Context, b *store.SearchBatch) ([]byte, error) {
	return s.search().SearchBatchBytes(ctx, b)
}

// LoadSearchFilters implements store.SearchStore.
func (s *Store) LoadSearchFilters(ctx context.Context, bs []store.SearchBatch) error {
	return s.search().LoadSearchFilters(ctx, bs)
}

// SearchCursor implements store.SearchStore.
func (s *Store) SearchCursor(ctx context.Context) (int64, error) { return s.search().SearchCursor(ctx) }

// SaveSearchFilters implements store.SearchStore.
func (s *Store) SaveSearchFilters(ctx context.Context, filters []store.SearchFilter, upTo int64) error {
	return s.search().SaveSearchFilters(ctx, filters, upTo)
}

// SearchKeysAfter implements store.SearchStore.
func (s *Store) SearchKeysAfter(ctx context.Context, after int64, limit int) ([]store.BatchKey, error) {
	return s.search().SearchKeysAfter(ctx, after, limit)
}
