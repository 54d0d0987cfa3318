package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/postgres"
	"github.com/offbox/offbox/ingest/store/sqlite"
)

// defaultConfig is where the packages install the collector's
// configuration; administrative commands find the database through it when
// given neither -db nor -config.
const defaultConfig = "/etc/offbox-ingest/offbox-ingest.yaml"

// dbFlags adds -db and -config to fs. The function it returns names the
// database: -db, else the db of -config, else the db of the installed
// configuration file.
func dbFlags(fs *flag.FlagSet) func() (string, error) {
	db := fs.String("db", "", "SQLite database `file` or postgres:// URL; it must exist (default: the db or store of -config)")
	conf := fs.String("config", "", "collector configuration `file` whose db or store to use (default "+defaultConfig+")")
	return func() (string, error) {
		if *db != "" {
			return *db, nil
		}
		path := *conf
		if path == "" {
			path = defaultConfig
		}
		c, err := config.Load(path)
		if err != nil {
			if *conf == "" {
				return "", fmt.Errorf("no -db or -config given, and the installed configuration cannot be read: %w", err)
			}
			return "", fmt.Errorf("no -db given, and the configuration: %w", err)
		}
		if c.Store != "" {
			return c.Store, nil
		}
		if c.DB == "" {
			return "", fmt.Errorf("no -db given, and %s names no db or store", path)
		}
		return c.DB, nil
	}
}

// errNoDatabase: the path names no database file.
var errNoDatabase = errors.New("database")

// openExisting opens the database at path (a SQLite file or a postgres://
// URL) read-write; it never creates one. missing says what to do about a
// database that does not exist.
func openExisting(path, missing string) (store.Store, error) {
	if config.IsStoreURL(path) {
		return openExistingPostgres(path, missing)
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist (%s)", errNoDatabase, path, missing)
	} else if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is a directory", errNoDatabase, path)
	}
	// SQLite would open a file it cannot write and fail only at the first
	// write, with "attempt to write a readonly database"; say so up front.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	f.Close()
	return sqlite.Open(path, sqlite.Options{})
}

// openExistingPostgres opens a PostgreSQL store whose schema a collector
// has made: the check is read-only, so a mistyped URL never gets a schema.
func openExistingPostgres(url, missing string) (store.Store, error) {
	if err := config.CheckStoreURL(url); err != nil {
		return nil, fmt.Errorf("%w: %v", errNoDatabase, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ro, err := postgres.OpenReadOnly(ctx, url, postgres.Options{})
	if err != nil {
		return nil, fmt.Errorf("%w: %v (%s)", errNoDatabase, err, missing)
	}
	ro.Close()
	return postgres.Open(ctx, url, postgres.Options{})
}
