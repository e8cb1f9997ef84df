//! Requests from server-duration histograms, for services that send metrics but no traces.
//!
//! An instrumented HTTP or RPC server reports `http.server.request.duration` (seconds) or
//! `rpc.server.call.duration` (seconds; `http.server.duration` and `rpc.server.duration` in
//! milliseconds under older conventions), one histogram series per status. A minute's bucket
//! increments are its requests: their count, the failed ones (an HTTP status of 500 or more; a
//! gRPC status the OpenTelemetry conventions call a server error), and their latency, each
//! bucket's increment added to a sketch at the bucket's midpoint (the last bound for the
//! overflow bucket). The result is a [`SpanPane`], so the windows treat it as they treat
//! spans; a service with both keeps its spans. Cumulative series are differenced like counters
//! (a decrease or a new start time is a reset); the first point of a series only sets its
//! baseline.

use std::collections::HashMap;

use super::span_pane::SpanPane;
use super::LatencySketch;
use crate::record::{MetricPoint, MetricValue};
use crate::time::Pane;

/// gRPC status codes that are server errors: UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
/// INTERNAL, UNAVAILABLE, DATA_LOSS.
const GRPC_SERVER_ERRORS: [&str; 6] = ["2", "4", "12", "13", "14", "15"];

/// Milliseconds per unit of a server-duration histogram, or `None` for any other metric.
pub fn server_duration_unit_ms(point: &MetricPoint) -> Option<f64> {
    match point.name.as_str() {
        "http.server.request.duration" | "rpc.server.call.duration" => Some(1000.0),
        "http.server.duration" | "rpc.server.duration" => Some(1.0),
        _ => None,
    }
}

fn failed(point: &MetricPoint) -> bool {
    let http = point
        .attribute("http.response.status_code")
        .or_else(|| point.attribute("http.status_code"))
        .and_then(|code| code.parse::<u16>().ok());
    let grpc = point.attribute("rpc.grpc.status_code");
    http.is_some_and(|code| code >= 500) || grpc.is_some_and(|c| GRPC_SERVER_ERRORS.contains(&c))
}

/// The last cumulative point of a histogram series.
#[derive(Debug, Clone)]
struct Previous {
    time_ns: u64,
    start_ns: u64,
    buckets: Vec<u64>,
    pane: Pane,
}

/// A histogram series: service, instance, metric name, kept attributes.
type Series = (String, String, String, Vec<(String, String)>);

/// Histogram series state, carried from pane to pane in pane order.
#[derive(Default)]
pub struct HistogramState {
    series: HashMap<Series, Previous>,
}

impl HistogramState {
    /// Bucket increments of one point: the delta point itself, or the difference from the
    /// series' previous cumulative point. `None` for a series' first point.
    fn increments(&mut self, point: &MetricPoint, pane: Pane) -> Option<Vec<u64>> {
        let MetricValue::Histogram {
            bucket_counts,
            cumulative,
            ..
        } = &point.value
        else {
            return None;
        };
        if !cumulative {
            return Some(bucket_counts.clone());
        }
        let key = (
            point.service().to_string(),
            point.resource.instance_key().to_string(),
            point.name.clone(),
            point.attributes.clone(),
        );
        let current = Previous {
            time_ns: point.time_ns,
            start_ns: point.start_ns,
            buckets: bucket_counts.clone(),
            pane,
        };
        let previous = self.series.insert(key, current)?;
        if point.time_ns <= previous.time_ns {
            return Some(vec![0; bucket_counts.len()]);
        }
        let same_shape = previous.buckets.len() == bucket_counts.len();
        let grew = same_shape
            && bucket_counts
                .iter()
                .zip(&previous.buckets)
                .all(|(c, p)| c >= p);
        if !grew || point.start_ns != previous.start_ns {
            return Some(bucket_counts.clone());
        }
        Some(
            bucket_counts
                .iter()
                .zip(&previous.buckets)
                .map(|(c, p)| c - p)
                .collect(),
        )
    }

    /// Drops series without a point for `ttl` panes.
    pub fn prune(&mut self, pane: Pane, ttl: Pane) {
        self.series
            .retain(|_, previous| previous.pane + ttl >= pane);
    }
}

/// Where a bucket's requests are put: the midpoint of its bounds (half the first bound for
/// the first bucket, the last bound for the overflow bucket).
fn midpoint(bounds: &[f64], bucket: usize) -> f64 {
    match (
        bucket.checked_sub(1).and_then(|i| bounds.get(i)),
        bounds.get(bucket),
    ) {
        (Some(lower), Some(upper)) => (lower + upper) / 2.0,
        (None, Some(upper)) => upper / 2.0,
        (Some(lower), None) => *lower,
        (None, None) => 0.0,
    }
}

