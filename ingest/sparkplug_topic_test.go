package ingest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSparkplugTopicParse(t *testing.T) {
	t.Parallel()
	base, err := NewTopics(DefaultTelemetryTopic, DefaultStatusTopic)
	require.NoError(t, err)
	tp := base.WithSparkplug(true)
	good := []struct {
		topic, site, device string
		kind                TopicKind
	}{
		{"spBv1.0/plant/NBIRTH/edge1", "plant", "plant/edge1", TopicSpNBirth},
		{"spBv1.0/plant/NDEATH/edge1", "plant", "plant/edge1", TopicSpNDeath},
		{"spBv1.0/plant/NDATA/edge1", "plant", "plant/edge1", TopicSpNData},
		{"spBv1.0/plant/DBIRTH/edge1/pump-1", "plant", "plant/edge1:pump-1", TopicSpDBirth},
		{"spBv1.0/plant/DDEATH/edge1/pump-1", "plant", "plant/edge1:pump-1", TopicSpDDeath},
		{"spBv1.0/plant/DDATA/edge1/pump-1", "plant", "plant/edge1:pump-1", TopicSpDData},
		{"fleet/site-a/wt-01/telemetry", "site-a", "site-a/wt-01", TopicTelemetry},
	}
	for _, g := range good {
		kind, site, device, err := tp.Parse(g.topic)
		require.NoError(t, err, g.topic)
		require.Equal(t, []any{g.kind, g.site, g.device}, []any{kind, site, device}, g.topic)
		require.Equal(t, strings.HasPrefix(g.topic, "spBv1.0/"), kind.IsSparkplug(), g.topic)
		require.Equal(t, "plant/edge1", SparkplugNode("plant/edge1:pump-1"))
	}
	require.Equal(t, "DDATA", TopicSpDData.String())
	bad := []string{
		"spBv1.0/plant/NDATA",
		"spBv1.0/plant/NDATA/edge1/dev",
		"spBv1.0/plant/DDATA/edge1",
		"spBv1.0/plant/NBIRTH",
		"spBv1.0/plant/DDATA/edge:1/dev",
		"spBv1.0/pl ant/NDATA/edge1",
		"spBv1.0//NDATA/edge1",
		"spBv1.0/plant/DDATA/edge1/" + strings.Repeat("x", 125),
		"spBv1.0/plant/DDATA/edge1/a/b",
	}
	for _, topic := range bad {
		_, _, _, err := tp.Parse(topic)
		require.Equal(t, ReasonBadTopic, ReasonOf(err), topic)
	}
	for _, topic := range []string{"spBv1.0/plant/NCMD/edge1", "spBv1.0/plant/DCMD/edge1/d", "spBv1.0/STATE/host"} {
		_, _, _, err := tp.Parse(topic)
		require.ErrorIs(t, err, ErrSparkplugIgnored, topic)
	}
	_, _, _, err = base.Parse("spBv1.0/plant/NDATA/edge1")
	require.Equal(t, ReasonBadTopic, ReasonOf(err), "topics.sparkplug off")
	require.Nil(t, base.SparkplugFilters())
	require.Equal(t, []string{"spBv1.0/#"}, tp.SparkplugFilters())
}

func TestSparkplugAdmit(t *testing.T) {
	t.Parallel()
	l := Limits{SparkplugMaxPayloadBytes: 10}.WithDefaults()
	require.NoError(t, l.Admit(TopicSpDData, []byte{0x08, 0x01}))
	require.Equal(t, ReasonBadProtobuf, ReasonOf(l.Admit(TopicSpDData, nil)))
	require.Equal(t, ReasonTooLarge, ReasonOf(l.Admit(TopicSpNBirth, make([]byte, 11))))
	require.ErrorContains(t, Limits{SparkplugMaxAliases: -1, SparkplugMaxNodes: -1, SparkplugMaxPayloadBytes: -1}.Validate(),
		"limits.sparkplug_max_aliases")
}
