package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	natssink "github.com/rollcall-iot/rollcall/sink/nats"
)

// checkpointVersion is the central checkpoint's format version.
const checkpointVersion = 1

// checkpointFile is the central checkpoint: every kept gateway partial.
type checkpointFile struct {
	Version  int                `json:"v"`
	Partials []natssink.Message `json:"partials"`
}

// WriteCheckpoint writes msgs to name atomically: a temporary file,
// fsync, rename, fsync of the directory.
func WriteCheckpoint(name string, msgs []natssink.Message) error {
	b, err := json.Marshal(checkpointFile{Version: checkpointVersion, Partials: msgs})
	if err != nil {
		return fmt.Errorf("federation: checkpoint: %w", err)
	}
	dir := filepath.Dir(name)
	tmp, err := os.CreateTemp(dir, ".checkpoint-*")
	if err != nil {
		return fmt.Errorf("federation: checkpoint: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("federation: checkpoint: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}

// ReadCheckpoint reads the partials WriteCheckpoint wrote; none when the
// file does not exist.
func ReadCheckpoint(name string) ([]natssink.Message, error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("federation: checkpoint: %w", err)
	}
	var c checkpointFile
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("federation: checkpoint %s: %w", name, err)
	}
	if c.Version != checkpointVersion {
		return nil, fmt.Errorf("federation: checkpoint %s: version %d, want %d", name, c.Version, checkpointVersion)
	}
	return c.Partials, nil
}
