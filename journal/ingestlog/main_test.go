package ingestlog

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test stops the Run it started and closes its journal.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
