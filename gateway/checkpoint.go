package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/aggregate"
)

// Defaults for CheckpointConfig.
const (
	// DefaultCheckpointInterval is how often state is checkpointed.
	DefaultCheckpointInterval = 10 * time.Second
	// DefaultCheckpointMaxBytes bounds one checkpoint file.
	DefaultCheckpointMaxBytes = 256 << 20
)

// CheckpointConfig configures checkpoints.
type CheckpointConfig struct {
	// Interval is how often the engine's and the API store's state are
	// written, and the journal before them deleted. Default: 10s.
	Interval time.Duration `yaml:"interval"`
	// MaxBytes bounds a checkpoint file (compressed). A larger one is not
	// written (rollcall_checkpoint_failures_total{reason="too_large"}) and the
	// journal is kept until one fits. Default: 256 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c CheckpointConfig) WithDefaults() CheckpointConfig {
	if c.Interval == 0 {
		c.Interval = DefaultCheckpointInterval
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultCheckpointMaxBytes
	}
	return c
}

// Validate reports every problem with c at once.
func (c CheckpointConfig) Validate() error {
	var errs []error
	if c.Interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("checkpoint.interval: %v is below 100ms", c.Interval))
	}
	if c.MaxBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("checkpoint.max_bytes: %d is below 1 KiB", c.MaxBytes))
	}
	return errors.Join(errs...)
}

// checkpoint is what a checkpoint file holds.
type checkpoint struct {
	Version int
	Created time.Time
	Engine  *aggregate.Snapshot
	// Store is the API history: every kept revision, oldest window first.
	Store []aggregate.Aggregate
}

const (
	checkpointVersion = 1
	checkpointMagic   = "RCCKPT01"
	checkpointFile    = "checkpoint"
	checkpointPrev    = "checkpoint.prev"
)

// Checkpoint failure reasons: the reason label of
// rollcall_checkpoint_failures_total.
const (
	CheckpointTooLarge = "too_large"
	CheckpointIOError  = "io"
	CheckpointSnapshot = "snapshot"
)

