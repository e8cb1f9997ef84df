//! Feature rows against a brute-force reference computed from the same simulated input:
//! counts and rates exactly, quantiles within the sketch's 1% bound.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aiops_engine::config::JobConfig;
use aiops_engine::otlp::{decode_metrics, decode_spans, Decoding};
use aiops_engine::record::Encoding;
use aiops_engine::record::{MetricPoint, MetricValue, Span};

use crate::common::{number, read_operation_rows, read_rows, run_ok_with_env};
use crate::common::{summary_value, Row, START};

const SEED: &str = "5";
const SERVICES: &str = "8";
const DURATION: &str = "30m";

/// Decodes everything the simulator emits for the run's configuration.
fn simulated_records() -> (Vec<Span>, Vec<MetricPoint>) {
    let mut config = JobConfig::load(None, Vec::new()).expect("defaults");
    config.simulator.seed = SEED.parse().unwrap();
    config.simulator.services = SERVICES.parse().unwrap();
    config.simulator.start = START.into();
    config.simulator.duration = Some(DURATION.into());
    let sim = Arc::new(aiops_engine::job::simulator(&config, 0).expect("simulator"));
    let mut shard = sim.shard(0, 1);
    let (mut spans, mut points) = (Vec::new(), Vec::new());
    while let Some(second) = shard.next_second() {
        if let Some(traces) = second.traces {
            let bytes = Encoding::OtlpProto.encode(&traces);
            assert!(decode_spans(
                &bytes,
                Encoding::OtlpProto,
                &Decoding::default(),
                &mut spans
            )
            .unwrap()
            .is_empty());
        }
        if let Some(metrics) = second.metrics {
            let bytes = Encoding::OtlpProto.encode(&metrics);
            assert!(decode_metrics(
                &bytes,
                Encoding::OtlpProto,
                &Decoding::default(),
                &mut points
            )
            .unwrap()
            .is_empty());
        }
    }
    (spans, points)
}

#[derive(Default)]
struct Minute {
    requests: u64,
    errors: u64,
    latencies: Vec<f64>,
    any_span: bool,
    users: BTreeSet<u64>,
}

fn minute_of(ns: u64) -> i64 {
    (ns / 60_000_000_000) as i64
}

fn row_minute(row: &Row) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&row["time"])
        .expect("rfc3339 time")
        .timestamp()
        / 60
}

fn exact_quantile(mut values: Vec<f64>, q: f64) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    (!values.is_empty()).then(|| values[(q * (values.len() - 1) as f64) as usize])
}

/// CPU percent as metric_map.rs defines it: mean over pods of the mean over timestamps.
fn reference_cpu(points: &[&MetricPoint]) -> Option<f64> {
    let mut per_pod: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for point in points.iter().filter(|p| p.name == "system.cpu.utilization") {
        if let MetricValue::Gauge(value) = point.value {
            per_pod
                .entry(point.resource.instance_key())
                .or_default()
                .push(value);
        }
    }
    let means: Vec<f64> = per_pod
        .values()
        .map(|v| v.iter().sum::<f64>() / v.len() as f64)
        .collect();
    (!means.is_empty()).then(|| means.iter().sum::<f64>() / means.len() as f64 * 100.0)
}

