package dashboards

// DevicesUID is the uid of the Devices dashboard.
const DevicesUID = "rollcall-devices"

// devFilter selects the snapshots of the chosen groups and devices.
const devFilter = `$timeFilter AND "group" =~ /^$group$/ AND "device" =~ /^$device$/`

// latestPerDevice is a subquery: each device's newest snapshot values in
// the time range, one row per device, with the group and device tags.
const latestPerDevice = `SELECT last("state") AS "state", last("replaying") AS "replaying", last("age_s") AS "age_s", last("last_seen_ms") AS "last_seen", last("interval_s") AS "interval_s", last("phi") AS "phi", last("clock_offset_s") AS "clock_offset_s", last("accepted") AS "accepted", last("duplicates") AS "duplicates", last("replays") AS "replays", last("rejected") AS "rejected", spread("duplicates") AS "duplicates_in_range", spread("replays") AS "replays_in_range", spread("rejected") AS "rejected_in_range" FROM "rollcall_device" WHERE ` + devFilter + ` GROUP BY "group", "device"`

// snapshotNote is the part every per-device description shares.
const snapshotNote = `Per-device data comes from the device snapshots the gateway writes to InfluxDB (measurement rollcall_device, every influx.devices.interval, default 10 s, at most influx.devices.max devices, default 10,000: replaying and non-live devices first). Prometheus has no per-device labels by design.`