var errCheckpointTooLarge = errors.New("checkpoint: larger than checkpoint.max_bytes")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// writeCheckpoint writes c into dir atomically: a temporary file, fsync,
// the current checkpoint kept as the previous one, rename, fsync of dir. It
// returns the file's size.
func writeCheckpoint(dir string, c *checkpoint, maxBytes int64) (int64, error) {
	var raw bytes.Buffer
	if err := gob.NewEncoder(&raw).Encode(c); err != nil {
		return 0, fmt.Errorf("checkpoint: encode: %w", err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return 0, err
	}
	payload := enc.EncodeAll(raw.Bytes(), nil)
	_ = enc.Close()
	size := int64(len(checkpointMagic) + 12 + len(payload))
	if size > maxBytes {
		return size, errCheckpointTooLarge
	}
	var hdr [12]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(len(payload)))
	binary.LittleEndian.PutUint32(hdr[8:], crc32.Checksum(payload, crcTable))
	tmp, err := os.CreateTemp(dir, checkpointFile+".tmp-*")
	if err != nil {
		return 0, err
	}
	// After a successful rename this finds nothing to remove; a leftover
	// is removed at the next start anyway (openCheckpoints).
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := io.WriteString(tmp, checkpointMagic); err == nil {
		if _, err = tmp.Write(hdr[:]); err == nil {
			_, err = tmp.Write(payload)
		}
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, fmt.Errorf("checkpoint: write: %w", err)
		}
	} else {
		_ = tmp.Close()
		return 0, fmt.Errorf("checkpoint: write: %w", err)
	}
	cur := filepath.Join(dir, checkpointFile)
	if _, err := os.Stat(cur); err == nil {
		if err := os.Rename(cur, filepath.Join(dir, checkpointPrev)); err != nil {
			return 0, fmt.Errorf("checkpoint: keep previous: %w", err)
		}
	}
	if err := os.Rename(tmp.Name(), cur); err != nil {
		return 0, fmt.Errorf("checkpoint: rename: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return size, nil
}

// readCheckpoint loads the newest valid checkpoint in dir: the current one,
// or the previous one when the current is damaged. It returns nil, nil when
// there is none.
func readCheckpoint(dir string) (*checkpoint, error) {
	var errs []error
	for _, name := range []string{checkpointFile, checkpointPrev} {
		c, err := readCheckpointFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil {
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return nil, errors.Join(errs...)
}

func readCheckpointFile(name string) (*checkpoint, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if len(b) < len(checkpointMagic)+12 || string(b[:len(checkpointMagic)]) != checkpointMagic {
		return nil, errors.New("not a rollcall checkpoint")
	}
	b = b[len(checkpointMagic):]
	n, sum := binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint32(b[8:12])
	payload := b[12:]
	if uint64(len(payload)) != n || crc32.Checksum(payload, crcTable) != sum {
		return nil, errors.New("checksum mismatch (torn or damaged)")
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	raw, err := dec.DecodeAll(payload, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	var c checkpoint
	if err := gob.NewDecoder(bytes.NewReader(raw)).Decode(&c); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if c.Version != checkpointVersion {
		return nil, fmt.Errorf("version %d, want %d", c.Version, checkpointVersion)
	}
	return &c, nil
}

// takeCheckpoint snapshots the engine and the store, writes the checkpoint
// and deletes the journal before it.
func (g *Gateway) takeCheckpoint(ctx context.Context) error {
	t0 := time.Now()
	snap, err := g.engine.Snapshot(ctx)
	if err != nil {
		g.ckFailures.WithLabelValues(CheckpointSnapshot).Inc()
		return err
	}
	c := &checkpoint{Version: checkpointVersion, Created: time.Now().UTC(), Engine: snap, Store: g.store.Snapshot()}
	size, err := writeCheckpoint(g.ckDir, c, g.cfg.Checkpoint.MaxBytes)
	switch {
	case errors.Is(err, errCheckpointTooLarge):
		g.ckFailures.WithLabelValues(CheckpointTooLarge).Inc()
		return fmt.Errorf("%w: %d bytes", err, size)
	case err != nil:
		g.ckFailures.WithLabelValues(CheckpointIOError).Inc()
		return err
	}
	g.ckBytes.Set(float64(size))
	g.ckTime.SetToCurrentTime()
	g.ckSeconds.Observe(time.Since(t0).Seconds())
	// Everything every shard had handled is in the checkpoint, and so is
	// every round up to the snapshot's.
	return g.ingestLog.Release(ctx, snap.MinProcessed(), snap.MarkIndex)
}

// recover loads the last checkpoint into the engine and the store (before
// the engine runs).
func (g *Gateway) recoverCheckpoint() error {
	c, err := readCheckpoint(g.ckDir)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if c == nil {
		return nil
	}
	if err := g.engine.Restore(c.Engine); err != nil {
		return err
	}
	g.store.Restore(c.Store)
	g.restored = c.Engine
	g.log.Info("checkpoint loaded", "created", c.Created, "devices", len(c.Engine.Devices), "journal_from", c.Engine.MinProcessed()+1)
	return nil
}

// replayJournal feeds the running, held engine the journal after the
// checkpoint: readings and emit rounds in order.
func (g *Gateway) replayJournal(ctx context.Context) error {
	var from uint64
	if g.restored != nil {
		from = g.restored.MinProcessed() + 1
	}
	rp := g.engine.NewReplayer()
	if err := g.ingestLog.Replay(ctx, from, replayer{rp: rp, hook: g.replayHook}); err != nil {
		return err
	}
	return rp.Finish(ctx)
}

// openCheckpoints prepares the checkpoint directory, registers the
// checkpoint metrics and loads the last checkpoint.
func (g *Gateway) openCheckpoints() error {
	g.ckDir = filepath.Join(g.cfg.DataDir, "checkpoint")
	if err := os.MkdirAll(g.ckDir, 0o750); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	// A kill during a checkpoint write leaves its temporary file behind.
	if stale, _ := filepath.Glob(filepath.Join(g.ckDir, checkpointFile+".tmp-*")); len(stale) > 0 {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	g.ckFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rollcall_checkpoint_failures_total",
		Help: "Checkpoints not written, by reason.",
	}, []string{"reason"})
	for _, r := range []string{CheckpointTooLarge, CheckpointIOError, CheckpointSnapshot} {
		g.ckFailures.WithLabelValues(r)
	}
	g.ckBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rollcall_checkpoint_size_bytes",
		Help: "Size of the last checkpoint written.",
	})
	g.ckTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rollcall_checkpoint_last_timestamp_seconds",
		Help: "When the last checkpoint was written, Unix seconds.",
	})
	g.ckSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "rollcall_checkpoint_seconds",
		Help:    "Time to take and write a checkpoint.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
	})
	for _, c := range []prometheus.Collector{g.ckFailures, g.ckBytes, g.ckTime, g.ckSeconds} {
		if err := g.reg.Register(c); err != nil {
			return err
		}
	}
	return g.recoverCheckpoint()
}

// checkpointLoop checkpoints every Checkpoint.Interval until ctx is done.
func (g *Gateway) checkpointLoop(ctx context.Context) error {
	t := time.NewTicker(g.cfg.Checkpoint.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := g.takeCheckpoint(ctx); err != nil && ctx.Err() == nil {
				g.log.Error("checkpoint failed", "err", err)
			}
		}
	}
}

// finalCheckpoint is the checkpoint stage's stop, once intake stopped: the
// journal journals what is queued, the workers handle it, and a last
// checkpoint is taken, so that a restart replays little. The engine emits
// what is due when it stops, after this.
func (g *Gateway) finalCheckpoint(ctx context.Context) error {
	return errors.Join(g.ingestLog.Drain(ctx), g.engine.Settle(ctx), g.takeCheckpoint(ctx))
}
