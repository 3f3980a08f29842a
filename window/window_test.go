package window

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const sec = int64(time.Second)

func TestTumblingStart(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).UnixNano()
	tests := []struct {
		name string
		size time.Duration
		ts   int64
		want int64
	}{
		{"zero", 10 * time.Second, 0, 0},
		{"one ns", 10 * time.Second, 1, 0},
		{"last ns of first window", 10 * time.Second, 10*sec - 1, 0},
		{"start is inclusive", 10 * time.Second, 10 * sec, 10 * sec},
		{"inside second window", 10 * time.Second, 15 * sec, 10 * sec},
		{"end is exclusive", 10 * time.Second, 20*sec - 1, 10 * sec},
		{"minus one ns", 10 * time.Second, -1, -10 * sec},
		{"negative boundary is inclusive", 10 * time.Second, -10 * sec, -10 * sec},
		{"just below negative boundary", 10 * time.Second, -10*sec - 1, -20 * sec},
		{"negative inside", 10 * time.Second, -15 * sec, -20 * sec},
		{"wall clock", 10 * time.Second, day + 7*sec + 123*int64(time.Millisecond), day},
		{"wall clock boundary", 10 * time.Second, day + 10*sec, day + 10*sec},
		{"one minute windows", time.Minute, day + 59*sec, day},
		{"1 ns windows", time.Nanosecond, 12345, 12345},
		{"7 ns windows positive", 7 * time.Nanosecond, 20, 14},
		{"7 ns windows negative", 7 * time.Nanosecond, -20, -21},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tw := NewTumbling(tt.size)
			require.Equal(t, int64(tt.size), tw.Size())
			require.Equal(t, tt.want, tw.Start(tt.ts))
		})
	}
}

// floorStart is the start of the window containing ts, computed with
// math/big floor division, independently of Tumbling.Start.
func floorStart(ts, size int64) int64 {
	q := new(big.Int).Div(big.NewInt(ts), big.NewInt(size)) // Euclidean: floor for size > 0
	return new(big.Int).Mul(q, big.NewInt(size)).Int64()
}

// checkOneWindow asserts that ts lies in exactly one window of the given size.
func checkOneWindow(t *testing.T, ts, size int64) {
	t.Helper()
	tw := NewTumbling(time.Duration(size))
	start := tw.Start(ts)
	require.LessOrEqual(t, start, ts, "start <= ts (ts=%d size=%d)", ts, size)
	require.Less(t, ts, start+size, "ts < end (ts=%d size=%d)", ts, size)
	require.Zero(t, start%size, "start is aligned (ts=%d size=%d)", ts, size)
	require.Equal(t, floorStart(ts, size), start, "start = floor(ts/size)*size (ts=%d size=%d)", ts, size)
	// The neighbouring windows do not contain ts.
	require.Equal(t, start-size, tw.Start(start-1), "previous window ends where this one starts")
	require.Equal(t, start+size, tw.Start(start+size), "next window starts where this one ends")
}

func TestTumblingProperty(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	// Keep start-size and start+size representable.
	const bound = math.MaxInt64 / 4
	for range 20_000 {
		size := 1 + rng.Int64N(int64(24*time.Hour))
		if rng.IntN(4) == 0 {
			size = 1 + rng.Int64N(1000) // small sizes exercise many boundaries
		}
		ts := rng.Int64N(bound)
		if rng.IntN(2) == 0 {
			ts = -ts
		}
		if rng.IntN(8) == 0 {
			ts = ts / size * size // exact boundary
		}
		checkOneWindow(t, ts, size)
	}
}

