//! Which metrics explain an anomaly: the hit rate of a detector's per-metric scores against
//! ASD's interpretation labels ([`crate::datasets::asd::Explained`]).
//!
//! An alert that says "this server is anomalous" leaves the operator to find out why; one
//! that names the metrics that moved saves the first minutes of an incident. ASD labels, for
//! every anomalous test segment, the metrics that explain it (4 to 16 of 19 on most). A
//! detector that scores each metric is judged by HitRate@P% (as OmniAnomaly and InterFusion
//! report it): at an anomalous row whose segment names `n` metrics, the share of those `n`
//! among the detector's ⌊P% × n⌋ highest-scored metrics, averaged over the rows.

use serde::Serialize;

use crate::datasets::asd::Explained;

/// HitRate@`share` at one row: of the `truth` metrics, the share found among the ⌊share ×
/// |truth|⌋ highest `scores` (metrics without a score rank last; ties go to the lower index).
pub fn hit_rate(scores: &[Option<f64>], truth: &[usize], share: f64) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    let mut ranked: Vec<usize> = (0..scores.len()).collect();
    let key = |m: usize| scores[m].unwrap_or(f64::NEG_INFINITY);
    ranked.sort_by(|a, b| key(*b).total_cmp(&key(*a)).then(a.cmp(b)));
    let taken = (share * truth.len() as f64).floor() as usize;
    let hits = ranked
        .iter()
        .take(taken)
        .filter(|m| truth.contains(m))
        .count();
    hits as f64 / truth.len() as f64
}

/// Mean hit rates over a machine's explained rows.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct HitRates {
    /// HitRate@100%.
    pub at_100: f64,
    /// HitRate@150%.
    pub at_150: f64,
    /// Rows averaged over.
    pub rows: usize,
}

/// Mean HitRate@100% and @150% over the rows of `segments` that `counted` selects (e.g. every
/// labelled row, or those the detector flagged), `metric_scores` holding each test row's
/// per-metric scores.
pub fn hit_rates(
    metric_scores: &[Vec<Option<f64>>],
    segments: &[Explained],
    counted: impl Fn(usize) -> bool,
) -> HitRates {
    let mut total = HitRates::default();
    for segment in segments {
        // Rows past the end of the scores (labels longer than the test part) are skipped.
        for row in segment.first..=segment.last {
            let Some(scores) = metric_scores.get(row) else {
                break;
            };
            if !counted(row) {
                continue;
            }
            total.at_100 += hit_rate(scores, &segment.metrics, 1.0);
            total.at_150 += hit_rate(scores, &segment.metrics, 1.5);
            total.rows += 1;
        }
    }
    if total.rows > 0 {
        total.at_100 /= total.rows as f64;
        total.at_150 /= total.rows as f64;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_rate_counts_the_truth_among_the_top_scored() {
        let scores = [Some(0.9), Some(0.1), Some(0.8), None, Some(0.5)];
        // Top 2 are metrics 0 and 2: one of the two named.
        assert_eq!(hit_rate(&scores, &[0, 4], 1.0), 0.5);
        // Top 3 (0, 2, 4) hold both.
        assert_eq!(hit_rate(&scores, &[0, 4], 1.5), 1.0);
        // A metric without a score ranks last.
        assert_eq!(hit_rate(&scores, &[3], 1.5), 0.0);
    }

    #[test]
    fn hit_rates_average_over_the_counted_rows_of_each_segment() {
        let good = vec![Some(1.0), Some(0.0)];
        let bad = vec![Some(0.0), Some(1.0)];
        let scores = vec![bad.clone(), good.clone(), good, bad];
        let segments = [Explained {
            first: 1,
            last: 3,
            metrics: vec![0],
        }];
        let all = hit_rates(&scores, &segments, |_| true);
        assert_eq!((all.rows, all.at_100), (3, 2.0 / 3.0));
        let flagged = hit_rates(&scores, &segments, |row| row == 2);
        assert_eq!((flagged.rows, flagged.at_100), (1, 1.0));
    }
}
