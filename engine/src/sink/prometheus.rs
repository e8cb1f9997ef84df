//! The job's own metrics in the Prometheus text format, served over plain HTTP.
//!
//! Everything exported is already counted in [`Stats`] for the console and the summary; this
//! module only renders it, so there is one set of counters, not two. The format is small and
//! stable (text exposition 0.0.4), so it is written here directly rather than through a
//! second metrics registry. The server answers `/metrics`, and the liveness and readiness
//! checks a Kubernetes probe or a load balancer asks for (`/healthz`, `/readyz`), one
//! connection at a time, on a thread of its own: scrapes are rare and tiny.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::published::{
    Board, EdgeKey, EdgeTotals, SecondsHistogram, ServiceMinute, SERVICE_GRAPH_BUCKETS,
};
use crate::record::key_parts;
use crate::stats::{Stats, WatermarkSeen, LATENCY_BUCKETS, WATERMARK_STALL};
use crate::time::pane_start_ns;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{name}{labels} {value}");
}

fn load(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(std::sync::atomic::Ordering::Relaxed)
}

fn counters(out: &mut String, stats: &Stats) {
    let totals = stats.snapshot();
    let written = stats
        .rows_written
        .load(std::sync::atomic::Ordering::Relaxed);
    let retries = stats
        .sink_retries
        .load(std::sync::atomic::Ordering::Relaxed);
    let dead = stats
        .dead_letters
        .load(std::sync::atomic::Ordering::Relaxed);
    for (name, help, value) in [
        (
            "aiops_records_read_total",
            "OTLP records (export requests) read from all sources.",
            totals.messages,
        ),
        (
            "aiops_spans_total",
            "Spans decoded and accepted.",
            totals.spans,
        ),
        (
            "aiops_metric_points_total",
            "Metric points decoded and accepted.",
            totals.metric_points,
        ),
        (
            "aiops_log_records_total",
            "Log records decoded and accepted.",
            totals.log_records,
        ),
        (
            "aiops_unmapped_metric_points_total",
            "Decoded metric points of metrics no feature reads.",
            totals.unmapped_points,
        ),
        (
            "aiops_other_environment_records_total",
            "Spans, points and log records of environments the job does not process.",
            totals.other_environments,
        ),
        (
            "aiops_receiver_requests_total",
            "Requests to the OTLP receivers.",
            totals.receiver_requests,
        ),
        (
            "aiops_receiver_refused_total",
            "Receiver requests refused because the job was behind or stopping.",
            totals.receiver_refused,
        ),
        (
            "aiops_decode_errors_total",
            "Records that could not be framed or decoded.",
            totals.bad_messages,
        ),
        (
            "aiops_rejected_records_total",
            "Spans or points rejected inside readable records.",
            totals.bad_records,
        ),
        (
            "aiops_duplicate_records_total",
            "Records dropped as exact copies of one already read (producer retries).",
            totals.duplicates,
        ),
        (
            "aiops_late_records_total",
            "Spans or points that arrived after their window closed.",
            totals.late_records,
        ),
        (
            "aiops_dead_letters_total",
            "Records written to the dead letters.",
            dead,
        ),
        (
            "aiops_rows_emitted_total",
            "Feature rows of closed windows handed to the sink.",
            totals.rows,
        ),
        (
            "aiops_rows_written_total",
            "Feature rows the sink made durable.",
            written,
        ),
        (
            "aiops_operation_rows_total",
            "Operation rows (service, operation, minute) handed to their store.",
            load(&stats.operation_rows),
        ),
        (
            "aiops_rows_expired_total",
            "Feature rows not written: their minute lies before the retention horizon.",
            load(&stats.rows_expired),
        ),
        (
            "aiops_retention_dropped_rows_total",
            "Rows dropped by retention runs (whole partitions past the horizon).",
            load(&stats.retention_dropped_rows),
        ),
        (
            "aiops_alerts_sent_total",
            "Alert batches (Alertmanager) and webhook messages delivered.",
            load(&stats.alerts_sent),
        ),
        (
            "aiops_alert_send_failures_total",
            "Alert deliveries that failed and are retried.",
            load(&stats.alert_send_failures),
        ),
        (
            "aiops_alerts_dropped_total",
            "Incident updates or alerts dropped because the notifier's queue was full.",
            load(&stats.alerts_dropped),
        ),
        (
            "aiops_sink_retries_total",
            "Sink writes that failed and were retried.",
            retries,
        ),
        (
            "aiops_unpaired_spans_total",
            "Spans whose parent never arrived within the pairing wait.",
            load(&stats.unpaired_spans),
        ),
        (
            "aiops_overflow_calls_total",
            "Calls counted on the overflow node because a minute hit the edge cap.",
            load(&stats.overflow_calls),
        ),
        (
            "aiops_incident_updates_total",
            "Incident updates raised (one per anomalous minute of an incident).",
            load(&stats.incidents),
        ),
    ] {
        family(out, name, "counter", help);
        sample(out, name, "", value);
    }
    family(
        out,
        "aiops_sink_up",
        "gauge",
        "0 while sink writes are failing and being retried.",
    );
    sample(
        out,
        "aiops_sink_up",
        "",
        u8::from(stats.sink_outage().is_none()),
    );
}

