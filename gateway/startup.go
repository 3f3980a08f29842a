package gateway

import (
	"errors"
	"fmt"
)

// startup is /readyz's verdict while the gateway starts: not ready until
// the checkpoint is loaded and the journal after it replayed (the reason
// says how far the replay is: records, percentage, rate, time left), nor
// while the InfluxDB sink drains the backlog its spool held at start
// (unless InfluxDB refuses writes: that is an outage, not a start). nil
// once both are done.
func (g *Gateway) startup() error {
	if !g.live.Load() {
		if st, ok := g.ingestLog.ReplayStatus(); ok {
			return fmt.Errorf("starting: %s", st)
		}
		return errors.New("starting: recovering from the checkpoint and the journal")
	}
	if g.influx != nil {
		if st, ok := g.influx.DrainStatus(); ok {
			return fmt.Errorf("starting: %s", st)
		}
	}
	return nil
}