/// Callers and callees per (service, minute), by the pairing rules stated in
/// engine/src/graph/pairing.rs, computed over the whole input at once: a cross-service
/// parent/child pair at most one minute apart is a call at the later minute; an unanswered
/// outgoing span naming a peer is a call to that peer one minute later.
fn reference_neighbours(
    spans: &[Span],
) -> BTreeMap<(String, i64), (BTreeSet<String>, BTreeSet<String>)> {
    use aiops_engine::record::SpanKind;
    let by_id: BTreeMap<([u8; 16], [u8; 8]), &Span> =
        spans.iter().map(|s| ((s.trace_id, s.span_id), s)).collect();
    let mut answered: BTreeSet<([u8; 16], [u8; 8])> = BTreeSet::new();
    let mut calls: Vec<(String, String, i64)> = Vec::new();
    for child in spans {
        let Some(parent) = child
            .parent_span_id
            .and_then(|p| by_id.get(&(child.trace_id, p)))
        else {
            continue;
        };
        let (parent_minute, child_minute) = (minute_of(parent.start_ns), minute_of(child.start_ns));
        if parent.service() == child.service() || (parent_minute - child_minute).abs() > 1 {
            continue;
        }
        answered.insert((parent.trace_id, parent.span_id));
        calls.push((
            name(parent.service()),
            name(child.service()),
            parent_minute.max(child_minute),
        ));
    }
    for span in spans {
        let outgoing = matches!(span.kind, SpanKind::Client | SpanKind::Producer);
        let peer = span
            .peer_service
            .clone()
            .or(span.db_system.clone())
            .or(span.server_address.clone());
        if let (true, Some(peer)) = (outgoing, peer) {
            if !answered.contains(&(span.trace_id, span.span_id)) {
                calls.push((name(span.service()), peer, minute_of(span.start_ns) + 1));
            }
        }
    }
    let mut lists: BTreeMap<(String, i64), (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for (caller, callee, minute) in calls {
        lists
            .entry((callee.clone(), minute))
            .or_default()
            .0
            .insert(caller.clone());
        lists.entry((caller, minute)).or_default().1.insert(callee);
    }
    lists
}

/// A service key's name: the rows name services within their environment.
fn name(key: &str) -> String {
    aiops_engine::record::key_parts(key).0.to_string()
}

/// A list column as the test helpers print it ("[a, b]"), as a set.
fn list(text: &str) -> BTreeSet<String> {
    let inner = text.trim_start_matches('[').trim_end_matches(']');
    inner
        .split(", ")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The run both references are computed for, writing to `data`.
fn run_args(data: &std::path::Path) -> Vec<&str> {
    let data = data.to_str().unwrap();
    let args = [
        "--data-dir",
        data,
        "--start",
        START,
        "--duration",
        DURATION,
        "--speed",
        "0",
    ];
    let more = ["--seed", SEED, "--services", SERVICES, "-q"];
    ["run"].into_iter().chain(args).chain(more).collect()
}

#[test]
fn feature_rows_match_a_brute_force_reference() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = run_ok_with_env(&run_args(dir.path()), &[]);
    assert_eq!(summary_value(&stdout, "late records"), 0);
    assert_eq!(summary_value(&stdout, "bad input"), 0);

    let (spans, points) = simulated_records();
    let mut minutes: BTreeMap<(String, i64), Minute> = BTreeMap::new();
    for span in &spans {
        let minute = minutes
            .entry((name(span.service()), minute_of(span.start_ns)))
            .or_default();
        minute.any_span = true;
        minute.users.extend(span.user);
        if span.is_request() {
            minute.requests += 1;
            minute.errors += u64::from(span.is_error());
            minute.latencies.push(span.duration_ms());
        }
    }
    let mut metric_minutes: BTreeMap<(String, i64), Vec<&MetricPoint>> = BTreeMap::new();
    for point in &points {
        metric_minutes
            .entry((name(point.service()), minute_of(point.time_ns)))
            .or_default()
            .push(point);
    }
    let first_minute: BTreeMap<&str, i64> = minutes
        .keys()
        .rev()
        .map(|(s, m)| (s.as_str(), *m))
        .collect();

    let rows = read_rows(dir.path());
    // The simulator's resources are all in "production": rows name services within it.
    assert!(rows.iter().all(|r| r["environment"] == "production"));
    let keys: BTreeSet<(String, i64)> = rows
        .iter()
        .map(|r| (r["service_name"].clone(), row_minute(r)))
        .collect();
    let expected: BTreeSet<(String, i64)> = minutes
        .keys()
        .chain(metric_minutes.keys())
        .cloned()
        .collect();
    assert_eq!(
        keys, expected,
        "one row per (service, minute) with any span or metric"
    );
    assert!(rows.len() >= 8 * 30);

    let mut checked_quantiles = 0;
    let mut checked_edges = 0;
    let mut checked_users = 0;
    let neighbours = reference_neighbours(&spans);
    for row in &rows {
        let service = row["service_name"].as_str();
        let minute = row_minute(row);
        let window = |length: i64| {
            (minute - length + 1..=minute).filter_map(|m| minutes.get(&(service.to_string(), m)))
        };
        for (column, length) in [
            ("request_rate_1m", 1),
            ("request_rate_5m", 5),
            ("request_rate_15m", 15),
            ("request_rate_1h", 60),
        ] {
            let covered = length.min(minute - first_minute[service] + 1);
            let requests: u64 = window(length).map(|m| m.requests).sum();
            assert_eq!(
                number(row, column),
                Some(requests as f64 / (covered * 60) as f64),
                "{column} of {service} at {minute}"
            );
        }
        for (column, length) in [("error_rate_1m", 1), ("error_rate_5m", 5)] {
            let (requests, errors) =
                window(length).fold((0, 0), |(r, e), m| (r + m.requests, e + m.errors));
            let expected = (requests > 0).then(|| errors as f64 / requests as f64);
            assert_eq!(
                number(row, column),
                expected,
                "{column} of {service} at {minute}"
            );
        }
        for (suffix, length) in [("1m", 1), ("5m", 5)] {
            let latencies: Vec<f64> = window(length)
                .flat_map(|m| m.latencies.iter().copied())
                .collect();
            for (q, name) in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")] {
                let column = format!("{name}_latency_{suffix}");
                let exact = exact_quantile(latencies.clone(), q);
                let got = number(row, &column);
                match (got, exact) {
                    (Some(got), Some(exact)) => {
                        assert!(
                            (got - exact).abs() <= 0.01 * exact + 1e-9,
                            "{column} of {service} at {minute}: {got} vs exact {exact}"
                        );
                        checked_quantiles += 1;
                    }
                    (got, exact) => assert_eq!(got, exact, "{column} of {service} at {minute}"),
                }
            }
        }
        let cpu = metric_minutes
            .get(&(service.to_string(), minute))
            .and_then(|p| reference_cpu(p));
        match (number(row, "cpu_usage"), cpu) {
            (Some(got), Some(expected)) => assert!(
                (got - expected).abs() < 1e-9 * expected.max(1.0),
                "cpu of {service} at {minute}"
            ),
            (got, expected) => assert_eq!(got, expected, "cpu of {service} at {minute}"),
        }
        assert_eq!(
            number(row, "hour_of_day"),
            Some(((minute / 60) % 24) as f64)
        );
        assert_eq!(row["day_of_week"], "1", "2026-01-05 is a Monday");
        assert_eq!(row["is_business_hour"], "true");
        assert_eq!(row["region"], "eu-west-1");
        assert_eq!(row["deployment_version"], "1.4.2");
        let (upstream, downstream) = neighbours
            .get(&(service.to_string(), minute))
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            list(&row["upstream_services"]),
            upstream,
            "callers of {service} at {minute}"
        );
        assert_eq!(
            list(&row["downstream_services"]),
            downstream,
            "callees of {service} at {minute}"
        );
        let users = minutes
            .get(&(service.to_string(), minute))
            .map_or(0, |m| m.users.len());
        let counted = number(row, "distinct_users").unwrap_or(0.0);
        assert_eq!(counted, users as f64, "users of {service} at {minute}");
        checked_users += usize::from(users > 0);
        let distinct = upstream.union(&downstream).count();
        assert_eq!(number(row, "dependency_count"), Some(distinct as f64));
        checked_edges += usize::from(distinct > 0);
        assert_eq!(
            row["is_anomaly"].is_empty(),
            row["anomaly_score"].is_empty()
        );
        assert_eq!(row["root_cause"].is_empty(), row["incident_id"].is_empty());
    }
    assert!(checked_quantiles > 1_000, "{checked_quantiles}");
    assert!(checked_edges > 200, "rows with neighbours: {checked_edges}");
    // The entry service's requests name their users; a minute of them is many users.
    assert!(checked_users >= 29, "rows with users: {checked_users}");
}