fn partitions(out: &mut String, stats: &Stats) {
    let Ok(all) = stats.partitions.lock().map(|p| p.clone()) else {
        return;
    };
    // The families are announced even without partitions: a scrape always lists them.
    family(
        out,
        "aiops_kafka_records_total",
        "counter",
        "Records consumed per Kafka partition.",
    );
    for ((topic, partition), counters) in &all {
        let labels = format!("{{topic=\"{topic}\",partition=\"{partition}\"}}");
        sample(out, "aiops_kafka_records_total", &labels, counters.records);
    }
    family(
        out,
        "aiops_kafka_consumer_lag",
        "gauge",
        "Records between the partition's end and the job's position.",
    );
    for ((topic, partition), counters) in &all {
        let labels = format!("{{topic=\"{topic}\",partition=\"{partition}\"}}");
        sample(out, "aiops_kafka_consumer_lag", &labels, counters.lag);
    }
}

/// The family is always announced (a scrape shows what exists); the sample only once a
/// window has closed, since before that there is no watermark to measure.
fn watermark(out: &mut String, stats: &Stats, now_ns: u64) {
    family(
        out,
        "aiops_watermark_delay_seconds",
        "gauge",
        "Wall-clock time minus the start of the oldest open window.",
    );
    let open = stats.snapshot().closed_before_pane;
    if open > 0 {
        let delay = now_ns.saturating_sub(pane_start_ns(open)) as f64 / 1e9;
        sample(out, "aiops_watermark_delay_seconds", "", delay);
    }
}

fn latency(out: &mut String, stats: &Stats) {
    let name = "aiops_window_commit_latency_seconds";
    family(
        out,
        name,
        "histogram",
        "Time from a window closing to its rows being durable.",
    );
    let (cumulative, count, sum) = stats.commit_latency.read();
    for (bound, value) in LATENCY_BUCKETS.iter().zip(&cumulative) {
        sample(
            out,
            &format!("{name}_bucket"),
            &format!("{{le=\"{bound}\"}}"),
            value,
        );
    }
    sample(out, &format!("{name}_bucket"), "{le=\"+Inf\"}", count);
    sample(out, &format!("{name}_sum"), "", sum);
    sample(out, &format!("{name}_count"), "", count);
}

/// The metrics as Prometheus text, with `now_ns` as the wall-clock time.
pub fn render(stats: &Stats, now_ns: u64) -> String {
    let mut out = String::new();
    build_info(&mut out);
    counters(&mut out, stats);
    partitions(&mut out, stats);
    watermark(&mut out, stats, now_ns);
    latency(&mut out, stats);
    models(&mut out, stats);
    stats.published.with(|board| {
        service_graph(&mut out, board, stats);
        services(&mut out, board);
    });
    out
}

/// A label value with `\`, `"` and line breaks escaped, as the text format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Tempo's labels, and each end's environment as Tempo names a `deployment.environment`
/// dimension (`client_deployment_environment`), set only where there is one.
fn edge_labels(key: &EdgeKey) -> String {
    let (client, client_environment) = key_parts(&key.client);
    let (server, server_environment) = key_parts(&key.server);
    let mut labels = format!(
        "client=\"{}\",server=\"{}\",connection_type=\"{}\"",
        escape(client),
        escape(server),
        key.connection_type
    );
    for (side, environment) in [
        ("client", client_environment),
        ("server", server_environment),
    ] {
        if !environment.is_empty() {
            let value = escape(environment);
            labels.push_str(&format!(",{side}_deployment_environment=\"{value}\""));
        }
    }
    labels
}

