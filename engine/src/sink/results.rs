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

/// Publishes the calls of each closed minute (`inspect_core` on the call partials).
pub struct PublishEdges {
    stats: Arc<Stats>,
    pending: BTreeMap<Pane, Vec<(EdgeKey, EdgeTotals)>>,
}

impl PublishEdges {
    /// Publishes to `stats.published`, capping series at `cap` (the graph's edge cap).
    pub fn new(stats: Arc<Stats>, cap: usize) -> Self {
        stats.published.with(|board| board.cap = board.cap.max(cap));
        PublishEdges {
            stats,
            pending: BTreeMap::new(),
        }
    }

    /// Holds partials until their minute closes, then publishes the minute.
    pub fn observe(&mut self, event: Result<(&Stamp<Pane>, &Vec<EdgePartial>), &[Pane]>) {
        match event {
            Ok((stamp, partials)) => {
                let entry = self.pending.entry(time_of(stamp)).or_default();
                entry.extend(partials.iter().map(|p| (key_of(p), totals_of(p))));
            }
            Err(frontier) => {
                let open = frontier.iter().min().copied().unwrap_or(Pane::MAX);
                let later = self.pending.split_off(&open);
                let closed = std::mem::replace(&mut self.pending, later);
                if let Some(&last) = closed.keys().last() {
                    let through_s = (pane_start_ns(last) / 1_000_000_000) as i64;
                    let edges = closed.into_values().flatten();
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
    pending: BTreeMap<Pane, Vec<(String, ServiceMinute)>>,
}

impl PublishRows {
    /// Publishes to `stats.published`, capping series at `cap`.
    pub fn new(stats: Arc<Stats>, cap: usize) -> Self {
        stats.published.with(|board| board.cap = board.cap.max(cap));
        PublishRows {
            stats,
            pending: BTreeMap::new(),
        }
    }

    /// Holds rows until their minute closes, then publishes the minute.
    pub fn observe(&mut self, event: Result<(&Stamp<Pane>, &Vec<FeatureRow>), &[Pane]>) {
        match event {
            Ok((stamp, rows)) => {
                let entry = self.pending.entry(time_of(stamp)).or_default();
                entry.extend(
                    rows.iter()
                        .map(|row| (row.service_name.clone(), minute_of(row))),
                );
            }
            Err(frontier) => {
                let open = frontier.iter().min().copied().unwrap_or(Pane::MAX);
                let later = self.pending.split_off(&open);
                let closed = std::mem::replace(&mut self.pending, later);
                if !closed.is_empty() {
                    let services = closed.into_values().flatten();
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
