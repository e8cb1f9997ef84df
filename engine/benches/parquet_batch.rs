//! Feature rows to an Arrow record batch: the Parquet sink's per-row work, for 10,000 rows of
//! all 41 columns (names, rates, quantiles, calendar, callers and callees, anomaly fields), a
//! minute of a 10,000-service fleet.
//!
//! Run: `cargo bench -p aiops-engine --bench parquet_batch`. Not timed: building the rows;
//! writing the file (Parquet encoding and compression are the parquet crate's).

#![allow(clippy::unwrap_used)]

use aiops_engine::features::FeatureRow;
use aiops_engine::sink::rows_to_batch;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const ROWS: usize = 10_000;

fn rows() -> Vec<FeatureRow> {
    let start = 1_767_603_600_000_000i64;
    (0..ROWS)
        .map(|i| {
            let rate = (i % 97) as f64;
            FeatureRow {
                time_us: start,
                service_name: format!("svc-{i}"),
                operation: Some("GET /cart".into()),
                http_status_code: Some(200),
                request_rate_1m: Some(rate),
                request_rate_5m: Some(rate),
                request_rate_15m: Some(rate),
                request_rate_1h: Some(rate),
                error_rate_1m: Some(0.01),
                error_rate_5m: Some(0.01),
                p50_latency_1m: Some(12.5),
                p95_latency_1m: Some(40.0),
                p99_latency_1m: Some(80.0),
                p50_latency_5m: Some(12.5),
                p95_latency_5m: Some(40.0),
                p99_latency_5m: Some(80.0),
                hour_of_day: 9,
                day_of_week: 1,
                day_of_month: 5,
                is_business_hour: true,
                upstream_services: Some(vec![format!("svc-{}", i / 2)]),
                downstream_services: Some(vec!["postgresql".into(), format!("svc-{}", i + 1)]),
                dependency_count: Some(3),
                cpu_usage: Some(42.0),
                memory_usage: Some(55.0),
                disk_io_read: Some(1.5),
                disk_io_write: Some(0.5),
                network_in: Some(2.0),
                network_out: Some(2.5),
                region: Some("eu-west-1".into()),
                deployment_version: Some("1.4.2".into()),
                is_anomaly: Some(i % 50 == 0),
                anomaly_type: (i % 50 == 0).then(|| "p99_latency_1m".into()),
                anomaly_score: Some(0.2),
                created_at_us: start + 65_000_000,
                ..Default::default()
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rows = rows();
    let mut group = c.benchmark_group("parquet_batch");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("rows_to_batch_10k", |b| {
        b.iter(|| rows_to_batch(&rows).unwrap().num_rows())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
