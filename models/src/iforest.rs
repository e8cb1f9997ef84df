//! IsolationForest (Liu, Ting and Zhou, 2008) with scikit-learn's definitions, so scores can
//! be compared with `sklearn.ensemble.IsolationForest` on the same data.
//!
//! Each tree is grown on a subsample drawn without replacement (256 rows by default) by
//! splitting on a random feature at a uniform random value between that feature's minimum
//! and maximum in the node, up to depth ⌈log2(subsample)⌉. A point's path length is the depth
//! of the leaf it reaches plus c(size of that leaf), the average path length of an unsuccessful
//! search in a binary search tree of that size. The anomaly score is 2^(−E[h(x)] / c(subsample)):
//! near 1 for points isolated quickly, below 0.5 for ordinary ones. The threshold is the
//! training scores' (1 − contamination) quantile. Every random choice comes from a seeded
//! ChaCha stream per tree, so a fit is reproducible.

use ndarray::{ArrayView1, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{FitError, ModelFileError};
#[cfg(test)]
use crate::model_file::safetensors_bytes;
use crate::model_file::{Tensor, Weights};
use std::collections::BTreeMap;

/// The Euler–Mascheroni constant, in the harmonic-number approximation H(i) ≈ ln(i) + γ.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Settings, with scikit-learn's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IsolationForestConfig {
    /// Trees (`n_estimators`).
    pub trees: usize,
    /// Rows per tree (`max_samples`), capped at the number of rows.
    pub subsample: usize,
    /// Expected share of anomalies in the training data: sets the threshold.
    pub contamination: f64,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for IsolationForestConfig {
    fn default() -> Self {
        IsolationForestConfig {
            trees: 100,
            subsample: 256,
            contamination: 0.01,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Split {
        feature: usize,
        value: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        size: usize,
    },
}

/// A fitted forest.
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForest {
    trees: Vec<Vec<Node>>,
    subsample: usize,
    features: usize,
    threshold: f64,
}

/// c(n): the average path length of an unsuccessful search in a binary search tree of `n`
/// points, which normalizes path lengths.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        n => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

fn check(data: &ArrayView2<'_, f64>, config: &IsolationForestConfig) -> Result<(), FitError> {
    let (rows, columns) = data.dim();
    if rows == 0 || columns == 0 {
        return Err(FitError::Empty { rows, columns });
    }
    if config.trees == 0 || config.subsample < 2 {
        return Err(FitError::Config(
            "trees must be at least 1 and subsample at least 2".into(),
        ));
    }
    if !(0.0..0.5).contains(&config.contamination) {
        return Err(FitError::Config(format!(
            "contamination {} is not in [0, 0.5)",
            config.contamination
        )));
    }
    if let Some(((row, column), _)) = data.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(FitError::NotFinite { row, column });
    }
    Ok(())
}

/// Grows one tree over `rows` of `data` into `nodes`; returns the new node's index.
fn grow(
    data: &ArrayView2<'_, f64>,
    rows: Vec<usize>,
    depth: usize,
    max_depth: usize,
    rng: &mut ChaCha8Rng,
    nodes: &mut Vec<Node>,
) -> usize {
    let leaf = |nodes: &mut Vec<Node>, size| {
        nodes.push(Node::Leaf { size });
        nodes.len() - 1
    };
    if depth >= max_depth || rows.len() <= 1 {
        return leaf(nodes, rows.len());
    }
    // Features that still vary in this node, with their ranges.
    let ranges: Vec<(usize, f64, f64)> = (0..data.ncols())
        .filter_map(|feature| {
            let values = rows.iter().map(|r| data[(*r, feature)]);
            let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
            (high > low).then_some((feature, low, high))
        })
        .collect();
    if ranges.is_empty() {
        return leaf(nodes, rows.len());
    }
    let (feature, low, high) = ranges[rng.random_range(0..ranges.len())];
    let value = rng.random_range(low..high);
    let (left_rows, right_rows): (Vec<usize>, Vec<usize>) =
        rows.iter().partition(|r| data[(**r, feature)] < value);
    let index = nodes.len();
    nodes.push(Node::Leaf { size: 0 }); // replaced once the children exist
    let left = grow(data, left_rows, depth + 1, max_depth, rng, nodes);
    let right = grow(data, right_rows, depth + 1, max_depth, rng, nodes);
    nodes[index] = Node::Split {
        feature,
        value,
        left,
        right,
    };
    index
}

impl IsolationForest {
    /// Fits on the rows of `data` (one row per observation).
    pub fn fit(
        data: ArrayView2<'_, f64>,
        config: &IsolationForestConfig,
    ) -> Result<Self, FitError> {
        Self::fit_with_progress(data, config, |_| {})
    }

    /// [`Self::fit`], calling `tree_done(i)` as each tree is grown (for a progress bar).
    pub fn fit_with_progress(
        data: ArrayView2<'_, f64>,
        config: &IsolationForestConfig,
        mut tree_done: impl FnMut(usize),
    ) -> Result<Self, FitError> {
        check(&data, config)?;
        let rows = data.nrows();
        let subsample = config.subsample.min(rows);
        let max_depth = (subsample as f64).log2().ceil() as usize;
        let trees = (0..config.trees)
            .map(|tree| {
                let mut rng = ChaCha8Rng::seed_from_u64(
                    config.seed ^ (tree as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                );
                let sample = rand::seq::index::sample(&mut rng, rows, subsample).into_vec();
                let mut nodes = Vec::new();
                grow(&data, sample, 0, max_depth, &mut rng, &mut nodes);
                tree_done(tree);
                nodes
            })
            .collect();
        let mut forest = IsolationForest {
            trees,
            subsample,
            features: data.ncols(),
            threshold: 1.0,
        };
        let mut scores: Vec<f64> = data
            .axis_iter(Axis(0))
            .map(|row| forest.score_row(row))
            .collect();
        scores.sort_by(f64::total_cmp);
        let rank = ((1.0 - config.contamination) * (scores.len() - 1) as f64).round() as usize;
        forest.threshold = scores[rank.min(scores.len() - 1)];
        Ok(forest)
    }

    /// The path length of `row` in one tree.
    fn path_length(nodes: &[Node], row: &ArrayView1<'_, f64>) -> f64 {
        let (mut node, mut depth) = (0, 0.0);
        loop {
            match &nodes[node] {
                Node::Leaf { size } => return depth + average_path_length(*size),
                Node::Split {
                    feature,
                    value,
                    left,
                    right,
                } => {
                    node = if row[*feature] < *value {
                        *left
                    } else {
                        *right
                    };
                    depth += 1.0;
                }
            }
        }
    }

    fn score_row(&self, row: ArrayView1<'_, f64>) -> f64 {
        let mean = self
            .trees
            .iter()
            .map(|t| Self::path_length(t, &row))
            .sum::<f64>()
            / self.trees.len() as f64;
        2f64.powf(-mean / average_path_length(self.subsample))
    }

    /// Anomaly score of each row, in (0, 1]: higher is more anomalous (scikit-learn's
    /// `-score_samples`). Rows must have the fitted number of columns.
    pub fn score(&self, data: ArrayView2<'_, f64>) -> Result<Vec<f64>, FitError> {
        if data.ncols() != self.features {
            return Err(FitError::Config(format!(
                "the model was fitted on {} features, the data has {}",
                self.features,
                data.ncols()
            )));
        }
        Ok(data
            .axis_iter(Axis(0))
            .map(|row| self.score_row(row))
            .collect())
    }

    /// The anomaly score of one row (see [`Self::score`]) without building a matrix or a
    /// vector: the streaming path scores a row at a time. `None` for a row of the wrong width.
    pub fn score_one(&self, row: &[f64]) -> Option<f64> {
        (row.len() == self.features).then(|| self.score_row(ArrayView1::from(row)))
    }

    /// Scores at or above this are anomalous (the training data's (1 − contamination) quantile).
    pub fn threshold(&self) -> f64 {
        self.threshold
    }
}

/// Weights of a forest as tensors: one row per node of all trees, tree by tree.
impl IsolationForest {
    /// Input columns the forest was fitted on.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Rows per tree it was fitted with (sets the normalization c(subsample)).
    pub fn subsample(&self) -> usize {
        self.subsample
    }

    /// Replaces the threshold (one chosen outside the fit, e.g. by SPOT).
    pub fn set_threshold(&mut self, threshold: f64) {
        self.threshold = threshold;
    }

    /// The nodes as tensors: `tree_offsets` (trees + 1), and per node `feature` (−1 for a
    /// leaf), `value`, `left`, `right` and `size` (leaf size, 0 for a split).
    pub fn to_tensors(&self) -> BTreeMap<String, Tensor> {
        let mut offsets = vec![0i64];
        let (mut feature, mut value, mut left, mut right, mut size) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for tree in &self.trees {
            for node in tree {
                let (f, v, l, r, s) = match node {
                    Node::Split {
                        feature,
                        value,
                        left,
                        right,
                    } => (*feature as i64, *value, *left as i64, *right as i64, 0),
                    Node::Leaf { size } => (-1, 0.0, 0, 0, *size as i64),
                };
                feature.push(f);
                value.push(v);
                left.push(l);
                right.push(r);
                size.push(s);
            }
            offsets.push(feature.len() as i64);
        }
        let nodes = feature.len();
        BTreeMap::from([
            (
                "tree_offsets".into(),
                Tensor::i64(vec![offsets.len()], &offsets),
            ),
            ("feature".into(), Tensor::i64(vec![nodes], &feature)),
            ("value".into(), Tensor::f64(vec![nodes], &value)),
            ("left".into(), Tensor::i64(vec![nodes], &left)),
            ("right".into(), Tensor::i64(vec![nodes], &right)),
            ("size".into(), Tensor::i64(vec![nodes], &size)),
        ])
    }

    /// Rebuilds a forest from [`Self::to_tensors`]' layout, checking every index so a damaged
    /// file is an error, never a panic or an endless walk: children must point forward within
    /// their tree and features must be below `features`.
    pub fn from_weights(
        weights: &Weights,
        features: usize,
        subsample: usize,
        threshold: f64,
    ) -> Result<Self, ModelFileError> {
        let bad = |message: String| ModelFileError::mismatch(weights.path(), message);
        let (_, offsets) = weights.i64("tree_offsets")?;
        let (_, feature) = weights.i64("feature")?;
        let (_, value) = weights.f64("value")?;
        let (_, left) = weights.i64("left")?;
        let (_, right) = weights.i64("right")?;
        let (_, size) = weights.i64("size")?;
        let nodes = feature.len();
        if [value.len(), left.len(), right.len(), size.len()] != [nodes; 4] {
            return Err(bad("node tensors differ in length".into()));
        }
        if offsets.len() < 2 || offsets[0] != 0 || offsets.last() != Some(&(nodes as i64)) {
            return Err(bad("tree_offsets do not cover the nodes".into()));
        }
        let mut trees = Vec::with_capacity(offsets.len() - 1);
        for bounds in offsets.windows(2) {
            let (start, end) = (bounds[0], bounds[1]);
            if start >= end || end > nodes as i64 {
                return Err(bad(format!("tree bounds {start}..{end} are invalid")));
            }
            let (start, end) = (start as usize, end as usize);
            let mut tree = Vec::with_capacity(end - start);
            for i in start..end {
                let local = i - start;
                let node = if feature[i] < 0 {
                    Node::Leaf {
                        size: usize::try_from(size[i])
                            .map_err(|_| bad(format!("node {i}: negative size")))?,
                    }
                } else {
                    let child = |c: i64| {
                        usize::try_from(c)
                            .ok()
                            .filter(|c| *c > local && *c < end - start)
                            .ok_or_else(|| bad(format!("node {i}: child {c} is out of its tree")))
                    };
                    let split_feature = feature[i] as usize;
                    if split_feature >= features {
                        return Err(bad(format!(
                            "node {i} splits on feature {split_feature}, the model has {features}"
                        )));
                    }
                    Node::Split {
                        feature: split_feature,
                        value: value[i],
                        left: child(left[i])?,
                        right: child(right[i])?,
                    }
                };
                tree.push(node);
            }
            trees.push(tree);
        }
        if subsample < 2 {
            return Err(bad(format!("subsample {subsample} is below 2")));
        }
        Ok(IsolationForest {
            trees,
            subsample,
            features,
            threshold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// A 2-D Gaussian-ish cloud of 500 points around the origin plus far outliers, seeded.
    fn data(outliers: &[[f64; 2]]) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut rows: Vec<f64> = Vec::new();
        for _ in 0..500 {
            // Sum of uniforms: roughly normal, no extra dependency.
            let x: f64 = (0..6).map(|_| rng.random_range(-1.0..1.0)).sum();
            let y: f64 = (0..6).map(|_| rng.random_range(-1.0..1.0)).sum();
            rows.extend([x, y]);
        }
        for point in outliers {
            rows.extend(point);
        }
        Array2::from_shape_vec((rows.len() / 2, 2), rows).expect("shape")
    }

    #[test]
    fn average_path_length_matches_the_definition() {
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // 2 (ln 255 + γ) − 2·255/256 = 10.2448...
        assert!(
            (average_path_length(256) - 10.2448).abs() < 1e-3,
            "{}",
            average_path_length(256)
        );
    }

    #[test]
    fn far_points_score_high_and_the_cloud_low() {
        let data = data(&[[15.0, 15.0], [-14.0, 12.0]]);
        let forest =
            IsolationForest::fit(data.view(), &IsolationForestConfig::default()).expect("fits");
        let scores = forest.score(data.view()).expect("scores");
        let outliers = &scores[500..];
        let cloud_median = {
            let mut cloud = scores[..500].to_vec();
            cloud.sort_by(f64::total_cmp);
            cloud[250]
        };
        assert!(outliers.iter().all(|s| *s > 0.7), "{outliers:?}");
        assert!(cloud_median < 0.5, "{cloud_median}");
        assert!(scores.iter().all(|s| *s > 0.0 && *s <= 1.0));
        assert!(outliers.iter().all(|s| *s >= forest.threshold()));
        let flagged = scores.iter().filter(|s| **s >= forest.threshold()).count();
        assert!(
            (4..=8).contains(&flagged),
            "about 1% of 502 rows: {flagged}"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_forest_and_another_seed_another() {
        let data = data(&[]);
        let config = IsolationForestConfig {
            seed: 3,
            ..Default::default()
        };
        let a = IsolationForest::fit(data.view(), &config).expect("fits");
        let b = IsolationForest::fit(data.view(), &config).expect("fits");
        assert_eq!(a, b);
        let c = IsolationForest::fit(data.view(), &IsolationForestConfig { seed: 4, ..config })
            .expect("fits");
        assert_ne!(a, c);
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let mut data = data(&[]);
        data[(3, 1)] = f64::NAN;
        let error =
            IsolationForest::fit(data.view(), &IsolationForestConfig::default()).expect_err("NaN");
        assert!(
            matches!(error, FitError::NotFinite { row: 3, column: 1 }),
            "{error}"
        );
        let empty = Array2::<f64>::zeros((0, 2));
        assert!(IsolationForest::fit(empty.view(), &IsolationForestConfig::default()).is_err());
        let good = self::data(&[]);
        let forest =
            IsolationForest::fit(good.view(), &IsolationForestConfig::default()).expect("fits");
        let wide = Array2::<f64>::zeros((2, 3));
        assert!(forest
            .score(wide.view())
            .expect_err("3 columns")
            .to_string()
            .contains("2 features"));
    }

    #[test]
    fn tensors_round_trip_and_damaged_indices_are_errors() {
        let data = data(&[[15.0, 15.0]]);
        let forest =
            IsolationForest::fit(data.view(), &IsolationForestConfig::default()).expect("fits");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("f.safetensors");
        let tensors = forest.to_tensors();
        let bytes = safetensors_bytes(&tensors).expect("serializes");
        std::fs::write(&path, &bytes).expect("writes");
        let weights = Weights::parse(&path, &bytes).expect("parses");
        let back =
            IsolationForest::from_weights(&weights, 2, forest.subsample(), forest.threshold())
                .expect("loads");
        assert_eq!(back, forest);
        let error = IsolationForest::from_weights(&weights, 1, 256, 0.5).expect_err("1 feature");
        assert!(error.to_string().contains("the model has 1"), "{error}");

        let mut damaged = tensors.clone();
        let nodes = forest.trees.iter().map(Vec::len).sum::<usize>();
        damaged.insert("left".into(), Tensor::i64(vec![nodes], &vec![0; nodes]));
        let bytes = safetensors_bytes(&damaged).expect("serializes");
        let weights = Weights::parse(&path, &bytes).expect("parses");
        let error = IsolationForest::from_weights(&weights, 2, 256, 0.5).expect_err("cycle");
        assert!(error.to_string().contains("out of its tree"), "{error}");
    }
}
