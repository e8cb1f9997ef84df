//! Sampled traces: a 10 % probability-sampled copy of a simulated stream, marked the way
//! OpenTelemetry's probability samplers mark it (`tracestate` `ot=th:`), gives request rates
//! and call counts within statistical bounds of the full stream's.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::common::{generate, number, read_rows, replay};

/// The rejection threshold OpenTelemetry's samplers write for a ratio of 0.1.
const THRESHOLD_HEX: &str = "e666666666666";

/// Consistent probability sampling: a trace is kept when the randomness in the low 56 bits of
/// its id is at least the threshold, so every span of a trace shares the decision.
fn kept(trace_id_hex: &str) -> bool {
    let threshold = u64::from_str_radix(THRESHOLD_HEX, 16).unwrap() << 4;
    let randomness = u64::from_str_radix(&trace_id_hex[18..], 16).unwrap();
    randomness >= threshold
}

fn spans_mut(request: &mut Value) -> Vec<&mut Vec<Value>> {
    let mut all = Vec::new();
    for resource in request["resourceSpans"].as_array_mut().unwrap() {
        for scope in resource["scopeSpans"].as_array_mut().unwrap() {
            all.push(scope["spans"].as_array_mut().unwrap());
        }
    }
    all
}

/// Writes the sampled copy of the traces of `full` into `sampled`; returns, per service, the
/// requests of each trace (to bound the estimate's variance).
fn sample(full: &Path, sampled: &Path) -> HashMap<String, HashMap<String, f64>> {
    std::fs::create_dir_all(sampled).unwrap();
    let mut per_trace: HashMap<String, HashMap<String, f64>> = HashMap::new();
    for entry in std::fs::read_dir(full).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        if !name.starts_with("traces-") {
            std::fs::write(sampled.join(&name), text).unwrap();
            continue;
        }
        let mut lines = Vec::new();
        for line in text.lines() {
            let mut request: Value = serde_json::from_str(line).unwrap();
            count_requests(&request, &mut per_trace);
            for spans in spans_mut(&mut request) {
                spans.retain(|span| kept(span["traceId"].as_str().unwrap()));
                for span in spans.iter_mut() {
                    span["traceState"] = Value::String(format!("ot=th:{THRESHOLD_HEX}"));
                }
            }
            lines.push(request.to_string());
        }
        std::fs::write(sampled.join(&name), lines.join("\n") + "\n").unwrap();
    }
    per_trace
}

/// Requests are SERVER (2) and CONSUMER (5) spans and root spans, as the engine counts them.
fn count_requests(request: &Value, per_trace: &mut HashMap<String, HashMap<String, f64>>) {
    for resource in request["resourceSpans"].as_array().unwrap() {
        let service = resource["resource"]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv["key"] == "service.name")
            .and_then(|kv| kv["value"]["stringValue"].as_str())
            .unwrap()
            .to_string();
        for scope in resource["scopeSpans"].as_array().unwrap() {
            for span in scope["spans"].as_array().unwrap() {
                let root = span["parentSpanId"].as_str().is_none_or(str::is_empty);
                let kind = span["kind"].as_u64().unwrap_or(0);
                if root || kind == 2 || kind == 5 {
                    let trace = span["traceId"].as_str().unwrap().to_string();
                    *per_trace
                        .entry(service.clone())
                        .or_default()
                        .entry(trace)
                        .or_default() += 1.0;
                }
            }
        }
    }
}

/// Requests per service over the run, from the rows' per-minute rates.
fn requests(data: &Path) -> BTreeMap<String, f64> {
    let mut totals = BTreeMap::new();
    for row in read_rows(data) {
        let rate = number(&row, "request_rate_1m").unwrap_or(0.0);
        *totals.entry(row["service_name"].clone()).or_default() += rate * 60.0;
    }
    totals
}

/// Calls per (caller, callee) over the run, from the edge files.
fn calls(data: &Path) -> BTreeMap<(String, String), f64> {
    let mut totals = BTreeMap::new();
    for entry in std::fs::read_dir(data.join("edges")).unwrap() {
        for line in std::fs::read_to_string(entry.unwrap().path())
            .unwrap()
            .lines()
        {
            let edge: Value = serde_json::from_str(line).unwrap();
            let key = (
                edge["caller"].as_str().unwrap().into(),
                edge["callee"].as_str().unwrap().into(),
            );
            *totals.entry(key).or_default() += edge["calls"].as_f64().unwrap();
        }
    }
    totals
}

#[test]
fn a_ten_percent_sample_estimates_the_full_rates_and_call_counts() {
    let dir = tempfile::tempdir().unwrap();
    let full = generate(dir.path(), &["--duration", "20m", "--format", "otlp-json"]);
    let sampled = dir.path().join("sampled");
    let per_trace = sample(&full, &sampled);
    let (full_data, sampled_data) = (dir.path().join("full"), dir.path().join("sampled-data"));
    replay(&full, &full_data);
    replay(&sampled, &sampled_data);

    // Whole traces are kept or dropped, so the variance of 10 × (requests kept) is
    // 9 × Σ over traces of (requests in the trace)²; allow five standard deviations.
    let (truth, estimate) = (requests(&full_data), requests(&sampled_data));
    assert_eq!(
        truth.keys().collect::<Vec<_>>(),
        estimate.keys().collect::<Vec<_>>()
    );
    for (service, total) in &truth {
        let squares: f64 = per_trace[service].values().map(|k| k * k).sum();
        let bound = 5.0 * (9.0 * squares).sqrt();
        let error = (estimate[service] - total).abs();
        // The figure in docs/streaming.md (`-- --nocapture` shows it).
        eprintln!(
            "{service:<10} full {total:>6.0}  sampled x10 {:>6.0}  bound {bound:>5.0}",
            estimate[service]
        );
        assert!(
            error <= bound,
            "{service}: {} vs {total} (bound {bound:.0})",
            estimate[service]
        );
        // Unweighted, the sample would read a tenth: the bound must tell the two apart.
        assert!(
            total * 0.9 > bound,
            "{service}: too few requests ({total}) to test"
        );
    }
    // Call counts: each call is one request of the callee, so the same bound with the
    // callee's largest requests per trace applies.
    let (truth, estimate) = (calls(&full_data), calls(&sampled_data));
    for ((caller, callee), total) in truth.iter().filter(|(_, total)| **total >= 2000.0) {
        let most = per_trace
            .get(callee)
            .map_or(1.0, |t| t.values().fold(1.0_f64, |a, b| a.max(*b)));
        let bound = 5.0 * (9.0 * total * most).sqrt();
        let got = estimate
            .get(&(caller.clone(), callee.clone()))
            .copied()
            .unwrap_or(0.0);
        assert!(
            (got - total).abs() <= bound,
            "{caller}->{callee}: {got} vs {total} ({bound:.0})"
        );
    }
}
