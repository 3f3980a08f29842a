package sim

import (
	"errors"
	"fmt"
)

// Reasons a publish counts as failed besides the client's own errors. They
// only appear in logs, so they are unexported.
var (
	// errNoAck: the broker did not confirm the publish within AckTimeout.
	errNoAck = fmt.Errorf("sim: no confirmation within %s", AckTimeout)
	// errUnconfirmed: the publish was still unconfirmed when Run stopped.
	errUnconfirmed = errors.New("sim: unconfirmed when the fleet stopped")
)
