//! The Numenta Anomaly Benchmark's scoring and its threshold optimisation.
//!
//! NAB rewards early detection inside a labelled window and punishes detections outside one,
//! by a scaled sigmoid of the position relative to the window. Per file: the first (highest
//! weighted) detection in each window scores its sigmoid weight, each detection outside a
//! window costs its (negative) sigmoid weight times the profile's FP weight, and each window
//! without a detection costs the FN weight. The first 15 % of each file (at most 750 points)
//! is a probationary period and not scored. Totals are normalised so that detecting nothing
//! scores 0 and detecting every window at its first point scores 100. As in NAB, a detector
//! is scored at the one threshold (shared by all files) that maximises its total.
//!
//! The rules follow NAB's own scorer (`nab/sweeper.py`); the test suite checks them against
//! NAB's published per-file results for the Windowed Gaussian detector.

use std::collections::HashMap;

use serde::Serialize;

use crate::datasets::nab::NabFile;

/// Weights of a scoring profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Profile {
    /// Weight of a detected window.
    pub tp: f64,
    /// Weight of a detection outside every window.
    pub fp: f64,
    /// Weight of a missed window.
    pub fn_: f64,
}

/// NAB's three profiles, in its order.
pub const PROFILES: [(&str, Profile); 3] = [
    (
        "standard",
        Profile {
            tp: 1.0,
            fp: 0.11,
            fn_: 1.0,
        },
    ),
    (
        "reward_low_FP_rate",
        Profile {
            tp: 1.0,
            fp: 0.22,
            fn_: 1.0,
        },
    ),
    (
        "reward_low_FN_rate",
        Profile {
            tp: 1.0,
            fp: 0.11,
            fn_: 2.0,
        },
    ),
];

/// NAB's scaled sigmoid: 2 / (1 + e^(5x)) − 1, and −1 beyond 3 window widths.
pub fn scaled_sigmoid(position: f64) -> f64 {
    if position > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * position).exp()) - 1.0
    }
}

/// A scorable point: its detector score, what detecting it is worth, and its window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The detector's anomaly score.
    pub score: f64,
    /// The weighted value of a detection here.
    pub weight: f64,
    /// Index of the window the point lies in (unique across the corpus when built by
    /// [`points`] with an offset).
    pub window: Option<usize>,
}

/// The scorable (non-probationary) points of `file` given `scores`; window indices start at
/// `window_offset`.
pub fn points(
    file: &NabFile,
    scores: &[f64],
    profile: &Profile,
    window_offset: usize,
) -> Vec<Point> {
    let max_tp = scaled_sigmoid(-1.0);
    let mut windows = file.windows.iter().enumerate().peekable();
    let mut current: Option<(usize, usize, f64)> = None; // (window, right index, width)
    let mut previous: Option<(usize, f64)> = None; // (right index, width)
    let mut out = Vec::with_capacity(file.values.len());
    for (i, score) in scores.iter().enumerate().take(file.values.len()) {
        if let Some(&(w, &(start, end))) = windows.peek() {
            if start == i {
                windows.next();
                current = Some((w, end, (end - start + 1) as f64));
            }
        }
        let (weight, window) = match (current, previous) {
            (Some((w, right, width)), _) => {
                let position = -((right - i + 1) as f64) / width;
                (
                    scaled_sigmoid(position) * profile.tp / max_tp,
                    Some(w + window_offset),
                )
            }
            (None, None) => (-profile.fp, None),
            (None, Some((right, width))) => {
                let position = (i - right) as f64 / (width - 1.0).max(1.0);
                (scaled_sigmoid(position) * profile.fp, None)
            }
        };
        if i >= file.probation() {
            out.push(Point {
                score: *score,
                weight,
                window,
            });
        }
        if let Some((_, right, width)) = current {
            if i == right {
                previous = Some((right, width));
                current = None;
            }
        }
    }
    out
}

/// Detection counts and raw score at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Tally {
    /// Raw (unnormalised) score.
    pub raw: f64,
    /// Detected points inside windows.
    pub tp: usize,
    /// Detected points outside windows.
    pub fp: usize,
    /// Undetected points inside windows.
    pub fn_: usize,
    /// Undetected points outside windows.
    pub tn: usize,
}

/// The raw score of `points` (with `windows` windows in all) when points scoring at least
/// `threshold` are detections.
pub fn tally(points: &[Point], windows: usize, threshold: f64, profile: &Profile) -> Tally {
    let mut best: HashMap<usize, f64> = HashMap::new();
    let mut tally = Tally::default();
    let mut fp_sum = 0.0;
    for point in points {
        let detected = point.score >= threshold;
        match (point.window, detected) {
            (Some(w), true) => {
                tally.tp += 1;
                let slot = best.entry(w).or_insert(f64::NEG_INFINITY);
                *slot = slot.max(point.weight);
            }
            (Some(_), false) => tally.fn_ += 1,
            (None, true) => {
                tally.fp += 1;
                fp_sum += point.weight;
            }
            (None, false) => tally.tn += 1,
        }
    }
    let missed = windows.saturating_sub(best.len());
    tally.raw = best.values().sum::<f64>() + fp_sum - profile.fn_ * missed as f64;
    tally
}

/// Normalises a corpus total: 0 for detecting nothing, 100 for every window at its start.
pub fn normalize(raw: f64, windows: usize, profile: &Profile) -> f64 {
    let null = -profile.fn_ * windows as f64;
    let perfect = profile.tp * windows as f64;
    100.0 * (raw - null) / (perfect - null)
}

