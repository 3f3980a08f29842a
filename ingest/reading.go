package ingest

// Reading is one telemetry message that passed decoding and validation at the
// trust boundary. Readings are values: a stage may copy them freely. The
// Metrics slice is owned by the Reading; no stage modifies it after decoding.
type Reading struct {
	// Site and Device come from the topic (never from the payload): Site is
	// the site level, Device the fleet-wide identity, site/name (see ID).
	Site   string
	Device string
	// Boot and Seq are the device's boot epoch and per-boot sequence number.
	// HasSeq is false when the payload carried no seq; dedup then falls back
	// to (TS, content hash).
	Boot   uint64
	Seq    uint64
	HasSeq bool
	// TS is the event time in Unix nanoseconds: the device's timestamp, or the
	// receive time when the payload had none (TSMissing is then true).
	TS        int64
	TSMissing bool
	// Received is the gateway's receive time in Unix nanoseconds.
	Received int64
	// Redelivered is the MQTT DUP flag: the broker is re-sending a message it
	// may have delivered before (normal at QoS 1).
	Redelivered bool
	// Historical marks backfill (a Sparkplug is_historical metric): it
	// fills its windows as late data but is not a sign of life.
	Historical bool
	// Metrics are the finite metric values of the message, in payload order,
	// with unique names.
	Metrics []Metric
}

// Metric is one named, finite value of a reading.
type Metric struct {
	Name  string
	Value float64
}
