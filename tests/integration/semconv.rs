//! Metrics as the Collector's receivers send them (kubeletstats, hostmetrics, docker_stats),
//! without `service.name`, replayed from OTLP/JSON files through the whole job: the rows carry
//! the values a person computes by hand, under the service the resource names.

use serde_json::{json, Value};

use crate::common::{number, read_rows, replay, replay_with_env, summary_value, Row};

/// 2026-01-05 10:00:00 UTC, in seconds.
const T0: u64 = 1_767_607_200;

fn ns(seconds: u64) -> String {
    (seconds * 1_000_000_000).to_string()
}

fn attributes(pairs: &[(&str, &str)]) -> Value {
    let kv = |(k, v): &(&str, &str)| json!({"key": k, "value": {"stringValue": v}});
    Value::Array(pairs.iter().map(kv).collect())
}

fn gauge(name: &str, t: u64, value: f64) -> Value {
    json!({"name": name, "gauge": {"dataPoints": [{"timeUnixNano": ns(t), "asDouble": value}]}})
}

/// A cumulative monotonic sum, one point per (attributes, value), all at `t`.
fn counter(name: &str, t: u64, points: &[(&[(&str, &str)], f64)]) -> Value {
    let point = |(attrs, value): &(&[(&str, &str)], f64)| {
        json!({"startTimeUnixNano": ns(T0 - 3600), "timeUnixNano": ns(t),
               "asDouble": value, "attributes": attributes(attrs)})
    };
    let points: Vec<Value> = points.iter().map(point).collect();
    json!({"name": name, "sum": {"aggregationTemporality": 2, "isMonotonic": true,
                                 "dataPoints": points}})
}

fn request(resource: &[(&str, &str)], scope: &str, metrics: Vec<Value>) -> String {
    json!({"resourceMetrics": [{
        "resource": {"attributes": attributes(resource)},
        "scopeMetrics": [{"scope": {"name": scope}, "metrics": metrics}]
    }]})
    .to_string()
}

/// kubeletstats for a Deployment's pod: 2 cores, 6 MB received per minute.
fn kubelet(t: u64, received_mb: f64) -> String {
    let pod = [
        ("k8s.pod.name", "cart-7d9f8b6c5-x2k4p"),
        ("k8s.namespace.name", "shop"),
    ];
    let rx: &[(&str, &str)] = &[("direction", "receive"), ("interface", "eth0")];
    let metrics = vec![
        gauge("k8s.pod.cpu.usage", t, 2.0),
        counter("k8s.pod.network.io", t, &[(rx, received_mb * 1e6)]),
        gauge("k8s.pod.filesystem.usage", t, 1e9),
    ];
    request(&pod, "otelcol/kubeletstatsreceiver", metrics)
}

/// hostmetrics of a node the k8sattributes processor tied to a Deployment: two CPUs.
fn host(t: u64, busy_s: f64, idle_s: f64) -> String {
    let node = [("k8s.deployment.name", "payments"), ("host.name", "node-1")];
    let mode = |cpu, state| [("cpu", cpu), ("state", state)];
    let (u0, i0, u1, i1) = (
        mode("cpu0", "user"),
        mode("cpu0", "idle"),
        mode("cpu1", "user"),
        mode("cpu1", "idle"),
    );
    let cpu = counter(
        "system.cpu.time",
        t,
        &[(&u0, busy_s), (&i0, idle_s), (&u1, busy_s), (&i1, idle_s)],
    );
    let gib = 1024.0 * 1024.0 * 1024.0;
    let memory = |state, value: f64| {
        json!({"attributes": attributes(&[("state", state)]), "timeUnixNano": ns(t),
               "asDouble": value * gib})
    };
    let usage = json!({"name": "system.memory.usage", "sum": {"aggregationTemporality": 2,
        "isMonotonic": false,
        "dataPoints": [memory("used", 3.0), memory("free", 4.0), memory("cached", 1.0)]}});
    request(&node, "otelcol/hostmetricsreceiver/cpu", vec![cpu, usage])
}

/// docker_stats of a plain container: 150 % of a core, 256 MB of a 1 GB limit.
fn docker(t: u64) -> String {
    let container = [("container.name", "db"), ("container.id", "4f2a")];
    let metrics = vec![
        gauge("container.cpu.utilization", t, 150.0),
        gauge("container.memory.usage.total", t, 256e6),
        gauge("container.memory.usage.limit", t, 1024e6),
    ];
    request(&container, "otelcol/dockerstatsreceiver", metrics)
}

/// An HTTP server without tracing: cumulative `http.server.request.duration` histograms, one
/// series per status, bounds in seconds.
fn http_server(t: u64, ok: [u64; 3], failed: [u64; 3]) -> String {
    let series = |status: &str, buckets: [u64; 3]| {
        json!({"startTimeUnixNano": ns(T0 - 3600), "timeUnixNano": ns(t),
               "count": buckets.iter().sum::<u64>().to_string(),
               "bucketCounts": buckets.map(|b| b.to_string()), "explicitBounds": [0.01, 0.05],
               "attributes": attributes(&[("http.response.status_code", status)])})
    };
    let histogram = json!({"name": "http.server.request.duration", "unit": "s",
        "histogram": {"aggregationTemporality": 2,
                      "dataPoints": [series("200", ok), series("500", failed)]}});
    request(
        &[("service.name", "legacy")],
        "io.opentelemetry.http",
        vec![histogram],
    )
}

