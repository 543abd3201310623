package sqlite_test

import (
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
