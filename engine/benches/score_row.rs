//! Scoring one feature row with every detector the job runs: the robust median/MAD detector
//! over 11 features with 30 minutes of history; plus the IsolationForest (100 trees) behind
//! per-service scaling; plus the LSTM forecaster (2 × 64, one streaming step per row);
//! combined. The bar is a p99 well under 50 ms per row, aiming below 1 ms on one core.
//!
//! Run: `cargo bench -p aiops-engine --bench score_row`. Besides criterion's mean, it prints
//! the p50 / p99 / max of 100 000 single-row timings.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use aiops_engine::config::{Combine, JobConfig};
use aiops_engine::features::FeatureRow;
use aiops_engine::score::inputs::{input_floors, model_inputs};
use aiops_engine::score::{Detector, ModelSlot};
use aiops_engine::stats::Stats;
use aiops_models::fit::{fit, ModelSpec, TrainingSet};
use aiops_models::lstm::LstmConfig;
use aiops_models::model_file::TrainingInfo;
use aiops_models::service_model::TrainingRow;
use aiops_models::threshold::ThresholdRule;
use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};

const SERVICES: usize = 50;

fn row(rng: &mut rand_chacha::ChaCha8Rng, service: usize, minute: i64) -> FeatureRow {
    let mut noise = |level: f64| level * (1.0 + rng.random_range(-0.1..0.1));
    FeatureRow {
        time_us: minute * 60_000_000,
        service_name: format!("svc-{service}"),
        request_rate_1m: Some(noise(20.0)),
        error_rate_1m: Some(noise(0.01)),
        p50_latency_1m: Some(noise(10.0)),
        p95_latency_1m: Some(noise(40.0)),
        p99_latency_1m: Some(noise(80.0)),
        cpu_usage: Some(noise(30.0)),
        memory_usage: Some(noise(50.0)),
        disk_io_read: Some(noise(1.0)),
        disk_io_write: Some(noise(1.0)),
        network_in: Some(noise(2.0)),
        network_out: Some(noise(2.0)),
        ..Default::default()
    }
}

fn trained_models(forest_dir: &std::path::Path, all_dir: &std::path::Path) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let inputs: Vec<String> = model_inputs().into_iter().map(String::from).collect();
    let readers: Vec<_> = inputs
        .iter()
        .map(|n| aiops_engine::score::inputs::input_reader(n).unwrap())
        .collect();
    let rows: Vec<TrainingRow> = (0..120)
        .flat_map(|minute| (0..SERVICES).map(move |s| (minute, s)))
        .map(|(minute, s)| {
            let r = row(&mut rng, s, minute);
            TrainingRow {
                service: r.service_name.clone(),
                step: r.time_us.div_euclid(60_000_000),
                values: readers.iter().map(|read| read(&r).unwrap()).collect(),
            }
        })
        .collect();
    let floors = input_floors(&inputs).unwrap();
    let info = TrainingInfo::new("bench", "", "");
    let set = TrainingSet {
        inputs: &inputs,
        floors: &floors,
        rows: &rows,
    };
    let stamp = || "2026-01-01T00:00:00Z".to_string();
    let forest = ModelSpec::IsolationForest(Default::default());
    let mut forest = fit(&forest, set, info.clone(), |_| {}).unwrap();
    forest.save(forest_dir, stamp()).unwrap();
    forest.save(all_dir, stamp()).unwrap();
    let config = LstmConfig {
        epochs: 2,
        ..Default::default()
    };
    let lstm = ModelSpec::Lstm(config, ThresholdRule::Contamination(0.01));
    fit(&lstm, set, info, |_| {})
        .unwrap()
        .save(all_dir, stamp())
        .unwrap();
}

fn detector(models: Option<&std::path::Path>) -> Detector {
    let config = JobConfig::load(None, Vec::new()).unwrap();
    let detector = Detector::new(config.detection.clone());
    match models {
        None => detector,
        Some(dir) => {
            let slot = ModelSlot::new(
                config.models.clone(),
                dir.to_path_buf(),
                0,
                Arc::new(Stats::default()),
            );
            detector.with_models(slot, Combine::Mean)
        }
    }
}

fn bench(c: &mut Criterion) {
    let (forest_dir, all_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    trained_models(forest_dir.path(), all_dir.path());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let rows: Vec<FeatureRow> = (0..200)
        .flat_map(|m| (0..SERVICES).map(move |s| (m, s)))
        .map(|(m, s)| row(&mut rng, s, m))
        .collect();
    let settings = [
        ("robust", None),
        ("robust + isolation forest", Some(forest_dir.path())),
        ("robust + isolation forest + lstm", Some(all_dir.path())),
    ];
    for (name, models) in settings {
        let mut detector = detector(models);
        for r in rows.iter().take(40 * SERVICES) {
            detector.score(&mut r.clone());
        }
        let mut next = rows.iter().cycle();
        c.bench_function(&format!("score one row: {name}"), |b| {
            b.iter(|| {
                let mut r = next.next().unwrap().clone();
                detector.score(&mut r)
            })
        });
        let mut timings: Vec<u128> = (0..100_000)
            .map(|_| {
                let mut r = next.next().unwrap().clone();
                let start = Instant::now();
                std::hint::black_box(detector.score(&mut r));
                start.elapsed().as_nanos()
            })
            .collect();
        timings.sort_unstable();
        let at = |q: f64| timings[((timings.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
        println!(
            "{name}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs over 100000 rows",
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
