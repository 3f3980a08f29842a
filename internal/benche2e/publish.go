package benche2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// publisher is a minimal MQTT 3.1.1 publisher on one TCP connection:
// CONNECT, then PUBLISH packets written through a buffer, at QoS 0 or 1
// (with at most window PUBLISHes awaiting their PUBACK). It exists because
// one paho client tops out at 30–45k messages/s on the benchmark machine
// (a write system call and a goroutine hand-off per message), below what a
// bare paho subscriber receives through mosquitto; this one writes many
// messages per system call, so the subscriber and not the publisher is
// the limit.
type publisher struct {
	conn net.Conn
	w    *bufio.Writer
	qos  byte
	id   uint16
	pkt  []byte

	slots chan struct{} // QoS 1: one token per PUBLISH awaiting its PUBACK
	done  chan struct{} // closed when the PUBACK reader returns
	mu    sync.Mutex
	err   error // the PUBACK reader's error
}

// dialPublisher connects to the broker at addr (host:port) with a clean
// session and no keepalive.
func dialPublisher(addr, clientID string, qos byte, window int) (*publisher, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	p := &publisher{conn: conn, w: bufio.NewWriterSize(conn, 256<<10), qos: qos, done: make(chan struct{})}
	// CONNECT: protocol "MQTT" level 4, clean session, keepalive 0.
	var vh []byte
	vh = append(vh, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0)
	vh = appendString(vh, clientID)
	p.pkt = appendHeader(p.pkt[:0], 0x10, len(vh))
	p.pkt = append(p.pkt, vh...)
	if _, err := conn.Write(p.pkt); err != nil {
		_ = conn.Close() // the error returned says why
		return nil, fmt.Errorf("publisher: connect: %w", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var ack [4]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		_ = conn.Close() // the error returned says why
		return nil, fmt.Errorf("publisher: connack: %w", err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		_ = conn.Close() // the error returned says why
		return nil, fmt.Errorf("publisher: connection refused: connack % x", ack)
	}
	_ = conn.SetReadDeadline(time.Time{})
	if qos > 0 {
		p.slots = make(chan struct{}, window)
		go p.readAcks()
	} else {
		close(p.done)
	}
	return p, nil
}

// readAcks frees a slot for every PUBACK. mosquitto acknowledges in order,
// and at most window packet ids are in use, so ids are not checked.
func (p *publisher) readAcks() {
	defer close(p.done)
	r := bufio.NewReaderSize(p.conn, 64<<10)
	var pkt [4]byte
	for {
		if _, err := io.ReadFull(r, pkt[:]); err != nil {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
			return
		}
		if pkt[0] != 0x40 || pkt[1] != 2 {
			p.mu.Lock()
			p.err = fmt.Errorf("publisher: unexpected packet % x", pkt)
			p.mu.Unlock()
			return
		}
		<-p.slots
	}
}

func (p *publisher) readErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// publish writes one PUBLISH into the buffer; at QoS 1 it first waits for
// a free slot (flushing the buffer if it has to wait).
func (p *publisher) publish(topic, payload []byte) error {
	if p.qos > 0 {
		select {
		case p.slots <- struct{}{}:
		default:
			if err := p.w.Flush(); err != nil {
				return err
			}
			select {
			case p.slots <- struct{}{}:
			case <-p.done:
				return fmt.Errorf("publisher: connection closed: %w", p.readErr())
			}
		}
	}
	n := 2 + len(topic) + len(payload)
	first := byte(0x30)
	if p.qos > 0 {
		n += 2
		first = 0x32
	}
	p.pkt = appendHeader(p.pkt[:0], first, n)
	p.pkt = binary.BigEndian.AppendUint16(p.pkt, uint16(len(topic)))
	p.pkt = append(p.pkt, topic...)
	if p.qos > 0 {
		p.id++
		if p.id == 0 {
			p.id = 1
		}
		p.pkt = binary.BigEndian.AppendUint16(p.pkt, p.id)
	}
	if _, err := p.w.Write(p.pkt); err != nil {
		return err
	}
	_, err := p.w.Write(payload)
	return err
}

func (p *publisher) flush() error { return p.w.Flush() }

// close flushes, waits until every QoS 1 message is acknowledged, sends
// DISCONNECT and closes the connection.
func (p *publisher) close() error {
	err := p.w.Flush()
	if p.qos > 0 && err == nil {
		for i := 0; i < cap(p.slots) && err == nil; i++ {
			select {
			case p.slots <- struct{}{}:
			case <-p.done:
				err = fmt.Errorf("publisher: connection closed before every PUBACK: %w", p.readErr())
			case <-time.After(60 * time.Second):
				err = errors.New("publisher: no PUBACK for 60 s")
			}
		}
	}
	if err == nil {
		_, err = p.conn.Write([]byte{0xe0, 0})
	}
	cerr := p.conn.Close()
	<-p.done
	return errors.Join(err, cerr)
}

func appendHeader(b []byte, first byte, remaining int) []byte {
	b = append(b, first)
	for {
		c := byte(remaining % 128)
		remaining /= 128
		if remaining > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if remaining == 0 {
			return b
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// publishStats says how a publishing run went.
type publishStats struct {
	Messages int
	Start    time.Time
	End      time.Time // when the last message was written (QoS 0) or acknowledged (QoS 1)
}

// publishRun publishes n messages of w to the broker at addr: at rate
// messages/s (paced every millisecond), or as fast as the connection takes
// them when rate is 0. It returns when every message is written (QoS 0) or
// acknowledged by the broker (QoS 1).
func publishRun(ctx context.Context, addr, clientID string, qos byte, w *Workload, n, rate int) (publishStats, error) {
	p, err := dialPublisher(addr, clientID, qos, 1000)
	if err != nil {
		return publishStats{}, err
	}
	st := publishStats{Start: time.Now()}
	buf := make([]byte, 0, 256)
	for st.Messages < n {
		if err := ctx.Err(); err != nil {
			_ = p.close()
			return st, err
		}
		due := n
		if rate > 0 {
			due = min(n, int(time.Since(st.Start).Seconds()*float64(rate))+1)
			if due <= st.Messages {
				if err := p.flush(); err != nil {
					_ = p.close()
					return st, err
				}
				time.Sleep(time.Millisecond) // pacing
				continue
			}
		}
		// One clock reading per batch: event times have millisecond
		// resolution anyway.
		now := time.Now()
		for ; st.Messages < due; st.Messages++ {
			topic, payload := w.Next(buf[:0], now)
			if err := p.publish(topic, payload); err != nil {
				_ = p.close()
				return st, err
			}
			if rate == 0 && st.Messages%256 == 255 {
				now = time.Now()
			}
		}
	}
	err = p.close()
	st.End = time.Now()
	return st, err
}
