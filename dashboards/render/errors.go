package render

import "errors"

// ErrNoSnapshots means the snapshot directory holds no snapshot.
var ErrNoSnapshots = errors.New("render: no snapshots")
