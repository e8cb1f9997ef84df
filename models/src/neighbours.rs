//! Window neighbours: have a metric's last few values, together, been seen in training?
//!
//! A server's metrics move in the ways they always move; an incident moves them in a way they
//! never did: a level never held, or a step between levels that never happened. This detector
//! keeps every training window of `W` consecutive values of each metric and asks how far the
//! current window lies from its `k` nearest training windows. With `W = 2` a window is
//! (previous value, value): its level and its step at once. The distance to the k-th nearest
//! neighbour is the usual nonparametric measure of rarity: the larger, the emptier training
//! left that neighbourhood.
//!
//! Each metric's distance is divided by the same distance's [`NeighbourConfig::reference_quantile`]
//! among the training windows themselves (each against the others), so a metric that always
//! wobbles is not louder than one that never moves. A row scores the mean over its metrics:
//! incidents move many metrics at once, noise moves one.
//!
//! The model is fitted once and then only read: scoring learns nothing, so a long incident
//! keeps scoring until the model is retrained. Its threshold is a contamination quantile of
//! the training rows' own scores, each row judged by the others (leave one out), so no data
//! has to be held back to calibrate it.
//!
//! The search is exact, on one k-d tree per metric (the `kiddo` crate's immutable tree).

use std::collections::BTreeMap;
use std::num::NonZero;

use kiddo::{ImmutableKdTree, SquaredEuclidean};

use crate::error::{ModelFileError, NeighbourError};
use crate::model_file::{Tensor, Weights};
use crate::service_model::quantile;

/// Distinct windows, hashed by foldhash with a fixed seed (the keys are our own numbers).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// Settings of a [`Neighbours`] model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeighbourConfig {
    /// `k`: a window is judged by its distance to the k-th nearest training window.
    pub neighbours: usize,
    /// Quantile of the training windows' own (leave-one-out) distances that a metric's
    /// distances are divided by.
    pub reference_quantile: f64,
    /// Added to each metric's reference distance, in the metric's unit: a metric constant in
    /// training would otherwise divide by zero. 1e-3 suits values scaled to 0..1.
    pub floor: f64,
    /// Share of the training rows expected above the threshold.
    pub contamination: f64,
}

impl Default for NeighbourConfig {
    fn default() -> Self {
        NeighbourConfig {
            neighbours: 5,
            reference_quantile: 0.99,
            floor: 1e-3,
            contamination: 0.01,
        }
    }
}

/// One metric's distinct training windows, how often each occurred, and its reference
/// distance. Distinct windows because metrics often sit on one value for days: thousands of
/// equal windows would each be visited by every search that lands among them.
struct MetricNeighbours<const W: usize> {
    /// `None` for a metric without a single complete training window.
    tree: Option<ImmutableKdTree<f64, W>>,
    distinct: Vec<[f64; W]>,
    counts: Vec<usize>,
    reference: f64,
}

impl<const W: usize> MetricNeighbours<W> {
    fn new(windows: &[[f64; W]]) -> Self {
        let mut index: HashMap<[u64; W], usize> = HashMap::default();
        let mut distinct = Vec::new();
        let mut counts = Vec::new();
        for window in windows {
            // + 0.0 makes -0.0 and 0.0 one key.
            let key = window.map(|v| (v + 0.0).to_bits());
            let slot = *index.entry(key).or_insert_with(|| {
                distinct.push(*window);
                counts.push(0);
                counts.len() - 1
            });
            counts[slot] += 1;
        }
        Self::from_parts(distinct, counts, 0.0)
    }

    fn from_parts(distinct: Vec<[f64; W]>, counts: Vec<usize>, reference: f64) -> Self {
        let tree = (!distinct.is_empty()).then(|| ImmutableKdTree::new_from_slice(&distinct));
        MetricNeighbours {
            tree,
            distinct,
            counts,
            reference,
        }
    }

    /// Distance from `window` to its `k`-th nearest training window, equal windows counted
    /// as often as they occurred; `None` without training windows.
    fn distance(&self, window: &[f64; W], k: usize) -> Option<f64> {
        let tree = self.tree.as_ref()?;
        let wanted = NonZero::new(k.min(self.counts.len()))?;
        let nearest = tree.nearest_n::<SquaredEuclidean>(window, wanted);
        let mut seen = 0;
        for neighbour in &nearest {
            seen += self.counts[neighbour.item as usize];
            if seen >= k {
                return Some(neighbour.distance.sqrt());
            }
        }
        nearest.last().map(|n| n.distance.sqrt())
    }
}

