//! Decode + windowed features on one worker, for `otlp_proto` requests of realistic size.
//!
//! Measures, per span: protobuf decode of `ExportTraceServiceRequest`s of ~300 spans (as the
//! Collector's batch processor sends them) into records; the same plus the dataflow
//! (`span_panes` → `feature_windows`, one timely worker) that turns them into feature rows;
//! and the same plus the dependency graph (`call_pairs` → `edge_windows` →
//! `with_neighbours`), i.e. trace assembly into call edges and the rows' neighbours.
//! Not timed: generating and encoding the input (done once, before measuring), sinks.
//!
//! The stages are `aiops_engine::job::sizing`'s, which `aiops bench` also times.
//!
//! Run: `cargo bench -p aiops-engine --bench decode_features`
//! Criterion reports throughput in spans per second (elements/s) for one core.

#![allow(clippy::unwrap_used)]

use aiops_engine::job::sizing::{self, Stages};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// The same allocator as the `aiops` binary: decode is allocation-bound.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

fn bench(c: &mut Criterion) {
    let workload = common::workload();
    let requests = workload.requests;
    eprintln!(
        "input: {} requests, {} spans, {:.0} spans per request",
        requests.len(),
        workload.spans,
        workload.spans as f64 / requests.len() as f64
    );
    let mut group = c.benchmark_group("otlp_proto");
    group.throughput(Throughput::Elements(workload.spans));
    group.sample_size(10);
    for (name, stages) in [
        ("decode", Stages::Decode),
        ("decode+features", Stages::Features),
        ("decode+features+graph", Stages::Graph),
    ] {
        group.bench_function(name, |b| b.iter(|| sizing::run(&requests, stages)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
