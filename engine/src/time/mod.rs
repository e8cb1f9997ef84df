//! Event time: one-minute panes and the watermarks that close them.
//!
//! The dataflow's timestamp is a pane index (minutes since the Unix epoch). A source's
//! watermark says "no record older than this will come"; the earliest pane that may still
//! receive records is the timely input's time, so a pane's window closes exactly when the
//! timely frontier passes it.

mod pane_join;
mod watermark;

pub use pane_join::PaneJoin;
pub use watermark::Watermarks;

/// A one-minute pane: minutes since the Unix epoch. It is also the dataflow timestamp type.
pub type Pane = u64;

/// Length of a pane in nanoseconds.
pub const PANE_NS: u64 = 60 * 1_000_000_000;

/// The pane an event time (ns since the epoch) falls in.
pub fn pane_of(time_ns: u64) -> Pane {
    time_ns / PANE_NS
}

/// A minute in microseconds, the unit of feature rows' times.
pub const MINUTE_US: i64 = 60_000_000;

/// The minute (since the epoch) of a feature row's time in µs: the step a learned model
/// keys its per-service state by, in training and in the job alike.
pub fn minute_of_us(time_us: i64) -> i64 {
    time_us.div_euclid(MINUTE_US)
}

/// First nanosecond of a pane.
pub fn pane_start_ns(pane: Pane) -> u64 {
    pane.saturating_mul(PANE_NS)
}