/// A detector over the whole corpus: per profile of [`PROFILES`], the threshold that
/// maximises its total and the normalised score there. `scores` holds one series per file of
/// `corpus`, in order.
pub fn corpus_best(corpus: &[NabFile], scores: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let windows: usize = corpus.iter().map(|f| f.windows.len()).sum();
    PROFILES
        .iter()
        .map(|(_, profile)| {
            let mut points = Vec::new();
            let mut offset = 0;
            for (file, file_scores) in corpus.iter().zip(scores) {
                points.extend(self::points(file, file_scores, profile, offset));
                offset += file.windows.len();
            }
            best_threshold(&points, windows, profile)
        })
        .collect()
}

/// The threshold that maximises the corpus total of `points` (all files, window indices
/// unique across files), and the normalised score there. Candidates are the distinct scores
/// (detecting at and above each), plus "detect nothing".
pub fn best_threshold(points: &[Point], windows: usize, profile: &Profile) -> (f64, f64) {
    let mut order: Vec<&Point> = points.iter().collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut best_window: HashMap<usize, f64> = HashMap::new();
    let (mut tp_sum, mut fp_sum) = (0.0, 0.0);
    let mut best = (f64::INFINITY, -profile.fn_ * windows as f64);
    let mut i = 0;
    while i < order.len() {
        let threshold = order[i].score;
        while i < order.len() && order[i].score == threshold {
            let point = order[i];
            match point.window {
                Some(w) => match best_window.get_mut(&w) {
                    None => {
                        tp_sum += point.weight;
                        best_window.insert(w, point.weight);
                    }
                    Some(slot) if point.weight > *slot => {
                        tp_sum += point.weight - *slot;
                        *slot = point.weight;
                    }
                    Some(_) => {}
                },
                None => fp_sum += point.weight,
            }
            i += 1;
        }
        let missed = windows.saturating_sub(best_window.len());
        let raw = tp_sum + fp_sum - profile.fn_ * missed as f64;
        if raw > best.1 {
            best = (threshold, raw);
        }
    }
    (best.0, normalize(best.1, windows, profile))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDARD: Profile = PROFILES[0].1;

    /// 100 points, one window over 40..=49; probation is the first 15.
    fn file() -> NabFile {
        NabFile {
            name: "t.csv".into(),
            timestamps: (0..100).collect(),
            values: vec![0.0; 100],
            windows: vec![(40, 49)],
        }
    }

    #[test]
    fn an_early_detection_scores_near_one_and_a_late_one_less() {
        let file = file();
        let mut scores = vec![0.0; 100];
        scores[40] = 1.0;
        let points = points(&file, &scores, &STANDARD, 0);
        assert_eq!(points.len(), 85);
        let early = tally(&points, 1, 0.5, &STANDARD);
        // The first point of a window sits at relative position −1: weight 1 (scaled to tp).
        assert!((early.raw - 1.0).abs() < 1e-12, "{early:?}");
        assert_eq!((early.tp, early.fp, early.fn_), (1, 0, 9));
        scores[40] = 0.0;
        scores[49] = 1.0;
        let late = tally(&points_of(&file, &scores), 1, 0.5, &STANDARD);
        // Last point: position −1/10, sigmoid 2/(1+e^−0.5) − 1 = 0.2449, over maxTP 0.9866.
        assert!(
            (late.raw - 0.244_918_662 / 0.986_614_298).abs() < 1e-6,
            "{late:?}"
        );
    }

    fn points_of(file: &NabFile, scores: &[f64]) -> Vec<Point> {
        points(file, scores, &STANDARD, 0)
    }

    #[test]
    fn misses_and_false_positives_cost_their_weights_and_probation_is_free() {
        let file = file();
        let mut scores = vec![0.0; 100];
        scores[5] = 1.0; // probationary: not scored
        scores[20] = 1.0; // before any window: −fp
        scores[50] = 1.0; // just after the window: close to −fp·(sigmoid(1/9)) ≈ small
        let points = points_of(&file, &scores);
        let result = tally(&points, 1, 0.5, &STANDARD);
        let after = scaled_sigmoid(1.0 / 9.0) * 0.11;
        assert!(
            (result.raw - (-1.0 - 0.11 + after)).abs() < 1e-12,
            "{result:?}"
        );
        assert_eq!((result.tp, result.fp), (0, 2));
        assert_eq!(normalize(-1.0, 1, &STANDARD), 0.0);
        assert_eq!(normalize(1.0, 1, &STANDARD), 100.0);
    }

    #[test]
    fn the_best_threshold_agrees_with_tallying_at_it() {
        let file = file();
        let scores: Vec<f64> = (0..100).map(|i| ((i * 37) % 100) as f64 / 100.0).collect();
        let points = points_of(&file, &scores);
        let (threshold, best) = best_threshold(&points, 1, &STANDARD);
        let at = normalize(tally(&points, 1, threshold, &STANDARD).raw, 1, &STANDARD);
        assert!((best - at).abs() < 1e-9, "{best} vs {at}");
        for candidate in [0.0, 0.3, 0.6, 0.9, 0.99] {
            let other = normalize(tally(&points, 1, candidate, &STANDARD).raw, 1, &STANDARD);
            assert!(other <= best + 1e-9, "{candidate}: {other} > {best}");
        }
    }
}