/// A fitted window-neighbour model over a fixed list of metrics; see the module docs.
pub struct Neighbours<const W: usize> {
    metrics: Vec<MetricNeighbours<W>>,
    config: NeighbourConfig,
    threshold: f64,
}

impl<const W: usize> std::fmt::Debug for Neighbours<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neighbours")
            .field("window", &W)
            .field("metrics", &self.metrics.len())
            .field("config", &self.config)
            .field("threshold", &self.threshold)
            .finish()
    }
}

impl<const W: usize> Neighbours<W> {
    /// Fits on `rows` (one value per metric each, in time order); see [`Neighbours::fit_runs`].
    pub fn fit(rows: &[Vec<f64>], config: NeighbourConfig) -> Result<Self, NeighbourError> {
        Self::fit_runs(&[rows], config)
    }

    /// Fits on `runs`: each a series of consecutive rows (one value per metric each, in time
    /// order), so no window spans two runs (two services, or a gap in one). A value that is
    /// not finite is missing: windows holding one are left out of their metric.
    pub fn fit_runs<R: AsRef<[f64]>>(
        runs: &[&[R]],
        config: NeighbourConfig,
    ) -> Result<Self, NeighbourError> {
        Self::fit_scored(runs, config).map(|(model, _)| model)
    }

    /// [`Neighbours::fit_runs`], also returning the training rows' own scores (each row's
    /// windows against the other windows), ascending: what a threshold rule other than the
    /// contamination quantile chooses from (see [`Neighbours::with_threshold`]).
    pub fn fit_scored<R: AsRef<[f64]>>(
        runs: &[&[R]],
        config: NeighbourConfig,
    ) -> Result<(Self, Vec<f64>), NeighbourError> {
        check_config(W, &config)?;
        let width = check_rows(runs, W, config.neighbours)?;
        let rows: usize = runs.iter().map(|r| r.len()).sum();
        // Per row that ends a window: the sum and count of its metrics' own scores.
        let mut own = vec![(0.0, 0usize); rows];
        let mut metrics = Vec::with_capacity(width);
        for metric in 0..width {
            let (ends, windows) = windows_of::<W, R>(runs, metric);
            let mut index = MetricNeighbours::new(&windows);
            // The nearest window to a training window is itself (or an equal one): k + 1.
            let distances: Vec<f64> = windows
                .iter()
                .map(|w| index.distance(w, config.neighbours + 1).unwrap_or(0.0))
                .collect();
            let mut sorted = distances.clone();
            sorted.sort_by(f64::total_cmp);
            index.reference = quantile(&sorted, config.reference_quantile) + config.floor;
            for (end, distance) in ends.iter().zip(&distances) {
                own[*end].0 += distance / index.reference;
                own[*end].1 += 1;
            }
            metrics.push(index);
        }
        let mut own: Vec<f64> = own
            .iter()
            .filter(|(_, count)| *count > 0)
            .map(|(sum, count)| sum / *count as f64)
            .collect();
        own.sort_by(f64::total_cmp);
        let threshold = quantile(&own, 1.0 - config.contamination);
        let model = Neighbours {
            metrics,
            config,
            threshold,
        };
        Ok((model, own))
    }

    /// The model with another threshold (e.g. one chosen from [`Neighbours::fit_scored`]'s
    /// scores for a false-alarm budget).
    pub fn with_threshold(self, threshold: f64) -> Self {
        Neighbours { threshold, ..self }
    }

    /// The weights to save: per metric its distinct windows (`windows.<m>`, one row of `W`
    /// values each) and their counts (`counts.<m>`), and every metric's reference distance
    /// (`references`). The settings and threshold go into the model's metadata.
    pub fn to_tensors(&self) -> BTreeMap<String, Tensor> {
        let mut tensors = BTreeMap::new();
        let references: Vec<f64> = self.metrics.iter().map(|m| m.reference).collect();
        tensors.insert(
            "references".to_string(),
            Tensor::f64(vec![references.len()], &references),
        );
        for (metric, index) in self.metrics.iter().enumerate() {
            let flat: Vec<f64> = index.distinct.iter().flatten().copied().collect();
            let counts: Vec<i64> = index.counts.iter().map(|c| *c as i64).collect();
            let shape = vec![index.distinct.len(), W];
            tensors.insert(format!("windows.{metric}"), Tensor::f64(shape, &flat));
            tensors.insert(
                format!("counts.{metric}"),
                Tensor::i64(vec![counts.len()], &counts),
            );
        }
        tensors
    }

