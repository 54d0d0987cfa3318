package sqlite

import (
	"context"
	"errors"
	"io/fs"
	"os"
)

// SizeBytes is the database's size on disk: the file and its WAL (the
// WAL holds commits not yet checkpointed into the file, up to a few MiB).
func (s *Store) SizeBytes(ctx context.Context) (int64, error) {
	var path string
	if err := s.read.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path); err != nil {
		return 0, err
	}
	var total int64
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) && p != path {
			continue // no WAL right now
		}
		if err != nil {
			return 0, err
		}
		total += fi.Size()
	}
	return total, nil
}
