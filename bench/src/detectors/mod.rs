//! Detectors the evaluations compare: benchmark-only ones of our own (contextual novelty,
//! CAD, resonance, records, seasonal residuals) and adapters that run the job's detectors
//! (robust, forest, LSTM, window neighbours) over the benchmarks' series ([`univariate`]) and
//! machines ([`multivariate`]).
//!
//! None of these run in the streaming job: the job's own detectors live in `aiops-models`.
//! Modules, building blocks first: [`record`], [`context`], [`cad`], [`resonance`],
//! [`seasonal`], then [`univariate`] and [`multivariate`].

pub mod record;
// The online single-series detectors, each a [`Streaming`] detector.
pub mod cad;
pub mod context;
pub mod resonance;
pub mod seasonal;
// Adapters to the benchmarks' shapes.
pub mod multivariate;
pub mod univariate;

/// A detector that scores a series one value at a time, each score from the values up to it.
pub trait Streaming {
    /// Scores the next value (values that are not finite score 0 and are skipped).
    fn score(&mut self, value: f64) -> f64;
}

/// Each of these detectors' own `score` is its [`Streaming::score`].
macro_rules! streaming {
    ($($detector:ty),*) => {$(
        impl Streaming for $detector {
            fn score(&mut self, value: f64) -> f64 {
                <$detector>::score(self, value)
            }
        }
    )*};
}

streaming!(
    cad::Cad,
    context::ContextDetector,
    resonance::Resonance,
    seasonal::Seasonal
);

/// Scores a whole series with a fresh `detector`: the offline form of [`Streaming::score`].
pub fn score_series(mut detector: impl Streaming, values: &[f64]) -> Vec<f64> {
    values.iter().map(|value| detector.score(*value)).collect()
}

/// Helpers shared by the unit tests of the detectors.
#[cfg(test)]
mod test_support {
    /// The index of the highest score (the first of equals).
    pub fn top(scores: &[f64]) -> usize {
        scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .map_or(0, |(i, _)| i)
    }

    /// `shape` repeated `times` times.
    pub fn repeated(shape: &[f64], times: usize) -> Vec<f64> {
        shape
            .iter()
            .copied()
            .cycle()
            .take(shape.len() * times)
            .collect()
    }
}
