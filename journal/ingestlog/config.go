package ingestlog

import (
	"errors"
	"fmt"
	"time"

	"github.com/rollcall-iot/rollcall/journal"
)

// Defaults for Config.
const (
	// DefaultQueueLen is the ingest queue between the MQTT callback and the
	// journal writer, in messages. With the embedded broker at QoS 1 the
	// gateway validates that it holds the broker's in-flight window of both
	// subscriptions; a broker that sends more makes the callback wait (up to
	// mqtt.queue_wait) and then leave messages unacknowledged.
	DefaultQueueLen = 8192
	// DefaultMaxBatch bounds the messages of one group commit.
	DefaultMaxBatch = 4096
	// DefaultCommitInterval is the group commit interval.
	DefaultCommitInterval = journal.DefaultCommitInterval
)

// Hard limits and fixed intervals.
const (
	// MaxCommitInterval is the largest Config.CommitInterval.
	MaxCommitInterval = time.Second
	// RetryInterval is how often a full or failing journal is retried.
	RetryInterval = 100 * time.Millisecond
	// MarkTimeout bounds how long Record waits for its mark to be taken,
	// and then for it to be committed.
	MarkTimeout = 5 * time.Second
	// markQueueLen is the queue of round marks waiting for the writer.
	markQueueLen = 16
)

// Config configures the ingest journal stage: the journal (its yaml keys
// inline) and the stage around it. Zero fields mean the defaults. Validate
// names the yaml keys without a section prefix: the caller adds its own.
type Config struct {
	// Config is the journal. Dir is required by New; WithDefaults leaves
	// it to the caller (the gateway puts it under data_dir).
	journal.Config `yaml:",inline"`
	// CommitInterval is the group commit interval: QoS 1 messages are
	// acknowledged at most this long after they arrive. At most 1s.
	// Default: 5ms.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// QueueLen is the ingest queue between the MQTT callback and the
	// journal, in messages (see DefaultQueueLen). Default: 8192.
	QueueLen int `yaml:"queue_len"`
	// MaxBatch commits a batch early once it holds this many messages.
	// Default: 4096.
	MaxBatch int `yaml:"max_batch"`
	// Now is the clock of the replay's progress log (records, bytes, rate
	// and time left every journal.DefaultProgressInterval). Default:
	// time.Now.
	Now func() time.Time `yaml:"-"`
}

// WithDefaults returns c with zero fields set to their defaults; Dir is
// left as it is.
func (c Config) WithDefaults() Config {
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.QueueLen == 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Config = c.Config.WithDefaults()
	return c
}

// Validate reports every problem with c at once. Call it on the result of
// WithDefaults.
func (c Config) Validate() error {
	errs := []error{c.Config.Validate()}
	if c.CommitInterval < 0 || c.CommitInterval > MaxCommitInterval {
		errs = append(errs, fmt.Errorf("commit_interval: %v must be in [0, %v]", c.CommitInterval, MaxCommitInterval))
	}
	if c.QueueLen < 1 {
		errs = append(errs, fmt.Errorf("queue_len: %d must be positive", c.QueueLen))
	}
	if c.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("max_batch: %d must be positive", c.MaxBatch))
	}
	return errors.Join(errs...)
}
