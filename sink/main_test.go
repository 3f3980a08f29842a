package sink

import (
	"testing"

	"go.uber.org/goleak"
)

// Fanout.Run starts one goroutine per sink; every test must leave none
// behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
