package dashboards

// FleetUID is the uid of the Fleet overview dashboard.
const FleetUID = "rollcall-fleet"

// aggFilter selects the aggregates of the chosen groups and metric.
const aggFilter = `$timeFilter AND "group" =~ /^$group$/ AND "metric" =~ /^$metric$/`

// Fleet is the Fleet overview: per group, the aggregate with its bounds,
// coverage, quality, staleness and revisions (InfluxDB, measurement
// rollcall_aggregate), and how far behind the gauges are (Prometheus).
func Fleet() *Dashboard {
	b := newBoard(FleetUID, "rollcall / Fleet overview", `Per group (site): the windowed aggregate of a metric with the bounds on its true value, coverage (devices reported vs. expected), quality, staleness and revisions. Aggregates from InfluxDB (measurement rollcall_aggregate, one point per window, timestamp = window start); the lag from Prometheus.`, "fleet")
	b.vars(
		influxVar("group", "Group", "Groups (sites) to show; one panel per group in the bounds row.",
			`SHOW TAG VALUES FROM "rollcall_aggregate" WITH KEY = "group"`),
		singleInfluxVar("metric", "Metric", "The metric to show. Values are in the metric's own unit, which its name says (power_kw: kW, wind_ms: m/s); the panels do not convert.",
			`SHOW TAG VALUES FROM "rollcall_aggregate" WITH KEY = "metric" WHERE "group" =~ /^$group$/`, "power_kw"),
		customVar("stat", "Statistic", "The group statistic: sum, mean, min or max over the devices' window values.",
			"sum", "mean", "min", "max"),
	)
	b.d.Annotations.List = append(b.d.Annotations.List, revisedWindows())

	b.row("Now: the newest window of each group")
	b.add(6, 5, stat("Coverage", `
Coverage of each group's newest window: devices that reported ÷ devices expected (the roster). 100 % means every expected device reported. Below min_coverage (default 50 %) the window's quality is bad.
A missing device is never counted as zero: its value is imputed (its last known value by default) and the bounds widen to cover whatever it could really have been.`,
		"percentunit",
		influxQL(`SELECT last("coverage") AS "coverage" FROM "rollcall_aggregate" WHERE `+aggFilter+` AND "stat" = 'count' GROUP BY "group"`, "$tag_group"),
	).thresholds(red, orange, 0.5, green, 1).decimals(0))
	b.add(6, 5, stat("Missing devices", `
Expected devices that did not report in each group's newest window. The Devices dashboard says who they are and since when they are silent.`,
		"none",
		influxQL(`SELECT last("expected") - last("reporting") AS "missing" FROM "rollcall_aggregate" WHERE `+aggFilter+` AND "stat" = 'count' GROUP BY "group"`, "$tag_group"),
	).thresholds(green, red, 1).decimals(0))
	b.add(6, 5, stat("Behind real time", `
Seconds since the start of the newest window the gateway emitted for the group (Prometheus gauge rollcall_aggregate_window_start_timestamp_seconds). In steady state about one window plus allowed_skew; when it keeps growing, the group's windows are not closing: the gateway is stalled or not receiving. (A group whose devices all went silent keeps closing windows, 0 of N, after idle_timeout.)`,
		"s",
		promInstant(`time() - max by (group) (rollcall_aggregate_window_start_timestamp_seconds{group=~"$group", metric=~"$metric"})`, "{{group}}"),
	).thresholds(green, orange, 60, red, 300).decimals(0))
	b.add(6, 5, stat("Oldest input", `
Staleness of each group's newest window: how old the oldest reading in it was when the window was first emitted (provisional). Large values mean devices report slowly or their readings arrive late. (InfluxDB keeps each window's last emission: once final, its age is measured at the final emission, about allowed_lateness later.)`,
		"s",
		influxQL(`SELECT last("max_age_s") AS "max_age_s" FROM "rollcall_aggregate" WHERE `+aggFilter+` AND "stat" = 'count' GROUP BY "group"`, "$tag_group"),
	).thresholds(green, orange, 30, red, 120).decimals(1))

	b.row("Estimate and bounds: $metric ($stat)")
	b.add(12, 9, timeseries("$group: $metric ($stat)", `
Estimate (solid): the group statistic over every expected device, with an imputed value for each missing one (its last value by default).
Bounds (shaded band): where the true value must lie, given what is missing. Each missing device counts anywhere in its physical range from the fleet file, narrowed to its last value ± max_rate_per_s × its age. When every device reported, lower = upper = estimate and the band vanishes; a wide band means the number is uncertain, not wrong. With no physical range configured the band is open (no bound drawn).
Reported (dashed): the statistic over the devices that did report, without any imputation.
One point per window (at its start); at coarser resolutions a point is the mean estimate with the lowest lower and highest upper bound of its windows.`,
		"short",
		influxQL(`SELECT mean("value") AS "estimate", min("lower") AS "lower", max("upper") AS "upper", mean("reported") AS "reported" FROM "rollcall_aggregate" WHERE `+aggFilter+` AND "stat" =~ /^$stat$/ GROUP BY time($__interval) fill(none)`, "$col"),
	).repeat("group").custom("showPoints", "auto").
		override(byName("upper"), prop("custom.fillBelowTo", "lower"), prop("custom.fillOpacity", 25), prop("custom.lineWidth", 0), fixedColor("blue")).
		override(byName("lower"), prop("custom.lineWidth", 0), fixedColor("blue")).
		override(byName("estimate"), prop("custom.lineWidth", 2), fixedColor("dark-blue")).
		override(byName("reported"), prop("custom.lineStyle", map[string]any{"fill": "dash", "dash": []int{6, 4}}), fixedColor("orange")))

	b.row("Coverage, quality and revisions")
	b.add(24, 5, timeline("Quality per window", `
good: every expected device reported, nothing was imputed, and the window is final.
uncertain: partial coverage, imputed values, or still provisional (late data may revise it).
bad: coverage below min_coverage (default 50 %).
Empty: no window (the gateway was not running or the group did not exist yet).`,
		influxQL(`SELECT last("quality") FROM "rollcall_aggregate" WHERE `+aggFilter+` AND "stat" = 'count' GROUP BY time($__interval), "group" fill(none)`, "$tag_group"),
	).mappings(qualityColors))
	b.add(12, 8, timeseries("Devices reporting vs. expected", `
Per window and group: devices that reported (solid) and devices expected (dashed). The gap is the missing devices, whose values are imputed and bounded. At coarser resolutions a point is the lowest reporting and highest expected count of its windows.`,
		"none",
		influxQL(`SELECT min("reporting") AS "reporting", max("expected") AS "expected" FROM "rollcall_aggregate" WHERE `+aggFilter+` AND "stat" = 'count' GROUP BY time($__interval), "group" fill(none)`, "$tag_group $col"),
	).decimals(0).custom("axisSoftMin", 0).
		override(byRegexp("/ expected$/"), prop("custom.lineStyle", map[string]any{"fill": "dash", "dash": []int{6, 4}})))
	b.add(12, 8, timeseries("Coverage", `
Devices that reported ÷ devices expected, per window. The dashed line is min_coverage (default 50 %): below it a window's quality is bad. At coarser resolutions a point is the lowest coverage of its windows.`,
		"percentunit",
		influxQL(`SELECT min("coverage") FROM "rollcall_aggregate" WHERE `+aggFilter+` AND "stat" = 'count' GROUP BY time($__interval), "group" fill(none)`, "$tag_group"),
	).minMax(ptr(0), ptr(1)).thresholds(red, green, 0.5).custom("thresholdsStyle", map[string]any{"mode": "dashed"}))
	b.add(12, 8, timeseries("Windows revised by late data", `
A window is emitted provisional (revision 0) when the group's watermark passes its end, revised (revision + 1) each time late readings change it within allowed_lateness, and final after that (its final emission adds one more revision). InfluxDB keeps the newest revision of each window (the same series and time), so this shows the windows late data changed, e.g. after a partitioned device flushed its buffer. The bar is the window's revision: 1 for a provisional window changed once, 2 for a final one changed once. The "Revised windows" annotation marks them on every panel. No bars: no window was changed after its first emission.`,
		"none",
		influxQL(`SELECT max("revision") FROM "rollcall_aggregate" WHERE `+aggFilter+` AND "stat" = 'count' AND `+revisedByLateData+` GROUP BY time($__interval), "group" fill(none)`, "$tag_group"),
	).decimals(0).custom("drawStyle", "bars", "fillOpacity", 80, "axisSoftMin", 0))
	b.add(12, 8, timeseries("Uncertainty: bound width ÷ estimate", `
How wide the band on the true value is, relative to the estimate: (upper − lower) ÷ estimate, per window, for $metric ($stat). 0 % when every device reported; it grows with the missing devices, their physical range and how long they have been missing (last value ± max_rate_per_s × age). A window without an upper or lower bound (a missing device with no physical range in the fleet file) has no point; an estimate of 0 shows as 0.`,
		"percentunit",
		influxQL(`SELECT (max("upper") - min("lower")) / mean("value") AS "width" FROM "rollcall_aggregate" WHERE `+aggFilter+` AND "stat" =~ /^$stat$/ GROUP BY time($__interval), "group" fill(none)`, "$tag_group"),
	).minMax(ptr(0), nil).decimals(0))

	b.row("Latest windows")
	b.add(24, 8, table("Latest windows: $metric ($stat)", `
The five newest windows of each group. estimate, lower and upper as in the bounds panels; reported is over the reporting devices only. A provisional window may still be revised by late data; revision counts its emissions after the first (each late-data change, and the final one).`,
		influxTable(`SELECT "reporting", "expected", "coverage", "value", "lower", "upper", "reported", "quality", "revision", "final", "max_age_s" FROM "rollcall_aggregate" WHERE `+aggFilter+` AND "stat" =~ /^$stat$/ GROUP BY "group" ORDER BY time DESC LIMIT 5`),
	).transform(organize(nil, map[string]string{"Time": "window start", "value": "estimate", "max_age_s": "oldest input"})).
		override(byName("coverage"), prop("unit", "percentunit"), prop("decimals", 0)).
		override(byName("quality"), prop("mappings", []Mapping{qualityColors}), prop("custom.cellOptions", map[string]any{"type": "color-background"})).
		override(byName("final"), prop("mappings", []Mapping{valueMap("true", "final", green, "false", "provisional", yellow)}), prop("custom.cellOptions", map[string]any{"type": "color-text"})).
		override(byName("oldest input"), prop("unit", "s")).
		option("sortBy", []map[string]any{{"displayName": "window start", "desc": true}}))
	return b.d
}

// singleInfluxVar is a single-valued query variable over InfluxDB tag
// values, with a preferred default.
func singleInfluxVar(name, label, description, query, def string) Variable {
	v := influxVar(name, label, description, query)
	v.Multi, v.IncludeAll = false, false
	v.Current = Option{Selected: true, Text: def, Value: def}
	return v
}

// revisedByLateData selects the windows late data changed after their
// first emission: a final window carries one revision for its final
// emission, a provisional one none.
const revisedByLateData = `(("final" = true AND "revision" > 1) OR ("final" = false AND "revision" > 0))`

// revisedWindows marks every window that late data revised.
func revisedWindows() Annotation {
	q := `SELECT "revision", "group", "metric" FROM "rollcall_aggregate" WHERE ` + aggFilter + ` AND "stat" = 'count' AND ` + revisedByLateData
	return Annotation{
		Name: "Revised windows", Datasource: *influxDS, Enable: true, IconColor: "orange",
		Target: &AnnotationTarget{
			RefID: "Anno", Query: q, RawQuery: true, QueryType: "tags", FromAnnotation: true,
			TextColumn: "revision", TagsColumn: "group,metric", Tags: []string{},
		},
		Query: q, TextColumn: "revision", TagsColumn: "group,metric",
	}
}
