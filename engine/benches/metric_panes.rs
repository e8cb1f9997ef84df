//! Metric points to per-(service, minute) resource and request features on one worker, for
//! requests shaped like the Collector's receivers' default output.
//!
//! Each request is one scrape of one pod: hostmetrics' `system.cpu.time` (4 CPUs × 8 states),
//! `system.memory.usage` (6 states), `system.disk.io` and `system.network.io` (2 devices × 2
//! directions), kubeletstats' `k8s.pod.cpu.usage` and `k8s.pod.network.io`, and an HTTP
//! server's `http.server.request.duration` histograms (2 statuses, 14 buckets): 51 points.
//! 40 services × 3 pods, scraped every 15 s for 20 minutes: 9,600 requests, 489,600 points.
//! Measured: protobuf decode into points, and the same plus `metric_panes` (mapping, ranking,
//! counter differencing, histogram increments). Not timed: building and encoding the input.
//!
//! Run: `cargo bench -p aiops-engine --bench metric_panes`
//! Criterion reports throughput in points per second (elements/s) for one core.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use aiops_engine::features::MetricPanes;
use aiops_engine::otlp::{decode_metrics, Decoding};
use aiops_engine::record::{Encoding, MetricPoint};
use aiops_engine::time::{pane_of, Pane};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use timely::dataflow::operators::Probe;
use timely::dataflow::{InputHandleVec, ProbeHandle};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const START_NS: u64 = 1_767_607_200_000_000_000;
const SCRAPES: u64 = 80;
const INTERVAL_NS: u64 = 15_000_000_000;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn number(attributes: Vec<KeyValue>, time_ns: u64, value: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: START_NS - 3_600_000_000_000,
        time_unix_nano: time_ns,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

fn counter(name: &str, data_points: Vec<NumberDataPoint>, monotonic: bool) -> Metric {
    let sum = Sum {
        data_points,
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
        is_monotonic: monotonic,
    };
    Metric {
        name: name.into(),
        data: Some(Data::Sum(sum)),
        ..Default::default()
    }
}

/// Every metric of one scrape `n` of one pod; counters grow with `n`.
fn scrape(n: u64, time_ns: u64) -> Vec<Metric> {
    let grown = n as f64;
    let mut cpu = Vec::new();
    for c in 0..4 {
        for state in [
            "user",
            "system",
            "idle",
            "interrupt",
            "nice",
            "softirq",
            "steal",
            "wait",
        ] {
            let attributes = vec![kv("cpu", &format!("cpu{c}")), kv("state", state)];
            cpu.push(number(attributes, time_ns, grown * 3.0));
        }
    }
    let memory = [
        "used",
        "free",
        "buffered",
        "cached",
        "slab_reclaimable",
        "slab_unreclaimable",
    ]
    .map(|state| number(vec![kv("state", state)], time_ns, 1e9));
    let io = |directions: [&str; 2]| {
        let mut points = Vec::new();
        for device in ["sda", "sdb"] {
            for direction in directions {
                let attributes = vec![kv("device", device), kv("direction", direction)];
                points.push(number(attributes, time_ns, grown * 1e6));
            }
        }
        points
    };
    let pod_rx = ["receive", "transmit"].map(|d| number(vec![kv("direction", d)], time_ns, grown));
    let usage = Gauge {
        data_points: vec![number(Vec::new(), time_ns, 0.5)],
    };
    vec![
        counter("system.cpu.time", cpu, true),
        counter("system.memory.usage", memory.to_vec(), false),
        counter("system.disk.io", io(["read", "write"]), true),
        counter("system.network.io", io(["receive", "transmit"]), true),
        Metric {
            name: "k8s.pod.cpu.usage".into(),
            data: Some(Data::Gauge(usage)),
            ..Default::default()
        },
        counter("k8s.pod.network.io", pod_rx.to_vec(), true),
        durations(n, time_ns),
    ]
}

fn durations(n: u64, time_ns: u64) -> Metric {
    let bounds = vec![
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    ];
    let point = |status: &str, per_bucket: u64| HistogramDataPoint {
        attributes: vec![kv("http.response.status_code", status)],
        start_time_unix_nano: START_NS - 3_600_000_000_000,
        time_unix_nano: time_ns,
        count: per_bucket * n * 14,
        bucket_counts: vec![per_bucket * n; 14],
        explicit_bounds: bounds.clone(),
        ..Default::default()
    };
    let histogram = Histogram {
        data_points: vec![point("200", 5), point("500", 1)],
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
    };
    Metric {
        name: "http.server.request.duration".into(),
        data: Some(Data::Histogram(histogram)),
        ..Default::default()
    }
}

/// The encoded requests in time order, and their number of points.
fn requests() -> (Vec<Vec<u8>>, u64) {
    let (mut requests, mut points) = (Vec::new(), 0u64);
    for n in 0..SCRAPES {
        let time_ns = START_NS + n * INTERVAL_NS;
        for service in 0..40 {
            for pod in 0..3 {
                let resource = Resource {
                    attributes: vec![
                        kv("service.name", &format!("svc-{service}")),
                        kv(
                            "k8s.pod.name",
                            &format!("svc-{service}-7d9f8b6c5-{pod}x2k4"),
                        ),
                    ],
                    ..Default::default()
                };
                let metrics = scrape(n, time_ns);
                let request = ExportMetricsServiceRequest {
                    resource_metrics: vec![ResourceMetrics {
                        resource: Some(resource),
                        scope_metrics: vec![ScopeMetrics {
                            metrics,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                };
                let mut decoded = Vec::new();
                let bytes = request.encode_to_vec();
                let _ = decode_metrics(
                    &bytes,
                    Encoding::OtlpProto,
                    &Decoding::default(),
                    &mut decoded,
                );
                points += decoded.len() as u64;
                requests.push(bytes);
            }
        }
    }
    (requests, points)
}

fn pipeline(requests: Arc<Vec<Vec<u8>>>) -> usize {
    timely::execute_directly(move |worker| {
        let mut metrics_in: InputHandleVec<Pane, MetricPoint> = InputHandleVec::new();
        let probe = ProbeHandle::new();
        worker.dataflow::<Pane, _, _>(|scope| {
            metrics_in
                .to_stream(scope)
                .metric_panes()
                .probe_with(&probe);
        });
        let (mut buffer, decoding) = (Vec::new(), Decoding::default());
        for bytes in requests.iter() {
            let _ = decode_metrics(bytes, Encoding::OtlpProto, &decoding, &mut buffer);
            let mut newest = 0;
            for point in buffer.drain(..) {
                newest = newest.max(point.time_ns);
                metrics_in.send(point);
            }
            let open = pane_of(newest.saturating_sub(5_000_000_000));
            if open > *metrics_in.time() {
                metrics_in.advance_to(open);
            }
            worker.step();
        }
        drop(metrics_in);
        while worker.step() {}
        requests.len()
    })
}

fn bench(c: &mut Criterion) {
    let (requests, points) = requests();
    let requests = Arc::new(requests);
    let mut group = c.benchmark_group("receiver_metrics");
    group.throughput(Throughput::Elements(points));
    group.sample_size(10);
    group.bench_function("decode", |b| {
        let (mut buffer, decoding) = (Vec::new(), Decoding::default());
        b.iter(|| {
            for bytes in requests.iter() {
                let _ = decode_metrics(bytes, Encoding::OtlpProto, &decoding, &mut buffer);
                buffer.clear();
            }
        })
    });
    group.bench_function("decode+metric_panes", |b| {
        b.iter(|| pipeline(Arc::clone(&requests)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
