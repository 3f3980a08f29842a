package staleness

import "github.com/rollcall-iot/rollcall/ingest"

// ErrNotOnRoster is a device that is neither listed nor matched by the
// fleet file while learning is disabled: Resolve rejects it unknown_device.
var ErrNotOnRoster = &ingest.RejectError{
	Reason: ingest.ReasonUnknownDevice,
	Detail: "staleness: not on the roster (learning is disabled)",
}