/// `service` and, where there is one, `environment`.
fn service_labels(key: &str) -> String {
    match key_parts(key) {
        (name, "") => format!("{{service=\"{}\"}}", escape(name)),
        (name, environment) => format!(
            "{{service=\"{}\",environment=\"{}\"}}",
            escape(name),
            escape(environment)
        ),
    }
}

/// The service graph under Grafana Tempo's metrics-generator names, so Grafana's service
/// graph view and Tempo dashboards read it unchanged.
fn service_graph(out: &mut String, board: &Board, stats: &Stats) {
    for (name, help, value) in [
        (
            "traces_service_graph_request_total",
            "Calls from client to server since the job started.",
            (|t: &EdgeTotals| t.requests) as fn(&EdgeTotals) -> f64,
        ),
        (
            "traces_service_graph_request_failed_total",
            "Failed calls from client to server since the job started.",
            |t: &EdgeTotals| t.failed,
        ),
    ] {
        family(out, name, "counter", help);
        for (key, totals) in &board.edges {
            sample(
                out,
                name,
                &format!("{{{}}}", edge_labels(key)),
                value(totals),
            );
        }
    }
    for (side, help) in [
        ("server", "Durations of the callee's server spans, seconds."),
        ("client", "Durations of the caller's client spans, seconds."),
    ] {
        let name = format!("traces_service_graph_request_{side}_seconds");
        family(out, &name, "histogram", help);
        for (key, totals) in &board.edges {
            let histogram = if side == "server" {
                &totals.server
            } else {
                &totals.client
            };
            edge_histogram(out, &name, &edge_labels(key), histogram);
        }
    }
    for (name, help, value) in [
        (
            "traces_service_graph_unpaired_spans_total",
            "Spans whose parent never arrived within the pairing wait.",
            load(&stats.unpaired_spans),
        ),
        (
            "traces_service_graph_dropped_spans_total",
            "Calls beyond graph.max_edges_per_minute: not dropped but counted on the \
             __overflow__ server.",
            load(&stats.overflow_calls),
        ),
        (
            "aiops_published_series_over_cap_total",
            "Edges folded into __overflow__ and services left out: beyond the series cap.",
            board.over_cap,
        ),
    ] {
        family(out, name, "counter", help);
        sample(out, name, "", value);
    }
    let name = "aiops_service_graph_minute_timestamp_seconds";
    family(
        out,
        name,
        "gauge",
        "Start of the latest minute whose calls the service-graph counters include.",
    );
    if let Some(minute) = board.edges_through_s {
        sample(out, name, "", minute);
    }
}

fn edge_histogram(out: &mut String, name: &str, labels: &str, histogram: &SecondsHistogram) {
    let cumulative = histogram.cumulative();
    for (bound, count) in SERVICE_GRAPH_BUCKETS.iter().zip(cumulative) {
        sample(
            out,
            &format!("{name}_bucket"),
            &format!("{{{labels},le=\"{bound}\"}}"),
            count,
        );
    }
    let total = cumulative[SERVICE_GRAPH_BUCKETS.len()];
    sample(
        out,
        &format!("{name}_bucket"),
        &format!("{{{labels},le=\"+Inf\"}}"),
        total,
    );
    sample(
        out,
        &format!("{name}_sum"),
        &format!("{{{labels}}}"),
        histogram.sum,
    );
    sample(
        out,
        &format!("{name}_count"),
        &format!("{{{labels}}}"),
        total,
    );
}

