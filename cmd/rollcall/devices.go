package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rollcall-iot/rollcall/aggregate"
)

const devicesUsage = `Usage: rollcall devices [flags] [device]

Shows devices as a table: group, state, when last seen, learned reporting
interval, phi (liveness suspicion), message counts. With a device id, that
device in detail.

  rollcall devices                          every device
  rollcall devices --state silent           the silent ones (also: live, late, offline, delayed, replaying, never_seen, retired)
  rollcall devices site-a/wt-07             one device

Flags:
`

// runDevices is `rollcall devices`.
func runDevices(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rollcall devices", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	state := fs.String("state", "", "only devices in this `state`")
	group := fs.String("group", "", "only devices of this `group`")
	rest, ok, code := parseFlags(fs, devicesUsage, args, stderr)
	if !ok {
		return code
	}
	if len(rest) > 1 {
		return usageError(stderr, "devices", "one device at most, got %q", rest)
	}
	c, err := cf.client()
	if err != nil {
		return usageError(stderr, "devices", "%v", err)
	}
	if len(rest) == 1 {
		id := rest[0]
		if *state != "" || *group != "" {
			return usageError(stderr, "devices", "--state and --group select devices; a device id needs neither")
		}
		d, err := c.Device(ctx, id)
		if err != nil {
			return apiFailure(stderr, "devices", err)
		}
		if cf.json {
			return writeJSON(stdout, stderr, "devices", d)
		}
		writeDevice(stdout, d)
		return 0
	}
	devs, err := c.Devices(ctx, *state, *group)
	if err != nil {
		return apiFailure(stderr, "devices", err)
	}
	if cf.json {
		return writeJSON(stdout, stderr, "devices", map[string]any{"devices": devs})
	}
	writeDevices(stdout, devs)
	return 0
}

// writeDevices prints devs as an aligned table.
func writeDevices(w io.Writer, devs []aggregate.DeviceInfo) {
	head := []string{"DEVICE", "GROUP", "STATE", "LAST SEEN", "INTERVAL", "PHI", "ACCEPTED", "DUPLICATES", "REPLAYS", "REJECTED"}
	right := []bool{false, false, false, true, true, true, true, true, true, false}
	rows := make([][]string, 0, len(devs))
	for _, d := range devs {
		rows = append(rows, []string{
			d.ID, d.Group, deviceState(d), lastSeen(d), interval(d.IntervalS),
			strconv.FormatFloat(d.Phi, 'f', 1, 64),
			strconv.FormatUint(d.Counts.Accepted, 10),
			strconv.FormatUint(d.Counts.Duplicates, 10),
			strconv.FormatUint(d.Counts.Replays, 10),
			rejected(d.Counts.Rejected),
		})
	}
	writeTable(w, head, right, rows)
}

func deviceState(d aggregate.DeviceInfo) string {
	if d.Replaying {
		return d.State + ", replaying"
	}
	return d.State
}

// rejected is the total, with the reasons: "3 (bad_json 2, too_late 1)".
func rejected(by map[string]uint64) string {
	var total uint64
	for _, n := range by {
		total += n
	}
	if total == 0 {
		return "0"
	}
	parts := []string{}
	for _, r := range slices.Sorted(maps.Keys(by)) {
		parts = append(parts, fmt.Sprintf("%s %d", r, by[r]))
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

func interval(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

func lastSeen(d aggregate.DeviceInfo) string {
	if d.AgeS == nil {
		return "never"
	}
	return age(*d.AgeS) + " ago"
}

// writeDevice prints one device as "key: value" lines.
func writeDevice(w io.Writer, d aggregate.DeviceInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	ts := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	line("device", d.ID)
	line("group", d.Group)
	if d.Site != "" {
		line("site", d.Site)
	}
	line("listed", strconv.FormatBool(d.Listed))
	line("state", deviceState(d))
	line("last seen", ts(d.LastSeen)+" ("+lastSeen(d)+")")
	line("last event", ts(d.LastEvent))
	line("interval", interval(d.IntervalS))
	line("phi", strconv.FormatFloat(d.Phi, 'f', 2, 64))
	if d.ClockOffsetS != nil {
		line("clock offset", time.Duration(*d.ClockOffsetS*float64(time.Second)).Round(time.Millisecond).String())
	}
	if d.Replaying {
		line("replaying since", ts(d.ReplayingSince))
	}
	if d.FirstReplay != nil {
		line("replays seen", ts(d.FirstReplay)+" to "+ts(d.LastReplay))
	}
	line("accepted", strconv.FormatUint(d.Counts.Accepted, 10))
	line("duplicates", strconv.FormatUint(d.Counts.Duplicates, 10))
	line("replays", strconv.FormatUint(d.Counts.Replays, 10))
	line("rejected", rejected(d.Counts.Rejected))
	for _, m := range slices.Sorted(maps.Keys(d.Metrics)) {
		line("last "+m, num(aggregate.Num(d.Metrics[m])))
	}
	_ = tw.Flush()
}
