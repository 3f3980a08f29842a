package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// FaultKind names a scripted device fault. docs/simulator.md shows what each
// one puts on the wire.
type FaultKind string

// Fault kinds (DESIGN.md, "The simulator").
const (
	// FaultSilent: the device's readings are lost; no Last Will, nothing
	// on the wire says why.
	FaultSilent FaultKind = "silent"
	// FaultOffline: the device's connection drops abruptly, so the broker
	// publishes its Last Will ("offline" on the status topic); readings are
	// lost until To, when it reconnects and publishes "online".
	FaultOffline FaultKind = "offline"
	// FaultPartition: the device buffers its readings (up to Buffer) and
	// flushes them at To, late, in order (at FlushRate).
	FaultPartition FaultKind = "partition"
	// FaultDelay: every reading is sent Delay after its time.
	FaultDelay FaultKind = "delay"
	// FaultJitter: every reading is sent after a random delay in
	// [0, Jitter); with Jitter above the interval they arrive out of order.
	FaultJitter FaultKind = "jitter"
	// FaultDuplicate: every reading is published Copies more times at once,
	// the same payload (what a QoS 1 redelivery looks like).
	FaultDuplicate FaultKind = "duplicate"
	// FaultReplay: the device re-sends one old message, byte for byte, every
	// Every, besides its normal readings.
	FaultReplay FaultKind = "replay"
	// FaultClockSkew: the device's clock is off by Skew; its timestamps are
	// shifted (the truth keeps the true times).
	FaultClockSkew FaultKind = "clock_skew"
	// FaultReorder: readings are held in blocks of Window and sent in a
	// shuffled order.
	FaultReorder FaultKind = "reorder"
	// FaultBurst: the device reports Factor times as often: a traffic spike
	// of real readings, all in the truth.
	FaultBurst FaultKind = "burst"
	// FaultMalformed: the reading's payload is replaced by one that is not
	// valid telemetry JSON (rollcall: bad_json). The reading is lost.
	FaultMalformed FaultKind = "malformed"
	// FaultOversize: the reading's payload is padded to Size bytes
	// (rollcall: too_large). The reading is lost.
	FaultOversize FaultKind = "oversize"
	// FaultSpoof: besides its own reading, the device publishes one on
	// Target's topic, naming itself in the payload's device field
	// (rollcall: spoofed).
	FaultSpoof FaultKind = "spoof"
	// FaultReboot: the device restarts at From: down for Downtime, then boot
	// + 1 and seq from 1.
	FaultReboot FaultKind = "reboot"
	// FaultClockJump: the device's clock steps by Jump at From (an NTP
	// step, a reboot without a real-time clock) and stays stepped: its
	// timestamps from then on are shifted (the truth keeps the true times).
	// A second jump steps it again.
	FaultClockJump FaultKind = "clock_jump"
)

// faultKinds lists every kind; a kind's index is its bit in a FaultSet.
var faultKinds = [...]FaultKind{
	FaultSilent, FaultOffline, FaultPartition, FaultDelay, FaultJitter, FaultDuplicate, FaultReplay,
	FaultClockSkew, FaultReorder, FaultBurst, FaultMalformed, FaultOversize, FaultSpoof, FaultReboot, FaultClockJump,
}

const numFaultKinds = len(faultKinds)

// FaultKinds returns every fault kind, in the order of DESIGN.md.
func FaultKinds() []FaultKind { return slices.Clone(faultKinds[:]) }

// index returns k's position in faultKinds, or -1.
func (k FaultKind) index() int { return slices.Index(faultKinds[:], k) }

// FaultSet is a set of fault kinds: those that shaped a message.
type FaultSet uint16

// Has reports whether k is in s.
func (s FaultSet) Has(k FaultKind) bool {
	i := k.index()
	return i >= 0 && s&(1<<i) != 0
}

// Kinds returns the kinds in s, in FaultKinds order.
func (s FaultSet) Kinds() []FaultKind {
	var out []FaultKind
	for i, k := range faultKinds {
		if s&(1<<i) != 0 {
			out = append(out, k)
		}
	}
	return out
}

func (s FaultSet) with(k FaultKind) FaultSet { return s | 1<<k.index() }

