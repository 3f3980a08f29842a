//go:build !unix

package journal

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir only creates dir/LOCK: without flock, nothing stops a second
// writer on this platform.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, filePerm)
	if err != nil {
		return nil, fmt.Errorf("journal: lock: %w", err)
	}
	return f, nil
}
