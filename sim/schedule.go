package sim

import "time"

// The schedule is one binary min-heap of events in simulated time, run by one
// goroutine: a device costs one pending sample event, not a goroutine and a
// ticker. Events at equal times run in the order they were scheduled, which
// makes a run deterministic.

type eventKind uint8

const (
	evSample     eventKind = iota // a device takes a sample
	evSend                        // a held message goes out
	evFaultStart                  // a fault instance begins
	evFaultEnd                    // a fault instance ends
	evReplay                      // a replaying device re-sends
	evRebootUp                    // a rebooting device comes back
)

type event struct {
	at   time.Duration // simulated time since the start
	seq  uint64        // scheduling order, the tie-break
	msg  *outMsg       // evSend
	dev  int32
	arg  int32 // fault instance (evFault*, evReplay, evRebootUp)
	kind eventKind
}

type eventQueue struct {
	ev  []event
	seq uint64
}

func (q *eventQueue) len() int { return len(q.ev) }

func (q *eventQueue) less(i, j int) bool {
	a, b := &q.ev[i], &q.ev[j]
	return a.at < b.at || a.at == b.at && a.seq < b.seq
}

func (q *eventQueue) push(e event) {
	e.seq = q.seq
	q.seq++
	q.ev = append(q.ev, e)
	for i := len(q.ev) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.ev[i], q.ev[p] = q.ev[p], q.ev[i]
		i = p
	}
}

// peek returns the next event; the queue must not be empty.
func (q *eventQueue) peek() *event { return &q.ev[0] }

// pop removes and returns the next event; the queue must not be empty.
func (q *eventQueue) pop() event {
	top := q.ev[0]
	last := len(q.ev) - 1
	q.ev[0] = q.ev[last]
	q.ev[last] = event{} // drop the message reference
	q.ev = q.ev[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && q.less(l, m) {
			m = l
		}
		if r < last && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q.ev[i], q.ev[m] = q.ev[m], q.ev[i]
		i = m
	}
	return top
}
