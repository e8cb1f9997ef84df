//! Detection figures on labelled rows: point-wise precision/recall/F1, point-adjusted F1 (a
//! labelled segment counts as found when any of its points is flagged), the best F1 of each
//! kind over all thresholds (what papers usually report, only attainable with the test
//! labels), and average precision (threshold-free).

use serde::Serialize;

use crate::detectors::multivariate::Scored;

/// Precision, recall and F1 of flags against labels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct F1 {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

pub(crate) fn f1_of(flags: &[bool], labels: &[bool]) -> F1 {
    let tp = flags.iter().zip(labels).filter(|(f, l)| **f && **l).count() as f64;
    let flagged = flags.iter().filter(|f| **f).count() as f64;
    let positive = labels.iter().filter(|l| **l).count() as f64;
    let precision = if flagged > 0.0 { tp / flagged } else { 0.0 };
    let recall = if positive > 0.0 { tp / positive } else { 0.0 };
    let f1 = if tp > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    F1 {
        precision,
        recall,
        f1,
    }
}

/// Point adjustment: every point of a labelled segment is flagged when any of them is.
pub fn point_adjust(flags: &[bool], labels: &[bool]) -> Vec<bool> {
    let segments = segment_of(labels);
    let mut touched = vec![false; segment_count(&segments)];
    for (segment, flag) in segments.iter().zip(flags) {
        if let (Some(segment), true) = (segment, flag) {
            touched[*segment] = true;
        }
    }
    segments
        .iter()
        .zip(flags)
        .map(|(segment, flag)| *flag || segment.is_some_and(|s| touched[s]))
        .collect()
}

/// Average precision of scores against labels (area under the precision-recall steps).
pub fn average_precision(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let positive = labels.iter().filter(|l| **l).count() as f64;
    let (mut tp, mut ap) = (0.0, 0.0);
    for (rank, i) in order.iter().enumerate() {
        if labels[*i] {
            tp += 1.0;
            ap += tp / (rank + 1) as f64;
        }
    }
    if positive > 0.0 {
        ap / positive
    } else {
        0.0
    }
}

/// A detector's figures on one machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Point-wise, at the training-chosen threshold.
    pub point: F1,
    /// Point-adjusted, at the training-chosen threshold.
    pub adjusted: F1,
    /// Best point-wise F1 over all thresholds (uses the labels).
    pub best_point_f1: f64,
    /// Best point-adjusted F1 over all thresholds (uses the labels).
    pub best_adjusted_f1: f64,
    /// Average precision.
    pub average_precision: f64,
}

/// All figures of `scored` against `labels`; the best F1s are over every threshold.
pub fn figures(scored: &Scored, labels: &[bool]) -> Figures {
    let flags = &scored.flags;
    let best = best_f1(&scored.scores, labels);
    Figures {
        point: f1_of(flags, labels),
        adjusted: f1_of(&point_adjust(flags, labels), labels),
        best_point_f1: best.point,
        best_adjusted_f1: best.adjusted,
        average_precision: average_precision(&scored.scores, labels),
    }
}

/// The mean of each figure (all zero without figures).
pub fn mean(figures: &[Figures]) -> Figures {
    let n = figures.len().max(1) as f64;
    let mean = |f: fn(&Figures) -> f64| figures.iter().map(f).sum::<f64>() / n;
    Figures {
        point: F1 {
            precision: mean(|f| f.point.precision),
            recall: mean(|f| f.point.recall),
            f1: mean(|f| f.point.f1),
        },
        adjusted: F1 {
            precision: mean(|f| f.adjusted.precision),
            recall: mean(|f| f.adjusted.recall),
            f1: mean(|f| f.adjusted.f1),
        },
        best_point_f1: mean(|f| f.best_point_f1),
        best_adjusted_f1: mean(|f| f.best_adjusted_f1),
        average_precision: mean(|f| f.average_precision),
    }
}

/// The best point-wise and point-adjusted F1 over all thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BestF1 {
    /// Point-wise.
    pub point: f64,
    /// Point-adjusted.
    pub adjusted: f64,
}

