package ingest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func defaultTopics(t testing.TB) *Topics {
	t.Helper()
	tp, err := NewTopics(DefaultTelemetryTopic, DefaultStatusTopic)
	require.NoError(t, err)
	return tp
}

func TestNewTopics(t *testing.T) {
	t.Parallel()
	good := []struct {
		name, telemetry, status string
		telFilter, statusFilter string
	}{
		{"defaults", DefaultTelemetryTopic, DefaultStatusTopic, "fleet/+/+/telemetry", "fleet/+/+/status"},
		{"device before site", "{device}/{site}/t", "{device}/{site}/s", "+/+/t", "+/+/s"},
		{"different depths", "a/{site}/{device}", "a/{site}/{device}/status", "a/+/+", "a/+/+/status"},
		{"leading slash", "/fleet/{site}/{device}/t", "/fleet/{site}/{device}/s", "/fleet/+/+/t", "/fleet/+/+/s"},
		{"literal that is not an id cannot overlap", "a/{site}/{device}/x", "a/{site}/st@tus/{device}", "a/+/+/x", "a/+/st@tus/+"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tp, err := NewTopics(tc.telemetry, tc.status)
			require.NoError(t, err)
			tel, st := tp.Filters()
			require.Equal(t, tc.telFilter, tel)
			require.Equal(t, tc.statusFilter, st)
		})
	}
	bad := []struct {
		name, telemetry, status string
		want                    []string // substrings of the error, one per problem
	}{
		{"empty", "", DefaultStatusTopic, []string{
			`telemetry topic template "": empty`,
			"{site} must appear exactly once", "{device} must appear exactly once",
		}},
		{"missing device", "fleet/{site}/telemetry", DefaultStatusTopic, []string{
			`telemetry topic template "fleet/{site}/telemetry": {device} must appear exactly once as a whole level, found 0`,
		}},
		{"site twice", "fleet/{site}/{site}/{device}", DefaultStatusTopic, []string{"{site} must appear exactly once as a whole level, found 2"}},
		{"partial placeholder", "fleet/{site}/dev-{device}", DefaultStatusTopic, []string{
			`level 3 ("dev-{device}"): a placeholder must be a whole level`, "{device} must appear exactly once",
		}},
		{"plus wildcard", "fleet/+/{site}/{device}", DefaultStatusTopic, []string{"level 2 (\"+\"): the MQTT wildcards"}},
		{"hash wildcard", DefaultTelemetryTopic, "fleet/{site}/{device}/#", []string{`status topic template "fleet/{site}/{device}/#": level 4`}},
		{"NUL", "fleet/{site}/{device}/t\x00", DefaultStatusTopic, []string{"NUL"}},
		{"invalid UTF-8", "fleet/{site}/{device}/t\xff", DefaultStatusTopic, []string{"UTF-8"}},
		{"both bad", "fleet/{site}", "#", []string{
			`telemetry topic template "fleet/{site}": {device} must`,
			`status topic template "#": level 1 ("#"): the MQTT wildcards`, `status topic template "#": {site} must`,
			`status topic template "#": {device} must`,
		}},
		{"identical", DefaultTelemetryTopic, DefaultTelemetryTopic, []string{"overlap"}},
		{"ambiguous", "{site}/{device}/data", "{site}/status/{device}", []string{`overlap: topic "x/status/data" matches both`}},
		{"swapped placeholders", "a/{site}/{device}", "a/{device}/{site}", []string{"overlap"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tp, err := NewTopics(tc.telemetry, tc.status)
			require.Error(t, err)
			require.Nil(t, tp)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.Len(t, strings.Split(err.Error(), "\n"), len(tc.want), err.Error())
		})
	}
}

func TestTopicsParse(t *testing.T) {
	t.Parallel()
	tp := defaultTopics(t)
	good := []struct {
		name, topic  string
		kind         TopicKind
		site, device string
	}{
		{"telemetry", "fleet/site-a/wt-01/telemetry", TopicTelemetry, "site-a", "wt-01"},
		{"status", "fleet/site-a/wt-01/status", TopicStatus, "site-a", "wt-01"},
		{"all id characters", "fleet/AZaz09._:-/x/status", TopicStatus, "AZaz09._:-", "x"},
		{"max id length", "fleet/s/" + strings.Repeat("d", MaxIDLen) + "/telemetry", TopicTelemetry, "s", strings.Repeat("d", MaxIDLen)},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kind, site, device, err := tp.Parse(tc.topic)
			require.NoError(t, err)
			require.Equal(t, tc.kind, kind)
			require.Equal(t, tc.site, site)
			require.Equal(t, tc.site+"/"+tc.device, device, "the device is its fleet-wide identity")
			require.Equal(t, tc.topic, tp.Topic(kind, site, device))
		})
	}
	bad := []struct{ name, topic, detail string }{
		{"empty", "", "matches neither"},
		{"other prefix", "farm/site-a/wt-01/telemetry", "matches neither"},
		{"other suffix", "fleet/site-a/wt-01/data", "matches neither"},
		{"too few levels", "fleet/site-a/telemetry", "matches neither"},
		{"too many levels", "fleet/site-a/wt-01/x/telemetry", "matches neither"},
		{"trailing slash", "fleet/site-a/wt-01/telemetry/", "matches neither"},
		{"empty site", "fleet//wt-01/telemetry", "site level is empty"},
		{"empty device", "fleet/site-a//status", "device level is empty"},
		{"device too long", "fleet/s/" + strings.Repeat("d", MaxIDLen+1) + "/telemetry", "device level is 129 bytes, longer than 128"},
		{"space in device", "fleet/s/wt 01/telemetry", `device level "wt 01": ' ' at offset 2 is not allowed`},
		{"wildcard as site", "fleet/+/wt-01/telemetry", "site level"},
		{"non-ASCII device", "fleet/s/wt-ü/status", "byte 0xc3 at offset 3"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kind, site, device, err := tp.Parse(tc.topic)
			var re *RejectError
			require.ErrorAs(t, err, &re)
			require.Equal(t, ReasonBadTopic, re.Reason)
			require.Contains(t, re.Detail, tc.detail)
			require.Zero(t, kind)
			require.Empty(t, site)
			require.Empty(t, device)
		})
	}
}

