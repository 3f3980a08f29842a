package dashboards

import (
	"testing"

	"go.uber.org/goleak"
)

// The integration test runs a gateway and a simulated fleet; every test
// must stop them all.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
