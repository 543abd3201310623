package postgres

import (
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
