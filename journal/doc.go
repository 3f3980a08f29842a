// Package journal is a segmented, append-only, crash-safe log of records
// with group commit and compressed, checksummed blocks. rollcall uses it
// twice: the ingest journal (the stage journal/ingestlog: a QoS 1 message
// is acknowledged once Commit has made it durable, and the journal is
// replayed after a crash) and the InfluxDB sink's spool (store-and-forward
// under a byte limit, dropping the oldest segment when full).
//
// # Consumes
//
// Records (opaque byte slices of up to MaxRecordBytes) from one writer
// goroutine, through Append. Append assigns each record its index: 1 for
// the first record ever, then contiguous, continuing after a reopen. The
// writer calls Commit to make what it appended durable: the users commit
// every DefaultCommitInterval (5 ms) while records arrive, so that one fsync
// covers every record of the interval (group commit).
//
// # Emits
//
// Committed records, in index order, to any number of Readers running
// beside the writer (NewReader, Reader.Next, Reader.Wait). A Reader sees a
// record only once it is durable: after the fsync of the Commit that wrote
// it (with Sync "none", once that Commit has written it).
//
// # Guarantees
//
// With Sync "batch" (the default) or "always", a record is durable once a
// Commit after its Append returns: it survives kill -9 and power loss.
// "always" is "batch": Append never waits for the disk in this API, so a
// policy stricter than "fsync at Commit" has nothing to add. With "none" the
// journal never fsyncs: kill -9 loses nothing Commit returned (the data is
// in the page cache), but a power loss or kernel crash may lose the last
// seconds of records, anywhere in the segments not yet written back.
//
// A failed fsync is permanent: the kernel may have dropped the dirty pages,
// so a retry could succeed and still lose data (the "fsyncgate" lesson).
// Every later call returns the error; close the journal and reopen it,
// which recovers what is on disk. A failed write (a full disk) is cut off
// again and Commit can be retried.
//
// # Drops
//
//   - ErrFull: Append refuses a record that could take the segments past
//     Config.MaxBytes (the bound counts the open block uncompressed, so the
//     files never exceed it), counted in rollcall_journal_full_total. The
//     ingest journal stops acknowledging (backpressure); the spool calls
//     DropOldest.
//   - DropOldest removes the oldest segment and counts its records in
//     rollcall_journal_dropped_records_total{reason="drop_oldest"}.
//     DeleteBefore removes segments a consumer has finished with; that is
//     not a drop and is not counted.
//   - Torn tail: Open cuts the last segment after its last intact block (a
//     write torn by a crash, or bad bytes at the end) and counts the records
//     the cut block's header claims, when it is whole, in
//     rollcall_journal_truncated_records_total{reason="torn_tail"}. Unless
//     Sync is "none", those records were never acknowledged: their Commit
//     had not returned.
//   - Corruption: committed records that cannot be read back are counted
//     once, however many Readers meet them, in
//     rollcall_journal_truncated_records_total{reason="corrupt"}, and logged
//     at Error.
//
// # Recovery and corruption policy
//
// Open reads and checks only the last segment, block by block (header,
// CRC-32C, decompression, record framing), because only the last segment
// is written to. Where the checks fail:
//
//   - If no intact block follows, the bad bytes are a torn tail: Open
//     truncates the file after the last intact block, logs at Warn and
//     counts (above). Appending continues there, with the next index.
//   - If an intact block follows (bit rot, not a torn write), Open keeps
//     every intact block, counts the records in between as corrupt, leaves
//     the segment as it is and starts a new one for further writes. Cutting
//     there would destroy acknowledged records that are still readable.
//
// Checking a full last segment (64 MiB) takes about 0.25 s with s2 and 1 s
// with zstd on the benchmark machine. Open does not read earlier segments:
// a journal of 1 GiB would take many seconds to check, and nothing writes
// to them any more.
// Damage there (bit rot, or the unsynced tail of a segment after a power
// loss with Sync "none") is found by the Reader that reaches it. Next then
// returns a *CorruptError (errors.Is(err, ErrCorrupt)) naming the segment,
// the offset and the first and last index lost, and the following Next
// continues with the next intact block: found by its magic within the same
// segment, else the next segment. The ingest replay logs the error and goes
// on (dedup makes the replay idempotent); the spool counts the records as
// lost.
//
// # On disk
//
// Config.Dir holds a LOCK file (an exclusive flock held while the journal
// is open, so a second process cannot write the same journal) and segment
// files named by the index of their first record, %020d.seg. A segment is a
// sequence of blocks, with no file header. A block is a 32-byte header
// followed by its payload:
//
//	offset size field
//	0      4    magic "RCJB"
//	4      1    version, 1
//	5      1    codec: 0 none, 1 s2, 2 zstd
//	6      2    reserved, 0
//	8      8    index of the first record
//	16     4    number of records, at least 1
//	20     4    payload length (compressed)
//	24     4    records length (uncompressed)
//	28     4    CRC-32C (Castagnoli) of bytes 0-27 and the payload
//
// all little-endian. Uncompressed, the payload is each record as a uvarint
// length and its bytes. Each block names its codec, so Config.Compression
// may change between runs. A block whose codec would not make it smaller is
// stored uncompressed. Blocks are contiguous: each starts at the index
// after the previous one ends, and a segment's first block at the index in
// its name.
//
// DeleteBefore and DropOldest remove segment files that Readers may still
// have open; on the Unix systems rollcall runs on, those Readers finish
// reading from their open file.
//
// A block is written when the records of the open block would exceed
// Config.BlockBytes (a larger record gets a block of its own), and at
// Commit. The writer starts a new segment before a block once the current
// one has reached Config.SegmentBytes; the old one is fsynced first.
//
// # Compression
//
// Measured by BenchmarkAppendCommit with 148-byte records like the ingest
// journal's (receive time, topic, JSON payload); docs/benchmarks.md, §
// Journal, has the numbers and the machine. Committing every 64 records (a
// 5 ms group commit at 13k records/s, 9.5 KB blocks), s2 stores a record in
// 39 bytes (3.8×) and zstd in 25 (5.9×), but zstd costs about 2.6 times
// the CPU per record (0.80 to 0.96 µs against 0.31 to 0.35 with Sync
// "none"; no compression costs 0.25 to 0.30, so s2 adds 0.05 µs). Reading
// back costs 0.12 µs per record with s2 and 0.20 with zstd. The default is
// s2: the ingest journal holds records only until the next checkpoint, so
// its size hardly matters, while its CPU counts against the QoS 1 backlog
// drain. A spool that must ride out long outages within its byte limit may
// choose zstd, which holds 1.5× as many records. s2 runs at its default
// level (EncodeBetter compresses 6 % better for two to three times the
// CPU); zstd at SpeedFastest (SpeedDefault compresses no better on these
// blocks, and is slower).
//
// # Metrics
//
// All names begin rollcall_journal_ and carry no label naming the journal:
// pass a registerer wrapped with prometheus.WrapRegistererWith (for example
// {journal="ingest"} and {journal="spool"}) to run two. Close unregisters
// them. appended_records_total, appended_bytes_total (uncompressed),
// written_bytes_total (on disk), commits_total, commit_seconds (histogram),
// size_bytes, segments, full_total, truncated_records_total{reason} and
// dropped_records_total{reason}.
package journal
