package render

// Page geometry: Grafana's 24 columns on pageWidth pixels, gridUnit pixels
// per height unit.
const (
	pageWidth  = 1600
	pagePad    = 12
	gridUnit   = 30
	gridGap    = 8
	headerH    = 74
	panelTitle = 26
)

// namedColors are Grafana's named colors in its dark theme.
var namedColors = map[string]string{
	"green": "#73BF69", "yellow": "#FADE2A", "orange": "#FF9830", "red": "#F2495C",
	"blue": "#5794F2", "purple": "#B877D9", "dark-red": "#C4162A", "dark-blue": "#1F60C4",
	"text": "#CCCCDC", "transparent": "transparent",
}

// palette is Grafana's classic palette, for series without a fixed color.
var palette = []string{
	"#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9",
	"#705DA0", "#37872D", "#FADE2A", "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477",
}

// colorOf is the CSS color of a Grafana color: a named color's hex, or the
// color itself.
func colorOf(name string) string {
	if c, ok := namedColors[name]; ok {
		return c
	}
	return name
}

// pageStyle is the page's style sheet, after the page size (width,
// height) and the header's margins (left, right).
const pageStyle = `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;color:#CCCCDC;font:12px Inter,"Helvetica Neue",Arial,sans-serif;width:%dpx;height:%dpx;position:relative;overflow:hidden}
.hdr{position:absolute;left:%dpx;top:8px;right:%dpx}
.hdr h1{font-size:18px;font-weight:500;margin:0 0 8px 0;color:#fff}
.vars span{display:inline-block;background:#181b1f;border:1px solid #2c3235;border-radius:2px;padding:3px 8px;margin-right:6px}
.vars b{color:#6E9FFF;font-weight:500;margin-right:6px}
.panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:2px;overflow:hidden}
.panel h2{font-size:13px;font-weight:500;margin:0;padding:5px 8px;height:16px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;color:#CCCCDC}
.row{position:absolute;font-size:15px;font-weight:500;color:#fff;border-bottom:1px solid #2c3235}
.stats{display:flex;flex-wrap:wrap;gap:4px;padding:0 6px}
.stat{flex:1 1 0;border-radius:2px;text-align:center;color:#111;padding:4px;min-width:0}
.stat .v{font-size:26px;font-weight:500;line-height:1.2}
.stat .n{font-size:11px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
table{border-collapse:collapse;width:100%%;font-size:11.5px}
th{text-align:left;color:#6E9FFF;font-weight:500;border-bottom:1px solid #2c3235;padding:3px 6px;white-space:nowrap}
td{padding:2px 6px;border-bottom:1px solid #202226;white-space:nowrap}
.more{padding:3px 6px;color:#8e8e8e}
svg text{fill:#9fa7b3;font-size:10px}
.legend{padding:0 8px;font-size:11px;line-height:15px;overflow:hidden}
.legend i{display:inline-block;width:12px;height:3px;margin:0 4px 3px 10px;vertical-align:middle}
</style></head><body>`
