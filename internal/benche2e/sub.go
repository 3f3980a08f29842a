package benche2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// SubscriberCommand is the hidden subcommand of benche2e that runs the bare
// paho subscriber: benche2e re-executes itself with it, so that the
// subscriber is a process of its own whose CPU time can be measured.
const SubscriberCommand = "subscriber"

// subEvent is one line the subscriber writes to stdout.
type subEvent struct {
	Event string `json:"event"` // ready, progress, done, error
	Count int64  `json:"count,omitempty"`
	First int64  `json:"first,omitempty"` // Unix ns of the first message
	Last  int64  `json:"last,omitempty"`  // Unix ns of message number expect
	Err   string `json:"err,omitempty"`
}

// jsonReading is what the paho + encoding/json subscriber decodes each
// payload into.
type jsonReading struct {
	Seq     uint64             `json:"seq"`
	Boot    uint64             `json:"boot"`
	TS      string             `json:"ts"`
	Device  string             `json:"device"`
	Metrics map[string]float64 `json:"metrics"`
}

// RunSubscriber is the bare paho subscriber (SubscriberCommand): it
// subscribes to fleet/+/+/telemetry and counts messages (with -json, after
// decoding each with encoding/json; at QoS 1 it acknowledges each message
// itself after counting it). It reports on stdout, one JSON object a line:
// ready once subscribed, progress every 250 ms, done when it has counted
// -expect messages. It exits when stdin is closed. With -session-only it
// subscribes and exits, leaving a persistent session for a backlog.
func RunSubscriber(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet(SubscriberCommand, flag.ContinueOnError)
	var (
		url         = fs.String("broker", "", "broker URL")
		clientID    = fs.String("client-id", "bare-paho", "MQTT client id")
		qos         = fs.Int("qos", 0, "subscription QoS")
		clean       = fs.Bool("clean", true, "clean session")
		decode      = fs.Bool("json", false, "decode every payload with encoding/json")
		expect      = fs.Int64("expect", 0, "messages to count before reporting done")
		sessionOnly = fs.Bool("session-only", false, "subscribe, disconnect and exit")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	out := json.NewEncoder(stdout)
	var count atomic.Int64
	var first, last atomic.Int64
	doneCh := make(chan struct{})
	handler := func(_ mqtt.Client, m mqtt.Message) {
		if *decode {
			var r jsonReading
			if err := json.Unmarshal(m.Payload(), &r); err != nil || len(r.Metrics) == 0 {
				return // not counted
			}
		}
		n := count.Add(1)
		if n == 1 {
			first.Store(time.Now().UnixNano())
		}
		if n == *expect {
			last.Store(time.Now().UnixNano())
			close(doneCh)
		}
		if *qos > 0 {
			m.Ack()
		}
	}
	opts := mqtt.NewClientOptions().AddBroker(*url).SetClientID(*clientID).SetCleanSession(*clean).
		SetAutoAckDisabled(*qos > 0).SetDefaultPublishHandler(handler).SetKeepAlive(30 * time.Second)
	c := mqtt.NewClient(opts)
	if err := wait(c.Connect()); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := wait(c.Subscribe("fleet/+/+/telemetry", byte(*qos), nil)); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if *sessionOnly {
		c.Disconnect(250)
		return out.Encode(subEvent{Event: "ready"})
	}
	if err := out.Encode(subEvent{Event: "ready"}); err != nil {
		return err
	}
	stdinClosed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, stdin); close(stdinClosed) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-doneCh:
			doneCh = nil
			if err := out.Encode(subEvent{Event: "done", Count: count.Load(), First: first.Load(), Last: last.Load()}); err != nil {
				return err
			}
		case <-tick.C:
			if err := out.Encode(subEvent{Event: "progress", Count: count.Load(), First: first.Load()}); err != nil {
				return err
			}
		case <-stdinClosed:
			c.Disconnect(250)
			return nil
		}
	}
}

// subProcess is a running bare subscriber, seen from the benchmark.
type subProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan subEvent
	exited chan struct{}
	err    error // cmd.Wait's, after exited
}

// startSubscriber runs this executable's SubscriberCommand with args.
func startSubscriber(args ...string) (*subProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{SubscriberCommand}, args...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &subProcess{cmd: cmd, stdin: stdin, events: make(chan subEvent, 64), exited: make(chan struct{})}
	// Wait closes stdout, so it may only run once stdout is read to EOF.
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e subEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				s.events <- e
			}
		}
		close(s.events)
		s.err = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

func (s *subProcess) pid() int { return s.cmd.Process.Pid }

// wait waits up to 10 s for tok and returns its error, or one saying it
// timed out.
func wait(tok mqtt.Token) error {
	if !tok.WaitTimeout(10 * time.Second) {
		return errors.New("timed out after 10s")
	}
	return tok.Error()
}

// await returns the next event named name, skipping others (progress is
// passed to onProgress), or an error after timeout without progress.
func (s *subProcess) await(name string, stall time.Duration, onProgress func(subEvent)) (subEvent, error) {
	timer := time.NewTimer(stall)
	defer timer.Stop()
	var last int64 = -1
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				<-s.exited
				err := s.err
				if err == nil {
					err = errors.New("exit status 0")
				}
				return subEvent{}, fmt.Errorf("subscriber exited before %q: %w", name, err)
			}
			if e.Event == name {
				return e, nil
			}
			if e.Event == "progress" {
				if onProgress != nil {
					onProgress(e)
				}
				if e.Count != last {
					last = e.Count
					timer.Reset(stall)
				}
			}
		case <-timer.C:
			return subEvent{Count: last}, fmt.Errorf("subscriber: no %q and no progress for %v (count %d)", name, stall, last)
		}
	}
}

// stop closes the subscriber's stdin and waits for it to exit (killing it
// after 10 s).
func (s *subProcess) stop() {
	_ = s.stdin.Close()
	go func() {
		for range s.events { //nolint:revive // unread events must not block the reader
		}
	}()
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.exited
	}
}
