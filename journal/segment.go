package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	segmentSuffix = ".seg"
	// segmentNameLen is the length of %020d.seg.
	segmentNameLen = 20 + len(segmentSuffix)
	lockName       = "LOCK"

	dirPerm  = 0o750
	filePerm = 0o640
)

// segment is one segment file.
type segment struct {
	segInfo
	// written is its length on disk. Only the writer uses it.
	written int64
}

// segInfo is what Readers may read of a segment: its fields are guarded by
// Journal.mu, and the writer, which alone changes them, may read them
// without it.
type segInfo struct {
	first uint64 // the index of its first record, and its name
	name  string
	// size is the length Readers may read: the end of its last committed
	// block.
	size int64
	// end is the index after its last committed record. For a sealed
	// segment it is the successor's first, whatever the file holds.
	end uint64
	// sealed is set once a later segment exists.
	sealed bool
}

func newSegment(first uint64) *segment {
	return &segment{segInfo: segInfo{first: first, name: segmentName(first), end: first}}
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentSuffix) }

// parseSegmentName returns the first index a segment file name gives.
func parseSegmentName(name string) (uint64, bool) {
	if len(name) != segmentNameLen || !strings.HasSuffix(name, segmentSuffix) {
		return 0, false
	}
	digits := name[:20]
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	first, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || first == 0 {
		return 0, false
	}
	return first, true
}

// listSegments returns the segment files of dir, oldest first, with their
// sizes. Other files are ignored.
func listSegments(dir string) ([]*segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var segs []*segment
	for _, e := range entries {
		first, ok := parseSegmentName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		segs = append(segs, &segment{segInfo: segInfo{first: first, name: e.Name(), size: info.Size()}, written: info.Size()})
	}
	slices.SortFunc(segs, func(a, b *segment) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	for i, s := range segs[:max(len(segs)-1, 0)] {
		s.sealed, s.end = true, segs[i+1].first
	}
	return segs, nil
}

// syncDir makes the creation and removal of files in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: sync dir: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("journal: sync dir: %w", err)
	}
	return nil
}

func segmentPath(dir, name string) string { return filepath.Join(dir, name) }
