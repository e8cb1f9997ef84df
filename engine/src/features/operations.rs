//! Operation-level features: per (service, operation, minute) calls, errors and latency
//! quantiles. A method that throws or answers wrong moves its own operation long before it
//! moves its service's totals, so root causes inside a service start here.
//!
//! Counted in the `span_panes` operator beside the service's pane (the spans are routed there
//! already: no second exchange, no second copy). The operations are the service's requests
//! (see [`Span::is_request`]) by span name, so a service's operation calls add up to its
//! `request_count`. Bounded per service-minute: at most [`TRACKED_PER_KEPT`] × `max_operations`
//! distinct names are tracked as they come (later names go straight to the overflow), and when
//! the minute closes the `max_operations` busiest are kept (ties: the smaller name, so the
//! choice never depends on arrival order) and the rest merged into one row named [`OVERFLOW`],
//! whose `merged_operations` says how many distinct names it holds.

use serde::{Deserialize, Serialize};

use super::LatencySketch;
use crate::record::Span;
use crate::time::Pane;

/// Operation names and their hashes as keys, hashed by foldhash (see `span_pane`).
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
type FastSet<T> = std::collections::HashSet<T, foldhash::fast::FixedState>;

/// The operation name of the overflow row.
pub const OVERFLOW: &str = "(other operations)";

/// The operations kept per service-minute unless `[features] max_operations` says otherwise.
pub const DEFAULT_MAX_OPERATIONS: usize = 50;

/// Distinct names tracked per kept operation: enough that the busiest are nearly always among
/// the tracked in a minute whose names arrive in any order, while memory stays bounded.
pub const TRACKED_PER_KEPT: usize = 4;

/// Distinct names the overflow row counts exactly; beyond it says "at least this many".
const MAX_MERGED_COUNTED: usize = 4_096;

/// One operation of one service in one minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRow {
    /// Service key (see [`crate::record::service_key`]).
    pub service: String,
    /// The minute.
    pub pane: Pane,
    /// Span name, or [`OVERFLOW`].
    pub operation: String,
    /// Requests served, each sampled span counted by its weight.
    pub calls: f64,
    /// Requests that failed, weighted alike.
    pub errors: f64,
    /// Latency quantiles of the requests, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Distinct operations merged into this row: 0 but for the overflow row.
    pub merged_operations: u32,
}

#[derive(Default)]
struct Counts {
    calls: f64,
    errors: f64,
    latency: LatencySketch,
    /// Requests as counted (unweighted), for the most frequent operation of the pane.
    spans: u64,
}

impl Counts {
    fn add(&mut self, span: &Span) {
        self.calls += span.weight;
        if span.is_error() {
            self.errors += span.weight;
        }
        self.latency.add_weighted(span.duration_ms(), span.weight);
        self.spans += 1;
    }

    fn merge(&mut self, other: &Counts) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.latency.merge(&other.latency);
        self.spans += other.spans;
    }

    fn row(&self, service: &str, pane: Pane, operation: &str, merged: usize) -> OperationRow {
        let quantile = |q| self.latency.quantile(q).unwrap_or(0.0);
        OperationRow {
            service: service.to_string(),
            pane,
            operation: operation.to_string(),
            calls: self.calls,
            errors: self.errors,
            p50_ms: quantile(0.5),
            p95_ms: quantile(0.95),
            p99_ms: quantile(0.99),
            merged_operations: merged as u32,
        }
    }
}

/// The requests of one service-minute by operation.
#[derive(Default)]
pub(super) struct OperationCounts {
    by_name: FastMap<String, Counts>,
    overflow: Counts,
    /// Hashes of the names that went straight to the overflow (at most [`MAX_MERGED_COUNTED`]).
    overflow_names: FastSet<u64>,
}

impl OperationCounts {
    /// Counts a request under its span name; `max_operations` bounds the names tracked.
    pub(super) fn add(&mut self, span: &Span, max_operations: usize) {
        if let Some(counts) = self.by_name.get_mut(span.name.as_str()) {
            return counts.add(span);
        }
        if self.by_name.len() < max_operations.saturating_mul(TRACKED_PER_KEPT) {
            let mut counts = Counts::default();
            counts.add(span);
            self.by_name.insert(span.name.clone(), counts);
            return;
        }
        self.overflow.add(span);
        if self.overflow_names.len() < MAX_MERGED_COUNTED {
            self.overflow_names.insert(super::service_hash(&span.name));
        }
    }

