//! Input drift: how far the data a model scores has moved from the data it was trained on.
//!
//! A model trained on last month's traffic judges today's rows by last month's normal. The
//! population stability index (PSI) over the training data's deciles is the usual alarm for
//! that: 0 when the two distributions agree, above 0.1 a moderate shift, above 0.2 (the
//! conventional retraining threshold) a large one. One histogram per input feature is stored
//! with the model, so drift can be measured by the running job and by `aiops train
//! --if-drifted` without the training data.

use serde::{Deserialize, Serialize};

/// Share assumed for an empty bin, so a bin that one side never hits gives a large but
/// finite PSI term instead of infinity.
const EMPTY_SHARE: f64 = 1e-4;

/// A feature's reference distribution: quantile bin edges and the share of values per bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// The feature.
    pub feature: String,
    /// Inner bin edges, ascending; bin `i` holds values in `[edges[i-1], edges[i])`.
    pub edges: Vec<f64>,
    /// Share of reference values per bin (`edges.len() + 1` bins).
    pub shares: Vec<f64>,
}

impl Histogram {
    /// The reference histogram of `values` (non-finite values are skipped) with up to `bins`
    /// quantile bins; ties collapse bins, so a constant feature has one bin.
    pub fn fit(feature: &str, values: &[f64], bins: usize) -> Self {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = (1..bins.max(1))
            .filter_map(|i| sorted.get(i * sorted.len() / bins))
            .copied()
            .collect();
        edges.dedup();
        if edges.first() == sorted.first() && !edges.is_empty() {
            edges.remove(0);
        }
        let mut histogram = Histogram {
            feature: feature.to_string(),
            edges,
            shares: Vec::new(),
        };
        histogram.shares = histogram.shares_of(&sorted);
        histogram
    }

    fn bin(&self, value: f64) -> usize {
        self.edges.partition_point(|edge| *edge <= value)
    }

    /// The share of finite `values` in each of this histogram's bins.
    pub fn shares_of(&self, values: &[f64]) -> Vec<f64> {
        let mut counts = vec![0usize; self.edges.len() + 1];
        let mut total = 0usize;
        for value in values.iter().filter(|v| v.is_finite()) {
            counts[self.bin(*value)] += 1;
            total += 1;
        }
        counts
            .iter()
            .map(|c| *c as f64 / total.max(1) as f64)
            .collect()
    }

    /// PSI of `values` against this reference: Σ (actual − expected) · ln(actual / expected).
    /// `None` when `values` has no finite value.
    pub fn psi(&self, values: &[f64]) -> Option<f64> {
        if !values.iter().any(|v| v.is_finite()) {
            return None;
        }
        let actual = self.shares_of(values);
        Some(
            actual
                .iter()
                .zip(&self.shares)
                .map(|(a, e)| {
                    let (a, e) = (a.max(EMPTY_SHARE), e.max(EMPTY_SHARE));
                    (a - e) * (a / e).ln()
                })
                .sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_distribution_has_no_drift_and_a_shift_has_much() {
        let reference: Vec<f64> = (0..1000).map(|i| (i % 100) as f64).collect();
        let histogram = Histogram::fit("x", &reference, 10);
        assert_eq!(histogram.edges.len(), 9);
        assert!(histogram.shares.iter().all(|s| (s - 0.1).abs() < 1e-9));
        let same: Vec<f64> = (0..500).map(|i| ((i * 7) % 100) as f64).collect();
        assert!(histogram.psi(&same).expect("values") < 0.01);
        let shifted: Vec<f64> = same.iter().map(|v| v + 50.0).collect();
        assert!(histogram.psi(&shifted).expect("values") > 0.2);
        assert_eq!(histogram.psi(&[f64::NAN]), None);
    }

    #[test]
    fn a_constant_feature_has_one_bin() {
        let histogram = Histogram::fit("errors", &[0.0; 50], 10);
        assert!(histogram.edges.is_empty());
        assert_eq!(histogram.shares, vec![1.0]);
        assert!(histogram.psi(&[0.0, 0.0]).expect("values").abs() < 1e-12);
    }
}
