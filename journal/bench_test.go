package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchRecords returns n records like the ingest journal's: the receive
// time (8 bytes), the MQTT topic and a JSON telemetry payload, 150 bytes on
// average, from 10,000 devices in 100 sites reporting in turn, with
// increasing seq and time and random-walk values.
func benchRecords(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	const sites, perSite = 100, 100
	power := make([]float64, sites*perSite)
	for d := range power {
		power[d] = 500 + rng.Float64()*2000
	}
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	recs := make([][]byte, n)
	for i := range recs {
		d := i % len(power)
		power[d] = max(0, min(3000, power[d]+rng.NormFloat64()*50))
		ts := base.Add(time.Duration(i/len(power))*time.Second + time.Duration(rng.IntN(1000))*time.Millisecond)
		recv := ts.Add(time.Duration(rng.IntN(50_000_000)))
		rec := binary.LittleEndian.AppendUint64(nil, uint64(recv.UnixNano()))
		recs[i] = fmt.Appendf(rec,
			`fleet/site-%03d/wt-%03d/telemetry {"seq":%d,"boot":3,"ts":"%s","metrics":{"power_kw":%.1f,"wind_ms":%.1f,"rpm":%.1f}}`,
			d/perSite, d%perSite, 1000+i/len(power), ts.Format("2006-01-02T15:04:05.000Z"),
			power[d], 3+rng.Float64()*20, 5+rng.Float64()*10)
	}
	return recs
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppendCommit appends ~150-byte records, committing every
// commit=N records: 64 is about a 5 ms group commit at 13k records/s, 1024
// a deep backlog. One op is one record. records/s and MB/s (of records) are
// wall-clock rates; cpu-ns/record is the process's CPU time per record,
// which depends less on what else the machine runs; disk-B/record is what a
// record costs on disk, block header included.
func BenchmarkAppendCommit(b *testing.B) {
	recs := benchRecords(1 << 16)
	var total int
	for _, r := range recs {
		total += len(r)
	}
	avg := float64(total) / float64(len(recs))
	for _, sync := range []string{SyncBatch, SyncNone} {
		for _, c := range []string{CompressionNone, CompressionS2, CompressionZstd} {
			for _, every := range []int{64, 1024} {
				b.Run(fmt.Sprintf("sync=%s/compression=%s/commit=%d", sync, c, every), func(b *testing.B) {
					j, err := Open(Config{Dir: b.TempDir(), Sync: sync, Compression: c}, nil, nil)
					require.NoError(b, err)
					defer mustClose(b, j)
					b.ReportAllocs()
					b.SetBytes(int64(avg))
					var n, written int64
					var size0 int64
					cpu0 := cpuTime(b)
					for b.Loop() {
						if _, err := j.Append(recs[n%int64(len(recs))]); err != nil {
							b.Fatal(err)
						}
						n++
						if n%int64(every) == 0 {
							if _, err := j.Commit(); err != nil {
								b.Fatal(err)
							}
							// Stay far below MaxBytes, as a checkpoint would.
							if s := j.Size(); s > 256<<20 {
								written += s - size0
								if err := j.DeleteBefore(j.LastIndex()); err != nil {
									b.Fatal(err)
								}
								size0 = j.Size()
							}
						}
					}
					if _, err := j.Commit(); err != nil {
						b.Fatal(err)
					}
					cpu := cpuTime(b) - cpu0
					written += j.Size() - size0
					sec := b.Elapsed().Seconds()
					b.ReportMetric(float64(n)/sec, "records/s")
					b.ReportMetric(float64(n)*avg/sec/1e6, "MB/s")
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/record")
					b.ReportMetric(float64(written)/float64(n), "disk-B/record")
				})
			}
		}
	}
}

// BenchmarkRead reads back 100,000 committed records (a crash replay, or a
// spool draining) per op.
func BenchmarkRead(b *testing.B) {
	const n = 100_000
	recs := benchRecords(n)
	for _, c := range []string{CompressionNone, CompressionS2, CompressionZstd} {
		b.Run("compression="+c, func(b *testing.B) {
			j, err := Open(Config{Dir: b.TempDir(), Sync: SyncNone, Compression: c}, nil, nil)
			require.NoError(b, err)
			defer mustClose(b, j)
			var total int
			for i, r := range recs {
				_, err := j.Append(r)
				require.NoError(b, err)
				total += len(r)
				if i%1024 == 0 {
					_, err := j.Commit()
					require.NoError(b, err)
				}
			}
			_, err = j.Commit()
			require.NoError(b, err)
			b.ReportAllocs()
			b.SetBytes(int64(total))
			cpu0 := cpuTime(b)
			for b.Loop() {
				r, err := j.NewReader(1)
				require.NoError(b, err)
				got := 0
				for {
					_, _, err := r.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				require.NoError(b, r.Close())
				if got != n {
					b.Fatalf("read %d of %d records", got, n)
				}
			}
			cpu := cpuTime(b) - cpu0
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(n*b.N), "cpu-ns/record")
		})
	}
}

// BenchmarkOpen opens a journal whose last segment is full (64 MiB of
// blocks, the default SegmentBytes): Open reads and checks every block of
// it, the startup cost after a crash.
func BenchmarkOpen(b *testing.B) {
	recs := benchRecords(1 << 16)
	for _, c := range []string{CompressionS2, CompressionZstd} {
		b.Run("compression="+c, func(b *testing.B) {
			cfg := Config{Dir: b.TempDir(), Sync: SyncNone, Compression: c}
			j, err := Open(cfg, nil, nil)
			require.NoError(b, err)
			var n int
			// Short of the limit, so that Close does not start a new segment.
			for j.Size() < DefaultSegmentBytes-2*DefaultBlockBytes {
				_, err := j.Append(recs[n%len(recs)])
				require.NoError(b, err)
				n++
				if n%1024 == 0 {
					_, err := j.Commit()
					require.NoError(b, err)
				}
			}
			require.NoError(b, j.Close())
			require.Len(b, segmentFiles(b, cfg.Dir), 1)
			b.SetBytes(j.Size())
			for b.Loop() {
				j, err := Open(cfg, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				if j.LastIndex() != uint64(n) {
					b.Fatalf("last index %d, want %d", j.LastIndex(), n)
				}
				require.NoError(b, j.Close())
			}
			b.ReportMetric(float64(n), "records")
		})
	}
}
