package apitest

import (
	"testing"

	"go.uber.org/goleak"
)

// The gateway and the simulated fleet start goroutines; every test must
// stop them all.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
