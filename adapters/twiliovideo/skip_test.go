package twiliovideo_test

import (
	"testing"

	"github.com/safeconnection/gateway/internal/skipnote"
)

// TestMain says, after the tests, which groups of them were skipped and how
// to run them: go test shows a passing package's own output only with -v.
func TestMain(m *testing.M) { skipnote.Main(m) }
