// Package apiclient is a Go client of rollcall's HTTP API (package api),
// used by the `rollcall query` and `rollcall devices` commands.
//
// Every method takes a context and makes one or more GET requests; an
// answer other than 2xx comes back as an *api.Error with its status, code
// and message (a body that is not an API error gets the code http_<status>).
// A Client is safe for concurrent use.
//
//	c, err := apiclient.New("https://rollcall:8080", apiclient.Options{Token: token, CAFile: "ca.pem"})
//	latest, err := c.Latest(ctx, "site-a", "")
//	dev, err := c.Device(ctx, "site-a/wt-07")
//
// Devices are named by their fleet-wide identity, site/name. History
// follows the server's cursors page by page (PageLimit windows a request)
// and gives up with ErrTooMuchHistory past MaxHistory aggregates; each
// request is bounded by Options.Timeout (DefaultTimeout).
package apiclient