/// The best F1s of flags `score >= t` over every threshold `t` among the scores, in one sweep
/// from the highest score down: each point passed adds a true or false positive, and the
/// first point of a labelled segment adds the whole segment to the adjusted true positives.
/// Published "best F1" figures search all thresholds; a coarser grid would miss the highest
/// ones, where point adjustment usually peaks. O(n log n).
pub fn best_f1(scores: &[f64], labels: &[bool]) -> BestF1 {
    let segments = segment_of(labels);
    let mut segment_length = vec![0usize; segment_count(&segments)];
    segments
        .iter()
        .flatten()
        .for_each(|s| segment_length[*s] += 1);
    let mut touched = vec![false; segment_length.len()];
    let positive = labels.iter().filter(|l| **l).count() as f64;
    let f1 = |tp: f64, fp: f64| 2.0 * tp / (2.0 * tp + fp + (positive - tp)).max(f64::MIN_POSITIVE);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let (mut tp, mut adjusted_tp, mut fp) = (0.0, 0.0, 0.0);
    let mut best = BestF1::default();
    for (position, &i) in order.iter().enumerate() {
        match segments[i] {
            Some(segment) => {
                tp += 1.0;
                if !touched[segment] {
                    touched[segment] = true;
                    adjusted_tp += segment_length[segment] as f64;
                }
            }
            None => fp += 1.0,
        }
        // Points with equal scores are flagged together: judge only after the last of them.
        let tie_follows = order
            .get(position + 1)
            .is_some_and(|&next| scores[next].total_cmp(&scores[i]).is_eq());
        if !tie_follows {
            best.point = best.point.max(f1(tp, fp));
            best.adjusted = best.adjusted.max(f1(adjusted_tp, fp));
        }
    }
    best
}

/// Segments in the output of [`segment_of`].
fn segment_count(segments: &[Option<usize>]) -> usize {
    segments.iter().flatten().max().map_or(0, |last| last + 1)
}

/// The index of each labelled point's segment (a maximal run of labelled points).
fn segment_of(labels: &[bool]) -> Vec<Option<usize>> {
    let mut next = 0;
    labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            if !label {
                return None;
            }
            if i > 0 && labels[i - 1] {
                return Some(next - 1);
            }
            next += 1;
            Some(next - 1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_adjustment_fills_a_touched_segment_only() {
        let labels = [false, true, true, true, false, true, true];
        let flags = [true, false, true, false, false, false, false];
        let adjusted = point_adjust(&flags, &labels);
        assert_eq!(adjusted, [true, true, true, true, false, false, false]);
        let point = f1_of(&flags, &labels);
        assert!((point.precision - 0.5).abs() < 1e-12 && (point.recall - 0.2).abs() < 1e-12);
        let pa = f1_of(&adjusted, &labels);
        assert!((pa.recall - 0.6).abs() < 1e-12 && (pa.precision - 0.75).abs() < 1e-12);
    }

    #[test]
    fn average_precision_is_one_for_a_perfect_ranking_and_lower_otherwise() {
        let labels = [true, false, true, false];
        assert_eq!(average_precision(&[0.9, 0.1, 0.8, 0.2], &labels), 1.0);
        // Ranking: F(0.9) T(0.8) F(0.7) T(0.6): (1/2 + 2/4) / 2.
        let ap = average_precision(&[0.8, 0.9, 0.6, 0.7], &labels);
        assert!((ap - 0.5).abs() < 1e-12, "{ap}");
    }

    #[test]
    fn the_best_f1_sweep_matches_trying_every_threshold() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20 {
            let n = rng.random_range(5..60);
            let labels: Vec<bool> = (0..n).map(|_| rng.random_bool(0.3)).collect();
            // Few distinct values, so ties are common.
            let scores: Vec<f64> = (0..n)
                .map(|i| f64::from(rng.random_range(0..8u8)) + f64::from(u8::from(labels[i])))
                .collect();
            let mut brute = BestF1::default();
            for t in &scores {
                let flags: Vec<bool> = scores.iter().map(|s| s >= t).collect();
                brute.point = brute.point.max(f1_of(&flags, &labels).f1);
                let adjusted = point_adjust(&flags, &labels);
                brute.adjusted = brute.adjusted.max(f1_of(&adjusted, &labels).f1);
            }
            let swept = best_f1(&scores, &labels);
            assert!(
                (swept.point - brute.point).abs() < 1e-12,
                "{swept:?} {brute:?}"
            );
            assert!(
                (swept.adjusted - brute.adjusted).abs() < 1e-12,
                "{swept:?} {brute:?}"
            );
        }
    }

    #[test]
    fn one_top_scored_point_per_segment_gives_a_perfect_adjusted_f1() {
        let labels = [false, true, true, true, false, false, true, true, false];
        let scores = [0.1, 0.2, 0.9, 0.1, 0.3, 0.2, 0.1, 0.8, 0.4];
        let best = best_f1(&scores, &labels);
        assert_eq!(best.adjusted, 1.0);
        assert!(best.point < 0.75, "{best:?}");
    }
}
