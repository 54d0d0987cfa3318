// Package pgtest gives tests a database of their own on the PostgreSQL
// server named by OFFBOX_TEST_POSTGRES (scripts/test-postgres.sh prints
// it). It never touches a database it did not create.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/offbox/offbox/internal/testpeer"
)

// EnvURL is the variable holding the admin URL: a role that may CREATE
// DATABASE, on any database of the server (its path is replaced).
const EnvURL = "OFFBOX_TEST_POSTGRES"

// AdminURL is the admin URL, or fails (OFFBOX_INTEGRATION=1) or skips the
// test when it is unset; under -short it skips unless OFFBOX_INTEGRATION=1,
// as every test needing a real peer does.
func AdminURL(t testing.TB) string {
	t.Helper()
	integration := os.Getenv("OFFBOX_INTEGRATION") == "1"
	if testing.Short() && !integration {
		t.Skip("needs PostgreSQL: skipped under -short")
	}
	admin := os.Getenv(EnvURL)
	if admin == "" {
		const hint = EnvURL + " is unset: run OFFBOX_TEST_POSTGRES=$(scripts/test-postgres.sh) go test ..."
		if integration {
			t.Fatalf("%s (OFFBOX_INTEGRATION=1 requires PostgreSQL)", hint)
		}
		t.Skip(hint + " (" + testpeer.Message("PostgreSQL", "postgresql") + ")")
	}
	// Checked here, so every test says what is wrong with it, without
	// repeating it: it holds a password.
	if strings.ContainsAny(admin, "\r\n") {
		t.Fatalf("%s holds %d lines, not one URL: it must be only what scripts/test-postgres.sh prints on standard output", EnvURL, strings.Count(strings.TrimRight(admin, "\r\n"), "\n")+1)
	}
	if u, err := url.Parse(admin); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		t.Fatalf("%s is not a postgres://user:password@host:port/db URL", EnvURL)
	}
	return admin
}

// URL returns the URL of a fresh, empty database made for this test and
// dropped when it ends (with every connection still open to it).
func URL(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	u, _ := url.Parse(admin) // checked by AdminURL
	var rnd [8]byte
	rand.Read(rnd[:])
	name := "offbox_t_" + hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		err = dropRetrying(ctx, func(ctx context.Context) error {
			_, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
			return err
		}, dropTries, dropPause)
		switch {
		case refusedForOtherRole(err):
			// Still refused after every try: the database is left behind
			// (said, not failed); a test never fails over its cleanup.
			t.Logf("test database %s left behind: %v", name, err)
		case err != nil:
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// dropTries and dropPause bound how long a refused drop is tried again.
const (
	dropTries = 40
	dropPause = 250 * time.Millisecond
)

// dropRetrying runs drop until it succeeds, fails for another reason, or
// has been refused tries times, pause apart. DROP DATABASE ... WITH
// (FORCE) ends every session on the database, but refuses the whole drop
// with insufficient_privilege ("must be a member of the role whose
// process is being terminated") while a backend of a role the test role
// may not signal is connected to it: the server's own autovacuum worker
// visits a fresh database now and then. That backend leaves within
// moments, so a refusal is tried again rather than failing the test.
func dropRetrying(ctx context.Context, drop func(context.Context) error, tries int, pause time.Duration) error {
	var err error
	for range tries {
		if err = drop(ctx); !refusedForOtherRole(err) {
			return err
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
	}
	return err
}

// refusedForOtherRole reports insufficient_privilege (42501), what DROP
// DATABASE ... WITH (FORCE) says when it may not end a backend.
func refusedForOtherRole(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}
