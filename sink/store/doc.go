// Package store is the bounded in-memory history of aggregates behind the
// HTTP API, and the feed of its Server-Sent Events stream.
//
// # Consumes
//
// Every aggregate the engine emits, as a sink.Writer (Write never blocks
// on a reader: see Subscribe).
//
// # Emits
//
// Query answers: per group and metric the windows in a time range (newest
// last) with their latest revision or every revision, and the newest window
// per series.
//
// For streams, every stored aggregate gets a sequence number, rising by one
// per aggregate, in the order Add was called. The newest Config.Backlog
// aggregates are kept in that order, so a reader can ask for everything
// after a sequence number it has seen (Since) as long as the backlog still
// holds it. Sequence numbers restart at 1 with every Store; Epoch tells
// instances apart.
//
// # Readers never block writers
//
// Subscribe hands out a notification channel with room for one signal.
// Add signals every subscriber without blocking: a signal that finds the
// channel full is merged with the one already waiting. A subscriber then
// reads the aggregates with Since. A slow reader therefore only falls
// behind; when it falls further behind than the backlog, Since reports how
// many aggregates it lost, and the API tells its client (the stream's
// "reset" event, counted in rollcall_api_stream_resets_total). Subscribers
// are bounded by MaxSubscribers (rollcall_store_subscribers).
//
// # Drops
//
// Per series, windows beyond Config.MaxWindows are evicted oldest first
// (rollcall_store_evicted_total{reason="max_windows"}); per window,
// revisions beyond Config.MaxRevisions are evicted oldest first, keeping the
// latest (reason="max_revisions"); aggregates of new series beyond
// Config.MaxSeries are not stored and get no sequence number
// (reason="max_series"). The backlog drops its oldest aggregate for each
// new one once it holds Config.Backlog; that is not counted here, since
// the history keeps them, but a stream reader that needed them is told.
package store
