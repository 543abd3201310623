package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// fakeTB records Skip and Fatalf, which end its goroutine as the real ones
// do; the rest is the real test's.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Skip(args ...any) {
	f.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// callURL runs URL on a fakeTB in its own goroutine.
func callURL(t *testing.T) (*fakeTB, string) {
	f := &fakeTB{TB: t}
	var got string
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = URL(f)
	}()
	<-done
	return f, got
}

func TestUnreachable(t *testing.T) {
	const unreachable = "postgres://postgres:secret@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"
	want := "PostgreSQL not reachable at postgres://postgres:xxxxx@127.0.0.1:1/test?sslmode=disable&connect_timeout=2: " +
		"set GATEWAY_TEST_POSTGRES to a database URL to run these tests"
	tests := []struct {
		name, require       string
		wantSkip, wantFatal bool
	}{
		{"skips", "", true, false},
		{"skips unless required", "0", true, false},
		{"fails when required", "1", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvURL, unreachable)
			t.Setenv(EnvRequire, tt.require)
			f, _ := callURL(t)
			if tt.wantSkip && f.skipped != want {
				t.Errorf("skipped with %q, want %q", f.skipped, want)
			}
			if tt.wantFatal && !strings.HasPrefix(f.failed, want) {
				t.Errorf("failed with %q, want %q", f.failed, want)
			}
			if strings.Contains(f.skipped+f.failed, "secret") {
				t.Error("the password was shown")
			}
		})
	}
}

func TestSchemaLifecycle(t *testing.T) {
	ctx := context.Background()
	var schema string
	t.Run("fresh schema", func(t *testing.T) {
		u := URL(t)
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		schema = parsed.Query().Get("search_path")
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var current string
		if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&current); err != nil {
			t.Fatal(err)
		}
		if current != schema || !strings.HasPrefix(schema, "gwtest_") {
			t.Errorf("current schema %q, search_path %q", current, schema)
		}
	})
	if schema == "" {
		t.Skip("no database")
	}
	conn, err := pgx.Connect(ctx, DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("schema %s left behind", schema)
	}
}

func TestWithSearchPath(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"URL", "postgres://u@h/db?sslmode=disable", "postgres://u@h/db?search_path=s1&sslmode=disable"},
		{"URL replaces", "postgresql://u@h/db?search_path=old", "postgresql://u@h/db?search_path=s1"},
		{"key=value", "host=h dbname=db ", "host=h dbname=db search_path=s1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WithSearchPath(tt.in, "s1")
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