    /// The model [`Neighbours::to_tensors`] saved, for `metrics` metrics, with the settings and
    /// threshold from its metadata; shapes that do not fit are named.
    pub fn from_weights(
        weights: &Weights,
        metrics: usize,
        config: NeighbourConfig,
        threshold: f64,
    ) -> Result<Self, ModelFileError> {
        let bad = |message: String| ModelFileError::mismatch(weights.path(), message);
        check_config(W, &config).map_err(|e| bad(e.to_string()))?;
        let (_, references) = weights.f64("references")?;
        if references.len() != metrics {
            return Err(bad(format!(
                "{} reference distances for {metrics} metrics",
                references.len()
            )));
        }
        let mut indexes = Vec::with_capacity(metrics);
        for (metric, reference) in references.iter().enumerate() {
            let (shape, flat) = weights.f64(&format!("windows.{metric}"))?;
            let (_, counts) = weights.i64(&format!("counts.{metric}"))?;
            let rows = flat.len() / W;
            if shape != [rows, W] || counts.len() != rows || counts.iter().any(|c| *c < 1) {
                return Err(bad(format!(
                    "metric {metric}: windows of shape {shape:?} and {} counts do not fit windows of {W}",
                    counts.len()
                )));
            }
            let distinct = flat
                .chunks_exact(W)
                .map(|c| std::array::from_fn(|i| c[i]))
                .collect();
            let counts = counts.iter().map(|c| *c as usize).collect();
            indexes.push(MetricNeighbours::from_parts(distinct, counts, *reference));
        }
        Ok(Neighbours {
            metrics: indexes,
            config,
            threshold,
        })
    }

    /// Score above which a row is anomalous: the (1 − contamination) quantile of the
    /// training rows' leave-one-out scores, unless [`Neighbours::with_threshold`] set another.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Whether `score` is above the threshold. Strictly above: a model of metrics that never
    /// moved in training has threshold 0, and a row that still has not moved is not news.
    pub fn is_anomalous(&self, score: f64) -> bool {
        score > self.threshold
    }

    /// Per metric, the distance of the window of `rows` (the last `W` rows, oldest first)
    /// over its reference; `None` where a value is missing or not finite, or `rows` is not
    /// `W` long.
    pub fn metric_scores(&self, rows: &[&[f64]]) -> Vec<Option<f64>> {
        (0..self.metrics.len())
            .map(|metric| {
                let window = window_at::<W>(rows, metric)?;
                let index = &self.metrics[metric];
                Some(index.distance(&window, self.config.neighbours)? / index.reference)
            })
            .collect()
    }

    /// The mean of [`Neighbours::metric_scores`] over the metrics that have one (0 if none).
    pub fn score(&self, rows: &[&[f64]]) -> f64 {
        mean_of(&self.metric_scores(rows))
    }

    /// [`Neighbours::metric_scores`] of each of `rows`' windows; the first windows reach back
    /// into `before` (rows that came just before, e.g. the end of the training part). A row
    /// without `W − 1` predecessors has no scores.
    pub fn metric_series(&self, before: &[Vec<f64>], rows: &[Vec<f64>]) -> Vec<Vec<Option<f64>>> {
        let carried = before.len().min(W.saturating_sub(1));
        let joined: Vec<&[f64]> = before[before.len() - carried..]
            .iter()
            .chain(rows)
            .map(Vec::as_slice)
            .collect();
        (carried..joined.len())
            .map(|end| {
                let start = (end + 1).saturating_sub(W);
                self.metric_scores(&joined[start..=end])
            })
            .collect()
    }

    /// [`Neighbours::score`] of each of `rows`, as [`Neighbours::metric_series`] windows them
    /// (a row without `W − 1` predecessors scores 0).
    pub fn score_series(&self, before: &[Vec<f64>], rows: &[Vec<f64>]) -> Vec<f64> {
        self.metric_series(before, rows)
            .iter()
            .map(|scores| mean_of(scores))
            .collect()
    }
}

