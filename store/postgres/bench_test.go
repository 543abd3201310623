package postgres

import (
	"context"
	"fmt"
	"github.com/safeconnection/gateway/store/postgres/pgtest"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/store/storetest"
)

// The benchmarks are the SQLite store's, from storetest, so that the two
// compare step for step.

func benchOpen(tb testing.TB) gateway.Store { return newStore(tb) }

// BenchmarkClaimRelease claims a device and releases it, one caller.
func BenchmarkClaimRelease(b *testing.B) { storetest.BenchClaimRelease(b, benchOpen) }

// BenchmarkClaimContention has 1,000 goroutines claim 10 devices; see
// storetest.BenchClaimContention. It also checks the database's own record
// for double claims.
func BenchmarkClaimContention(b *testing.B) {
	s := storetest.BenchClaimContention(b, benchOpen)
	checkNoDoubleClaims(b, s.(*Store))
}

// BenchmarkClose creates and closes a verification, the outbox off and
// on, side by side.
func BenchmarkClose(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("outbox=%v", on), func(b *testing.B) {
			storetest.BenchClose(b, func(tb testing.TB) gateway.Store {
				s := New(pgtest.URL(tb))
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
