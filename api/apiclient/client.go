package apiclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/api"
)

const (
	// DefaultTimeout bounds each request.
	DefaultTimeout = 30 * time.Second
	// PageLimit is the windows History asks for per page.
	PageLimit = 1000
	// MaxHistory bounds the aggregates one History call collects.
	MaxHistory = 100000
	// maxBody bounds an answer's body.
	maxBody = 256 << 20
)

// ErrTooMuchHistory is returned by History when the range holds more than
// MaxHistory aggregates.
var ErrTooMuchHistory = errors.New("apiclient: more than MaxHistory aggregates; narrow the range or set a limit")

// Options configure a Client. The zero value is plain HTTP without a token.
type Options struct {
	// Token is the bearer token (http.token of the server).
	Token string
	// CAFile is a PEM file of the CAs to trust for https URLs, instead of
	// the system's.
	CAFile string
	// Timeout bounds each request. Default: 30s.
	Timeout time.Duration
}

// Client talks to one rollcall.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client of the API at baseURL (http://host:port or https://...).
func New(baseURL string, o Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("apiclient: %q is not an http:// or https:// URL", baseURL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("apiclient: ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("apiclient: ca file %s: no PEM certificate", o.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Client{base: u, token: o.Token, http: &http.Client{Transport: tr, Timeout: o.Timeout}}, nil
}

// get fetches path with query into v.
func (c *Client) get(ctx context.Context, path string, query url.Values, v any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &api.Error{Status: resp.StatusCode}
		if json.Unmarshal(body, e) != nil || e.Code == "" {
			e.Code, e.Message = "http_"+strconv.Itoa(resp.StatusCode), strings.TrimSpace(string(body))
		}
		return e
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// HistoryQuery selects windows of one series.
type HistoryQuery struct {
	Group, Metric string
	// From and To bound window starts, From <= start < To; zero: the
	// server's default (from: to − http.max_range).
	From, To time.Time
	// Limit keeps the newest Limit windows; 0: every window of the range.
	Limit int
	// AllRevisions lists every kept revision of each window.
	AllRevisions bool
}

// History returns the windows of q, oldest first, following the server's
// cursors until the range or q.Limit is exhausted.
func (c *Client) History(ctx context.Context, q HistoryQuery) ([]aggregate.Aggregate, error) {
	v := url.Values{"group": {q.Group}, "metric": {q.Metric}}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339Nano))
	}
	if q.AllRevisions {
		v.Set("revisions", api.RevisionsAll)
	}
	var pages [][]aggregate.Aggregate
	windows, total := 0, 0
	for {
		limit := PageLimit
		if q.Limit > 0 {
			limit = min(limit, q.Limit-windows)
		}
		v.Set("limit", strconv.Itoa(limit))
		var page api.AggregatesResponse
		if err := c.get(ctx, "/api/v1/aggregates", v, &page); err != nil {
			return nil, err
		}
		pages = append(pages, page.Aggregates)
		total += len(page.Aggregates)
		windows += countWindows(page.Aggregates)
		if page.NextCursor == "" || (q.Limit > 0 && windows >= q.Limit) {
			break
		}
		if total > MaxHistory {
			return nil, ErrTooMuchHistory
		}
		v.Set("cursor", page.NextCursor)
	}
	// Pages come newest first, each oldest first.
	out := make([]aggregate.Aggregate, 0, total)
	for i := len(pages) - 1; i >= 0; i-- {
		out = append(out, pages[i]...)
	}
	return out, nil
}

// countWindows counts the distinct windows of aggs (revisions of one window
// are adjacent).
func countWindows(aggs []aggregate.Aggregate) int {
	n := 0
	for i, a := range aggs {
		if i == 0 || !a.Window.Start.Equal(aggs[i-1].Window.Start) {
			n++
		}
	}
	return n
}

// Latest returns the newest window of every series matching group and
// metric (empty: all).
func (c *Client) Latest(ctx context.Context, group, metric string) (api.LatestResponse, error) {
	v := url.Values{}
	if group != "" {
		v.Set("group", group)
	}
	if metric != "" {
		v.Set("metric", metric)
	}
	var out api.LatestResponse
	err := c.get(ctx, "/api/v1/aggregates/latest", v, &out)
	return out, err
}

// Groups returns every group with its roster and coverage.
func (c *Client) Groups(ctx context.Context) ([]api.GroupStatus, error) {
	var out api.GroupsResponse
	err := c.get(ctx, "/api/v1/groups", nil, &out)
	return out.Groups, err
}

// Devices returns the devices in state (a state or "replaying") and group;
// empty matches all.
func (c *Client) Devices(ctx context.Context, state, group string) ([]aggregate.DeviceInfo, error) {
	v := url.Values{}
	if state != "" {
		v.Set("state", state)
	}
	if group != "" {
		v.Set("group", group)
	}
	var out api.DevicesResponse
	err := c.get(ctx, "/api/v1/devices", v, &out)
	return out.Devices, err
}

// Device returns one device by its identity, site/device.
func (c *Client) Device(ctx context.Context, id string) (aggregate.DeviceInfo, error) {
	var out aggregate.DeviceInfo
	site, name, ok := strings.Cut(id, "/")
	if !ok {
		return out, fmt.Errorf("apiclient: device %q: name it site/device", id)
	}
	err := c.get(ctx, "/api/v1/devices/"+url.PathEscape(site)+"/"+url.PathEscape(name), nil, &out)
	return out, err
}
