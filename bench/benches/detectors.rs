//! The univariate evaluation detectors (run counts, the Contextual Anomaly Detector, seasonal
//! residuals, adaptive resonance): the cost of scoring a long noisy series (NAB's longest
//! files hold 22,000 points; the context detectors' per-point cost grows with the runs or
//! contexts seen).
//!
//! Run: `cargo bench -p aiops-bench --bench detectors`. Not timed: building the series.

use aiops_bench::detectors::cad::{Cad, CadConfig, ValueRange};
use aiops_bench::detectors::context::{ContextConfig, ContextDetector};
use aiops_bench::detectors::resonance::{Resonance, ResonanceConfig};
use aiops_bench::detectors::score_series;
use aiops_bench::detectors::seasonal::{Seasonal, SeasonalConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A daily cycle (288 five-minute points a day) with noise, seeded.
fn series(points: usize) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..points)
        .map(|i| {
            let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
            50.0 + 20.0 * phase.sin() + rng.random_range(-5.0..5.0)
        })
        .collect()
}

/// `values` on a trend rising by 60 over the series, so an online range keeps widening.
fn rising(values: &[f64]) -> Vec<f64> {
    values
        .iter()
        .enumerate()
        .map(|(i, value)| value + 60.0 * i as f64 / values.len() as f64)
        .collect()
}

fn bench(c: &mut Criterion) {
    let values = series(20_000);
    let config = ContextConfig {
        warm_up: 750,
        rest: 150,
        ..ContextConfig::default()
    };
    let mut group = c.benchmark_group("context");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.bench_function("score_20000_points", |b| {
        b.iter(|| score_series(ContextDetector::new(config), &values))
    });
    group.finish();
    let mut learned = ContextDetector::new(config);
    for value in &values {
        learned.score(*value);
    }
    bench_cad(c, &values);
    bench_seasonal(c, &values);
    bench_resonance(c, &values);
    c.bench_function("context/score_one_point_after_20000", |b| {
        b.iter(|| learned.clone().score(61.0))
    });
}

/// CAD with NAB's setting for a file this long: the file's range, a rest of 150 points.
fn bench_cad(c: &mut Criterion, values: &[f64]) {
    let config = CadConfig {
        range: ValueRange::spanning(values),
        rest: 150,
        ..CadConfig::default()
    };
    let mut group = c.benchmark_group("cad");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.sample_size(10);
    group.bench_function("score_20000_points", |b| {
        b.iter(|| score_series(Cad::new(config), values))
    });
    // Online: the grid starts from the first 750 points and a rising trend makes it widen
    // (each widening relearns the points seen so far).
    let rising = rising(values);
    let widening = CadConfig {
        range: ValueRange::Expanding {
            warm_up: 750,
            margin: 0.25,
        },
        ..config
    };
    group.bench_function("score_20000_rising_points_widening", |b| {
        b.iter(|| score_series(Cad::new(widening), &rising))
    });
    group.finish();
}

/// Seasonal residuals against the last 2 days' slots (the series' cycle is a day).
fn bench_seasonal(c: &mut Criterion, values: &[f64]) {
    let mut group = c.benchmark_group("seasonal");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.bench_function("score_20000_points", |b| {
        b.iter(|| score_series(Seasonal::new(SeasonalConfig::with_period(288)), values))
    });
    group.finish();
}

/// Adaptive resonance with NAB's settings for a file this long (probation 750, blocks of 7
/// points): given the file's range, and online on the rising series, whose range keeps
/// widening (each widening rebuilds the network from the blocks seen so far).
fn bench_resonance(c: &mut Criterion, values: &[f64]) {
    let given = ResonanceConfig {
        range: ValueRange::spanning(values),
        probation: 750,
        ..ResonanceConfig::default()
    };
    let mut group = c.benchmark_group("resonance");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.sample_size(10);
    group.bench_function("score_20000_points", |b| {
        b.iter(|| score_series(Resonance::new(given), values))
    });
    let rising = rising(values);
    let online = ResonanceConfig {
        range: ValueRange::Expanding {
            warm_up: 750,
            margin: 0.2,
        },
        headroom: 0.5,
        record_margin: Some(0.03),
        ..given
    };
    group.bench_function("score_20000_rising_points_widening", |b| {
        b.iter(|| score_series(Resonance::new(online), &rising))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
