package journal

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for Config.
const (
	// DefaultSegmentBytes is the size after which the writer starts a new
	// segment file.
	DefaultSegmentBytes = 64 << 20
	// DefaultMaxBytes bounds all segments together.
	DefaultMaxBytes = 1 << 30
	// DefaultBlockBytes is the uncompressed size of the records a block
	// collects before it is compressed and written.
	DefaultBlockBytes = 64 << 10
	// DefaultSync is the fsync policy.
	DefaultSync = SyncBatch
	// DefaultCompression is the block codec. On 148-byte JSON telemetry
	// records s2 costs about 0.4× the CPU of zstd, and zstd stores about a
	// third fewer bytes; see doc.go and docs/benchmarks.md.
	DefaultCompression = CompressionS2
	// DefaultCommitInterval is the group-commit interval of the journal's
	// users: they call Commit this often while records arrive.
	DefaultCommitInterval = 5 * time.Millisecond
)

// Hard limits.
const (
	// MaxRecordBytes is the largest record Append takes; larger ones get
	// ErrTooLarge.
	MaxRecordBytes = 16 << 20
	// MaxBlockBytes is the largest Config.BlockBytes.
	MaxBlockBytes = 16 << 20
	// MinSegmentBytes is the smallest Config.SegmentBytes.
	MinSegmentBytes = 4 << 10
)

// Values of Config.Sync.
const (
	// SyncBatch fsyncs the segment at each Commit that wrote something, and
	// the old segment when the writer moves to a new one.
	SyncBatch = "batch"
	// SyncAlways is SyncBatch: records become durable at Commit, never at
	// Append, so there is nothing more to sync. It exists so that a
	// configuration that asks for the strictest policy gets it.
	SyncAlways = "always"
	// SyncNone never fsyncs: the OS writes the page cache back when it
	// decides. A killed process loses nothing that Commit returned; a
	// power loss or kernel crash may lose the last seconds.
	SyncNone = "none"
)

// Values of Config.Compression.
const (
	// CompressionS2 compresses blocks with klauspost/compress/s2 (the block
	// format, default level).
	CompressionS2 = "s2"
	// CompressionZstd compresses blocks with klauspost/compress/zstd at
	// SpeedFastest.
	CompressionZstd = "zstd"
	// CompressionNone stores blocks as they are.
	CompressionNone = "none"
)

// Config configures a journal. Zero fields mean the defaults; Dir is
// required. Validate names the yaml keys without a section prefix: the
// caller (the ingest journal, the InfluxDB spool) adds its own.
type Config struct {
	// Dir holds the segment files and a LOCK file; Open creates it. One
	// journal per directory. Required.
	Dir string `yaml:"dir"`
	// SegmentBytes: the writer starts a new segment file before the next
	// block once the current one holds this many bytes, so a segment exceeds
	// it by at most one block. DeleteBefore and DropOldest free space a
	// whole segment at a time. At least 4 KiB and BlockBytes. Default: 64 MiB.
	SegmentBytes int64 `yaml:"segment_bytes"`
	// MaxBytes bounds the bytes of all segments on disk, the open block
	// included once written: Append returns ErrFull rather than exceed it.
	// At least 2 × SegmentBytes, so that dropping the oldest segment can
	// always make room. Default: 1 GiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// Sync is the fsync policy: "batch" (fsync at each Commit), "always"
	// (the same as batch: records become durable at Commit, not Append) or
	// "none" (never fsync; the OS decides). Default: "batch".
	Sync string `yaml:"sync"`
	// Compression is the block codec: "s2", "zstd" or "none". Blocks record
	// their codec, so it may change between runs. Default: "s2".
	Compression string `yaml:"compression"`
	// BlockBytes: a block is compressed and written when its records
	// (uncompressed, with their length prefixes) would exceed this many
	// bytes, and at Commit. A larger record gets a block of its own. At most
	// 16 MiB. Default: 64 KiB.
	BlockBytes int `yaml:"block_bytes"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Sync == "" {
		c.Sync = DefaultSync
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
	if c.BlockBytes == 0 {
		c.BlockBytes = DefaultBlockBytes
	}
	return c
}

// Validate reports every problem with c at once. Call it on the result of
// WithDefaults.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("dir: required"))
	}
	if c.SegmentBytes < MinSegmentBytes {
		errs = append(errs, fmt.Errorf("segment_bytes: %d must be at least %d", c.SegmentBytes, MinSegmentBytes))
	}
	if c.BlockBytes < 1 || c.BlockBytes > MaxBlockBytes {
		errs = append(errs, fmt.Errorf("block_bytes: %d must be between 1 and %d", c.BlockBytes, MaxBlockBytes))
	} else if c.SegmentBytes >= MinSegmentBytes && int64(c.BlockBytes) > c.SegmentBytes {
		errs = append(errs, fmt.Errorf("block_bytes: %d exceeds segment_bytes %d", c.BlockBytes, c.SegmentBytes))
	}
	if c.SegmentBytes >= MinSegmentBytes && c.MaxBytes < 2*c.SegmentBytes {
		errs = append(errs, fmt.Errorf("max_bytes: %d must be at least 2 × segment_bytes = %d, so that dropping the oldest segment makes room",
			c.MaxBytes, 2*c.SegmentBytes))
	}
	switch c.Sync {
	case SyncBatch, SyncAlways, SyncNone:
	default:
		errs = append(errs, fmt.Errorf("sync: %q is not batch, always or none", c.Sync))
	}
	if _, ok := codecOf(c.Compression); !ok {
		errs = append(errs, fmt.Errorf("compression: %q is not s2, zstd or none", c.Compression))
	}
	return errors.Join(errs...)
}

// fsync reports whether the policy fsyncs at all.
func (c Config) fsync() bool { return c.Sync != SyncNone }
