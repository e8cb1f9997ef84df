//! Results in Prometheus: each worker's observers move the service graph's calls and the
//! latest rows onto the shared [`crate::published`] board, which `/metrics` renders under
//! Grafana Tempo's service-graph names and as per-service gauges.
//!
//! A minute is published whole: observers hold what they saw of a minute until their input's
//! frontier passes it, then add it under the board's lock, so a scrape never sees half a
//! minute of one worker. Workers hold disjoint edges and services (both streams are exchanged
//! by key), so their minutes add up without coordination.

use std::collections::BTreeMap;
use std::sync::Arc;

use timely::progress::Stamp;

use crate::features::FeatureRow;
use crate::graph::EdgePartial;
use crate::published::{EdgeKey, EdgeTotals, ServiceMinute};
use crate::stats::Stats;
use crate::time::{pane_start_ns, Pane};

/// What an observer saw, held by timely time until the frontier passes it.
struct ByMinute<T> {
    pending: BTreeMap<Pane, Vec<T>>,
}

impl<T> ByMinute<T> {
    fn new() -> Self {
        ByMinute {
            pending: BTreeMap::new(),
        }
    }

    /// Holds `items` of the batch stamped `stamp`.
    fn hold(&mut self, stamp: &Stamp<Pane>, items: impl IntoIterator<Item = T>) {
        self.pending
            .entry(time_of(stamp))
            .or_default()
            .extend(items);
    }

    /// Everything held before the `frontier` (an empty frontier: everything), with the last
    /// minute it covers; `None` when nothing closed.
    fn closed(&mut self, frontier: &[Pane]) -> Option<(Pane, Vec<T>)> {
        let open = frontier.iter().min().copied().unwrap_or(Pane::MAX);
        let later = self.pending.split_off(&open);
        let closed = std::mem::replace(&mut self.pending, later);
        let last = *closed.keys().last()?;
        Some((last, closed.into_values().flatten().collect()))
    }
}

/// Publishes the calls of each closed minute (`inspect_core` on the call partials).
pub struct PublishEdges {
    stats: Arc<Stats>,
    held: ByMinute<(EdgeKey, EdgeTotals)>,
}

impl PublishEdges {
    /// Publishes to `stats.published`, capping series at `cap` (the graph's edge cap).
    pub fn new(stats: Arc<Stats>, cap: usize) -> Self {
        stats.published.with(|board| board.cap = board.cap.max(cap));
        PublishEdges {
            stats,
            held: ByMinute::new(),
        }
    }

    /// Holds partials until their minute closes, then publishes the minute.
    pub fn observe(&mut self, event: Result<(&Stamp<Pane>, &Vec<EdgePartial>), &[Pane]>) {
        match event {
            Ok((stamp, partials)) => self
                .held
                .hold(stamp, partials.iter().map(|p| (key_of(p), totals_of(p)))),
            Err(frontier) => {
                if let Some((last, edges)) = self.held.closed(frontier) {
                    let through_s = (pane_start_ns(last) / 1_000_000_000) as i64;
                    self.stats
                        .published
                        .with(|board| board.add_edges(through_s, edges));
                }
            }
        }
    }
}

/// The timely time of a batch: held until the frontier passes it.
fn time_of(stamp: &Stamp<Pane>) -> Pane {
    stamp.least().copied().unwrap_or_default()
}

fn key_of(partial: &EdgePartial) -> EdgeKey {
    EdgeKey {
        client: partial.caller.clone(),
        server: partial.callee.clone(),
        connection_type: if partial.virtual_callee {
            "virtual_node"
        } else {
            ""
        },
    }
}

fn totals_of(partial: &EdgePartial) -> EdgeTotals {
    EdgeTotals {
        requests: partial.calls,
        failed: partial.errors,
        server: partial.server,
        client: partial.client,
    }
}

/// Publishes each service's latest closed minute (`inspect_core` on the scored rows).
pub struct PublishRows {
    stats: Arc<Stats>,
    held: ByMinute<(String, ServiceMinute)>,
}

impl PublishRows {
    /// Publishes to `stats.published`, capping series at `cap`.
    pub fn new(stats: Arc<Stats>, cap: usize) -> Self {
        stats.published.with(|board| board.cap = board.cap.max(cap));
        PublishRows {
            stats,
            held: ByMinute::new(),
        }
    }

    /// Holds rows until their minute closes, then publishes the minute.
    pub fn observe(&mut self, event: Result<(&Stamp<Pane>, &Vec<FeatureRow>), &[Pane]>) {
        match event {
            Ok((stamp, rows)) => self.held.hold(
                stamp,
                rows.iter().map(|row| (row.service_key(), minute_of(row))),
            ),
            Err(frontier) => {
                if let Some((_, services)) = self.held.closed(frontier) {
                    self.stats
                        .published
                        .with(|board| board.set_services(services));
                }
            }
        }
    }
}

fn minute_of(row: &FeatureRow) -> ServiceMinute {
    ServiceMinute {
        minute_s: row.time_us.div_euclid(1_000_000),
        request_rate: row.request_rate_1m,
        error_rate: row.error_rate_1m,
        p99_seconds: row.p99_latency_1m.map(|ms| ms / 1_000.0),
        anomaly_score: row.anomaly_score,
        anomalous: row.is_anomaly == Some(true),
    }
}
