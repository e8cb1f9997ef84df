//! Results the job publishes as Prometheus series, beside its own counters: the service graph
//! under the names Grafana Tempo's metrics-generator uses, and per-service gauges of the latest
//! closed minute. A leaf, so that the graph stage can fill histograms and the metrics endpoint
//! can read the board without either importing the other; the dataflow's observers
//! (`sink::results`) fill it, `sink::prometheus` renders it.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Upper bounds (seconds) of the service-graph latency histograms: the metrics-generator's
/// defaults, so Tempo dashboards' bucket queries read ours unchanged.
pub const SERVICE_GRAPH_BUCKETS: [f64; 8] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];

/// Node name that stands for all series beyond [`Board`]'s cap.
pub const OVERFLOW_SERIES: &str = "__overflow__";

/// Call durations in [`SERVICE_GRAPH_BUCKETS`], weighted (a sampled call counts for the calls
/// it stands for). Counts are per bucket here, cumulative when rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SecondsHistogram {
    /// Observations per bucket; the last is above every bound (+Inf).
    pub counts: [f64; 9],
    /// Sum of the observations, seconds.
    pub sum: f64,
}

impl SecondsHistogram {
    /// Adds one duration in ms, counted `weight` times.
    pub fn add_ms(&mut self, duration_ms: f64, weight: f64) {
        let seconds = duration_ms / 1_000.0;
        let bucket = SERVICE_GRAPH_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(SERVICE_GRAPH_BUCKETS.len());
        self.counts[bucket] += weight;
        self.sum += seconds * weight;
    }

    /// Adds every observation of `other`.
    pub fn merge(&mut self, other: &SecondsHistogram) {
        self.counts
            .iter_mut()
            .zip(other.counts)
            .for_each(|(mine, theirs)| *mine += theirs);
        self.sum += other.sum;
    }

    /// Cumulative counts at each bound, then +Inf (the total).
    pub fn cumulative(&self) -> [f64; 9] {
        let mut running = 0.0;
        self.counts.map(|count| {
            running += count;
            running
        })
    }
}

/// One edge of the service graph as Tempo names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EdgeKey {
    /// The calling service.
    pub client: String,
    /// The called service or virtual node.
    pub server: String,
    /// `""` between services, `virtual_node` to a callee that reports no spans.
    pub connection_type: &'static str,
}

/// Totals of one edge since the job started (Prometheus counters only grow).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EdgeTotals {
    /// Calls.
    pub requests: f64,
    /// Failed calls.
    pub failed: f64,
    /// Durations of the callee's server spans.
    pub server: SecondsHistogram,
    /// Durations of the caller's client spans.
    pub client: SecondsHistogram,
}

impl EdgeTotals {
    fn merge(&mut self, other: &EdgeTotals) {
        self.requests += other.requests;
        self.failed += other.failed;
        self.server.merge(&other.server);
        self.client.merge(&other.client);
    }
}

/// One service's figures in its latest closed minute.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServiceMinute {
    /// Start of the minute, seconds since the epoch.
    pub minute_s: i64,
    /// Requests per second.
    pub request_rate: Option<f64>,
    /// Failed share of requests.
    pub error_rate: Option<f64>,
    /// p99 latency, seconds.
    pub p99_seconds: Option<f64>,
    /// The detector's score.
    pub anomaly_score: Option<f64>,
    /// Whether the row was flagged anomalous.
    pub anomalous: bool,
}

/// What the endpoint shows, guarded by one lock so a scrape sees whole minutes.
#[derive(Debug, Default)]
pub struct Board {
    /// Edge totals; at most `cap` edges, the rest folded into each client's overflow edge.
    pub edges: BTreeMap<EdgeKey, EdgeTotals>,
    /// Latest minute per service; at most `cap` services.
    pub services: BTreeMap<String, ServiceMinute>,
    /// Edges and services folded or left out because of the cap.
    pub over_cap: u64,
    /// Start of the latest minute whose calls are in `edges`, seconds since the epoch.
    pub edges_through_s: Option<i64>,
    /// Most edge and service series (the graph's per-minute edge cap); 0 until set.
    pub cap: usize,
}

