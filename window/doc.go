// Package window assigns readings to event-time windows and drives each
// group's window lifecycle: open → provisional → final (with revisions in
// between).
//
// # Consumes
//
// Event times (Unix nanoseconds) of accepted readings and, per group, the
// group's watermark: the newest event time seen minus the allowed skew, or the
// gateway clock minus the idle timeout when the group has gone quiet (silent
// devices are reported missing, never waited for).
//
// # Emits
//
// For each group, the windows that became due: provisional when the watermark
// passes a window's end, final once it passes end + allowed lateness. The
// aggregate stage turns each of them into an aggregate and a revision.
//
// # Drops
//
// A reading whose window is already final (or lies before the first window of
// its group) is too late; the caller counts it as
// rollcall_messages_rejected_total{reason="too_late"}. When a group's
// watermark jumps further than MaxCatchUp windows ahead of its next window (a
// gateway restarted after a long outage), the skipped windows are never
// emitted and are counted in Lifecycle.Skipped, exported as
// rollcall_window_skipped_total.
package window
