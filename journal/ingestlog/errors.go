package ingestlog

import "errors"

// ErrUnavailable is returned by Record while the journal is full or its
// writes fail: the round goes unrecorded (the engine counts it) rather than
// stall every round, and with them the checkpoint that frees the journal.
var ErrUnavailable = errors.New("ingestlog: journal full or failing")

// ErrMarkTimeout is returned by Record when its mark was not taken or not
// committed within MarkTimeout.
var ErrMarkTimeout = errors.New("ingestlog: round mark not committed in time")

// ErrBadRecord is returned for a journal record that does not decode; Replay
// logs and skips it.
var ErrBadRecord = errors.New("ingestlog: malformed record")
