package journal

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/internal/fakeclock"
)

// Status says records, share, bytes, rate and time left once there is a
// rate; Done follows Finish.
func TestProgressStatus(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	p := NewProgress("spool drain", 200, 4096, nil, clk.Now)
	require.Equal(t, "spool drain: 0 of 200 records (0%), 0 bytes", p.Status(), "no rate yet")
	p.Add(50, 1000)
	require.Equal(t, "spool drain: 50 of 200 records (25%), 1000 bytes", p.Status(), "no time has passed")
	clk.Add(10 * time.Second)
	require.Equal(t, "spool drain: 50 of 200 records (25%), 1000 bytes, 5 records/s, about 30s left", p.Status())
	p.Add(200, 0) // more than expected (appended meanwhile)
	require.Equal(t, "spool drain: 250 of 200 records (100%), 1000 bytes, 25 records/s, about 0s left", p.Status())
	require.False(t, p.Done())
	p.Finish()
	require.True(t, p.Done())
}
