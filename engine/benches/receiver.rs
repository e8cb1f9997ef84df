//! The OTLP receivers on loopback: request bytes → decoded spans in a timely dataflow.
//!
//! Input: twenty simulated minutes of a 30-service shop as `ExportTraceServiceRequest`s of
//! ~300 spans (the simulator's, as in `decode_features`), sent over OTLP/HTTP (protobuf, four
//! keep-alive connections) and then over OTLP/gRPC (the generated tonic client, four requests
//! in flight). The receivers decode and queue; one worker thread takes the queue and sends
//! every span into a timely input (a probe-only dataflow), which is when a request is answered.
//!
//! Per-core figure: spans divided by the CPU time of the receiver threads and the worker thread
//! only (from /proc/self/task/*/stat), so the load generator in the same process does not
//! count. Wall-clock spans/s is printed beside it; on a 2-core machine the client competes for
//! the same cores.
//!
//! Run: `cargo bench -p aiops-engine --bench receiver` (Linux).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use aiops_engine::config::ReceiverConfig;
use aiops_engine::otlp::{Decoding, ReceiverSource, Receivers};
use aiops_engine::record::Span;
use aiops_engine::source::{Poll, Source};
use aiops_engine::stats::Stats;
use aiops_engine::time::Pane;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use timely::dataflow::operators::Probe;
use timely::dataflow::{InputHandleVec, ProbeHandle};

mod common;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Connections (HTTP) or requests in flight (gRPC).
const CLIENTS: usize = 4;
/// Times the requests are sent per measurement.
const ROUNDS: usize = 5;
/// Linux's clock ticks per second in /proc stat files (USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds so far of this process's threads whose name starts with one of `names`.
fn thread_cpu(names: &[&str]) -> f64 {
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !names.iter().any(|n| stat[open + 1..close].starts_with(n)) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        // utime and stime: fields 14 and 15 of the stat line, 12 and 13 after the name.
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    ticks as f64 / TICKS_PER_SECOND
}

/// The worker: takes the queue and sends every span into a timely input until `stop`.
fn worker(mut source: ReceiverSource, stop: Arc<AtomicBool>) -> u64 {
    timely::execute_directly(move |worker| {
        let mut input: InputHandleVec<Pane, Span> = InputHandleVec::new();
        let probe = ProbeHandle::new();
        worker.dataflow::<Pane, _, _>(|scope| {
            input.to_stream(scope).probe_with(&probe);
        });
        let mut spans = 0u64;
        while !stop.load(Ordering::Relaxed) {
            match source.poll() {
                Poll::Ready(batch) => {
                    for request in batch.decoded {
                        spans += request.spans.len() as u64;
                        for span in request.spans {
                            input.send(span);
                        }
                    }
                }
                // As the job's loop parks while its source waits, rather than spinning.
                _ => std::thread::sleep(std::time::Duration::from_micros(200)),
            }
            worker.step();
        }
        source.poll(); // answers the last batch
        spans
    })
}

/// One HTTP/1.1 keep-alive client sending its share of the requests.
fn http_client(addr: SocketAddr, requests: Arc<Vec<Vec<u8>>>, index: usize) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    for body in requests.iter().skip(index).step_by(CLIENTS) {
        let head = format!(
            "POST /v1/traces HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        writer.write_all(head.as_bytes()).unwrap();
        writer.write_all(body).unwrap();
        let (mut length, mut line) = (0usize, String::new());
        reader.read_line(&mut line).unwrap();
        assert!(line.contains(" 200 "), "answer: {line}");
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
    }
}

fn send_http(addr: SocketAddr, requests: &Arc<Vec<Vec<u8>>>) {
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let requests = Arc::clone(requests);
            std::thread::spawn(move || http_client(addr, requests, i))
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
}

fn send_grpc(addr: SocketAddr, requests: &Arc<Vec<Vec<u8>>>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = TraceServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let client = client.max_encoding_message_size(64 << 20);
        let mut tasks = Vec::new();
        for index in 0..CLIENTS {
            let (mut client, requests) = (client.clone(), Arc::clone(requests));
            tasks.push(tokio::spawn(async move {
                for body in requests.iter().skip(index).step_by(CLIENTS) {
                    let request = ExportTraceServiceRequest::decode(&body[..]).unwrap();
                    client.export(request).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

fn measure(
    name: &str,
    receivers: &Receivers,
    requests: &Arc<Vec<Vec<u8>>>,
    spans: u64,
    send: impl Fn(),
) {
    let stop = Arc::new(AtomicBool::new(false));
    let source = receivers.source(0);
    let worker_stop = Arc::clone(&stop);
    let worker = std::thread::Builder::new()
        .name("bench-worker".into())
        .spawn(move || worker(source, worker_stop))
        .unwrap();
    let servers = ["otlp-receiver", "bench-worker"];
    let (cpu_before, started) = (thread_cpu(&servers), Instant::now());
    for _ in 0..ROUNDS {
        send();
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = thread_cpu(&servers) - cpu_before;
    stop.store(true, Ordering::Relaxed);
    let spans = spans * ROUNDS as u64;
    assert_eq!(
        worker.join().unwrap(),
        spans,
        "every span reached the dataflow"
    );
    println!(
        "{name:<14} {:>6} requests {:>9} spans  wall {wall:>6.2} s ({:>5.2} M spans/s)  receiver + worker \
         CPU {cpu:>6.2} s: {:.2} M spans/s per core",
        requests.len() * ROUNDS,
        spans,
        spans as f64 / wall / 1e6,
        spans as f64 / cpu / 1e6,
    );
}

fn main() {
    let workload = common::workload();
    let (requests, spans) = (workload.requests, workload.spans);
    let config = ReceiverConfig {
        grpc: Some("127.0.0.1:0".into()),
        http: Some("127.0.0.1:0".into()),
        max_request_bytes: 64 << 20,
        max_queued_records: 200_000,
        retry_after_s: 1,
    };
    let receivers =
        Receivers::start(&config, Decoding::default(), Arc::new(Stats::default())).unwrap();
    let (http, grpc) = (
        receivers.http_addr().unwrap(),
        receivers.grpc_addr().unwrap(),
    );
    for _ in 0..2 {
        measure("otlp-http", &receivers, &requests, spans, || {
            send_http(http, &requests)
        });
        measure("otlp-grpc", &receivers, &requests, spans, || {
            send_grpc(grpc, &requests)
        });
    }
}
