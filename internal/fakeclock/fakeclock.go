// Package fakeclock is a clock that tests move: the Now of a Config (time
// is a dependency) takes Clock.Now. It is safe for concurrent use.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a settable clock.
type Clock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

// New returns a clock at start that moves only with Add.
func New(start time.Time) *Clock { return &Clock{now: start} }

// NewStepping returns a clock at start that moves step at every Now, so
// that work without waits still takes (simulated) time.
func NewStepping(start time.Time, step time.Duration) *Clock { return &Clock{now: start, step: step} }

// Now returns the clock's time (after its step, for a stepping clock).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
