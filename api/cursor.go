package api

import (
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"time"
)

// cursorVersion is the version of the cursor format; a cursor of another
// version is refused as malformed.
const cursorVersion = 1

// cursor is where the next page of a history query starts: the same query
// with window starts before To, over From as the first page fixed it (a
// from that defaulted to now − MaxRange must not move between pages).
// Its wire form is opaque: base64url of this JSON.
type cursor struct {
	V int `json:"v"`
	// Q is a hash of the query parameters the cursor belongs to.
	Q uint64 `json:"q"`
	// From and To are Unix nanoseconds; From 0 means unbounded.
	From int64 `json:"f"`
	To   int64 `json:"t"`
}

// queryHash identifies a history query by the parameters that select its
// windows (not limit, which may change from page to page).
func queryHash(group, metric, from, to, revisions string) uint64 {
	h := fnv.New64a()
	for _, s := range []string{group, metric, from, to, revisions} {
		_, _ = h.Write([]byte(s))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}

func (c cursor) String() string {
	b, _ := json.Marshal(c) // cannot fail: ints only
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseCursor decodes s for the query with hash q.
func parseCursor(s string, q uint64) (cursor, *Error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.V != cursorVersion || c.To == 0 {
		return c, badParameter("cursor", "malformed; pass next_cursor of the previous page unchanged")
	}
	if c.Q != q {
		return c, badParameter("cursor", "belongs to another query: group, metric, from, to and revisions must be those of the first page")
	}
	return c, nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