func FuzzTumbling(f *testing.F) {
	for _, seed := range []struct{ ts, size int64 }{
		{0, 1},
		{1, 10},
		{-1, 10},
		{10 * sec, 10 * sec},
		{-10 * sec, 10 * sec},
		{1_795_341_600_123_000_000, 10 * sec},
		{math.MaxInt64 / 2, 7},
		{math.MinInt64 / 2, 7},
	} {
		f.Add(seed.ts, seed.size)
	}
	f.Fuzz(func(t *testing.T, ts, size int64) {
		if size <= 0 || size > math.MaxInt64/4 {
			t.Skip("size must be positive and leave room for neighbouring windows")
		}
		// Only windows whose neighbours are representable in int64 (the
		// start of the window before and the end of the window after); real
		// event times are in [1970, 2262) and far from both ends.
		if ts > math.MaxInt64-2*size || ts < math.MinInt64+2*size {
			t.Skip("window not representable")
		}
		checkOneWindow(t, ts, size)
	})
}

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{
			name: "zero means defaults",
			in:   Config{},
			want: Config{Size: 10 * time.Second, AllowedLateness: 60 * time.Second, AllowedSkew: 2 * time.Second, IdleTimeout: 30 * time.Second, MaxCatchUp: 64},
		},
		{
			name: "set fields are kept",
			in:   Config{Size: time.Minute, AllowedLateness: 5 * time.Minute, AllowedSkew: time.Second, IdleTimeout: time.Hour, MaxCatchUp: 3},
			want: Config{Size: time.Minute, AllowedLateness: 5 * time.Minute, AllowedSkew: time.Second, IdleTimeout: time.Hour, MaxCatchUp: 3},
		},
		{
			name: "partly set",
			in:   Config{Size: 5 * time.Second, MaxCatchUp: 8},
			want: Config{Size: 5 * time.Second, AllowedLateness: 60 * time.Second, AllowedSkew: 2 * time.Second, IdleTimeout: 30 * time.Second, MaxCatchUp: 8},
		},
		{
			name: "negative values are not defaults",
			in:   Config{AllowedLateness: -1, MaxCatchUp: -1},
			want: Config{Size: 10 * time.Second, AllowedLateness: -1, AllowedSkew: 2 * time.Second, IdleTimeout: 30 * time.Second, MaxCatchUp: -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.in.WithDefaults())
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := Config{}.WithDefaults()
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantErr []string // substrings; nil means valid
	}{
		{"defaults are valid", func(*Config) {}, nil},
		{"smallest size", func(c *Config) { c.Size = time.Millisecond }, nil},
		{"zero lateness and skew", func(c *Config) { c.AllowedLateness, c.AllowedSkew = 0, 0 }, nil},
		{"max catch up 1", func(c *Config) { c.MaxCatchUp = 1 }, nil},
		{"size below 1ms", func(c *Config) { c.Size = time.Millisecond - 1 }, []string{"window.size"}},
		{"size zero", func(c *Config) { c.Size = 0 }, []string{"window.size"}},
		{"size negative", func(c *Config) { c.Size = -time.Second }, []string{"window.size"}},
		{"negative lateness", func(c *Config) { c.AllowedLateness = -1 }, []string{"window.allowed_lateness"}},
		{"negative skew", func(c *Config) { c.AllowedSkew = -1 }, []string{"window.allowed_skew"}},
		{"zero idle timeout", func(c *Config) { c.IdleTimeout = 0 }, []string{"window.idle_timeout"}},
		{"negative idle timeout", func(c *Config) { c.IdleTimeout = -time.Second }, []string{"window.idle_timeout"}},
		{"zero max catch up", func(c *Config) { c.MaxCatchUp = 0 }, []string{"window.max_catch_up"}},
		{
			name: "every problem at once",
			mutate: func(c *Config) {
				*c = Config{Size: -1, AllowedLateness: -1, AllowedSkew: -1, IdleTimeout: -1, MaxCatchUp: -1}
			},
			wantErr: []string{"window.size", "window.allowed_lateness", "window.allowed_skew", "window.idle_timeout", "window.max_catch_up"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, s := range tt.wantErr {
				require.ErrorContains(t, err, s)
			}
		})
	}
}
