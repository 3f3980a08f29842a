package influx

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/rollcall-iot/rollcall/journal"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{URL: "http://127.0.0.1:8086", Database: "telemetry", Spool: journal.Config{Dir: t.TempDir()}}.WithDefaults()
	require.NoError(t, c.Validate())
	require.Equal(t, DefaultBatchSize, c.BatchSize)
	require.Equal(t, DefaultFlushInterval, c.FlushInterval)
	require.Equal(t, DefaultTimeout, c.Timeout)
	require.Equal(t, DefaultMaxRetries, c.MaxRetries)
	require.Equal(t, DefaultBackoffInitial, c.BackoffInitial)
	require.Equal(t, DefaultBackoffMax, c.BackoffMax)
	require.Equal(t, DefaultBreakerFailures, c.BreakerFailures)
	require.Equal(t, DefaultBreakerCooldown, c.BreakerCooldown)
	require.Equal(t, int64(DefaultSpoolMaxBytes), c.Spool.MaxBytes)
	require.NotNil(t, c.Now)
	require.NotNil(t, c.Sleep)
	require.Equal(t, "telemetry", c.bucket())
	c.RetentionPolicy = "autogen"
	require.Equal(t, "telemetry/autogen", c.bucket())
	c.MaxRetries = -1
	require.Equal(t, 0, c.retries())
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := func() Config {
		return Config{
			URL: "https://influx.example:8086", Org: "acme", Bucket: "fleet",
			Spool: journal.Config{Dir: "/var/lib/rollcall/influx-spool"},
		}.WithDefaults()
	}
	tests := []struct {
		name string
		edit func(*Config)
		want []string // substrings of the error, one per problem
	}{
		{"valid", func(*Config) {}, nil},
		{"1.8 form", func(c *Config) { c.Org, c.Bucket, c.Database, c.RetentionPolicy = "", "", "telemetry", "autogen" }, nil},
		{"no url", func(c *Config) { c.URL = "" }, []string{"influx.url: required"}},
		{"bad url", func(c *Config) { c.URL = "influx:8086" }, []string{"influx.url:"}},
		{"both forms", func(c *Config) { c.Database = "telemetry" }, []string{"not both"}},
		{"no bucket", func(c *Config) { c.Bucket = "" }, []string{"influx.bucket: required"}},
		{"bucket without org", func(c *Config) { c.Org = "" }, []string{"influx.org: required with bucket"}},
		{"rp without db", func(c *Config) { c.RetentionPolicy = "autogen" }, []string{"influx.retention_policy"}},
		{"batch below one aggregate", func(c *Config) { c.BatchSize = 4 }, []string{"influx.batch_size"}},
		{
			"negative durations", func(c *Config) { c.FlushInterval, c.Timeout = -1, -1 },
			[]string{"influx.flush_interval", "influx.timeout"},
		},
		{"backoff order", func(c *Config) { c.BackoffInitial = 10 * c.BackoffMax }, []string{"influx.backoff_initial"}},
		{"retries", func(c *Config) { c.MaxRetries = -2 }, []string{"influx.max_retries"}},
		{"breaker", func(c *Config) { c.BreakerFailures = -1 }, []string{"influx.breaker_failures"}},
		{"no spool dir", func(c *Config) { c.Spool.Dir = "" }, []string{"influx.spool.dir"}},
		{
			"spool limit below two segments", func(c *Config) { c.Spool.MaxBytes, c.Spool.SegmentBytes = 1<<20, 1<<20 },
			[]string{"influx.spool.max_bytes"},
		},
		{
			"everything at once", func(c *Config) { c.URL, c.Org, c.BatchSize = "", "", 1 },
			[]string{"influx.url", "influx.org", "influx.batch_size"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tt.edit(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.Len(t, strings.Split(err.Error(), "\n"), len(tt.want), "one line per problem: %v", err)
		})
	}
}

// The token never reaches a log line or %v.
func TestConfigRedactsToken(t *testing.T) {
	t.Parallel()
	c := Config{URL: "http://x:8086", Token: "s3cret-token", Org: "o", Bucket: "b"}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("cfg", slog.Any("config", c), slog.Any("token", c.Token))
	log.Info("cfg", "config", c)
	require.NotContains(t, buf.String(), "s3cret")
	require.Contains(t, buf.String(), `"token_set":true`)
	require.Contains(t, buf.String(), "REDACTED")
	require.NotContains(t, fmt.Sprintf("%v %+v %s", c.Token, c, c.Token), "s3cret")
}

func TestConfigYAML(t *testing.T) {
	t.Parallel()
	var c Config
	require.NoError(t, yaml.Unmarshal([]byte(`
url: http://127.0.0.1:8086
token: user:pass
database: telemetry
retention_policy: autogen
batch_size: 500
flush_interval: 2s
max_retries: -1
breaker_cooldown: 30s
spool:
  dir: /data/influx-spool
  max_bytes: 134217728
`), &c))
	require.Equal(t, Secret("user:pass"), c.Token)
	require.Equal(t, "telemetry/autogen", c.bucket())
	require.Equal(t, 500, c.BatchSize)
	require.Equal(t, -1, c.MaxRetries)
	require.Equal(t, "/data/influx-spool", c.Spool.Dir)
	require.Equal(t, int64(128<<20), c.Spool.MaxBytes)
	require.NoError(t, c.WithDefaults().Validate())
}
