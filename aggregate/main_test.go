package aggregate

import (
	"testing"

	"go.uber.org/goleak"
)

// Engine.Run starts one goroutine per shard; every test and benchmark must
// stop them all before it returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