// Fault defaults and limits.
const (
	// DefaultReplayEvery is how often a replaying device re-sends.
	DefaultReplayEvery = 3 * time.Second
	// DefaultBurstFactor is a burst's rate multiplier.
	DefaultBurstFactor = 10
	// MaxBurstFactor bounds FaultSpec.Factor.
	MaxBurstFactor = 1000
	// DefaultReorderWindow is how many readings a reordering device shuffles.
	DefaultReorderWindow = 4
	// MaxReorderWindow bounds FaultSpec.Window.
	MaxReorderWindow = 1000
	// DefaultCopies is how many extra copies a duplicating device sends.
	DefaultCopies = 1
	// MaxCopies bounds FaultSpec.Copies.
	MaxCopies = 10
	// DefaultOversizeBytes is an oversize payload's size: twice rollcall's
	// default max_payload_bytes (4096).
	DefaultOversizeBytes = 8192
	// MaxOversizeBytes bounds FaultSpec.Size (MQTT allows 256 MiB; a
	// simulator has no need for more than this).
	MaxOversizeBytes = 1 << 20
	// DefaultPartitionBuffer is how many readings a partitioned device keeps;
	// when full it drops the oldest (counted in Stats.Dropped).
	DefaultPartitionBuffer = 10_000
	// MaxPartitionBuffer bounds FaultSpec.Buffer.
	MaxPartitionBuffer = 1_000_000
)

// FaultSpec scripts one fault: which devices, when, and its parameters. Pick
// the devices with exactly one of Devices, Fraction or Count (the last two
// pick from Sites, or from the whole fleet, with the scenario's seed); Sites
// alone means every device of those sites. The fault is active in
// [From, To) of simulated time since the start.
//
// Parameters apply to some kinds only; setting one for another kind is an
// error (see docs/simulator.md).
type FaultSpec struct {
	// Kind is the fault.
	Kind FaultKind `yaml:"kind"`
	// Devices are device ids.
	Devices []string `yaml:"devices"`
	// Sites restricts Fraction and Count to these sites; alone, it selects
	// all their devices.
	Sites []string `yaml:"sites"`
	// Fraction picks this share of the devices (of Sites, or of the fleet),
	// rounded, at least one. In (0, 1].
	Fraction float64 `yaml:"fraction"`
	// Count picks this many devices (of Sites, or of the fleet).
	Count int `yaml:"count"`
	// From is when the fault starts, after the start of the run. Default: 0.
	From time.Duration `yaml:"from"`
	// To is when it ends; 0 means the end of the run. Not for reboot or
	// clock_jump.
	To time.Duration `yaml:"to"`

	// Probability applies duplicate, delay, malformed, oversize and spoof
	// to each reading with this probability, in (0, 1]. Default: 1.
	Probability float64 `yaml:"probability"`
	// Every is a replay's period. Default: DefaultReplayEvery (3s).
	Every time.Duration `yaml:"every"`
	// Delay is a delay fault's delay. Required for delay.
	Delay time.Duration `yaml:"delay"`
	// Jitter is a jitter fault's largest extra delay. Required for jitter.
	Jitter time.Duration `yaml:"jitter"`
	// Skew is a clock_skew fault's clock offset, positive (ahead) or
	// negative (behind). Required for clock_skew.
	Skew time.Duration `yaml:"skew"`
	// Factor is a burst's rate multiplier. Default: DefaultBurstFactor (10).
	Factor int `yaml:"factor"`
	// Window is a reorder's block size. Default: DefaultReorderWindow (4).
	Window int `yaml:"window"`
	// Copies is how many extra copies duplicate sends. Default: 1.
	Copies int `yaml:"copies"`
	// Size is an oversize payload's size in bytes. Default: 8192.
	Size int `yaml:"size"`
	// Target is the device whose topic spoof publishes on. Default: the next
	// device of the spoofer's site (the next in the fleet for a site of one).
	Target string `yaml:"target"`
	// Jump is a clock_jump's step, positive (ahead) or negative (behind).
	// Required for clock_jump.
	Jump time.Duration `yaml:"jump"`
	// Downtime is how long a rebooting device is down. Default: 0.
	Downtime time.Duration `yaml:"downtime"`
	// Buffer is how many readings a partitioned device keeps. Default:
	// DefaultPartitionBuffer (10000).
	Buffer int `yaml:"buffer"`
	// FlushRate is how fast a partition flushes, in messages per second;
	// 0 sends the whole buffer at once. Default: 0.
	FlushRate float64 `yaml:"flush_rate"`
}

func (f FaultSpec) withDefaults() FaultSpec {
	f.Devices, f.Sites = slices.Clone(f.Devices), slices.Clone(f.Sites)
	if f.Probability == 0 && f.allows("probability") {
		f.Probability = 1
	}
	set := func(field *int, name string, def int) {
		if *field == 0 && f.allows(name) {
			*field = def
		}
	}
	set(&f.Factor, "factor", DefaultBurstFactor)
	set(&f.Window, "window", DefaultReorderWindow)
	set(&f.Copies, "copies", DefaultCopies)
	set(&f.Size, "size", DefaultOversizeBytes)
	set(&f.Buffer, "buffer", DefaultPartitionBuffer)
	if f.Every == 0 && f.Kind == FaultReplay {
		f.Every = DefaultReplayEvery
	}
	return f
}

