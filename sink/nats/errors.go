package nats

import "errors"

var (
	// ErrNoPartial means an aggregate reached the sink without the partial
	// behind it (the engine's emitter is not a PartialEmitter); nothing was
	// published.
	ErrNoPartial = errors.New("nats: aggregate without partial")
	// ErrVersion means a message has an encoding version this build does
	// not know.
	ErrVersion = errors.New("nats: unknown partial encoding version")
	// ErrInvalid means a message is not a valid partial.
	ErrInvalid = errors.New("nats: invalid partial")
)