/// Per-service gauges of each service's latest closed minute (a service that stops sending
/// keeps its last minute: `aiops_service_minute_timestamp_seconds` says which).
fn services(out: &mut String, board: &Board) {
    type Value = fn(&ServiceMinute) -> Option<f64>;
    let gauges: [(&str, &str, Value); 6] = [
        (
            "aiops_service_minute_timestamp_seconds",
            "Start of the service's latest closed minute, the one the other gauges describe.",
            |m| Some(m.minute_s as f64),
        ),
        ("aiops_service_request_rate", "Requests per second.", |m| {
            m.request_rate
        }),
        (
            "aiops_service_error_rate",
            "Failed share of requests.",
            |m| m.error_rate,
        ),
        (
            "aiops_service_p99_latency_seconds",
            "p99 request latency.",
            |m| m.p99_seconds,
        ),
        (
            "aiops_service_anomaly_score",
            "Detector score, 0.5 at the threshold.",
            |m| m.anomaly_score,
        ),
        (
            "aiops_service_anomalous",
            "1 when the minute was flagged anomalous.",
            |m| Some(f64::from(u8::from(m.anomalous))),
        ),
    ];
    for (name, help, value) in gauges {
        family(out, name, "gauge", help);
        for (service, minute) in &board.services {
            if let Some(value) = value(minute) {
                sample(out, name, &service_labels(service), value);
            }
        }
    }
}

/// `aiops_build_info{version}` 1: which release is running, for dashboards and alerts.
fn build_info(out: &mut String) {
    family(
        out,
        "aiops_build_info",
        "gauge",
        "The running aiops release (always 1).",
    );
    let labels = format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"));
    sample(out, "aiops_build_info", &labels, 1.0);
}

fn models(out: &mut String, stats: &Stats) {
    family(
        out,
        "aiops_model_version",
        "gauge",
        "Version of each learned model scoring rows.",
    );
    for (kind, version) in stats.model_versions() {
        sample(
            out,
            "aiops_model_version",
            &format!("{{model=\"{kind}\"}}"),
            version,
        );
    }
    family(
        out,
        "aiops_model_load_errors_total",
        "counter",
        "Model versions that failed to load; the job kept its previous model.",
    );
    sample(
        out,
        "aiops_model_load_errors_total",
        "",
        load(&stats.model_load_errors),
    );
    family(
        out,
        "aiops_model_input_psi",
        "gauge",
        "Population stability index of each model input over the drift window against the \
         training data (above 0.2: retrain).",
    );
    let drift = stats.drift.lock().unwrap_or_else(|e| e.into_inner());
    for ((worker, input), psi) in drift.iter() {
        let labels = format!("{{worker=\"{worker}\",input=\"{input}\"}}");
        sample(out, "aiops_model_input_psi", &labels, psi);
    }
}

fn answer(mut stream: TcpStream, stats: &Stats) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    // Read the whole request head (it may arrive in pieces; up to 16 KiB or the timeout): a
    // socket closed with request bytes still unread is reset, and the reset can cut off the
    // answer before the client has read it.
    let (mut request, mut read) = (vec![0u8; 16 * 1024], 0);
    while read < request.len() && !request[..read].windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut request[read..]) {
            // A client that sent its request line but no blank line is answered at the timeout.
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    let (status, content_type, body) = route(&request[..read], stats);
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// What a request line asks for: `GET /metrics`, `/healthz` (the process serves: liveness),
/// `/readyz` (see [`readiness`]).
fn route(request: &[u8], stats: &Stats) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    let line = String::from_utf8_lossy(request);
    let mut words = line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
            ("200 OK", "text/plain; version=0.0.4", render(stats, now_ns))
        }
        ("GET" | "HEAD", "/healthz") => ("200 OK", TEXT, "ok\n".into()),
        ("GET" | "HEAD", "/readyz") => readiness(stats),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            TEXT,
            "try /metrics, /healthz or /readyz\n".into(),
        ),
        _ => ("405 Method Not Allowed", TEXT, "GET only\n".into()),
    }
}