// Devices is the Devices dashboard: device states over time (Prometheus,
// whole gateway), and per device from the InfluxDB snapshots: who is
// silent, offline or replaying, last seen, learned interval, clock offset,
// duplicates and replays.
func Devices() *Dashboard {
	b := newBoard(DevicesUID, "rollcall / Devices", `Device liveness and hygiene. Whole-gateway state counts from Prometheus (rollcall_devices{state}); per device from the snapshots in InfluxDB (measurement rollcall_device, written every influx.devices.interval).`, "devices")
	b.vars(
		influxVar("group", "Group", "Groups (sites) whose devices to show.",
			`SHOW TAG VALUES FROM "rollcall_device" WITH KEY = "group"`),
		influxVar("device", "Device", "Devices to show; narrow it on large fleets.",
			`SHOW TAG VALUES FROM "rollcall_device" WITH KEY = "device" WHERE "group" =~ /^$group$/`),
	)

	b.row("Whole gateway (Prometheus)")
	b.add(12, 8, timeseries("Devices by state", `
Tracked devices by liveness state, for the whole gateway (Prometheus has no per-group or per-device label by design; the panels below break it down).
live: reporting in its own learned rhythm. late: overdue by that rhythm (phi ≥ phi_late). silent: overdue far past it (phi ≥ phi_silent) with no status message: offline or partitioned, rollcall cannot know. offline: the device or the broker said so (Last Will). delayed: data arrives, but its event time lags receive time by more than delay_tolerance (backfilling). never seen: on the roster, never reported.`,
		"none",
		promRange(`sum by (state) (rollcall_devices)`, "{{state}}"),
	).decimals(0).custom("stacking", map[string]any{"group": "A", "mode": "normal"}, "fillOpacity", 60, "lineWidth", 0).
		override(byName("live"), fixedColor(green)).override(byName("late"), fixedColor(yellow)).
		override(byName("delayed"), fixedColor(blue)).override(byName("silent"), fixedColor(red)).
		override(byName("offline"), fixedColor(dark)).override(byName("never_seen"), fixedColor("text")).
		override(byName("retired"), fixedColor(purple)))
	b.add(3, 8, stat("Replaying devices", `
Devices flagged as replaying: re-sending old messages faster than replay.threshold. Their replays are counted, never aggregated; the flag clears after replay.quiet without replays.`,
		"none",
		promInstant(`sum(rollcall_devices_replaying)`, "replaying"),
	).thresholds(green, red, 1).decimals(0).option("textMode", "value"))
	b.add(3, 8, stat("Silent or offline", `
Devices silent or offline now, whole gateway.`,
		"none",
		promInstant(`sum(rollcall_devices{state=~"silent|offline"})`, "silent or offline"),
	).thresholds(green, red, 1).decimals(0).option("textMode", "value"))
	b.add(3, 8, stat("Left out of snapshots", `
Device points the InfluxDB sink did not write in the time range, by reason: max_devices (a snapshot holds at most influx.devices.max devices; the live ones are left out first), unavailable (InfluxDB down: snapshots are never spooled), rejected, canceled. Non-zero means the tables below are incomplete.`,
		"none",
		promInstant(`sum(increase(rollcall_influx_device_points_dropped_total[$__range]))`, "left out"),
	).thresholds(green, orange, 1).decimals(0).option("textMode", "value"))
	b.add(3, 8, stat("Duplicates + replays", `
Whole gateway: duplicates (recent re-deliveries, e.g. QoS 1) and replays (old messages re-sent) per second. Both are counted and never aggregated twice.`,
		"suffix:msg/s",
		promInstant(`sum(rate(rollcall_messages_total{outcome=~"duplicate|replay"}[$__rate_interval]))`, "duplicates + replays"),
	).thresholds(green, orange, 1).decimals(2).option("textMode", "value"))

	b.row("Devices that need attention")
	b.add(12, 8, table("Not live", `
Devices whose newest snapshot in the time range is not live: late, silent, offline, delayed or never seen, longest silence first. "silent for" is the time since its last message when the snapshot was taken; "last seen" when that was. Their values are imputed and bounded in the aggregates.
`+snapshotNote,
		influxTable(`SELECT "group", "device", "state", "age_s", "last_seen", "interval_s", "phi" FROM (`+latestPerDevice+`) WHERE "state" != 'live'`),
	).transform(organize([]string{"Time"}, map[string]string{"age_s": "silent for", "last_seen": "last seen", "interval_s": "interval"})).
		override(byName("state"), prop("mappings", []Mapping{stateColors}), prop("custom.cellOptions", map[string]any{"type": "color-background"})).
		override(byName("silent for"), prop("unit", "s"), prop("decimals", 1)).
		override(byName("last seen"), prop("unit", "dateTimeFromNow")).
		override(byName("interval"), prop("unit", "s")).
		override(byName("phi"), prop("decimals", 1)).
		option("sortBy", []map[string]any{{"displayName": "silent for", "desc": true}}))
	b.add(12, 8, table("Replaying", `
Devices flagged as replaying in their newest snapshot: they re-send old messages (detected in the stream by sequence number and boot, before anything is stored). "replays" counts every replay since the device was first tracked, "in range" those within the time range; none of them reached an aggregate.
`+snapshotNote,
		influxTable(`SELECT "group", "device", "state", "replays", "replays_in_range", "duplicates", "last_seen" FROM (`+latestPerDevice+`) WHERE "replaying" = true`),
	).transform(organize([]string{"Time"}, map[string]string{"replays_in_range": "replays in range", "last_seen": "last seen"})).
		override(byName("state"), prop("mappings", []Mapping{stateColors}), prop("custom.cellOptions", map[string]any{"type": "color-background"})).
		override(byName("last seen"), prop("unit", "dateTimeFromNow")).
		option("sortBy", []map[string]any{{"displayName": "replays in range", "desc": true}}))

	b.row("Every device")
	b.add(24, 10, table("Devices", `
Each device's newest snapshot in the time range. last seen: receive time of its newest message. interval: its learned reporting interval (mean inter-arrival), which liveness judges it by. phi: how unlikely its current silence is given that rhythm (late from phi_late, silent from phi_silent). clock offset: receive time − event time of its newest reading, i.e. transport delay plus how far its clock lags (negative: its clock runs ahead; beyond max_future_skew, 10 s, its readings are rejected future_ts). accepted, duplicates, replays, rejected: counts since it was first tracked; "in range": within the time range.
`+snapshotNote,
		influxTable(`SELECT "group", "device", "state", "replaying", "last_seen", "age_s", "interval_s", "phi", "clock_offset_s", "accepted", "duplicates_in_range", "replays_in_range", "rejected_in_range" FROM (`+latestPerDevice+`)`),
	).transform(organize([]string{"Time"}, map[string]string{
		"last_seen": "last seen", "age_s": "age", "interval_s": "interval", "clock_offset_s": "clock offset",
		"duplicates_in_range": "duplicates in range", "replays_in_range": "replays in range", "rejected_in_range": "rejected in range",
	})).
		override(byName("state"), prop("mappings", []Mapping{stateColors}), prop("custom.cellOptions", map[string]any{"type": "color-background"})).
		override(byName("replaying"), prop("mappings", []Mapping{valueMap("true", "replaying", red, "false", "no", "transparent")}), prop("custom.cellOptions", map[string]any{"type": "color-text"})).
		override(byName("last seen"), prop("unit", "dateTimeFromNow")).
		override(byName("age"), prop("unit", "s"), prop("decimals", 1)).
		override(byName("interval"), prop("unit", "s")).
		override(byName("clock offset"), prop("unit", "s"), prop("decimals", 3)).
		override(byName("phi"), prop("decimals", 1)).
		option("sortBy", []map[string]any{{"displayName": "age", "desc": true}}))

	b.row("Per device over time")
	b.add(24, 8, timeline("Not live, over time", `
Each device's state whenever it was not live (blank: live, or no snapshot), so only devices with trouble appear. Colors as in the tables.
`+snapshotNote,
		influxQL(`SELECT last("state") FROM "rollcall_device" WHERE `+devFilter+` AND "state" != 'live' GROUP BY time($__interval), "device" fill(none)`, "$tag_device"),
	).mappings(stateColors))
	b.add(24, 4, timeline("Replaying, over time", `
When each device was flagged as replaying (blank: not flagged).
`+snapshotNote,
		influxQL(`SELECT last("replaying") FROM "rollcall_device" WHERE `+devFilter+` AND "replaying" = true GROUP BY time($__interval), "device" fill(none)`, "$tag_device"),
	).mappings(valueMap("true", "replaying", red)))
	b.add(12, 8, timeseries("Clock offset", `
Receive time − event time of each device's newest reading: transport delay plus how far the device's clock lags. A steady offset of seconds is a wrong device clock; a growing one is a device backfilling (delayed). Negative: the clock runs ahead; beyond max_future_skew (10 s) its readings are rejected future_ts.
`+snapshotNote,
		"s",
		influxQL(`SELECT mean("clock_offset_s") FROM "rollcall_device" WHERE `+devFilter+` GROUP BY time($__interval), "device" fill(none)`, "$tag_device"),
	).option("legend", legend("table", "right", "max")))
	b.add(12, 8, timeseries("Learned reporting interval", `
Each device's learned reporting interval (mean inter-arrival time). Liveness judges a device by its own rhythm: a device that reports every minute is not late after two seconds.
`+snapshotNote,
		"s",
		influxQL(`SELECT mean("interval_s") FROM "rollcall_device" WHERE `+devFilter+` GROUP BY time($__interval), "device" fill(none)`, "$tag_device"),
	).option("legend", legend("table", "right", "lastNotNull")))
	b.add(24, 8, timeseries("Duplicates and replays per device", `
Per second, for devices that ever had any: duplicates (recent re-deliveries, normal at QoS 1) and replays (old messages re-sent). Both are dropped before aggregation and counted here.
`+snapshotNote,
		"suffix:msg/s",
		influxQL(`SELECT non_negative_derivative(last("duplicates"), 1s) AS "duplicates", non_negative_derivative(last("replays"), 1s) AS "replays" FROM "rollcall_device" WHERE `+devFilter+` AND ("duplicates" > 0 OR "replays" > 0) GROUP BY time($__interval), "device" fill(none)`, "$tag_device $col"),
	).custom("drawStyle", "bars", "fillOpacity", 70).option("legend", legend("table", "right", "max", "mean")))
	return b.d
}