/// The mean of the scores that are there (a row's score from its metrics'); 0 if none is.
pub fn mean_of(scores: &[Option<f64>]) -> f64 {
    let (sum, count) = scores
        .iter()
        .flatten()
        .fold((0.0, 0usize), |(s, c), x| (s + x, c + 1));
    if count == 0 {
        0.0
    } else {
        sum / count as f64
    }
}

fn check_config(window: usize, config: &NeighbourConfig) -> Result<(), NeighbourError> {
    let in_unit = |q: f64| q > 0.0 && q < 1.0;
    let problem = if window == 0 {
        Some("the window must hold at least one row".to_string())
    } else if config.neighbours == 0 {
        Some("neighbours must be at least 1".to_string())
    } else if !in_unit(config.reference_quantile) || !in_unit(config.contamination) {
        Some(format!(
            "reference quantile {} and contamination {} must lie strictly between 0 and 1",
            config.reference_quantile, config.contamination
        ))
    } else if !(config.floor.is_finite() && config.floor > 0.0) {
        Some(format!("floor {} must be a positive number", config.floor))
    } else {
        None
    };
    problem.map_or(Ok(()), |p| Err(NeighbourError::Config(p)))
}

/// The rows' common width, if the runs hold enough windows for `neighbours` more.
fn check_rows<R: AsRef<[f64]>>(
    runs: &[&[R]],
    window: usize,
    neighbours: usize,
) -> Result<usize, NeighbourError> {
    let windows: usize = runs
        .iter()
        .map(|r| (r.len() + 1).saturating_sub(window))
        .sum();
    if windows <= neighbours {
        let rows = runs.iter().map(|r| r.len()).sum();
        return Err(NeighbourError::TooFewRows {
            rows,
            needed: window + neighbours,
            window,
            neighbours,
        });
    }
    let expected = runs
        .iter()
        .find_map(|r| r.first())
        .map_or(0, |row| row.as_ref().len());
    for (row, values) in runs.iter().flat_map(|r| r.iter()).enumerate() {
        let values = values.as_ref();
        if values.len() != expected {
            return Err(NeighbourError::Ragged {
                row,
                found: values.len(),
                expected,
            });
        }
    }
    Ok(expected)
}

/// Every window of `W` consecutive finite values of `metric` within each run, with the
/// index (over all runs' rows) of the row that ends it.
fn windows_of<const W: usize, R: AsRef<[f64]>>(
    runs: &[&[R]],
    metric: usize,
) -> (Vec<usize>, Vec<[f64; W]>) {
    let (mut ends, mut windows) = (Vec::new(), Vec::new());
    let mut offset = 0;
    for run in runs {
        for (start, rows) in run.windows(W).enumerate() {
            let window: [f64; W] = std::array::from_fn(|i| rows[i].as_ref()[metric]);
            if window.iter().all(|v| v.is_finite()) {
                ends.push(offset + start + W - 1);
                windows.push(window);
            }
        }
        offset += run.len();
    }
    (ends, windows)
}

