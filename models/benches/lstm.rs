//! The LSTM in the job: the cost of one feature row, one state stepped (a continuous state)
//! against the two staggered states the scoring operator keeps, for the default 2 × 64
//! network over the 11 scored features. Weights are the seeded initial ones: a step costs
//! the same whatever was learned.

use aiops_models::lstm::{Forecaster, StaggeredState};
use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FEATURES: usize = 11;

fn bench(c: &mut Criterion) {
    let network = Forecaster::new(FEATURES, 64, 2, 1).expect("network");
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let rows: Vec<Vec<f32>> = (0..1000)
        .map(|_| (0..FEATURES).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let mut group = c.benchmark_group("lstm");
    let mut state = network.start().expect("state");
    let mut next = rows.iter().cycle();
    group.bench_function("one_row_one_state", |b| {
        b.iter(|| network.step_with_top(&mut state, next.next().expect("row")))
    });
    let mut staggered = StaggeredState::new(48);
    let mut minute = 0;
    group.bench_function("one_row_staggered_states", |b| {
        b.iter(|| {
            minute += 1;
            network.step_staggered(&mut staggered, minute, next.next().expect("row"))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