func TestTopicsParseNonIDLiteral(t *testing.T) {
	t.Parallel()
	// The templates overlap structurally, but no topic with valid ids
	// matches both: Parse must pick the template under which the ids are
	// valid.
	tp, err := NewTopics("a/{site}/{device}/x", "a/{site}/st@tus/{device}")
	require.NoError(t, err)
	kind, site, device, err := tp.Parse("a/s/st@tus/x")
	require.NoError(t, err)
	require.Equal(t, TopicStatus, kind)
	require.Equal(t, "s", site)
	require.Equal(t, "s/x", device)
}

func TestTopicsTopic(t *testing.T) {
	t.Parallel()
	tp, err := NewTopics("{device}/{site}/t", "s/{site}/{device}/x")
	require.NoError(t, err)
	require.Equal(t, "wt-01/site-a/t", tp.Topic(TopicTelemetry, "site-a", "wt-01"))
	require.Equal(t, "wt-01/site-a/t", tp.Topic(TopicTelemetry, "site-a", "site-a/wt-01"), "from the identity")
	kind, site, id, err := tp.Parse("wt-01/site-a/t")
	require.NoError(t, err)
	require.Equal(t, TopicTelemetry, kind)
	require.Equal(t, "site-a", site)
	require.Equal(t, "site-a/wt-01", id, "the identity is site first whatever the template's order")
	require.Equal(t, "s/site-a/wt-01/x", tp.Topic(TopicStatus, "site-a", "wt-01"))
	require.Empty(t, tp.Topic(0, "site-a", "wt-01"))
	require.Equal(t, "telemetry", TopicTelemetry.String())
	require.Equal(t, "status", TopicStatus.String())
	require.Equal(t, "unknown", TopicKind(0).String())
}

func TestTopicsParseAllocs(t *testing.T) {
	tp := defaultTopics(t)
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, _, err := tp.Parse("fleet/site-a/wt-01/status"); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

func FuzzTopic(f *testing.F) {
	f.Add("fleet/site-a/wt-01/telemetry", DefaultTelemetryTopic)
	f.Add("fleet/site-a/wt-01/status", "{device}/{site}/t")
	f.Add("fleet//wt-01/status", "x/{site}/{device}")
	f.Add("fleet/+/#/telemetry", "fleet/{site}/{device}/#")
	f.Add("wt-01/site-a/t", "{device}/{site}/t")
	f.Add("/a/b/c", "/{site}/b/{device}")
	defaults := defaultTopics(f)
	f.Fuzz(func(t *testing.T, topic, telemetry string) {
		if len(topic) > 4*MaxIDLen || len(telemetry) > 4*MaxIDLen {
			return
		}
		check := func(tp *Topics) {
			kind, site, device, err := tp.Parse(topic)
			if err != nil {
				require.Equal(t, ReasonBadTopic, ReasonOf(err))
				return
			}
			require.Contains(t, []TopicKind{TopicTelemetry, TopicStatus}, kind)
			require.True(t, validID(site), site)
			idSite, name := SplitID(device)
			require.Equal(t, site, idSite, device)
			require.True(t, validID(name), device)
			require.Equal(t, topic, tp.Topic(kind, site, device))
		}
		check(defaults)
		if tp, err := NewTopics(telemetry, DefaultStatusTopic); err == nil {
			tel, _ := tp.Filters()
			require.NotContains(t, strings.ReplaceAll(tel, "+", ""), "#")
			check(tp)
		}
	})
}

func BenchmarkTopicParse(b *testing.B) {
	tp := defaultTopics(b)
	for _, topic := range []string{"fleet/site-a/wt-01/telemetry", "fleet/site-a/wt-01/status"} {
		b.Run(topic[strings.LastIndexByte(topic, '/')+1:], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(topic)))
			n := 0
			for b.Loop() {
				if _, _, _, err := tp.Parse(topic); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "topics/s")
		})
	}
}