/// Ready: workers are running, the sink is reachable and the watermark advances. 503 before
/// the workers start, once they stopped, while sink writes fail and are retried (the job then
/// pauses its sources), and while records arrive but no window has closed for
/// [`WATERMARK_STALL`] (a job with no input at all stays ready: it is idle, not stuck, and
/// its receivers must stay reachable).
fn readiness(stats: &Stats) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    const UNAVAILABLE: &str = "503 Service Unavailable";
    let totals = stats.snapshot();
    let stalled = {
        let mut seen = stats
            .watermark_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        let (pane, messages) = (totals.closed_before_pane, totals.messages);
        let seen = seen.get_or_insert(WatermarkSeen {
            pane,
            since: now,
            messages,
        });
        seen.stalled(pane, messages, now, WATERMARK_STALL)
    };
    match (totals.workers_running, stats.sink_outage(), stalled) {
        (0, _, _) => (UNAVAILABLE, TEXT, "workers not running\n".into()),
        (_, Some(error), _) => (UNAVAILABLE, TEXT, format!("sink unreachable: {error}\n")),
        (_, None, Some(still)) => (
            UNAVAILABLE,
            TEXT,
            format!(
                "watermark stalled: no window closed for {} s while records arrive\n",
                still.as_secs()
            ),
        ),
        (n, None, None) => ("200 OK", TEXT, format!("ready: {n} workers running\n")),
    }
}

