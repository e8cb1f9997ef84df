//! A mergeable latency quantile sketch with relative error at most 1%.
//!
//! This wraps `sketches-ddsketch` (DDSketch, Masson et al., VLDB 2019): values map to
//! logarithmic buckets of relative width 2·α, so any quantile it returns is within α = 1% of
//! the exact order statistic at rank ⌊q·(n−1)⌋, and two sketches merge by adding bucket counts
//! — which is what lets the 5-minute window be a merge of five one-minute panes.

use sketches_ddsketch::{Config, DDSketch};

/// Relative accuracy of every quantile the engine reports.
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// Latency sketch in milliseconds. Serializable: a Kafka job persists each closed pane's
/// sketch so that a restart can rebuild its windows without replaying the spans.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct LatencySketch {
    inner: DDSketch,
}

impl std::fmt::Debug for LatencySketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LatencySketch(n={})", self.inner.count())
    }
}

impl Default for LatencySketch {
    fn default() -> Self {
        // 2048 buckets of 2% cover 1 ns .. 10^17 ms: no collapsing for real latencies.
        LatencySketch {
            inner: DDSketch::new(Config::new(RELATIVE_ACCURACY, 2048, 1e-6)),
        }
    }
}

impl LatencySketch {
    /// Adds one observation (ms).
    pub fn add(&mut self, value_ms: f64) {
        self.inner.add(value_ms);
    }

    /// Adds an observation that stands for `weight` observations (a sampled request's adjusted
    /// count, rounded; at least 1), so services with mixed sampling rates keep unbiased
    /// quantiles.
    pub fn add_weighted(&mut self, value_ms: f64, weight: f64) {
        if weight == 1.0 {
            self.inner.add(value_ms);
        } else {
            self.inner
                .add_with_count(value_ms, weight.round().max(1.0) as u64);
        }
    }

    /// Adds every observation of `other`.
    pub fn merge(&mut self, other: &LatencySketch) {
        // Both sketches come from `Default`, so their configurations match and merge cannot fail.
        let _ = self.inner.merge(&other.inner);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.inner.count() as u64
    }

    /// The q-quantile (0..=1), or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.inner.quantile(q.clamp(0.0, 1.0)).ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64) as usize]
    }

    proptest! {
        #[test]
        fn quantiles_within_one_percent(values in prop::collection::vec(0.01f64..60_000.0, 1..2_000)) {
            let mut sketch = LatencySketch::default();
            values.iter().for_each(|v| sketch.add(*v));
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            for q in [0.5, 0.95, 0.99] {
                let estimate = sketch.quantile(q).unwrap();
                let truth = exact(&sorted, q);
                prop_assert!((estimate - truth).abs() <= RELATIVE_ACCURACY * truth + 1e-9,
                    "q={q} estimate={estimate} exact={truth}");
            }
        }

        #[test]
        fn merged_sketch_equals_sketch_of_union(
            a in prop::collection::vec(0.01f64..10_000.0, 1..500),
            b in prop::collection::vec(0.01f64..10_000.0, 1..500),
        ) {
            let (mut left, mut right, mut all) = Default::default();
            let _: &LatencySketch = &left;
            a.iter().for_each(|v| { LatencySketch::add(&mut left, *v); LatencySketch::add(&mut all, *v) });
            b.iter().for_each(|v| { LatencySketch::add(&mut right, *v); LatencySketch::add(&mut all, *v) });
            LatencySketch::merge(&mut left, &right);
            for q in [0.5, 0.95, 0.99] {
                prop_assert_eq!(LatencySketch::quantile(&left, q), LatencySketch::quantile(&all, q));
            }
        }
    }
}
