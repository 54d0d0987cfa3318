package sqlrow

import (
	"context"
	"errors"
	"fmt"
)

// SchemaSQL is an engine's statements on its schema_version table.
type SchemaSQL struct {
	Create  string // creates the table if it is not there
	Version string // selects version
	Start   string // inserts version 0
	Set     string // sets version (one argument)
}

// Migrate brings the schema in tx to version len(migrations), where
// migrations[i] takes it from version i to i+1, and refuses a database
// made by newer code. The engine owns the transaction, and whatever lock
// keeps two collectors from migrating at once.
func Migrate(ctx context.Context, tx Tx, q *SchemaSQL, migrations []string) error {
	if _, err := tx.Exec(ctx, q.Create); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	var v int
	switch err := tx.QueryRow(ctx, q.Version).Scan(&v); {
	case errors.Is(err, ErrNoRows):
		if _, err := tx.Exec(ctx, q.Start); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this program's %d", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("schema migration %d: %w", v+1, err)
		}
	}
	_, err := tx.Exec(ctx, q.Set, v)
	return err
}

// SameVersion refuses, for a read-only open, a database at schema
// version v that is not the one this program reads (len(migrations)):
// read-only, it cannot migrate.
func SameVersion(v int, migrations []string) error {
	if v != len(migrations) {
		return fmt.Errorf("database schema version %d, this program reads %d", v, len(migrations))
	}
	return nil
}