// faultParams lists the parameters each kind takes.
var faultParams = map[FaultKind][]string{
	FaultSilent:    nil,
	FaultOffline:   nil,
	FaultPartition: {"buffer", "flush_rate"},
	FaultDelay:     {"delay", "probability"},
	FaultJitter:    {"jitter"},
	FaultDuplicate: {"copies", "probability"},
	FaultReplay:    {"every"},
	FaultClockSkew: {"skew"},
	FaultReorder:   {"window"},
	FaultBurst:     {"factor"},
	FaultMalformed: {"probability"},
	FaultOversize:  {"size", "probability"},
	FaultSpoof:     {"target", "probability"},
	FaultReboot:    {"downtime"},
	FaultClockJump: {"jump"},
}

func (f FaultSpec) allows(param string) bool { return slices.Contains(faultParams[f.Kind], param) }

// setParams returns the names of the parameters f sets.
func (f FaultSpec) setParams() []string {
	var out []string
	for _, p := range []struct {
		name string
		set  bool
	}{
		{"probability", f.Probability != 0},
		{"every", f.Every != 0},
		{"delay", f.Delay != 0},
		{"jitter", f.Jitter != 0},
		{"skew", f.Skew != 0},
		{"jump", f.Jump != 0},
		{"factor", f.Factor != 0},
		{"window", f.Window != 0},
		{"copies", f.Copies != 0},
		{"size", f.Size != 0},
		{"target", f.Target != ""},
		{"downtime", f.Downtime != 0},
		{"buffer", f.Buffer != 0},
		{"flush_rate", f.FlushRate != 0},
	} {
		if p.set {
			out = append(out, p.name)
		}
	}
	return out
}

// validate checks f (with defaults filled) against the fleet; field prefixes
// the messages. idx finds devices by identity (or unique bare name), and
// sites maps site names to their groups.
func (f FaultSpec) validate(field string, idx fleetIndex, sites map[string]*Group, minInterval time.Duration) []error {
	nDevices := idx.len()
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(field+"."+format, args...))
	}
	if _, ok := faultParams[f.Kind]; !ok {
		add("kind: %q is not a fault kind (known: %v)", f.Kind, faultKinds)
		return errs
	}
	for _, p := range f.setParams() {
		if !f.allows(p) {
			add("%s: not a parameter of %s (its parameters: %v)", p, f.Kind, faultParams[f.Kind])
		}
	}
	f.validatePicks(add, idx, sites, nDevices)
	if f.From < 0 {
		add("from: %s is negative", f.From)
	}
	if f.To != 0 && f.To <= f.From {
		add("to: %s is not after from (%s)", f.To, f.From)
	}
	if f.Kind == FaultReboot && f.To != 0 {
		add("to: not for reboot, which happens at from (use downtime)")
	}
	if f.Kind == FaultClockJump && f.To != 0 {
		add("to: not for clock_jump, which steps the clock at from for good (a second jump steps it back)")
	}
	if f.allows("probability") && !(f.Probability > 0 && f.Probability <= 1) {
		add("probability: %v is not in (0, 1]", f.Probability)
	}
	f.validateParams(add, idx, nDevices, minInterval)
	return errs
}

// validatePicks checks how f picks its devices (devices, sites, fraction,
// count), reporting through add.
func (f FaultSpec) validatePicks(add func(string, ...any), idx fleetIndex, sites map[string]*Group, nDevices int) {
	picks := 0
	for _, set := range []bool{len(f.Devices) > 0, f.Fraction != 0, f.Count != 0} {
		if set {
			picks++
		}
	}
	if picks > 1 || picks == 0 && len(f.Sites) == 0 {
		add("devices: name exactly one of devices, fraction or count (or only sites)")
	}
	seen := map[int]bool{}
	for i, d := range f.Devices {
		if pos, err := idx.lookup(d); err != nil {
			add("devices[%d]: %v", i, err)
		} else if seen[pos] {
			add("devices[%d]: %q is listed twice", i, d)
		} else {
			seen[pos] = true
		}
	}
	if len(f.Devices) > 0 && len(f.Sites) > 0 {
		add("sites: not with devices (sites restrict fraction and count)")
	}
	pool := 0
	for i, s := range f.Sites {
		if g, ok := sites[s]; !ok {
			add("sites[%d]: %q is not a site of the scenario", i, s)
		} else {
			pool += len(g.Devices)
		}
	}
	if len(f.Sites) == 0 {
		pool = nDevices
	}
	if f.Fraction != 0 && !(f.Fraction > 0 && f.Fraction <= 1) {
		add("fraction: %v is not in (0, 1]", f.Fraction)
	}
	if f.Count < 0 || f.Count > pool {
		add("count: %d is not between 1 and the %d devices to pick from", f.Count, pool)
	}
}

