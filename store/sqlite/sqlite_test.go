package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/store/sqlite"
	"github.com/safeconnection/gateway/store/storetest"
)

// open opens a store on a new file in the test's temporary directory.
func open(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) gateway.Store { return open(t) })
}

func TestOutboxConformance(t *testing.T) {
	storetest.RunOutbox(t, func(t testing.TB) gateway.Store {
		s := sqlite.New(filepath.Join(t.TempDir(), "gateway.db"))
		s.Outbox = true
		if err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
