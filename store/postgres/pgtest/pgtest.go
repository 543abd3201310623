// Package pgtest gives tests a PostgreSQL schema of their own to run the
// gateway's store in.
//
// The database is the one at DefaultURL unless the environment variable
// GATEWAY_TEST_POSTGRES names another. When it cannot be reached the test is
// skipped, unless GATEWAY_REQUIRE_POSTGRES=1, when it fails: CI sets that,
// so that a missing database fails the build rather than skipping its tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safeconnection/gateway/internal/skipnote"
)

// DefaultURL is the database tests use when GATEWAY_TEST_POSTGRES is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// The environment variables that steer the tests.
const (
	EnvURL     = "GATEWAY_TEST_POSTGRES"    // a database URL to test against
	EnvRequire = "GATEWAY_REQUIRE_POSTGRES" // "1": fail, not skip, when the database cannot be reached
)

// DatabaseURL returns the database URL tests use: GATEWAY_TEST_POSTGRES, or
// DefaultURL.
func DatabaseURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// URL creates a fresh schema with a random name in the test database and
// returns a connection URL whose search_path is that schema, for
// postgres.Open. The schema is dropped, with everything in it, when the test
// ends; stores opened on it must be closed first (register their Close with
// t.Cleanup after calling URL). It skips the test, or fails it when
// GATEWAY_REQUIRE_POSTGRES=1, if the database cannot be reached.
func URL(t testing.TB) string {
	t.Helper()
	base := DatabaseURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err == nil {
		err = conn.Ping(ctx)
	}
	if err != nil {
		msg := "PostgreSQL not reachable at " + redact(base) + ": set " + EnvURL + " to a database URL to run these tests"
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s (%v)", msg, err)
		}
		skipnote.Skip(t, "PostgreSQL", msg)
	}
	defer conn.Close(context.Background())

	var b [6]byte
	rand.Read(b[:])
	schema := "gwtest_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() { drop(t, base, schema) })
	u, err := WithSearchPath(base, schema)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// drop removes the schema and everything in it.
func drop(t testing.TB, base, schema string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Errorf("pgtest: drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		t.Errorf("pgtest: drop schema %s: %v", schema, err)
	}
}

// WithSearchPath returns the connection string connString (a URL or
// key=value pairs) with its search_path set to schema.
func WithSearchPath(connString, schema string) (string, error) {
	if !strings.HasPrefix(connString, "postgres://") && !strings.HasPrefix(connString, "postgresql://") {
		return strings.TrimSpace(connString) + " search_path=" + schema, nil
	}
	u, err := url.Parse(connString)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// redact hides a password in a database URL.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return s
}