/// `metric`'s window in `rows`, if `rows` is `W` long and every value is there and finite.
fn window_at<const W: usize>(rows: &[&[f64]], metric: usize) -> Option<[f64; W]> {
    if rows.len() != W {
        return None;
    }
    let mut window = [0.0; W];
    for (slot, row) in window.iter_mut().zip(rows) {
        *slot = *row.get(metric).filter(|v| v.is_finite())?;
    }
    Some(window)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `metrics` noisy daily-like waves, `rows` long, seeded.
    fn waves(rows: usize, metrics: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..rows)
            .map(|t| {
                (0..metrics)
                    .map(|m| {
                        let phase = t as f64 / 48.0 + m as f64;
                        0.5 + 0.3 * phase.sin() + rng.random_range(-0.02..0.02)
                    })
                    .collect()
            })
            .collect()
    }

    fn rows_of(rows: &[Vec<f64>]) -> Vec<&[f64]> {
        rows.iter().map(Vec::as_slice).collect()
    }

    /// The k-th smallest distance from `query` to `points`, by brute force.
    fn kth_distance(points: &[[f64; 2]], query: [f64; 2], k: usize) -> f64 {
        let mut distances: Vec<f64> = points
            .iter()
            .map(|p| ((p[0] - query[0]).powi(2) + (p[1] - query[1]).powi(2)).sqrt())
            .collect();
        distances.sort_by(f64::total_cmp);
        distances[k - 1]
    }

    proptest! {
        #[test]
        fn scores_are_the_exact_kth_distance_over_the_reference(
            // Repeated values too: metrics that sit on a few levels are common, and a k-d
            // tree must still split them.
            values in prop::collection::vec(
                prop_oneof![0.0f64..1.0, prop::sample::select(vec![0.0, 0.5, 1.0])],
                20..300,
            ),
            query in (0.0f64..1.0, 0.0f64..1.0),
        ) {
            let rows: Vec<Vec<f64>> = values.iter().map(|v| vec![*v]).collect();
            let config = NeighbourConfig { neighbours: 3, ..NeighbourConfig::default() };
            let model = Neighbours::<2>::fit(&rows, config).unwrap();
            let points: Vec<[f64; 2]> = values.windows(2).map(|w| [w[0], w[1]]).collect();
            let mut own: Vec<f64> = points.iter().map(|p| kth_distance(&points, *p, 4)).collect();
            own.sort_by(f64::total_cmp);
            let reference = quantile(&own, 0.99) + 1e-3;
            let expected = kth_distance(&points, [query.0, query.1], 3) / reference;
            let score = model.score(&[&[query.0], &[query.1]]);
            prop_assert!((score - expected).abs() < 1e-9, "{score} vs {expected}");
        }
    }

    #[test]
    fn a_step_never_seen_scores_above_the_threshold_and_ordinary_rows_below() {
        let rows = waves(2_000, 4, 7);
        let model = Neighbours::<2>::fit(&rows, NeighbourConfig::default()).unwrap();
        let more = waves(2_100, 4, 8);
        let ordinary = model.score_series(&rows, &more[2_000..]);
        let above = ordinary.iter().filter(|s| model.is_anomalous(**s)).count();
        assert!(
            above <= 5,
            "{above} of 100 ordinary rows above the threshold"
        );
        let mut jumped = more[2_000].clone();
        jumped.iter_mut().for_each(|v| *v += 0.3);
        let score = model.score(&[&more[1_999], &jumped]);
        assert!(
            score > 3.0 * model.threshold(),
            "{score} vs {}",
            model.threshold()
        );
    }

    #[test]
    fn many_metrics_moving_score_more_than_one() {
        let rows = waves(1_000, 4, 1);
        let model = Neighbours::<2>::fit(&rows, NeighbourConfig::default()).unwrap();
        let before = rows[999].clone();
        let mut one = before.clone();
        one[0] += 0.3;
        let all: Vec<f64> = before.iter().map(|v| v + 0.3).collect();
        let one_score = model.score(&[&before, &one]);
        let all_score = model.score(&[&before, &all]);
        assert!(all_score > 2.0 * one_score, "{all_score} vs {one_score}");
    }

    #[test]
    fn a_missing_value_leaves_its_metric_out_of_the_mean() {
        let rows = waves(500, 2, 3);
        let model = Neighbours::<2>::fit(&rows, NeighbourConfig::default()).unwrap();
        let (last, now) = (&rows[498], &rows[499]);
        let scores = model.metric_scores(&[last, now]);
        let gap = [now[0], f64::NAN];
        assert_eq!(model.metric_scores(&[last, &gap]), vec![scores[0], None]);
        assert_eq!(model.score(&[last, &gap]), scores[0].unwrap());
        assert_eq!(model.score(&[last, &[f64::NAN, f64::NAN]]), 0.0);
        assert_eq!(
            model.score(&[now]),
            0.0,
            "a window of the wrong length scores 0"
        );
    }

    #[test]
    fn series_windows_reach_back_into_the_rows_before() {
        let rows = waves(300, 3, 5);
        let model = Neighbours::<3>::fit(&rows[..200], NeighbourConfig::default()).unwrap();
        let carried = model.score_series(&rows[..200], &rows[200..]);
        let fresh = model.score_series(&[], &rows[200..]);
        assert_eq!(carried.len(), 100);
        assert_eq!(&fresh[..2], &[0.0, 0.0]);
        assert_eq!(fresh[2..], carried[2..]);
        let window = rows_of(&rows[198..201]);
        assert_eq!(carried[0], model.score(&window));
    }

    #[test]
    fn a_metric_constant_in_training_is_judged_against_the_floor() {
        let rows = vec![vec![0.25]; 1_000];
        let model = Neighbours::<2>::fit(&rows, NeighbourConfig::default()).unwrap();
        assert_eq!(model.threshold(), 0.0);
        assert!(!model.is_anomalous(model.score(&[&[0.25], &[0.25]])));
        let moved = model.score(&[&[0.25], &[0.26]]);
        assert!((moved - 0.01 / 1e-3).abs() < 1e-6, "{moved}");
        assert!(model.is_anomalous(moved));
    }

    #[test]
    fn a_missing_training_value_leaves_out_only_its_metrics_windows() {
        let rows = waves(300, 2, 4);
        let mut gappy = rows.clone();
        gappy[100][1] = f64::NAN;
        let whole = Neighbours::<2>::fit(&rows, NeighbourConfig::default()).unwrap();
        let model = Neighbours::<2>::fit(&gappy, NeighbourConfig::default()).unwrap();
        let window = rows_of(&rows[200..202]);
        assert_eq!(
            model.metric_scores(&window)[0],
            whole.metric_scores(&window)[0]
        );
        let all_missing: Vec<Vec<f64>> = rows.iter().map(|r| vec![r[0], f64::NAN]).collect();
        let model = Neighbours::<2>::fit(&all_missing, NeighbourConfig::default()).unwrap();
        assert_eq!(model.metric_scores(&window)[1], None);
    }

    #[test]
    fn windows_never_span_two_runs() {
        // Two runs that sit at 0 and at 1: the step from 0 to 1 is between them, never in one.
        // Joined, that step is a training window, its own nearest neighbour (k = 1).
        let low = vec![vec![0.0]; 50];
        let high = vec![vec![1.0]; 50];
        let config = NeighbourConfig {
            neighbours: 1,
            ..NeighbourConfig::default()
        };
        let runs = Neighbours::<2>::fit_runs(&[&low, &high], config).unwrap();
        let joined: Vec<Vec<f64>> = low.iter().chain(&high).cloned().collect();
        let one = Neighbours::<2>::fit(&joined, config).unwrap();
        let step = [&[0.0][..], &[1.0][..]];
        assert_eq!(one.score(&step), 0.0);
        assert!(runs.score(&step) > 100.0);
        assert!(runs.is_anomalous(runs.score(&step)));
    }

    #[test]
    fn a_saved_model_scores_as_the_fitted_one_and_bad_shapes_are_named() {
        let rows = waves(400, 3, 6);
        let config = NeighbourConfig::default();
        let model = Neighbours::<2>::fit(&rows, config).unwrap();
        let path = std::path::Path::new("neighbours.safetensors");
        let bytes = crate::model_file::safetensors_bytes(&model.to_tensors()).unwrap();
        let weights = Weights::parse(path, &bytes).unwrap();
        let loaded = Neighbours::<2>::from_weights(&weights, 3, config, model.threshold()).unwrap();
        let more = waves(450, 3, 9);
        assert_eq!(
            loaded.score_series(&rows, &more[400..]),
            model.score_series(&rows, &more[400..])
        );
        let wrong = Neighbours::<3>::from_weights(&weights, 3, config, 0.1).unwrap_err();
        assert!(
            wrong.to_string().contains("do not fit windows of 3"),
            "{wrong}"
        );
        let fewer = Neighbours::<2>::from_weights(&weights, 2, config, 0.1).unwrap_err();
        assert!(
            fewer
                .to_string()
                .contains("3 reference distances for 2 metrics"),
            "{fewer}"
        );
    }

    #[test]
    fn bad_training_data_is_named() {
        let config = NeighbourConfig::default();
        assert_eq!(
            Neighbours::<2>::fit(&waves(6, 2, 1), config).unwrap_err(),
            NeighbourError::TooFewRows {
                rows: 6,
                needed: 7,
                window: 2,
                neighbours: 5
            }
        );
        let mut rows = waves(20, 2, 1);
        rows[9].pop();
        assert_eq!(
            Neighbours::<2>::fit(&rows, config).unwrap_err(),
            NeighbourError::Ragged {
                row: 9,
                found: 1,
                expected: 2
            }
        );
        let broken = NeighbourConfig {
            contamination: 0.0,
            ..config
        };
        assert!(matches!(
            Neighbours::<2>::fit(&waves(20, 2, 1), broken),
            Err(NeighbourError::Config(_))
        ));
    }
}