/// The reference operation rows of a (service, minute): its requests by span name, the
/// `kept` busiest (ties: the smaller name) and the rest merged under the overflow name.
fn reference_operations<'a>(
    spans: &[&'a Span],
    kept: usize,
) -> Vec<(String, Vec<&'a Span>, usize)> {
    let mut by_name: BTreeMap<&str, Vec<&'a Span>> = BTreeMap::new();
    for span in spans {
        by_name.entry(span.name.as_str()).or_default().push(span);
    }
    let mut named: Vec<(&str, Vec<&'a Span>)> = by_name.into_iter().collect();
    named.sort_by(|(na, a), (nb, b)| b.len().cmp(&a.len()).then_with(|| na.cmp(nb)));
    let rest: Vec<(&str, Vec<&'a Span>)> = named.split_off(kept.min(named.len()));
    let mut rows: Vec<(String, Vec<&'a Span>, usize)> = named
        .into_iter()
        .map(|(name, spans)| (name.to_string(), spans, 0))
        .collect();
    if !rest.is_empty() {
        let merged = rest.iter().flat_map(|(_, s)| s.iter().copied()).collect();
        rows.push(("(other operations)".to_string(), merged, rest.len()));
    }
    rows
}

#[test]
fn operation_rows_match_a_brute_force_reference_and_the_overflow_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Two kept per service-minute: services serving three operations overflow.
    let two = [("AIOPS_FEATURES__MAX_OPERATIONS", "2")];
    let stdout = run_ok_with_env(&run_args(dir.path()), &two);
    let (spans, _) = simulated_records();
    let mut minutes: BTreeMap<(String, i64), Vec<&Span>> = BTreeMap::new();
    for span in spans.iter().filter(|s| s.is_request()) {
        let key = (name(span.service()), minute_of(span.start_ns));
        minutes.entry(key).or_default().push(span);
    }
    let mut expected: BTreeMap<(String, String, i64), (Vec<&Span>, usize)> = BTreeMap::new();
    for ((service, minute), spans) in &minutes {
        for (operation, spans, merged) in reference_operations(spans, 2) {
            expected.insert((service.clone(), operation, *minute), (spans, merged));
        }
    }
    let rows = read_operation_rows(dir.path());
    assert_eq!(summary_value(&stdout, "operation rows"), rows.len() as u64);
    let keys: Vec<(String, String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["service_name"].clone(),
                r["operation"].clone(),
                row_minute(r),
            )
        })
        .collect();
    assert_eq!(keys, expected.keys().cloned().collect::<Vec<_>>());
    let mut overflowed = 0;
    for (row, key) in rows.iter().zip(&keys) {
        let (spans, merged) = &expected[key];
        let errors = spans.iter().filter(|s| s.is_error()).count();
        assert_eq!(number(row, "calls"), Some(spans.len() as f64), "{key:?}");
        assert_eq!(number(row, "errors"), Some(errors as f64), "{key:?}");
        assert_eq!(number(row, "merged_operations"), Some(*merged as f64));
        overflowed += usize::from(*merged > 0);
        let latencies: Vec<f64> = spans.iter().map(|s| s.duration_ms()).collect();
        for (q, column) in [(0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")] {
            let exact = exact_quantile(latencies.clone(), q).unwrap();
            let got = number(row, column).unwrap();
            assert!(
                (got - exact).abs() <= 0.01 * exact + 1e-9,
                "{column} of {key:?}: {got} vs exact {exact}"
            );
        }
    }
    assert!(overflowed >= 30, "overflow rows: {overflowed}");
    assert!(rows.iter().all(|r| r["environment"] == "production"));
}
