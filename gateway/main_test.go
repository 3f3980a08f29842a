package gateway

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test stops the gateways it ran: their stages, the embedded broker
// and the subscription leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