/// The requests a service's server-duration histograms report for `pane`, if it sends any
/// whose increments are known. `points` are the service's points in series and time order.
pub fn served(
    service: &str,
    pane: Pane,
    points: &[MetricPoint],
    state: &mut HistogramState,
) -> Option<SpanPane> {
    let mut result: Option<SpanPane> = None;
    for point in points {
        let Some(unit_ms) = server_duration_unit_ms(point) else {
            continue;
        };
        let Some(increments) = state.increments(point, pane) else {
            continue;
        };
        let MetricValue::Histogram { bounds, .. } = &point.value else {
            continue;
        };
        let pane_of_service = result.get_or_insert_with(|| empty(service, pane));
        let requests: u64 = increments.iter().sum();
        pane_of_service.requests += requests as f64;
        if failed(point) {
            pane_of_service.errors += requests as f64;
        }
        for (bucket, count) in increments.iter().enumerate().filter(|(_, c)| **c > 0) {
            let value_ms = midpoint(bounds, bucket) * unit_ms;
            pane_of_service
                .latency
                .add_weighted(value_ms, *count as f64);
        }
    }
    result
}

fn empty(service: &str, pane: Pane) -> SpanPane {
    SpanPane {
        service: service.to_string(),
        pane,
        requests: 0.0,
        errors: 0.0,
        latency: LatencySketch::default(),
        operation: None,
        http_status: None,
        version: None,
        region: None,
        users: None,
        shape: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::record::ResourceInfo;

    /// An HTTP server's cumulative histogram, bounds in seconds as the SDKs default them.
    fn http(status: &str, time_s: u64, buckets: Vec<u64>) -> MetricPoint {
        let bounds = vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5];
        MetricPoint {
            resource: Arc::new(ResourceInfo {
                service: "cart".into(),
                ..Default::default()
            }),
            name: "http.server.request.duration".into(),
            attributes: vec![("http.response.status_code".into(), status.into())],
            start_ns: 1,
            time_ns: time_s * 1_000_000_000,
            value: MetricValue::Histogram {
                count: buckets.iter().sum(),
                sum: None,
                bounds,
                bucket_counts: buckets,
                cumulative: true,
            },
        }
    }

    #[test]
    fn bucket_increments_are_requests_errors_and_latency() {
        let mut state = HistogramState::default();
        let first = [
            http("200", 45, vec![0, 10, 0, 0, 0, 0, 0, 0]),
            http("503", 45, vec![0, 0, 0, 0, 0, 0, 0, 1]),
        ];
        assert!(
            served("cart", 0, &first, &mut state).is_none(),
            "baselines only"
        );
        let second = [
            // 90 more OK requests between 10 and 25 ms, 10 failed ones past 500 ms.
            http("200", 105, vec![0, 10, 90, 0, 0, 0, 0, 0]),
            http("503", 105, vec![0, 0, 0, 0, 0, 0, 0, 11]),
        ];
        let pane = served("cart", 1, &second, &mut state).unwrap();
        assert_eq!((pane.requests, pane.errors), (100.0, 10.0));
        let p50 = pane.latency.quantile(0.5).unwrap();
        assert!(
            (p50 - 17.5).abs() / 17.5 < 0.02,
            "midpoint of 10..25 ms: {p50}"
        );
        let p99 = pane.latency.quantile(0.99).unwrap();
        assert!(
            (p99 - 500.0).abs() / 500.0 < 0.02,
            "the overflow bucket's bound: {p99}"
        );
        // A restarted server (counts fall) starts over: its counts are all new.
        let restarted = [http("200", 165, vec![0, 0, 5, 0, 0, 0, 0, 0])];
        let pane = served("cart", 2, &restarted, &mut state).unwrap();
        assert_eq!(pane.requests, 5.0);
    }

    #[test]
    fn grpc_server_errors_are_failures_and_other_metrics_are_not_read() {
        let mut point = http("200", 60, vec![0, 3]);
        point.name = "rpc.server.call.duration".into();
        point.attributes = vec![("rpc.grpc.status_code".into(), "14".into())];
        assert!(failed(&point));
        point.attributes = vec![("rpc.grpc.status_code".into(), "5".into())];
        assert!(!failed(&point), "NOT_FOUND is the client's error");
        point.name = "http.client.request.duration".into();
        assert_eq!(server_duration_unit_ms(&point), None);
    }
}
