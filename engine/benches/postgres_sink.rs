//! Rows per second of the PostgreSQL sink: binary COPY into staging + upsert + rollup, in
//! transactions of 10,000 feature rows (native partitioning path).
//!
//! Needs a server: `AIOPS_BENCH_DATABASE_URL=postgres://... cargo bench -p aiops-engine --bench
//! postgres_sink`. The database is migrated first; the benchmark rewrites the same 10,000
//! (service, minute) keys, so it measures the upsert of existing rows, the steady state of a
//! replay. Not timed: building the rows. Without the variable it prints why and measures nothing.

#![allow(clippy::unwrap_used)]

use aiops_engine::config::JobConfig;
use aiops_engine::features::FeatureRow;
use aiops_engine::sink::postgres::{connect, migrate, server_of, PostgresSink};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const ROWS: usize = 10_000;

fn rows() -> Vec<FeatureRow> {
    let start = 1_767_603_600_000_000i64;
    (0..ROWS)
        .map(|i| FeatureRow {
            service_name: format!("svc-{}", i % 100),
            time_us: start + (i / 100) as i64 * 60_000_000,
            operation: Some("GET /cart".into()),
            request_rate_1m: Some(i as f64),
            error_rate_1m: Some(0.01),
            p99_latency_1m: Some(123.4),
            cpu_usage: Some(42.0),
            hour_of_day: 9,
            day_of_week: 1,
            day_of_month: 5,
            region: Some("eu-west-1".into()),
            ..Default::default()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let Ok(url) = std::env::var("AIOPS_BENCH_DATABASE_URL") else {
        eprintln!("AIOPS_BENCH_DATABASE_URL is not set: nothing to measure");
        return;
    };
    let mut config = JobConfig::load(None, Vec::new()).unwrap().postgres;
    config.url = Some(url.clone());
    migrate(&mut connect(&url).unwrap(), &config, &server_of(&url)).unwrap();
    let mut sink = PostgresSink::connect(&config).unwrap();
    let rows = rows();
    let mut group = c.benchmark_group("postgres_sink");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    group.bench_function("upsert_10k_rows", |b| {
        b.iter(|| sink.write_transaction(&rows).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
