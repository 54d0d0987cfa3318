package postgres

import "context"

// SizeBytes is the database's size on disk (pg_database_size), every
// collector's data and index included.
func (s *Store) SizeBytes(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
	return n, err
}