    /// The most frequent operation by requests counted (ties: the smallest name).
    pub(super) fn most_frequent(&self) -> Option<String> {
        self.by_name
            .iter()
            .max_by(|(na, a), (nb, b)| a.spans.cmp(&b.spans).then_with(|| nb.cmp(na)))
            .map(|(name, _)| name.clone())
    }

    /// The minute's rows: the `max_operations` busiest by name, then the overflow row if any
    /// request went there.
    pub(super) fn rows(
        self,
        service: &str,
        pane: Pane,
        max_operations: usize,
    ) -> Vec<OperationRow> {
        let mut named: Vec<(String, Counts)> = self.by_name.into_iter().collect();
        named.sort_by(|(na, a), (nb, b)| b.calls.total_cmp(&a.calls).then_with(|| na.cmp(nb)));
        let mut overflow = self.overflow;
        let mut merged = self.overflow_names.len();
        for (_, counts) in named.iter().skip(max_operations) {
            overflow.merge(counts);
            merged += 1;
        }
        named.truncate(max_operations);
        let mut rows: Vec<OperationRow> = named
            .iter()
            .map(|(name, counts)| counts.row(service, pane, name, 0))
            .collect();
        if overflow.spans > 0 {
            rows.push(overflow.row(service, pane, OVERFLOW, merged));
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{test_span, SpanKind};

    fn request(name: &str, ms: u64, error: bool) -> Span {
        Span {
            kind: SpanKind::Server,
            end_ns: ms * 1_000_000,
            status_error: error,
            ..test_span(name)
        }
    }

    #[test]
    fn each_operation_gets_its_counts_and_quantiles() {
        let mut counts = OperationCounts::default();
        for ms in 1..=100 {
            counts.add(&request("GET /a", ms, ms > 90), 50);
        }
        counts.add(&request("GET /b", 7, false), 50);
        assert_eq!(counts.most_frequent().as_deref(), Some("GET /a"));
        let rows = counts.rows("api", 3, 50);
        assert_eq!(rows.len(), 2);
        let a = &rows[0];
        assert_eq!(
            (a.operation.as_str(), a.calls, a.errors),
            ("GET /a", 100.0, 10.0)
        );
        assert!((a.p50_ms - 50.0).abs() <= 0.5 + 1e-9, "{}", a.p50_ms);
        assert!((a.p99_ms - 99.0).abs() <= 1.0, "{}", a.p99_ms);
        assert_eq!((rows[1].operation.as_str(), rows[1].calls), ("GET /b", 1.0));
        assert!(rows.iter().all(|r| r.merged_operations == 0 && r.pane == 3));
    }

    #[test]
    fn past_the_bound_operations_are_merged_into_one_counted_row_whatever_the_order() {
        // 2 kept, 8 tracked: op0 is busiest, op1 next; op2..op11 once each.
        let mut spans: Vec<Span> = (0..12)
            .map(|i| request(&format!("op{i}"), 5, false))
            .collect();
        spans.extend((0..5).map(|_| request("op0", 5, true)));
        spans.extend((0..3).map(|_| request("op1", 5, false)));
        let forward = rows_of(spans.iter(), 2);
        let backward = rows_of(spans.iter().rev(), 2);
        for rows in [&forward, &backward] {
            let named: Vec<(&str, f64)> = rows
                .iter()
                .map(|r| (r.operation.as_str(), r.calls))
                .collect();
            assert_eq!(named, [("op0", 6.0), ("op1", 4.0), (OVERFLOW, 10.0)]);
            assert_eq!(rows[2].merged_operations, 10);
            let total: f64 = rows.iter().map(|r| r.calls).sum();
            assert_eq!(total, spans.len() as f64, "nothing lost");
        }
        assert_eq!(forward[0].errors, 5.0);
    }

    fn rows_of<'a>(spans: impl Iterator<Item = &'a Span>, kept: usize) -> Vec<OperationRow> {
        let mut counts = OperationCounts::default();
        for span in spans {
            counts.add(span, kept);
        }
        counts.rows("api", 0, kept)
    }
}
