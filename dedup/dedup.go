package dedup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/rollcall-iot/rollcall/ingest"
)

// Defaults for Config.
const (
	// DefaultWindow is the anti-replay window width in sequence numbers.
	DefaultWindow = 1024
	// DefaultReplayMinAge separates a duplicate (recent) from a replay (old);
	// see ReplayConfig.MinAge.
	DefaultReplayMinAge = 5 * time.Second
	// MinAgeIntervals widens the duplicate/replay boundary of a slow device:
	// a redelivery within this many of its learned intervals is still recent
	// (DESIGN.md: "5 s or 3 learned intervals").
	MinAgeIntervals = 3
	// DefaultHashSlots is the per-device ring for readings without seq.
	DefaultHashSlots = 64
)

// Config configures deduplication. The zero value means the defaults.
type Config struct {
	// Window is the anti-replay window width in sequence numbers, a multiple
	// of 64. Memory per device is Window/8 bytes. Default: 1024.
	Window int `yaml:"window"`
	// HashSlots bounds the per-device set of (ts, content hash) used for
	// readings without seq. Default: 64.
	HashSlots int `yaml:"hash_slots"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.HashSlots == 0 {
		c.HashSlots = DefaultHashSlots
	}
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Window < 64 || c.Window%64 != 0 || c.Window > 1<<20 {
		errs = append(errs, fmt.Errorf("dedup.window: %d must be a multiple of 64 in [64, 1048576]", c.Window))
	}
	if c.HashSlots < 1 || c.HashSlots > 1<<16 {
		errs = append(errs, fmt.Errorf("dedup.hash_slots: %d must be in [1, 65536]", c.HashSlots))
	}
	return errors.Join(errs...)
}

// Verdict is dedup's decision about one reading.
type Verdict uint8

// Verdicts.
const (
	// Fresh: first delivery; count it.
	Fresh Verdict = iota
	// Duplicate: seen before, recently (QoS 1 redelivery); do not count.
	Duplicate
	// Replay: seen before and old, behind the window, or from an older boot.
	Replay
	// Redelivery: seen before, and the broker flagged the message as a
	// redelivery (MQTT DUP): a transport artefact, counted as a duplicate but
	// never charged to the device (not a duplicate of its window, not a
	// replay, whatever its age).
	Redelivery
)

func (v Verdict) String() string {
	switch v {
	case Fresh:
		return "fresh"
	case Duplicate:
		return "duplicate"
	case Replay:
		return "replay"
	case Redelivery:
		return "redelivery"
	}
	return "unknown"
}

// State is one device's dedup state. The zero value has seen nothing. It is
// owned by the device's shard and not safe for concurrent use.
type State struct {
	started  bool
	boot     uint64
	top      uint64   // highest seq accepted in this boot
	bits     []uint64 // ring: bit seq%width is set when seq was accepted
	newestTS int64

	hashes []hashEntry // ring for readings without seq
	hpos   int
}

type hashEntry struct {
	ts   int64
	hash uint64
}

// Check returns the verdict for r and, when it is Fresh, records r. It
// decides duplicate against replay completely:
//
//   - an already-seen message whose event time is older than the device's
//     newest by more than rc.MinAgeFor(interval) is a Replay, otherwise a
//     Duplicate (interval is the device's learned reporting interval, 0 when
//     unknown);
//   - an already-seen message the broker redelivered (r.Redelivered, the
//     MQTT DUP flag) is a Redelivery, whatever its age.
func (s *State) Check(cfg *Config, rc *ReplayConfig, r *ingest.Reading, interval time.Duration) Verdict {
	minAge := rc.MinAgeFor(interval)
	var v Verdict
	if r.HasSeq {
		v = s.checkSeq(minAge, cfg.Window, r.Boot, r.Seq, r.TS)
	} else {
		v = s.checkHash(minAge, cfg.HashSlots, r)
	}
	switch {
	case v == Fresh:
		s.newestTS = max(s.newestTS, r.TS)
	case r.Redelivered:
		// The broker re-sent a message it had delivered (e.g. after a
		// restart lost its acknowledgement): not the device's doing.
		return Redelivery
	}
	return v
}

func (s *State) seen(minAge time.Duration, ts int64) Verdict {
	if s.newestTS-ts > int64(minAge) {
		return Replay
	}
	return Duplicate
}

func (s *State) checkSeq(minAge time.Duration, window int, boot, seq uint64, ts int64) Verdict {
	width := uint64(window)
	if s.bits == nil {
		s.bits = make([]uint64, width/64)
	}
	switch {
	case !s.started || boot > s.boot:
		s.started, s.boot, s.top = true, boot, seq
		clear(s.bits)
		s.set(seq, width)
		return Fresh
	case boot < s.boot:
		return Replay
	case seq > s.top:
		if seq-s.top >= width {
			clear(s.bits)
		} else {
			for k := s.top + 1; k < seq; k++ {
				s.unset(k, width)
			}
		}
		s.top = seq
		s.set(seq, width)
		return Fresh
	case s.top-seq >= width:
		return Replay
	case s.isSet(seq, width):
		return s.seen(minAge, ts)
	}
	s.set(seq, width)
	return Fresh
}

func (s *State) set(seq, width uint64)   { i := seq % width; s.bits[i/64] |= 1 << (i % 64) }
func (s *State) unset(seq, width uint64) { i := seq % width; s.bits[i/64] &^= 1 << (i % 64) }
func (s *State) isSet(seq, width uint64) bool {
	i := seq % width
	return s.bits[i/64]&(1<<(i%64)) != 0
}

func (s *State) checkHash(minAge time.Duration, slots int, r *ingest.Reading) Verdict {
	h := ContentHash(r.Metrics)
	for _, e := range s.hashes {
		if e.ts == r.TS && e.hash == h {
			return s.seen(minAge, r.TS)
		}
	}
	if len(s.hashes) < slots {
		s.hashes = append(s.hashes, hashEntry{r.TS, h})
	} else {
		s.hashes[s.hpos] = hashEntry{r.TS, h}
		s.hpos = (s.hpos + 1) % len(s.hashes)
	}
	return Fresh
}

// ContentHash is the xxhash of a reading's metric names and values.
func ContentHash(ms []ingest.Metric) uint64 {
	var d xxhash.Digest
	d.Reset()
	var buf [8]byte
	for _, m := range ms {
		_, _ = d.WriteString(m.Name)
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(m.Value))
		_, _ = d.Write(buf[:])
	}
	return d.Sum64()
}

// StateSnapshot is the serialisable form of a State, for checkpoints.
type StateSnapshot struct {
	Started  bool
	Boot     uint64
	Top      uint64
	Bits     []uint64
	NewestTS int64
	Hashes   []HashEntry
	HPos     int
}

// HashEntry is one (event time, content hash) of a reading without seq.
type HashEntry struct {
	TS   int64
	Hash uint64
}

// Snapshot returns s's state; the slices are copies.
func (s *State) Snapshot() StateSnapshot {
	ss := StateSnapshot{Started: s.started, Boot: s.boot, Top: s.top, NewestTS: s.newestTS, HPos: s.hpos}
	if s.bits != nil {
		ss.Bits = append([]uint64(nil), s.bits...)
	}
	for _, h := range s.hashes {
		ss.Hashes = append(ss.Hashes, HashEntry{TS: h.ts, Hash: h.hash})
	}
	return ss
}

// Restore sets s to a snapshot taken with the same Config.
func (s *State) Restore(ss StateSnapshot) {
	*s = State{started: ss.Started, boot: ss.Boot, top: ss.Top, newestTS: ss.NewestTS, hpos: ss.HPos}
	if ss.Bits != nil {
		s.bits = append([]uint64(nil), ss.Bits...)
	}
	for _, h := range ss.Hashes {
		s.hashes = append(s.hashes, hashEntry{ts: h.TS, hash: h.Hash})
	}
}
