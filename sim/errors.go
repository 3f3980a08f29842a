package sim

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknownScenario means no shipped scenario has that name.
	ErrUnknownScenario = errors.New("sim: unknown scenario")
	// ErrTruth means writing the ground truth failed; the run stopped, because a
	// run without its truth is of no use to the tests that score against it.
	ErrTruth = errors.New("sim: writing the truth failed")
	// ErrRunning means Run was called while another Run of the same Fleet was
	// still running.
	ErrRunning = errors.New("sim: the fleet is already running")
)

// Reasons a publish counts as failed besides the client's own errors. They
// only appear in logs, so they are unexported.
var (
	// errNoAck: the broker did not confirm the publish within AckTimeout.
	errNoAck = fmt.Errorf("sim: no confirmation within %s", AckTimeout)
	// errUnconfirmed: the publish was still unconfirmed when Run stopped.
	errUnconfirmed = errors.New("sim: unconfirmed when the fleet stopped")
	// errNotConnected: the connection was down (reconnecting).
	errNotConnected = errors.New("sim: not connected")
)
