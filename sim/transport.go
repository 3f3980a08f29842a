package sim

import "context"

// transport carries a run's messages to the broker. The run calls every
// method from its own goroutine, in simulated-time order; none may block for
// longer than PublishTimeout (publish), ConnectTimeout × ConnectAttempts
// (connect) or DrainTimeout plus DisconnectQuiesce (close). The transport
// counts failed publishes in the fleet's counters itself; the run counts what
// it hands over.
type transport interface {
	// connect opens the shared connection and every device's own one. It
	// returns nil without connecting when ctx ends first.
	connect(ctx context.Context) error
	// publish sends m for device dev: on dev's own connection if it has
	// one, else on the shared one. m.Payload is not modified and may be kept.
	publish(dev int32, m *Message)
	// drop cuts device dev's own connection abruptly, so that the broker
	// publishes its Last Will, will.
	drop(dev int32, will *Message)
	// reconnect brings device dev's own connection back and then publishes
	// birth on it.
	reconnect(dev int32, birth *Message)
	// poll reaps the confirmations that have come in.
	poll()
	// close waits up to DrainTimeout for outstanding confirmations, then
	// disconnects. Every goroutine the transport started has exited when it
	// returns.
	close()
}

// funcTransport hands every message to Config.Deliver: a broker that
// delivers at once and never fails.
type funcTransport struct {
	deliver func(Message)
}

var _ transport = (*funcTransport)(nil)

func (t *funcTransport) connect(context.Context) error { return nil }
func (t *funcTransport) publish(_ int32, m *Message)   { t.deliver(*m) }
func (t *funcTransport) drop(_ int32, will *Message)   { t.deliver(*will) }
func (t *funcTransport) reconnect(_ int32, b *Message) { t.deliver(*b) }
func (t *funcTransport) poll()                         {}
func (t *funcTransport) close()                        {}
