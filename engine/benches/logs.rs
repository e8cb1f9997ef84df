//! Log decode and template mining on one worker.
//!
//! Measures, per log line: protobuf decode of `ExportLogsServiceRequest`s of 500 records
//! into records; the same plus the `log_panes` operator (one timely worker): error level,
//! masking, per-minute distinct-line counts and the Drain-style miner at each minute's close.
//! The lines come from 60 message shapes with numbers, ids, words and durations in them, over
//! 40 services and 10 minutes; a fifth of the shapes carry a variable word (a user name)
//! that only the miner's merging, not masking, folds into one template.
//! Not timed: building and encoding the input.
//!
//! Run: `cargo bench -p aiops-engine --bench logs`
//! Criterion reports throughput in lines per second (elements/s) for one core.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use aiops_engine::features::{LogPane, LogPanes};
use aiops_engine::otlp::{decode_logs, Decoding};
use aiops_engine::record::{Encoding, LogRecord};
use aiops_engine::source::otlp_build::{resource, scope};
use aiops_engine::time::{pane_of, Pane};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpLog, ResourceLogs, ScopeLogs};
use timely::dataflow::operators::{Probe, ToStream};
use timely::dataflow::{InputHandleVec, ProbeHandle};

/// The same allocator as the `aiops` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const T0: u64 = 1_767_621_600_000_000_000;
const LINES_PER_REQUEST: u64 = 500;
const MINUTES: u64 = 10;
const LINES_PER_MINUTE: u64 = 60_000;
const USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];

/// Line `n`: shape `n % 60`, with its numbers and words drawn from `n` (a cheap mix).
fn line(n: u64) -> (String, i32) {
    let mix = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20;
    let shape = n % 60;
    let ms = mix % 900;
    let body = match shape % 5 {
        0 => format!(
            "{} INFO  c.s.Handler{shape} GET /api/v1/items/{} took {ms} ms",
            mix % 86_400,
            mix % 10_000
        ),
        1 => format!(
            "user {} logged in from 10.0.{}.{} session {:x}",
            USERS[(mix % 5) as usize],
            mix % 255,
            ms % 255,
            mix
        ),
        2 => format!(
            "cache miss for key order:{} in region shape{shape}, fetching from db",
            mix % 100_000
        ),
        3 => format!(
            "WARN slow query shape{shape} on table orders: {ms} ms rows={}",
            mix % 500
        ),
        _ => format!(
            "ERROR request {} failed: upstream shape{shape} returned 503 after {ms} ms",
            mix % 1_000_000
        ),
    };
    let severity = match shape % 5 {
        3 => 13,
        4 => 17,
        _ => 9,
    };
    (body, severity)
}

fn requests() -> (Vec<Vec<u8>>, u64) {
    let total = MINUTES * LINES_PER_MINUTE;
    let mut requests = Vec::new();
    let mut n = 0;
    while n < total {
        let service = (n / LINES_PER_REQUEST) % 40;
        let log_records = (n..(n + LINES_PER_REQUEST).min(total))
            .map(|i| {
                let (body, severity) = line(i);
                OtlpLog {
                    time_unix_nano: T0 + i * 60_000_000_000 / LINES_PER_MINUTE,
                    severity_number: severity,
                    body: Some(AnyValue {
                        value: Some(Value::StringValue(body)),
                    }),
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    ..Default::default()
                }
            })
            .collect();
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(resource(&format!("service-{service}"), 0, "eu")),
                scope_logs: vec![ScopeLogs {
                    scope: scope(),
                    log_records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        requests.push(Encoding::OtlpProto.encode(&request));
        n += LINES_PER_REQUEST;
    }
    (requests, total)
}

fn pipeline(requests: Arc<Vec<Vec<u8>>>) -> usize {
    timely::execute_directly(move |worker| {
        let mut logs_in: InputHandleVec<Pane, LogRecord> = InputHandleVec::new();
        let probe = ProbeHandle::new();
        worker.dataflow::<Pane, _, _>(|scope| {
            let restored = Vec::<LogPane>::new().to_stream(scope).container::<Vec<_>>();
            logs_in
                .to_stream(scope)
                .log_panes(restored)
                .probe_with(&probe);
        });
        let mut buffer = Vec::new();
        let decoding = Decoding::default();
        for bytes in requests.iter() {
            let _ = decode_logs(bytes, Encoding::OtlpProto, &decoding, &mut buffer);
            let mut newest = 0;
            for record in buffer.drain(..) {
                newest = newest.max(record.time_ns);
                logs_in.send(record);
            }
            let open = pane_of(newest.saturating_sub(5_000_000_000));
            if open > *logs_in.time() {
                logs_in.advance_to(open);
            }
            worker.step();
        }
        drop(logs_in);
        while worker.step() {}
        requests.len()
    })
}

fn bench(c: &mut Criterion) {
    let (requests, lines) = requests();
    let requests = Arc::new(requests);
    let mut group = c.benchmark_group("otlp_logs");
    group.throughput(Throughput::Elements(lines));
    group.sample_size(10);
    group.bench_function("decode", |b| {
        let mut buffer = Vec::new();
        let decoding = Decoding::default();
        b.iter(|| {
            for bytes in requests.iter() {
                let _ = decode_logs(bytes, Encoding::OtlpProto, &decoding, &mut buffer);
                buffer.clear();
            }
        })
    });
    group.bench_function("decode+templates", |b| {
        b.iter(|| pipeline(Arc::clone(&requests)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
