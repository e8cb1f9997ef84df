//! A robust per-series detector: how far a new value lies from its recent past, in robust
//! standard deviations (median and MAD over a rolling window).
//!
//! This is the detection signal root-cause ranking uses until learned detectors exist, and
//! the evidence the BARO-style ranking reads. Median and MAD are used instead of mean and
//! standard deviation because the history itself contains earlier incidents: one bad hour must
//! not widen the baseline so much that the next incident looks normal.

use std::collections::VecDeque;

/// MAD × 1.4826 estimates the standard deviation of a normal distribution.
const MAD_TO_SIGMA: f64 = 1.4826;

/// Which deviations of a series count as anomalous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Only increases (latency, error rate, resource use).
    Up,
    /// Increases and decreases (traffic).
    Both,
}

/// How one series is judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesSpec {
    /// Which deviations count.
    pub direction: Direction,
    /// The smallest spread assumed, in the series' unit: a flat series (an error rate that is
    /// always 0) has a MAD of 0, and without a floor its first non-zero value would be
    /// infinitely anomalous.
    pub min_spread: f64,
    /// The spread assumed is at least this fraction of the median's magnitude.
    pub relative_spread: f64,
}

/// The rolling state of one series.
#[derive(Debug, Clone, Default)]
pub struct RobustSeries {
    history: VecDeque<f64>,
    /// Scratch space for the median, kept to avoid an allocation per value.
    sorted: Vec<f64>,
}

impl RobustSeries {
    /// Values held.
    pub fn len(&self) -> usize {
        self.history.len()
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.history.is_empty()
    }

    /// The robust z-score of `value` against the history (before `value` joins it), signed;
    /// `None` while fewer than `min_history` values are held.
    pub fn score(&mut self, value: f64, spec: &SeriesSpec, min_history: usize) -> Option<f64> {
        if self.history.len() < min_history.max(1) {
            return None;
        }
        self.sorted.clear();
        self.sorted.extend(self.history.iter().copied());
        let (median, sigma) = median_and_sigma(&mut self.sorted);
        let spread = sigma
            .max(spec.min_spread)
            .max(spec.relative_spread * median.abs());
        let z = (value - median) / spread;
        Some(match spec.direction {
            Direction::Up => z.max(0.0),
            Direction::Both => z,
        })
    }

    /// Adds `value`, dropping the oldest beyond `capacity` values.
    pub fn push(&mut self, value: f64, capacity: usize) {
        if self.history.len() >= capacity {
            self.history.pop_front();
        }
        self.history.push_back(value);
    }
}

/// The median of `values` and their MAD scaled to a standard deviation (times 1.4826);
/// `values` is overwritten (NaN for an empty slice).
pub fn median_and_sigma(values: &mut [f64]) -> (f64, f64) {
    let median = median_in_place(values);
    for v in values.iter_mut() {
        *v = (*v - median).abs();
    }
    (median, median_in_place(values) * MAD_TO_SIGMA)
}

/// The median of `values` (reordered); NaN for an empty slice.
pub fn median_in_place(values: &mut [f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let mid = n / 2;
    let (_, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return upper;
    }
    let lower = values[..mid]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    (lower + upper) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: SeriesSpec = SeriesSpec {
        direction: Direction::Both,
        min_spread: 0.0,
        relative_spread: 0.0,
    };

    #[test]
    fn median_of_odd_and_even_lengths() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median_in_place(&mut []).is_nan());
    }

    #[test]
    fn z_is_distance_from_the_median_in_robust_sigmas() {
        let mut series = RobustSeries::default();
        for v in [10.0, 11.0, 9.0, 10.0, 12.0, 8.0, 10.0] {
            series.push(v, 60);
        }
        // median 10, absolute deviations 0,1,1,0,2,2,0 -> MAD 1.
        let z = series.score(13.0, &SPEC, 5).expect("enough history");
        assert!((z - 3.0 / MAD_TO_SIGMA).abs() < 1e-12, "{z}");
        let z = series.score(7.0, &SPEC, 5).expect("enough history");
        assert!((z + 3.0 / MAD_TO_SIGMA).abs() < 1e-12, "{z}");
    }

    #[test]
    fn one_outlier_in_the_history_barely_moves_the_baseline() {
        let mut series = RobustSeries::default();
        for v in [10.0, 11.0, 9.0, 10.0, 12.0, 8.0, 10.0, 1000.0] {
            series.push(v, 60);
        }
        let z = series.score(20.0, &SPEC, 5).expect("enough history");
        assert!(z > 5.0, "a spike of 10 sigma still stands out: {z}");
    }

    #[test]
    fn floors_keep_a_flat_series_finite_and_up_ignores_drops() {
        let spec = SeriesSpec {
            direction: Direction::Up,
            min_spread: 0.01,
            relative_spread: 0.0,
        };
        let mut series = RobustSeries::default();
        for _ in 0..10 {
            series.push(0.0, 60);
        }
        assert_eq!(series.score(0.05, &spec, 5), Some(5.0));
        assert_eq!(series.score(-1.0, &spec, 5), Some(0.0));
    }

    #[test]
    fn no_score_before_enough_history_and_capacity_is_kept() {
        let mut series = RobustSeries::default();
        for v in 0..4 {
            series.push(v as f64, 3);
        }
        assert_eq!(series.len(), 3);
        assert_eq!(series.score(1.0, &SPEC, 4), None);
        assert!(series.score(1.0, &SPEC, 3).is_some());
    }
}