fn row<'a>(rows: &'a [Row], service: &str, minute: &str) -> &'a Row {
    rows.iter()
        .find(|r| r["service_name"] == service && r["time"].contains(minute))
        .unwrap_or_else(|| panic!("no row for {service} at {minute}: {rows:#?}"))
}

fn close(row: &Row, column: &str, expected: f64) {
    let actual = number(row, column).unwrap_or_else(|| panic!("{column} is null: {row:?}"));
    assert!(
        (actual - expected).abs() < 1e-6,
        "{column}: {actual} != {expected}"
    );
}

#[test]
fn receiver_shaped_metrics_without_service_names_give_hand_computed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let lines = [
        kubelet(T0 + 15, 0.0),
        host(T0 + 15, 100.0, 500.0),
        docker(T0 + 15),
        kubelet(T0 + 75, 6.0),
        // Over 60 s each CPU was busy 15 s and idle 45 s: 25 % of both CPUs.
        host(T0 + 75, 115.0, 545.0),
        http_server(T0 + 15, [0, 0, 0], [0, 0, 0]),
        // 90 OK requests between 10 and 50 ms, 30 failed ones past 50 ms, in the minute.
        http_server(T0 + 75, [0, 90, 0], [0, 0, 30]),
    ];
    std::fs::write(input.join("metrics-0000.jsonl"), lines.join("\n") + "\n").unwrap();
    let data = dir.path().join("data");
    let stdout = replay(&input, &data);
    let rows = read_rows(&data);
    let services: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["service_name"].as_str()).collect();
    assert_eq!(services, ["cart", "db", "legacy", "payments"].into());
    // kubeletstats: 2 cores are 200 % of one core; 6 MB over 60 s.
    close(row(&rows, "cart", "10:00"), "cpu_usage", 200.0);
    close(row(&rows, "cart", "10:01"), "network_in", 0.1);
    // hostmetrics: used of all memory states; busy CPU time of all.
    close(row(&rows, "payments", "10:00"), "memory_usage", 37.5);
    close(row(&rows, "payments", "10:01"), "cpu_usage", 25.0);
    // docker_stats: percent as sent; usage over the limit.
    close(row(&rows, "db", "10:00"), "cpu_usage", 150.0);
    close(row(&rows, "db", "10:00"), "memory_usage", 25.0);
    // Server histograms without spans: 120 requests in the minute, a quarter failed, the
    // median in the 10..50 ms bucket (its midpoint, 30 ms), the p99 at the last bound.
    let legacy = row(&rows, "legacy", "10:01");
    close(legacy, "request_rate_1m", 2.0);
    close(legacy, "error_rate_1m", 0.25);
    let p50 = number(legacy, "p50_latency_1m").unwrap();
    assert!((p50 - 30.0).abs() / 30.0 < 0.02, "p50 {p50}");
    let p99 = number(legacy, "p99_latency_1m").unwrap();
    assert!((p99 - 50.0).abs() / 50.0 < 0.02, "p99 {p99}");
    // k8s.pod.filesystem.usage feeds no feature: counted, twice.
    assert_eq!(summary_value(&stdout, "unmapped points"), 2, "{stdout}");
}

/// One pod of `cart` in `environment` using `cores` cores, without a service name.
fn pod_in(environment: &str, pod: &str, cores: f64) -> String {
    let resource = [
        ("service.name", "cart"),
        ("deployment.environment.name", environment),
        ("k8s.pod.name", pod),
    ];
    let metrics = vec![gauge("k8s.pod.cpu.usage", T0 + 15, cores)];
    request(&resource, "otelcol/kubeletstatsreceiver", metrics)
}

#[test]
fn only_the_configured_environments_are_processed() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let lines = [
        pod_in("production", "cart-0", 1.0),
        pod_in("staging", "cart-1", 3.0),
    ];
    std::fs::write(input.join("metrics-0000.jsonl"), lines.join("\n") + "\n").unwrap();
    let run = |name: &str, env: &[(&str, &str)]| {
        let data = dir.path().join(name);
        let stdout = replay_with_env(&input, &data, env);
        (read_rows(&data), stdout)
    };
    // All environments: one series per environment, never merged.
    let (rows, _) = run("all", &[]);
    let in_environment = |rows: &[Row], environment: &str| -> Vec<f64> {
        rows.iter()
            .filter(|r| r["service_name"] == "cart" && r["environment"] == environment)
            .map(|r| number(r, "cpu_usage").expect("cpu_usage"))
            .collect()
    };
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(in_environment(&rows, "production"), [100.0]);
    assert_eq!(in_environment(&rows, "staging"), [300.0]);
    let (rows, stdout) = run(
        "production",
        &[("AIOPS_IDENTITY__ENVIRONMENTS", r#"["production"]"#)],
    );
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(in_environment(&rows, "production"), [100.0]);
    assert_eq!(summary_value(&stdout, "other environments"), 1, "{stdout}");
}
