package sqlite_test

import (
	"context"
	"fmt"
	"github.com/safeconnection/gateway/store/sqlite"
	"path/filepath"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/store/storetest"
)

func openStore(tb testing.TB) gateway.Store { return open(tb) }

// BenchmarkClaimRelease claims a device and releases it, one caller.
func BenchmarkClaimRelease(b *testing.B) { storetest.BenchClaimRelease(b, openStore) }

// BenchmarkClaimContention has 1,000 goroutines claim 10 devices; see
// storetest.BenchClaimContention.
func BenchmarkClaimContention(b *testing.B) { storetest.BenchClaimContention(b, openStore) }

// BenchmarkClose creates and closes a verification, the outbox off and
// on, side by side.
func BenchmarkClose(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("outbox=%v", on), func(b *testing.B) {
			storetest.BenchClose(b, func(tb testing.TB) gateway.Store {
				s := sqlite.New(filepath.Join(tb.TempDir(), "gateway.db"))
				s.Outbox = on
				if err := s.Open(context.Background()); err != nil {
					tb.Fatal(err)
				}
				tb.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}
