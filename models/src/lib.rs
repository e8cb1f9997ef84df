//! `aiops-models`: the numeric half of the AIOps engine.
//!
//! Plain data in, scores out: robust per-series detection ([`detect`]), IsolationForest
//! ([`iforest`]) and root-cause ranking over a call graph ([`rca`]). Nothing here knows about timely, Kafka or databases, so the
//! same code serves the streaming job, offline evaluation and benchmarks.

pub mod cad;
pub mod context;
pub mod detect;
pub mod drift;
pub mod iforest;
pub mod lstm;
pub mod model_file;
pub mod neighbours;
pub mod rca;
pub mod record;
pub mod resonance;
pub mod scaler;
pub mod seasonal;
pub mod sequence_model;
pub mod service_model;
pub mod spot;
pub mod threshold;
pub mod window_model;

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
