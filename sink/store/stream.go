package store

import (
	"errors"
	"sync"

	"github.com/rollcall-iot/rollcall/aggregate"
)

// ErrTooManySubscribers is returned by Subscribe when MaxSubscribers are
// subscribed.
var ErrTooManySubscribers = errors.New("store: too many subscribers")

// Entry is a stored aggregate with its sequence number.
type Entry struct {
	// Seq is the aggregate's sequence number in this store: 1 for the
	// first aggregate added, +1 for each one after.
	Seq       uint64
	Aggregate aggregate.Aggregate
}

// backlog is a ring of the newest aggregates in the order they were added.
// The entry with sequence number seq sits at ring[(seq-1) % len(ring)].
// It is guarded by Store.mu.
type backlog struct {
	ring []Entry
	seq  uint64 // the newest sequence number, 0 before the first
}

func (b *backlog) push(a aggregate.Aggregate) {
	b.seq++
	b.ring[(b.seq-1)%uint64(len(b.ring))] = Entry{Seq: b.seq, Aggregate: a}
}

// oldest returns the sequence number of the oldest entry kept (seq+1 when
// empty).
func (b *backlog) oldest() uint64 {
	if n := uint64(len(b.ring)); b.seq > n {
		return b.seq - n + 1
	}
	return 1
}

// Epoch identifies this store: sequence numbers of stores with different
// epochs are unrelated (the process restarted). It is never 0.
func (s *Store) Epoch() uint64 { return max(s.epoch, 1) }

// Seq returns the sequence number of the newest aggregate stored, 0 before
// the first.
func (s *Store) Seq() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.backlog.seq
}

// Since returns the kept aggregates with a sequence number above after that
// match group and metric (empty matches all), oldest first, at most limit
// of them (limit < 1: no limit). next is the sequence number to pass to the
// following call: the last one examined, which may be above the last one
// returned. lost counts the aggregates after after that the backlog no
// longer holds (of any series: the backlog does not know which would have
// matched); the answer starts after them.
func (s *Store) Since(after uint64, group, metric string, limit int) (entries []Entry, next, lost uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := &s.backlog
	if after >= b.seq {
		return nil, after, 0
	}
	if oldest := b.oldest(); after+1 < oldest {
		lost, after = oldest-1-after, oldest-1
	}
	for seq := after + 1; seq <= b.seq; seq++ {
		e := b.ring[(seq-1)%uint64(len(b.ring))]
		if (group == "" || e.Aggregate.Group == group) && (metric == "" || e.Aggregate.Metric == metric) {
			entries = append(entries, e)
			if limit > 0 && len(entries) == limit {
				return entries, seq, lost
			}
		}
	}
	return entries, b.seq, lost
}

// Subscription signals its reader that aggregates were added. Close it
// when done.
type Subscription struct {
	s    *Store
	c    chan struct{}
	once sync.Once
}

// Subscribe returns a subscription whose channel receives a signal after
// aggregates were added. Signals merge: one receive stands for every
// aggregate added since the previous one, and the reader reads them with
// Since. Add never waits for a subscriber. It fails with
// ErrTooManySubscribers when MaxSubscribers are subscribed.
func (s *Store) Subscribe() (*Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.subs) >= MaxSubscribers {
		return nil, ErrTooManySubscribers
	}
	sub := &Subscription{s: s, c: make(chan struct{}, 1)}
	s.subs[sub] = struct{}{}
	s.subscribers.Set(float64(len(s.subs)))
	return sub, nil
}

// C returns the channel that receives the signals. It is never closed.
func (sub *Subscription) C() <-chan struct{} { return sub.c }

// Close unsubscribes. It is idempotent.
func (sub *Subscription) Close() {
	sub.once.Do(func() {
		sub.s.mu.Lock()
		defer sub.s.mu.Unlock()
		delete(sub.s.subs, sub)
		sub.s.subscribers.Set(float64(len(sub.s.subs)))
	})
}

// notify signals every subscriber without blocking. Called with s.mu held.
func (s *Store) notify() {
	for sub := range s.subs {
		select {
		case sub.c <- struct{}{}:
		default: // a signal is already waiting: it covers this one
		}
	}
}
