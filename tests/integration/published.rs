//! Results in Prometheus: the real Prometheus (Debian's package, started here with the
//! compose stack's own `deploy/prometheus.yml`, addresses rewritten for loopback) scrapes a
//! running job; its PromQL answers equal the edges and feature rows the job wrote.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, number, read_rows, spawn};
use crate::graph::json_lines;

/// The Prometheus binary from the test script, or a failure that says how to get one.
fn prometheus_binary() -> String {
    std::env::var("AIOPS_TEST_PROMETHEUS").unwrap_or_else(|_| {
        panic!("AIOPS_TEST_PROMETHEUS is not set: run the tests with `bash tests/run.sh`, which installs Prometheus")
    })
}

/// Stops a child process when dropped, so a failed assertion leaves nothing running.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `deploy/prometheus.yml` with the compose service names replaced by loopback addresses
/// and a one-second scrape interval (the test cannot wait 15 s per sample).
pub fn prometheus_config(dir: &Path, job: &str, alertmanager: &str, itself: &str) -> String {
    let deployed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/prometheus.yml"
    ))
    .unwrap();
    let config = deployed
        .replace("aiops:9464", job)
        .replace("alertmanager:9093", alertmanager)
        .replace("localhost:9090", itself)
        .replace("scrape_interval: 15s", "scrape_interval: 1s");
    assert_ne!(config, deployed, "the addresses are rewritten");
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).unwrap();
    path.display().to_string()
}

pub fn start_prometheus(dir: &Path, config: &str, addr: &str) -> Running {
    let child = Command::new(prometheus_binary())
        .args([
            &format!("--config.file={config}"),
            &format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            &format!("--web.listen-address={addr}"),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .unwrap();
    Running(child)
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET path` on Prometheus's HTTP API: the JSON answer (null when unreachable).
pub fn api(addr: &str, path: &str) -> serde_json::Value {
    // HTTP/1.0: the answer is the body until the connection closes, never chunked (Go chunks
    // an HTTP/1.1 answer longer than a few KiB, such as Alertmanager's groups).
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return serde_json::Value::Null;
    };
    let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// An instant PromQL query at `time`: (labels, value) per series.
pub fn query(addr: &str, promql: &str, time: f64) -> Vec<(BTreeMap<String, String>, f64)> {
    let answer = api(
        addr,
        &format!("/api/v1/query?query={}&time={time}", encode(promql)),
    );
    answer["data"]["result"]
        .as_array()
        .map(|series| {
            series
                .iter()
                .map(|s| {
                    let labels = serde_json::from_value(s["metric"].clone()).unwrap();
                    let value = s["value"][1].as_str().unwrap().parse().unwrap();
                    (labels, value)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until Prometheus has scraped a job with at least `minutes` closed minutes in its
/// graph counters and a service gauge; returns the time of that scrape.
fn scraped_minutes(prometheus: &str, minutes: f64) -> f64 {
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "Prometheus never scraped enough minutes"
        );
        std::thread::sleep(Duration::from_millis(500));
        let now = chrono::Utc::now().timestamp_millis() as f64 / 1e3;
        let Some((_, scraped)) = query(prometheus, "timestamp(aiops_build_info)", now).pop() else {
            continue;
        };
        let first = query(
            prometheus,
            "min_over_time(aiops_service_graph_minute_timestamp_seconds[5m])",
            scraped,
        );
        let last = query(
            prometheus,
            "aiops_service_graph_minute_timestamp_seconds",
            scraped,
        );
        let services = query(prometheus, "aiops_service_request_rate", scraped);
        if let (Some(first), Some(last)) = (first.first(), last.first()) {
            if last.1 - first.1 >= minutes * 60.0 && !services.is_empty() {
                return scraped;
            }
        }
    }
}

#[test]
fn prometheus_answers_equal_the_edges_and_rows_the_job_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (job, prometheus) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let alertmanager = format!("127.0.0.1:{}", free_port());
    let config = prometheus_config(dir.path(), &job, &alertmanager, &prometheus);
    let _prometheus = start_prometheus(dir.path(), &config, &prometheus);
    let data = dir.path().join("data");
    let args: Vec<String> = [
        "run",
        "--services",
        "6",
        "--speed",
        "120",
        "--seed",
        "5",
        "--fault-every",
        "4",
        "--metrics-addr",
        &job,
        "--data-dir",
        &data.display().to_string(),
        "-q",
    ]
    .map(String::from)
    .to_vec();
    let mut aiops = Running(spawn(&args));
    let at = scraped_minutes(&prometheus, 4.0);

    let through = query(
        &prometheus,
        "aiops_service_graph_minute_timestamp_seconds",
        at,
    )[0]
    .1;
    let totals = query(&prometheus, "traces_service_graph_request_total", at);
    let failed = query(&prometheus, "traces_service_graph_request_failed_total", at);
    let server_counts = query(
        &prometheus,
        "traces_service_graph_request_server_seconds_count{connection_type=\"\"}",
        at,
    );
    let rates = query(&prometheus, "aiops_service_request_rate", at);
    let minutes = query(&prometheus, "aiops_service_minute_timestamp_seconds", at);
    let p99s = query(&prometheus, "aiops_service_p99_latency_seconds", at);

    // Stop the job as Kubernetes does; its files then hold every minute it closed.
    let pid = aiops.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(aiops.0.wait().unwrap().success());

    let mut expected: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for edge in json_lines(&data.join("edges")) {
        if edge["pane"].as_f64().unwrap() * 60.0 > through {
            continue;
        }
        let key = (
            edge["caller"].as_str().unwrap().to_string(),
            edge["callee"].as_str().unwrap().to_string(),
        );
        let sums = expected.entry(key).or_default();
        sums.0 += edge["calls"].as_f64().unwrap();
        sums.1 += edge["errors"].as_f64().unwrap();
    }
    let answered = |series: &[(BTreeMap<String, String>, f64)]| -> BTreeMap<(String, String), f64> {
        series
            .iter()
            .map(|(labels, value)| ((labels["client"].clone(), labels["server"].clone()), *value))
            .collect()
    };
    let (totals, failed) = (answered(&totals), answered(&failed));
    assert!(expected.len() >= 5, "{expected:?}");
    assert_eq!(
        totals,
        expected.iter().map(|(k, v)| (k.clone(), v.0)).collect(),
        "traces_service_graph_request_total = calls in service_edges up to the published minute"
    );
    assert_eq!(
        failed,
        expected.iter().map(|(k, v)| (k.clone(), v.1)).collect()
    );
    for (edge, count) in answered(&server_counts) {
        assert_eq!(
            count, totals[&edge],
            "every paired call has a server duration: {edge:?}"
        );
    }

    let rows = read_rows(&data);
    let minute_of: BTreeMap<String, f64> = minutes
        .iter()
        .map(|(labels, value)| (labels["service"].clone(), *value))
        .collect();
    assert_eq!(minute_of.len(), 6, "every service has a latest minute");
    for (series, column, scale) in [
        (&rates, "request_rate_1m", 1.0),
        (&p99s, "p99_latency_1m", 1e3),
    ] {
        for (labels, value) in series.iter() {
            let service = &labels["service"];
            let time = chrono::DateTime::from_timestamp(minute_of[service] as i64, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            let row = rows
                .iter()
                .find(|r| &r["service_name"] == service && r["time"] == time)
                .unwrap_or_else(|| panic!("no row of {service} at {time}"));
            assert_eq!(
                Some(*value),
                number(row, column).map(|stored| stored / scale),
                "{column} of {service} at {time} in Prometheus and in the Parquet row"
            );
        }
    }
}
