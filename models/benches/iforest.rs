//! IsolationForest: scoring one feature row (the per-row cost in the job) and fitting on a
//! day of one service's minutes, with the default 100 trees of 256 samples.

use aiops_models::iforest::{IsolationForest, IsolationForestConfig};
use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `rows` rows of 12 features (as many as the detector scores), seeded.
fn rows(rows: usize) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    Array2::from_shape_fn((rows, 12), |_| rng.random_range(0.0..100.0))
}

fn bench(c: &mut Criterion) {
    let day = rows(1440);
    let config = IsolationForestConfig::default();
    let forest = IsolationForest::fit(day.view(), &config).expect("fits");
    let one = rows(1);
    c.bench_function("iforest/score_one_row", |b| {
        b.iter(|| forest.score(one.view()).expect("scores"))
    });
    c.bench_function("iforest/fit_1440_rows", |b| {
        b.iter(|| IsolationForest::fit(day.view(), &config).expect("fits"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
