package journal

import (
	"testing"

	"go.uber.org/goleak"
)

// The journal starts no goroutines, and zstd must not leave any behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
