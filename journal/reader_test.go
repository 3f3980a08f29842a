package journal

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// follow reads from from until it has read record to, waiting at the end,
// and checks every record. It returns the indexes read.
func follow(ctx context.Context, j *Journal, from, to uint64) (_ []uint64, err error) {
	r, err := j.NewReader(from)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	var got []uint64
	for {
		idx, b, err := r.Next()
		switch {
		case errors.Is(err, io.EOF):
			if err := r.Wait(ctx); err != nil {
				return got, err
			}
			continue
		case err != nil:
			return got, err
		}
		if want := recordFor(idx); string(b) != string(want) {
			return got, errors.New("record content differs")
		}
		if len(got) > 0 && idx <= got[len(got)-1] {
			return got, errors.New("indexes out of order")
		}
		got = append(got, idx)
		if idx >= to {
			return got, nil
		}
	}
}

// Readers follow the writer across blocks and segments while it commits.
func TestReadersConcurrentWithWriter(t *testing.T) {
	t.Parallel()
	for _, c := range []string{CompressionNone, CompressionS2, CompressionZstd} {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			j, _ := open(t, testConfig(t.TempDir(), c))
			defer mustClose(t, j)
			const n, readers = 5000, 4
			var wg sync.WaitGroup
			results := make([][]uint64, readers)
			errs := make([]error, readers)
			for k := range readers {
				wg.Go(func() { results[k], errs[k] = follow(t.Context(), j, 1, n) })
			}
			rng := rand.New(rand.NewPCG(3, 4))
			for i := uint64(1); i <= n; {
				k := min(uint64(1+rng.IntN(64)), n-i+1)
				appendN(t, j, i, i+k-1)
				_, err := j.Commit()
				require.NoError(t, err)
				i += k
			}
			wg.Wait()
			for k := range readers {
				require.NoError(t, errs[k])
				require.Equal(t, span(1, n), results[k])
			}
		})
	}
}

// A spool in miniature: the writer drops the oldest segment whenever the
// journal is full, while a reader drains it. The reader skips what was
// dropped and never returns a record twice or out of order.
func TestReaderConcurrentWithDropOldest(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir(), CompressionS2)
	cfg.SegmentBytes, cfg.MaxBytes = MinSegmentBytes, 4*MinSegmentBytes
	j, _ := open(t, cfg)
	defer mustClose(t, j)
	const n = 4000
	var got []uint64
	var ferr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		got, ferr = follow(t.Context(), j, 1, n)
	}()
	dropped := 0
	for i := uint64(1); i <= n; i++ {
		idx, err := j.Append(recordFor(i))
		for errors.Is(err, ErrFull) {
			d, derr := j.DropOldest()
			require.NoError(t, derr)
			if d == 0 { // everything is in the segment being written
				_, cerr := j.Commit()
				require.NoError(t, cerr)
			}
			dropped += d
			idx, err = j.Append(recordFor(i))
		}
		require.NoError(t, err)
		require.Equal(t, i, idx)
		if i%16 == 0 {
			_, err := j.Commit()
			require.NoError(t, err)
		}
	}
	_, err := j.Commit()
	require.NoError(t, err)
	<-done
	require.NoError(t, ferr)
	require.Positive(t, dropped)
	require.Equal(t, uint64(n), got[len(got)-1])
	require.LessOrEqual(t, j.Size(), cfg.MaxBytes)
}

func TestReaderWait(t *testing.T) {
	t.Parallel()
	j, _ := open(t, testConfig(t.TempDir(), CompressionS2))
	r, err := j.NewReader(1)
	require.NoError(t, err)
	defer mustClose(t, r)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, r.Wait(ctx), context.Canceled)

	woke := make(chan error)
	go func() { woke <- r.Wait(t.Context()) }()
	appendN(t, j, 1, 1)
	_, err = j.Commit()
	require.NoError(t, err)
	require.NoError(t, <-woke)
	require.NoError(t, r.Wait(t.Context()), "record 1 is there")

	idx, _, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, uint64(1), idx)
	go func() { woke <- r.Wait(t.Context()) }()
	require.NoError(t, j.Close())
	require.ErrorIs(t, <-woke, ErrClosed)
}

// NewReader starts at from: mid-block, mid-segment, before the first
// stored record, or past the last (then it waits for it).
func TestReaderFrom(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, _ := open(t, testConfig(dir, CompressionZstd))
	defer mustClose(t, j)
	last := fillSegments(t, j, dir, 3)
	for _, from := range []uint64{0, 1, 2, 17, last / 2, last - 1, last} {
		recs, errs := readAll(t, j, from)
		require.Empty(t, errs)
		requireRecords(t, recs, span(max(from, 1), last))
	}
	require.NoError(t, j.DeleteBefore(last))
	first := j.FirstIndex()
	require.Greater(t, first, uint64(1))
	recs, _ := readAll(t, j, 1)
	requireRecords(t, recs, span(first, last))

	r, err := j.NewReader(last + 3)
	require.NoError(t, err)
	defer mustClose(t, r)
	_, _, err = r.Next()
	require.ErrorIs(t, err, io.EOF)
	appendN(t, j, last+1, last+4)
	_, err = j.Commit()
	require.NoError(t, err)
	idx, b, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, last+3, idx)
	require.Equal(t, recordFor(last+3), b)
}
