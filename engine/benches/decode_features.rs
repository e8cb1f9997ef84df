//! Decode + windowed features on one worker, for `otlp_proto` requests of realistic size.
//!
//! Measures, per span: protobuf decode of `ExportTraceServiceRequest`s of ~300 spans (as the
//! Collector's batch processor sends them) into records; the same plus the dataflow
//! (`span_panes` → `feature_windows`, one timely worker) that turns them into feature rows;
//! and the same plus the dependency graph (`call_pairs` → `edge_windows` →
//! `with_neighbours`), i.e. trace assembly into call edges and the rows' neighbours.
//! Not timed: generating and encoding the input (done once, before measuring), sinks.
//!
//! Run: `cargo bench -p aiops-engine --bench decode_features`
//! Criterion reports throughput in spans per second (elements/s) for one core.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use aiops_engine::features::{FeatureWindows, LogPane, MetricPanes, SpanPanes};
use aiops_engine::graph::{CallPairs, EdgeWindows, SplitLinks, WithNeighbours};
use aiops_engine::otlp::{decode_spans, Decoding};
use aiops_engine::record::Encoding;
use aiops_engine::record::{MetricPoint, Span};
use aiops_engine::stats::Stats;
use aiops_engine::time::{pane_of, Pane};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// The same allocator as the `aiops` binary: decode is allocation-bound.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use timely::dataflow::operators::{Probe, ToStream};
use timely::dataflow::{InputHandleVec, ProbeHandle};

mod common;
use common::requests;

fn pipeline(requests: Arc<Vec<Vec<u8>>>, graph: bool) -> usize {
    timely::execute_directly(move |worker| {
        let mut spans_in: InputHandleVec<Pane, Span> = InputHandleVec::new();
        let mut metrics_in: InputHandleVec<Pane, MetricPoint> = InputHandleVec::new();
        let probe = ProbeHandle::new();
        worker.dataflow::<Pane, _, _>(|scope| {
            let metrics = metrics_in.to_stream(scope).metric_panes();
            let logs = Vec::<LogPane>::new().to_stream(scope).container::<Vec<_>>();
            let spans = spans_in.to_stream(scope);
            match graph {
                true => {
                    let (spans, links) = spans.split_links(0);
                    let edges = links
                        .call_pairs(1, 10_000, Arc::new(Stats::default()))
                        .edge_windows();
                    spans
                        .span_panes()
                        .feature_windows(metrics, logs, chrono_tz::Tz::UTC, || 0)
                        .with_neighbours(edges)
                        .probe_with(&probe);
                }
                false => {
                    spans
                        .span_panes()
                        .feature_windows(metrics, logs, chrono_tz::Tz::UTC, || 0)
                        .probe_with(&probe);
                }
            }
        });
        let mut buffer = Vec::new();
        let naming = Decoding::default();
        for bytes in requests.iter() {
            let _ = decode_spans(bytes, Encoding::OtlpProto, &naming, &mut buffer);
            let mut newest = 0;
            for span in buffer.drain(..) {
                newest = newest.max(span.start_ns);
                spans_in.send(span);
            }
            // Watermark 5 s behind the newest span, as the job's default.
            let open = pane_of(newest.saturating_sub(5_000_000_000));
            if open > *spans_in.time() {
                spans_in.advance_to(open);
                metrics_in.advance_to(open);
            }
            worker.step();
        }
        drop(spans_in);
        drop(metrics_in);
        while worker.step() {}
        requests.len()
    })
}

fn bench(c: &mut Criterion) {
    let (requests, spans) = requests();
    let requests = Arc::new(requests);
    eprintln!(
        "input: {} requests, {} spans, {:.0} spans per request",
        requests.len(),
        spans,
        spans as f64 / requests.len() as f64
    );
    let mut group = c.benchmark_group("otlp_proto");
    group.throughput(Throughput::Elements(spans));
    group.sample_size(10);
    group.bench_function("decode", |b| {
        let mut buffer = Vec::new();
        let naming = Decoding::default();
        b.iter(|| {
            for bytes in requests.iter() {
                let _ = decode_spans(bytes, Encoding::OtlpProto, &naming, &mut buffer);
                buffer.clear();
            }
        })
    });
    group.bench_function("decode+features", |b| {
        b.iter(|| pipeline(Arc::clone(&requests), false))
    });
    group.bench_function("decode+features+graph", |b| {
        b.iter(|| pipeline(Arc::clone(&requests), true))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