/// Serves the metrics (`/metrics`) and the health checks (`/healthz`, `/readyz`) at `addr` on
/// a background thread; returns the bound address (useful with port 0).
pub fn serve(addr: &str, stats: Arc<Stats>) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| Error::Config(format!("metrics address {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Config(format!("metrics address {addr}: {e}")))?;
    std::thread::Builder::new()
        .name("aiops-metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(error) = answer(stream, &stats) {
                    tracing::debug!(%error, "metrics request");
                }
            }
        })
        .map_err(|e| Error::Config(format!("metrics thread: {e}")))?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::service_key;

    #[test]
    fn renders_counters_partitions_and_a_cumulative_histogram() {
        let stats = Stats::default();
        Stats::add(&stats.late_records, 3);
        Stats::add(&stats.unpaired_spans, 7);
        stats.partition("otlp_spans", 1, 10, Some(4));
        stats.partition("otlp_spans", 1, 5, None);
        stats.commit_latency.observe(Duration::from_millis(30));
        stats.commit_latency.observe(Duration::from_millis(700));
        Stats::raise(&stats.closed_before_pane, 100);
        let text = render(&stats, pane_start_ns(100) + 90_000_000_000);
        assert!(text.contains("aiops_late_records_total 3\n"), "{text}");
        assert!(text.contains("aiops_unpaired_spans_total 7\n"), "{text}");
        assert!(
            text.contains("aiops_kafka_records_total{topic=\"otlp_spans\",partition=\"1\"} 15\n")
        );
        assert!(text.contains("aiops_kafka_consumer_lag{topic=\"otlp_spans\",partition=\"1\"} 4\n"));
        assert!(text.contains("aiops_watermark_delay_seconds 90\n"));
        assert!(text.contains("aiops_window_commit_latency_seconds_bucket{le=\"0.025\"} 0\n"));
        assert!(text.contains("aiops_window_commit_latency_seconds_bucket{le=\"0.05\"} 1\n"));
        assert!(text.contains("aiops_window_commit_latency_seconds_bucket{le=\"1\"} 2\n"));
        assert!(text.contains("aiops_window_commit_latency_seconds_count 2\n"));
        assert_eq!(stats.commit_latency.quantile_bound(0.5), Some(0.05));
        assert_eq!(stats.commit_latency.quantile_bound(0.99), Some(1.0));
    }

    #[test]
    fn renders_the_service_graph_under_tempo_names_and_service_gauges() {
        use crate::published::{EdgeKey, EdgeTotals, ServiceMinute};
        let stats = Stats::default();
        let mut totals = EdgeTotals {
            requests: 3.0,
            failed: 1.0,
            ..EdgeTotals::default()
        };
        totals.server.add_ms(50.0, 3.0);
        totals.client.add_ms(300.0, 3.0);
        let key = EdgeKey {
            client: "front\"end".into(),
            server: "cart".into(),
            connection_type: "",
        };
        let minute = ServiceMinute {
            minute_s: 1_767_603_600,
            request_rate: Some(2.5),
            p99_seconds: Some(0.08),
            anomalous: true,
            ..ServiceMinute::default()
        };
        stats.published.with(|board| {
            board.cap = 10;
            let prod = EdgeKey {
                client: service_key("web", "prod"),
                server: service_key("cart", "prod"),
                connection_type: "",
            };
            board.add_edges(1_767_603_600, [(key, totals), (prod, totals)]);
            let cart_in_prod = (service_key("cart", "prod"), minute);
            board.set_services([("cart".to_string(), minute), cart_in_prod]);
        });
        let text = render(&stats, 0);
        let labels = r#"client="front\"end",server="cart",connection_type="""#;
        for line in [
            format!("traces_service_graph_request_total{{{labels}}} 3\n"),
            format!("traces_service_graph_request_failed_total{{{labels}}} 1\n"),
            format!(
                "traces_service_graph_request_server_seconds_bucket{{{labels},le=\"0.1\"}} 3\n"
            ),
            format!(
                "traces_service_graph_request_client_seconds_bucket{{{labels},le=\"0.2\"}} 0\n"
            ),
            format!(
                "traces_service_graph_request_client_seconds_bucket{{{labels},le=\"0.4\"}} 3\n"
            ),
            format!("traces_service_graph_request_client_seconds_count{{{labels}}} 3\n"),
            "aiops_service_graph_minute_timestamp_seconds 1767603600\n".to_string(),
            "aiops_service_request_rate{service=\"cart\"} 2.5\n".to_string(),
            "aiops_service_p99_latency_seconds{service=\"cart\"} 0.08\n".to_string(),
            "aiops_service_anomalous{service=\"cart\"} 1\n".to_string(),
            "aiops_service_request_rate{service=\"cart\",environment=\"prod\"} 2.5\n".to_string(),
            concat!(
                "traces_service_graph_request_total{client=\"web\",server=\"cart\",",
                "connection_type=\"\",client_deployment_environment=\"prod\",",
                "server_deployment_environment=\"prod\"} 3\n"
            )
            .to_string(),
        ] {
            assert!(text.contains(&line), "{line} in\n{text}");
        }
        assert!(
            !text.contains("aiops_service_error_rate{"),
            "no sample for an unknown value"
        );
    }

    #[test]
    fn answers_metrics_health_and_readiness_by_path() {
        let stats = Stats::default();
        Stats::add(&stats.duplicates, 2);
        let (status, _, body) = route(b"GET /metrics HTTP/1.1\r\n", &stats);
        assert_eq!(status, "200 OK");
        assert!(body.contains("aiops_duplicate_records_total 2\n"), "{body}");
        let build = format!(
            "aiops_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        );
        assert!(body.contains(&build), "{body}");
        assert_eq!(route(b"GET /healthz HTTP/1.1\r\n", &stats).0, "200 OK");
        assert_eq!(
            route(b"GET /readyz HTTP/1.1\r\n", &stats).0,
            "503 Service Unavailable"
        );
        Stats::add(&stats.workers_running, 2);
        let (status, _, body) = route(b"GET /readyz?verbose HTTP/1.1\r\n", &stats);
        assert_eq!(
            (status, body.as_str()),
            ("200 OK", "ready: 2 workers running\n")
        );
        stats.set_sink_outage(Some("connection refused".into()));
        let (status, _, body) = route(b"GET /readyz HTTP/1.1\r\n", &stats);
        let expected = (
            "503 Service Unavailable",
            "sink unreachable: connection refused\n",
        );
        assert_eq!((status, body.as_str()), expected);
        stats.set_sink_outage(None);
        // Records arrive but the watermark has not moved for longer than the bound.
        let long_ago = std::time::Instant::now() - WATERMARK_STALL - Duration::from_secs(1);
        *stats.watermark_seen.lock().unwrap() = Some(WatermarkSeen {
            pane: 0,
            since: long_ago,
            messages: 0,
        });
        Stats::add(&stats.messages, 5);
        let (status, _, body) = route(b"GET /readyz HTTP/1.1\r\n", &stats);
        assert_eq!(status, "503 Service Unavailable");
        assert!(body.starts_with("watermark stalled"), "{body}");
        Stats::raise(&stats.closed_before_pane, 7);
        assert_eq!(
            route(b"GET /readyz HTTP/1.1\r\n", &stats).0,
            "200 OK",
            "it moved"
        );
        assert_eq!(route(b"GET / HTTP/1.1\r\n", &stats).0, "404 Not Found");
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n", &stats).0,
            "405 Method Not Allowed"
        );
    }
}
