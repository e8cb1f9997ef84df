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

    /// The bin a value falls in.
    pub fn bin(&self, value: f64) -> usize {
        self.edges.partition_point(|edge| *edge <= value)
    }

    /// Values per bin of the finite `values`.
    fn counts_of(&self, values: &[f64]) -> Vec<usize> {
        let mut counts = vec![0usize; self.edges.len() + 1];
        for value in values.iter().filter(|v| v.is_finite()) {
            counts[self.bin(*value)] += 1;
        }
        counts
    }

    /// The share of finite `values` in each of this histogram's bins.
    pub fn shares_of(&self, values: &[f64]) -> Vec<f64> {
        let counts = self.counts_of(values);
        let total = counts.iter().sum::<usize>().max(1);
        counts.iter().map(|c| *c as f64 / total as f64).collect()
    }

    /// PSI of `values` against this reference: Σ (actual − expected) · ln(actual / expected).
    /// `None` when `values` has no finite value.
    pub fn psi(&self, values: &[f64]) -> Option<f64> {
        self.psi_of_counts(&self.counts_of(values))
    }

    /// PSI of values already counted per bin; `None` when there are none.
    pub fn psi_of_counts(&self, counts: &[usize]) -> Option<f64> {
        let total = counts.iter().sum::<usize>();
        if total == 0 {
            return None;
        }
        Some(
            counts
                .iter()
                .zip(&self.shares)
                .map(|(count, e)| {
                    let a = (*count as f64 / total as f64).max(EMPTY_SHARE);
                    let e = e.max(EMPTY_SHARE);
                    (a - e) * (a / e).ln()
                })
                .sum(),
        )
    }
}

/// A sliding window of scored inputs, kept as counts per reference bin so that the PSI of the
/// last `window_us` costs O(inputs × bins) to read, not a pass over the window: each row
/// adds its bins once and takes them away once when it leaves.
#[derive(Debug, Clone)]
pub struct DriftWindow {
    reference: Vec<Histogram>,
    window_us: i64,
    /// Time of each row in the window, oldest first.
    times: std::collections::VecDeque<i64>,
    /// Each row's bin per input (`u16::MAX` for a non-finite value), row after row.
    bins: std::collections::VecDeque<u16>,
    counts: Vec<Vec<usize>>,
}

impl DriftWindow {
    /// An empty window over the inputs of `reference`.
    pub fn new(reference: Vec<Histogram>, window_us: i64) -> Self {
        let counts = reference
            .iter()
            .map(|h| vec![0; h.edges.len() + 1])
            .collect();
        DriftWindow {
            reference,
            window_us,
            times: std::collections::VecDeque::new(),
            bins: std::collections::VecDeque::new(),
            counts,
        }
    }

    /// Adds a row of inputs (in reference order) at `time_us`, dropping rows that left the
    /// window. Extra values are ignored; missing ones count as non-finite.
    pub fn push(&mut self, time_us: i64, values: &[f64]) {
        for (input, histogram) in self.reference.iter().enumerate() {
            let bin = match values.get(input) {
                Some(v) if v.is_finite() => histogram.bin(*v),
                _ => usize::from(u16::MAX),
            };
            if let Some(count) = self.counts[input].get_mut(bin) {
                *count += 1;
            }
            self.bins.push_back(u16::try_from(bin).unwrap_or(u16::MAX));
        }
        self.times.push_back(time_us);
        while self
            .times
            .front()
            .is_some_and(|t| *t <= time_us - self.window_us)
        {
            self.times.pop_front();
            for input in 0..self.reference.len() {
                let bin = self.bins.pop_front().map_or(usize::MAX, usize::from);
                if let Some(count) = self.counts[input].get_mut(bin) {
                    *count -= 1;
                }
            }
        }
    }

    /// Each input's PSI over the window, for inputs with a value in it.
    pub fn psi(&self) -> Vec<(String, f64)> {
        self.reference
            .iter()
            .zip(&self.counts)
            .filter_map(|(h, counts)| Some((h.feature.clone(), h.psi_of_counts(counts)?)))
            .collect()
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
    fn the_window_gives_the_psi_of_exactly_its_rows() {
        let reference: Vec<f64> = (0..1000).map(|i| (i % 100) as f64).collect();
        let histograms = vec![
            Histogram::fit("x", &reference, 10),
            Histogram::fit("y", &reference, 10),
        ];
        let mut window = DriftWindow::new(histograms.clone(), 100);
        let rows: Vec<[f64; 2]> = (0..300)
            .map(|t| [(t % 100) as f64, 50.0 + (t % 7) as f64])
            .collect();
        for (t, row) in rows.iter().enumerate() {
            window.push(t as i64, row);
        }
        // Rows 200..300 are the last 100 time units.
        let last: Vec<&[f64; 2]> = rows[200..].iter().collect();
        let x: Vec<f64> = last.iter().map(|r| r[0]).collect();
        let y: Vec<f64> = last.iter().map(|r| r[1]).collect();
        let psi = window.psi();
        assert!((psi[0].1 - histograms[0].psi(&x).expect("x")).abs() < 1e-12);
        assert!((psi[1].1 - histograms[1].psi(&y).expect("y")).abs() < 1e-12);
        assert!(psi[1].1 > 1.0, "y sits in a few bins: {psi:?}");
    }

    #[test]
    fn a_constant_feature_has_one_bin() {
        let histogram = Histogram::fit("errors", &[0.0; 50], 10);
        assert!(histogram.edges.is_empty());
        assert_eq!(histogram.shares, vec![1.0]);
        assert!(histogram.psi(&[0.0, 0.0]).expect("values").abs() < 1e-12);
    }
}
