//! The window-neighbour detector at ASD's size: fitting on 8,640 rows of 19 metrics (a
//! month at 5-minute steps: one k-d tree per metric, and every training window's own
//! neighbours for the reference and the threshold), and scoring one row (19 exact
//! 5-nearest-neighbour searches).

use aiops_models::neighbours::{NeighbourConfig, Neighbours};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const METRICS: usize = 19;

/// `rows` rows of daily cycles (288 rows a day) with noise, scaled to 0..1, seeded.
fn rows(rows: usize) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..rows)
        .map(|i| {
            (0..METRICS)
                .map(|m| {
                    let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU + m as f64;
                    0.5 + 0.3 * phase.sin() + rng.random_range(-0.05..0.05)
                })
                .collect()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let training = rows(8_640);
    let config = NeighbourConfig::default();
    let mut group = c.benchmark_group("neighbours");
    group.sample_size(10);
    group.throughput(Throughput::Elements(training.len() as u64));
    group.bench_function("fit_8640_rows_19_metrics", |b| {
        b.iter(|| Neighbours::<2>::fit(&training, config))
    });
    group.finish();
    let model = Neighbours::<2>::fit(&training, config).expect("fits");
    let test = rows(2);
    let window = [test[0].as_slice(), test[1].as_slice()];
    c.bench_function("neighbours/score_one_row_19_metrics", |b| {
        b.iter(|| model.score(&window))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
