package skipnote

import (
	"strings"
	"testing"
)

func TestSummaryCountsEachGroup(t *testing.T) {
	for range 2 {
		t.Run("pg", func(t *testing.T) { Skip(t, "PostgreSQL", "not reachable") })
	}
	t.Run("browser", func(t *testing.T) { Skip(t, "Chromium", "not installed") })
	got := Summary()
	for _, want := range []string{"SKIP: 2 PostgreSQL tests skipped: not reachable\n", "SKIP: 1 Chromium test skipped: not installed\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
}
