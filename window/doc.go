// Package window assigns readings to event-time windows and drives each
// group's window lifecycle: open → provisional → final (with revisions in
// between).
//
// # Consumes
//
// Event times (Unix nanoseconds) of readings and, per group, the newest
// event time of each device. Config.Watermark turns these into the group's
// watermark: the lower median of the live devices' newest event times minus
// the allowed skew (a minority of fast clocks cannot drag it ahead), never
// below the gateway clock minus the idle timeout (a group gone quiet keeps
// emitting windows; silent devices are reported missing, never waited for).
//
// Windows are tumbling or hopping (Config.Step, Hopping): a window of Size
// starts every Step, so a reading belongs to Size/Step windows; time is cut
// into panes of length Step, the unit the aggregate stage accumulates in.
//
// # Decides
//
// Gate.Decide, for each reading, from its pane: Accept (its windows were not
// emitted yet), Revise (it revises an emitted, not final window) or TooLate.
// Before a group's first emission it accepts readings back to the lateness
// horizon. Revisions numbers each window's emissions.
//
// # Emits
//
// For each group, the windows that became due: provisional when the watermark
// passes a window's end, final once it passes end + allowed lateness. The
// aggregate stage turns each of them into an aggregate and a revision.
//
// # Drops
//
// A reading whose windows are all final (or lie before the lateness horizon
// of a new group) is too late; the caller counts it as
// rollcall_messages_rejected_total{reason="too_late"}. When a group's
// watermark jumps further than MaxCatchUp windows ahead of its next window (a
// gateway restarted after a long outage), the skipped windows are not
// emitted and are counted in Lifecycle.Skipped, exported as
// rollcall_window_skipped_total; a skipped window that holds accepted
// readings is adopted (Lifecycle.Adopt) and emitted, so that no accepted
// reading is lost.
package window