impl Board {
    /// Adds the edge totals of closed minutes, the latest starting at `through_s`.
    pub fn add_edges(
        &mut self,
        through_s: i64,
        edges: impl IntoIterator<Item = (EdgeKey, EdgeTotals)>,
    ) {
        self.edges_through_s = self.edges_through_s.max(Some(through_s));
        for (mut key, totals) in edges {
            if !self.edges.contains_key(&key) && self.edges.len() >= self.cap.max(1) {
                self.over_cap += 1;
                key.server = OVERFLOW_SERIES.to_string();
                key.connection_type = "virtual_node";
            }
            self.edges.entry(key).or_default().merge(&totals);
        }
    }

    /// Records services' figures of a closed minute (a later minute replaces an earlier one).
    pub fn set_services(&mut self, services: impl IntoIterator<Item = (String, ServiceMinute)>) {
        for (service, minute) in services {
            let known = self.services.contains_key(&service);
            if !known && self.services.len() >= self.cap.max(1) {
                self.over_cap += 1;
                continue;
            }
            let slot = self.services.entry(service).or_default();
            if minute.minute_s >= slot.minute_s {
                *slot = minute;
            }
        }
    }
}

/// The board, shared by the workers (writers) and the metrics endpoint (reader).
#[derive(Debug, Default)]
pub struct Published {
    board: Mutex<Board>,
}

impl Published {
    /// Runs `f` on the board under its lock.
    pub fn with<T>(&self, f: impl FnOnce(&mut Board) -> T) -> T {
        f(&mut self.board.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(client: &str, server: &str) -> EdgeKey {
        EdgeKey {
            client: client.into(),
            server: server.into(),
            connection_type: "",
        }
    }

    #[test]
    fn histograms_bucket_by_upper_bound_and_accumulate() {
        let mut histogram = SecondsHistogram::default();
        histogram.add_ms(100.0, 1.0); // exactly 0.1 s: the first bucket (le is inclusive)
        histogram.add_ms(150.0, 2.0);
        histogram.add_ms(20_000.0, 1.0); // above every bound
        let cumulative = histogram.cumulative();
        assert_eq!(cumulative[0], 1.0);
        assert_eq!(cumulative[1], 3.0);
        assert_eq!(cumulative[7], 3.0);
        assert_eq!(cumulative[8], 4.0);
        assert!((histogram.sum - (0.1 + 0.3 + 20.0)).abs() < 1e-9);
    }

    #[test]
    fn the_board_sums_edges_keeps_the_latest_minute_and_caps_series() {
        let mut board = Board {
            cap: 2,
            ..Board::default()
        };
        let calls = |n| EdgeTotals {
            requests: n,
            ..EdgeTotals::default()
        };
        board.add_edges(
            60,
            [(key("a", "b"), calls(3.0)), (key("a", "c"), calls(1.0))],
        );
        board.add_edges(
            120,
            [(key("a", "b"), calls(2.0)), (key("b", "d"), calls(7.0))],
        );
        assert_eq!(board.edges_through_s, Some(120));
        assert_eq!(board.edges[&key("a", "b")].requests, 5.0);
        let overflow = EdgeKey {
            client: "b".into(),
            server: OVERFLOW_SERIES.into(),
            connection_type: "virtual_node",
        };
        assert_eq!(board.edges[&overflow].requests, 7.0, "beyond the cap");
        assert_eq!(board.over_cap, 1);

        let minute = |minute_s, rate| ServiceMinute {
            minute_s,
            request_rate: Some(rate),
            ..ServiceMinute::default()
        };
        board.set_services([("a".into(), minute(120, 2.0))]);
        board.set_services([("a".into(), minute(60, 1.0)), ("b".into(), minute(60, 4.0))]);
        assert_eq!(board.services["a"].request_rate, Some(2.0), "latest kept");
        board.set_services([("c".into(), minute(180, 1.0))]);
        assert!(!board.services.contains_key("c"), "beyond the cap");
    }
}