// validateParams checks the parameters of f's kind, reporting through add.
func (f FaultSpec) validateParams(add func(string, ...any), idx fleetIndex, nDevices int, minInterval time.Duration) {
	switch f.Kind {
	case FaultReplay:
		if f.Every < MinInterval {
			add("every: %s is shorter than %s", f.Every, MinInterval)
		}
	case FaultDelay:
		if f.Delay <= 0 {
			add("delay: required, and positive")
		}
	case FaultJitter:
		if f.Jitter <= 0 {
			add("jitter: required, and positive")
		}
	case FaultClockSkew:
		if f.Skew == 0 {
			add("skew: required (positive: ahead, negative: behind)")
		}
	case FaultClockJump:
		if f.Jump == 0 {
			add("jump: required (positive: ahead, negative: behind)")
		}
	case FaultBurst:
		if f.Factor < 2 || f.Factor > MaxBurstFactor {
			add("factor: %d is not between 2 and %d", f.Factor, MaxBurstFactor)
		} else if minInterval/time.Duration(f.Factor) < time.Millisecond {
			add("factor: %d makes the interval %s shorter than 1ms", f.Factor, minInterval/time.Duration(f.Factor))
		}
	case FaultReorder:
		if f.Window < 2 || f.Window > MaxReorderWindow {
			add("window: %d is not between 2 and %d", f.Window, MaxReorderWindow)
		}
	case FaultDuplicate:
		if f.Copies < 1 || f.Copies > MaxCopies {
			add("copies: %d is not between 1 and %d", f.Copies, MaxCopies)
		}
	case FaultOversize:
		if f.Size < 1 || f.Size > MaxOversizeBytes {
			add("size: %d is not between 1 and %d", f.Size, MaxOversizeBytes)
		}
	case FaultSpoof:
		if pos, err := idx.lookup(f.Target); f.Target != "" && err != nil {
			add("target: %v", err)
		} else if f.Target != "" && slices.ContainsFunc(f.Devices, func(d string) bool {
			p, err := idx.lookup(d)
			return err == nil && p == pos
		}) {
			add("target: %q spoofs itself", f.Target)
		}
		if nDevices < 2 {
			add("kind: spoof needs a fleet of at least two devices")
		}
	case FaultReboot:
		if f.Downtime < 0 {
			add("downtime: %s is negative", f.Downtime)
		}
	case FaultPartition:
		if f.Buffer < 1 || f.Buffer > MaxPartitionBuffer {
			add("buffer: %d is not between 1 and %d", f.Buffer, MaxPartitionBuffer)
		}
		if f.FlushRate < 0 || math.IsNaN(f.FlushRate) || math.IsInf(f.FlushRate, 0) {
			add("flush_rate: %v is not a rate of at least 0", f.FlushRate)
		}
	}
}

// pick returns the fleet positions of the devices f applies to, in fleet
// order. Fraction and Count pick with a generator seeded by the scenario's
// seed and the fault's index, so the choice is stable.
func (f FaultSpec) pick(seed int64, index int, idx fleetIndex, groups []Group) []int {
	var out []int
	if len(f.Devices) > 0 {
		for _, d := range f.Devices {
			pos, _ := idx.lookup(d) // validated
			out = append(out, pos)
		}
		slices.Sort(out)
		return out
	}
	var pool []int
	for _, g := range groups {
		if len(f.Sites) == 0 || slices.Contains(f.Sites, g.Name) {
			for _, d := range g.Devices {
				pos, _ := idx.lookup(DeviceID(g.Name, d))
				pool = append(pool, pos)
			}
		}
	}
	n := len(pool)
	switch {
	case f.Fraction > 0:
		n = max(1, int(math.Round(f.Fraction*float64(len(pool)))))
	case f.Count > 0:
		n = f.Count
	}
	if n < len(pool) {
		rng := rand.New(rand.NewPCG(uint64(seed), streamFault^uint64(index)))
		rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		pool = pool[:n]
	}
	slices.Sort(pool)
	return pool
}
