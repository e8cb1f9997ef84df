//! The OTLP receivers, against real clients: the official OpenTelemetry Python SDK and its
//! OTLP exporters (gRPC and HTTP), raw HTTP/1.1 requests for every kind of bad input, and the
//! generated gRPC client. Rows from the receivers must equal the rows of the same requests
//! replayed from files; bad requests get the status codes OTLP asks for and are counted and
//! dead-lettered; a job that is behind refuses instead of buffering.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiops_engine::config::ReceiverConfig;
use aiops_engine::otlp::{Decoding, Receivers};
use aiops_engine::source::{Poll, Source};
use aiops_engine::stats::Stats;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use prost::Message;

use crate::common::{free_port, number, read_rows, replay_with_env, summary_value};

/// Windows stay open an hour: the SDK's providers export independently, so one service's
/// spans may arrive after another's later ones (the file replay reads them in another order).
const LATENESS: (&str, &str) = ("AIOPS_WATERMARK__ALLOWED_LATENESS_MS", "3600000");
/// 2026-01-05T09:00:00Z.
const T0_NS: u64 = 1_767_603_600 * 1_000_000_000;

/// A running `aiops run` with both receivers.
struct Job {
    child: Child,
    grpc: String,
    http: String,
}

impl Job {
    fn start(data: &Path, env: &[(&str, &str)]) -> Job {
        let (grpc, http) = (
            format!("127.0.0.1:{}", free_port()),
            format!("127.0.0.1:{}", free_port()),
        );
        let args: Vec<String> = [
            "run",
            "--otlp-grpc",
            &grpc,
            "--otlp-http",
            &http,
            "--metrics-addr",
            "",
            "-q",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(["--data-dir".to_string(), data.display().to_string()])
        .collect();
        let mut command = spawn_command(&args);
        command.envs(env.iter().copied());
        let child = command.spawn().expect("aiops starts");
        for addr in [&grpc, &http] {
            let deadline = Instant::now() + Duration::from_secs(60);
            while TcpStream::connect(addr).is_err() {
                assert!(Instant::now() < deadline, "nothing listens on {addr}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Job { child, grpc, http }
    }

    /// Ctrl-C, as a user stops it; returns the summary.
    fn stop(self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        let output = self.child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "aiops failed: {}\n{stdout}\n{stderr}",
            output.status
        );
        stdout
    }
}

/// The command [`crate::common::spawn`] runs, not yet started, so environment variables can
/// be added.
fn spawn_command(args: &[String]) -> Command {
    let mut command = crate::common::aiops();
    command
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

#[test]
fn sdk_telemetry_through_the_receivers_gives_the_rows_of_its_file_replay() {
    let python = std::env::var("AIOPS_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("AIOPS_TEST_PYTHON is not set: run the tests with `bash tests/run.sh`, which provides the SDK")
    });
    let dir = tempfile::tempdir().unwrap();
    let (files, live, replayed) = (
        dir.path().join("otlp"),
        dir.path().join("live"),
        dir.path().join("replay"),
    );
    std::fs::create_dir_all(&files).unwrap();
    let job = Job::start(&live, &[LATENESS]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/python/otlp_sdk_send.py"
    );
    let start = (T0_NS / 1_000_000_000).to_string();
    let sent = Command::new(python)
        .args([
            script,
            "--grpc",
            &job.grpc,
            "--http",
            &format!("http://{}", job.http),
        ])
        .args(["--files", &files.display().to_string(), "--start", &start])
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "the SDK script failed: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let summary = job.stop();

    assert_eq!(summary_value(&summary, "spans"), 1_800, "{summary}");
    assert_eq!(summary_value(&summary, "log records"), 100, "{summary}");
    assert_eq!(summary_value(&summary, "late records"), 0);
    assert_eq!(summary_value(&summary, "bad input"), 0);
    let replay = replay_with_env(&files, &replayed, &[LATENESS]);
    assert_eq!(summary_value(&replay, "spans"), 1_800);
    assert_eq!(summary_value(&replay, "log records"), 100);
    let (live_rows, replayed_rows) = (read_rows(&live), read_rows(&replayed));
    // 50 lines a service, one a second from T0, every tenth an error.
    let logged: Vec<(&str, Option<f64>, Option<f64>)> = live_rows
        .iter()
        .filter(|r| r["service_name"] == "checkout")
        .map(|r| {
            (
                r["time"].as_str(),
                number(r, "log_rate"),
                number(r, "error_log_rate"),
            )
        })
        .collect();
    assert_eq!(logged[0].1, Some(50.0 / 60.0), "{logged:?}");
    assert_eq!(logged[0].2, Some(5.0 / 60.0), "{logged:?}");
    let services: std::collections::BTreeSet<&str> = live_rows
        .iter()
        .map(|r| r["service_name"].as_str())
        .collect();
    assert_eq!(
        services.into_iter().collect::<Vec<_>>(),
        ["checkout", "inventory", "payments"]
    );
    assert_eq!(
        live_rows, replayed_rows,
        "the receivers' rows differ from the file replay's"
    );
    let inventory = live_rows
        .iter()
        .find(|r| r["service_name"] == "inventory")
        .unwrap();
    let p50: f64 = inventory["p50_latency_1m"].parse().unwrap();
    assert!(
        (10.0..200.0).contains(&p50),
        "inventory p50 {p50} ms from its duration histogram"
    );
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

/// A request of `count` server spans of service `web` one tenth of a second apart from
/// [`T0_NS`]; span `bad` (if any) has an all-zero trace id. `seed` keeps ids distinct.
fn traces(count: usize, bad: Option<usize>, seed: u8) -> ExportTraceServiceRequest {
    let spans = (0..count)
        .map(|i| {
            let start = T0_NS + i as u64 * 100_000_000;
            let trace = if Some(i) == bad {
                [0; 16]
            } else {
                [seed, i as u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
            };
            Span {
                trace_id: trace.to_vec(),
                span_id: vec![seed, i as u8, 1, 1, 1, 1, 1, 1],
                name: "GET /".into(),
                kind: span::SpanKind::Server as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: start + 20_000_000,
                ..Span::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", "web")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// An HTTP/1.1 answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One raw HTTP/1.1 request (`Connection: close`), so every header and byte is the test's.
fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    // A refused body may be answered before it is all sent; the answer is what counts.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole HTTP answer");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

const PROTO: (&str, &str) = ("Content-Type", "application/x-protobuf");

fn post(addr: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    request(addr, "POST", "/v1/traces", headers, body)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The `google.rpc.Status` message of an error answer: its code.
fn status_code(body: &[u8]) -> i32 {
    #[derive(Clone, PartialEq, Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
    }
    RpcStatus::decode(body).unwrap().code
}

#[test]
fn receivers_answer_each_kind_of_bad_request_as_otlp_asks_and_lose_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let job = Job::start(&data, &[("AIOPS_RECEIVER__MAX_REQUEST_BYTES", "100000")]);
    let http = job.http.as_str();

    // Valid requests: protobuf with one bad span (a partial success), JSON, gzip.
    let answer = post(http, &[PROTO], &traces(10, Some(3), 1).encode_to_vec());
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-type"),
        Some("application/x-protobuf")
    );
    let partial = ExportTraceServiceResponse::decode(&answer.body[..])
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("span 3"),
        "{}",
        partial.error_message
    );
    let json = serde_json::to_vec(&traces(10, None, 2)).unwrap();
    let answer = post(
        http,
        &[("Content-Type", "application/json; charset=utf-8")],
        &json,
    );
    assert_eq!(
        (answer.status, answer.header("content-type")),
        (200, Some("application/json"))
    );
    let compressed = gzip(&traces(5, None, 3).encode_to_vec());
    assert_eq!(
        post(http, &[PROTO, ("Content-Encoding", "gzip")], &compressed).status,
        200
    );

    // Bad requests, each counted and dead-lettered.
    let garbage = post(http, &[PROTO], b"\xff\xff\xff\xff not protobuf");
    assert_eq!((garbage.status, status_code(&garbage.body)), (400, 3));
    let whole = traces(10, None, 4).encode_to_vec();
    assert_eq!(
        post(http, &[PROTO], &whole[..whole.len() / 2]).status,
        400,
        "truncated"
    );
    assert_eq!(
        post(http, &[("Content-Type", "text/plain")], &whole).status,
        415
    );
    assert_eq!(
        post(http, &[PROTO, ("Content-Encoding", "br")], &whole).status,
        415
    );
    assert_eq!(
        post(http, &[PROTO], &vec![0; 200_000]).status,
        413,
        "over max_request_bytes"
    );
    let bomb = gzip(&vec![0; 1_000_000]);
    assert!(bomb.len() < 100_000);
    assert_eq!(
        post(http, &[PROTO, ("Content-Encoding", "gzip")], &bomb).status,
        413,
        "inflates past the limit"
    );
    assert_eq!(
        post(http, &[PROTO, ("Content-Encoding", "gzip")], b"not gzip").status,
        400
    );
    assert_eq!(request(http, "GET", "/v1/traces", &[], b"").status, 405);
    assert_eq!(
        request(http, "POST", "/v1/spans", &[PROTO], &whole).status,
        404
    );

    // gRPC: a partial success, and a message over the limit.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (rejected, oversized) = runtime.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{}", job.grpc))
            .await
            .unwrap();
        let answer = client
            .export(traces(10, Some(0), 5))
            .await
            .unwrap()
            .into_inner();
        let big = traces(3_000, None, 6);
        assert!(big.encoded_len() > 100_000);
        (
            answer.partial_success.unwrap().rejected_spans,
            client.export(big).await.unwrap_err().code(),
        )
    });
    assert_eq!(rejected, 1);
    assert_eq!(oversized, tonic::Code::OutOfRange);

    let summary = job.stop();
    assert_eq!(
        summary_value(&summary, "spans"),
        9 + 10 + 5 + 9,
        "every valid span, once\n{summary}"
    );
    // Eight refused requests (garbage, truncated, two 415s, two 413s, bad gzip, gRPC over the
    // limit) and two rejected spans.
    assert_eq!(summary_value(&summary, "bad input"), 8 + 2, "{summary}");
    let letters = dead_letters(&data);
    assert_eq!(letters.len(), 10, "one dead letter each: {letters:#?}");
    assert!(letters
        .iter()
        .any(|l| l["error"].as_str().unwrap().contains("span 3")));
    assert!(letters
        .iter()
        .all(|l| l["location"].as_str().unwrap().starts_with("otlp-")));
}

fn dead_letters(data: &Path) -> Vec<serde_json::Value> {
    let mut letters = Vec::new();
    for entry in std::fs::read_dir(data.join("dead_letter")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        letters.extend(
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    letters
}

#[test]
fn a_job_that_is_behind_refuses_requests_instead_of_buffering_them() {
    let stats = Arc::new(Stats::default());
    let config = ReceiverConfig {
        grpc: None,
        http: Some("127.0.0.1:0".into()),
        max_request_bytes: 1 << 20,
        max_queued_records: 1_000,
        retry_after_s: 3,
    };
    let receivers = Receivers::start(&config, Decoding::default(), Arc::clone(&stats)).unwrap();
    let addr: SocketAddr = receivers.http_addr().unwrap();
    let send = move |seed: u8| {
        let body = traces(300, None, seed).encode_to_vec();
        std::thread::spawn(move || post(&addr.to_string(), &[PROTO], &body))
    };
    // No worker takes from the queue: three requests of 300 spans fit and wait for an answer.
    let held: Vec<_> = (0..3).map(send).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while receivers.queued_records() < 900 {
        assert!(
            Instant::now() < deadline,
            "{} records queued",
            receivers.queued_records()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for seed in 3..50 {
        let answer = send(seed).join().unwrap();
        assert_eq!(answer.status, 429);
        assert_eq!(answer.header("retry-after"), Some("3"));
        assert_eq!(status_code(&answer.body), 8, "RESOURCE_EXHAUSTED");
        assert_eq!(receivers.queued_records(), 900, "nothing more is buffered");
    }
    assert_eq!(stats.snapshot().receiver_refused, 47);
    assert!(
        held.iter().all(|h| !h.is_finished()),
        "answered before a worker took the records"
    );

    // A worker takes the records; its next poll (after pushing them) answers the requests.
    let mut source: Box<dyn Source> = Box::new(receivers.source(0));
    let Poll::Ready(batch) = source.poll() else {
        panic!("the queued requests")
    };
    assert_eq!(
        batch.decoded.iter().map(|d| d.spans.len()).sum::<usize>(),
        900
    );
    assert_eq!(receivers.queued_records(), 0);
    assert!(matches!(source.poll(), Poll::Wait(_)));
    for handle in held {
        assert_eq!(handle.join().unwrap().status, 200);
    }
    let again = send(60);
    while receivers.queued_records() < 300 {
        assert!(Instant::now() < deadline, "room again once taken");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(matches!(source.poll(), Poll::Ready(_)));
    assert!(matches!(source.poll(), Poll::Wait(_)));
    assert_eq!(again.join().unwrap().status, 200);
}
