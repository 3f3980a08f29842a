package journal

import (
	"errors"
	"fmt"
)

// ErrFull is returned by Append when the record would take the journal past
// Config.MaxBytes. Nothing was appended; the caller frees space
// (DeleteBefore, DropOldest) or pushes back.
var ErrFull = errors.New("journal: full")

// ErrClosed is returned by every method of a closed Journal, and by a
// Reader of one.
var ErrClosed = errors.New("journal: closed")

// ErrCorrupt is returned by Reader.Next, wrapped in a *CorruptError, where
// committed records cannot be read back: a block that fails its checksum or
// does not decode, or a segment that ends before its successor begins.
var ErrCorrupt = errors.New("journal: corrupt")

// ErrTooLarge is returned by Append for a record over MaxRecordBytes.
var ErrTooLarge = errors.New("journal: record too large")

// ErrLocked is returned by Open when another Journal, in this process or
// another, has the directory open.
var ErrLocked = errors.New("journal: directory in use")

// CorruptError tells a Reader which records it lost and where. It matches
// ErrCorrupt with errors.Is. The Reader has already moved past the damage:
// the next call to Next returns the record after Last.
type CorruptError struct {
	// Segment is the file name of the damaged segment.
	Segment string
	// Offset is the byte offset in Segment where the damage starts.
	Offset int64
	// First and Last are the indexes of the records lost to this Reader,
	// inclusive.
	First, Last uint64
	// Reason says what is wrong, for the log.
	Reason string
}

// Error implements error.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal: corrupt: segment %s at offset %d: %s: records %d to %d lost",
		e.Segment, e.Offset, e.Reason, e.First, e.Last)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }
