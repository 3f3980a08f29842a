package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// stage is one part of a running gateway. runStages starts the stages in
// order and stops them in reverse order.
type stage struct {
	name string
	// run runs the stage until its context is cancelled. It may return nil
	// at once when there is nothing to run; an error before the stage is
	// stopped stops the gateway with that error.
	run func(ctx context.Context) error
	// start, if set, runs once run is launched and before the next stage
	// starts (the journal replay needs the running engine). An error stops
	// the gateway with that error.
	start func(ctx context.Context) error
	// stop, if set, runs at shutdown once run has returned, before the
	// stages started earlier stop: what the stage finishes while they
	// still run (intake unsubscribes; the checkpointer has the queued
	// messages journaled and handled, and takes a last checkpoint). Its
	// context carries the shutdown deadline.
	stop func(ctx context.Context) error
}

// errStopTimeout is a stage whose run did not return within the shutdown
// deadline; its stop is skipped.
var errStopTimeout = errors.New("gateway: shutdown")

// running is a launched stage.
type running struct {
	stage
	cancel context.CancelFunc
	done   chan struct{}
	err    error // run's result; read it after done is closed
}

// launch runs s.run on a goroutine of its own under a context that only
// its cancel ends. A failure (an error before cancel) is sent to failed.
func launch(ctx context.Context, s stage, failed chan<- *running) *running {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &running{stage: s, cancel: cancel, done: make(chan struct{})}
	go func() {
		err := s.run(rctx)
		r.err = err
		close(r.done)
		if err != nil && rctx.Err() == nil {
			failed <- r // buffered for every stage: never blocks
		}
	}()
	return r
}

// wait waits until r's run returned, or until ctx (the shutdown deadline)
// is done. It returns run's error, named after the stage.
func (r *running) wait(ctx context.Context, timeout time.Duration) error {
	select {
	case <-r.done:
	default:
		select {
		case <-r.done:
		case <-ctx.Done():
			return fmt.Errorf("%w: %s did not stop within %v", errStopTimeout, r.name, timeout)
		}
	}
	if r.err != nil {
		return fmt.Errorf("%s: %w", r.name, r.err)
	}
	return nil
}

// runStages starts stages in order and serves until ctx is done or a stage
// fails; then it stops the started stages in reverse order, each one's run
// (cancelled and waited for) and then its stop, all under one deadline of
// timeout. It returns the
// failure, if any, joined with every error of the shutdown.
func runStages(ctx context.Context, stages []stage, timeout time.Duration, log *slog.Logger) error {
	failed := make(chan *running, len(stages))
	started := make([]*running, 0, len(stages))
	var cause error
	var culprit *running
	for _, s := range stages {
		r := launch(ctx, s, failed)
		started = append(started, r)
		if s.start == nil {
			continue
		}
		if err := s.start(ctx); err != nil {
			cause = fmt.Errorf("%s: %w", s.name, err)
			log.Error("start failed", "stage", s.name, "err", err)
			break
		}
	}
	if cause == nil {
		select {
		case <-ctx.Done():
		case culprit = <-failed:
			cause = fmt.Errorf("%s: %w", culprit.name, culprit.err)
			log.Error("stage failed", "stage", culprit.name, "err", culprit.err)
		}
	}
	log.Info("shutting down", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	errs := []error{cause}
	for i := len(started) - 1; i >= 0; i-- {
		r := started[i]
		r.cancel()
		err := r.wait(sctx, timeout)
		if r != culprit {
			errs = append(errs, err)
		}
		if r.stop != nil && !errors.Is(err, errStopTimeout) {
			if err := r.stop(sctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// waitDone is the run of a stage that has no goroutine of its own: it
// returns nil when its context is cancelled.
func waitDone(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
