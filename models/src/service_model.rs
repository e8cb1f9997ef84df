//! A learned detector over per-service feature rows: per-service standard scaling in front of
//! an IsolationForest, with everything needed to save, reload and judge it.
//!
//! One forest serves every service: scaling by each service's own mean and spread turns "how
//! is this row" into "how far is this row from this service's normal", which is comparable
//! across services, so a fleet of hundreds of services needs one model file, not hundreds.
//! A service the model never saw has no scaler and is left to the robust detector.
//!
//! A forest can only split on what varied in training: a feature that was constant (an error
//! rate that stayed 0 all month) is invisible to it. That is one reason the job combines the
//! forest with the robust detector, whose spread floors judge such a feature's first move.
//! The other is that a forest saturates at the edge of its training range: a value 25 spreads
//! out scores about like the most extreme training values, where the robust z-score keeps
//! growing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::drift::Histogram;
use crate::error::{FitError, ModelFileError};
use crate::iforest::{IsolationForest, IsolationForestConfig};
use crate::model_file::{self, ModelKind, ModelMetadata, TrainingInfo};
use crate::scaler::StandardScaler;

/// Rows a service needs in training before the model learns its normal.
pub const MIN_ROWS_PER_SERVICE: usize = 10;

/// Bins of the drift reference histograms.
const DRIFT_BINS: usize = 10;

/// One training row: a service and its feature values (NaN = missing).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingRow {
    /// Service.
    pub service: String,
    /// The row's position in its series: its minute in the job (minutes since the epoch),
    /// the row number in a dataset without time. The LSTM restarts its scoring state by it;
    /// the forest ignores it.
    pub step: i64,
    /// Values in the model's feature order.
    pub values: Vec<f64>,
}

/// The number of distinct services among `rows`.
pub fn service_count(rows: &[TrainingRow]) -> usize {
    let services: std::collections::HashSet<&str> =
        rows.iter().map(|r| r.service.as_str()).collect();
    services.len()
}

/// A model's judgement of one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelScore {
    /// The forest's score, in (0, 1].
    pub raw: f64,
    /// `raw` mapped so the threshold sits at 0.5 (comparable across detectors).
    pub normalized: f64,
    /// Whether `raw` reaches the threshold.
    pub anomalous: bool,
    /// The input that lies furthest from the service's normal (an index into the features).
    pub top_feature: usize,
}

/// Maps a raw score to 0..1 with `threshold` at 0.5, piecewise linearly, keeping order.
pub fn normalize(raw: f64, threshold: f64) -> f64 {
    let threshold = threshold.clamp(1e-9, 1.0 - 1e-9);
    if raw < threshold {
        0.5 * raw.max(0.0) / threshold
    } else {
        0.5 + 0.5 * ((raw - threshold) / (1.0 - threshold)).min(1.0)
    }
}

/// Each input's PSI on `rows` (scaled by their services' scalers in `metadata`; rows of
/// services it does not know are skipped) against its training reference, in feature order.
/// Inputs without a value in `rows` are left out.
pub fn drift_of(metadata: &ModelMetadata, rows: &[TrainingRow]) -> Vec<(String, f64)> {
    let mut columns = vec![Vec::new(); metadata.features.len()];
    let mut scaled = vec![0.0; metadata.features.len()];
    for row in rows {
        if let Some(scaler) = metadata.scalers.get(&row.service) {
            scaler.transform_into(&row.values, &mut scaled);
            for (column, value) in columns.iter_mut().zip(&scaled) {
                column.push(*value);
            }
        }
    }
    metadata
        .reference
        .iter()
        .zip(&columns)
        .filter_map(|(histogram, column)| Some((histogram.feature.clone(), histogram.psi(column)?)))
        .collect()
}

/// Scaling, forest and metadata together.
#[derive(Debug, Clone)]
pub struct ServiceModel {
    metadata: ModelMetadata,
    forest: IsolationForest,
}

/// Scales rows by their service's scaler; rows of services with too few rows are dropped.
pub(crate) fn scale_rows(
    rows: &[TrainingRow],
    floors: &[f64],
) -> (BTreeMap<String, StandardScaler>, Vec<f64>) {
    let mut by_service: HashMap<&str, Vec<&[f64]>> = HashMap::new();
    for row in rows {
        by_service
            .entry(row.service.as_str())
            .or_default()
            .push(&row.values);
    }
    let scalers: BTreeMap<String, StandardScaler> = by_service
        .iter()
        .filter(|(_, values)| values.len() >= MIN_ROWS_PER_SERVICE)
        .map(|(service, values)| {
            let scaler = StandardScaler::fit(values.iter().copied(), floors);
            (service.to_string(), scaler)
        })
        .collect();
    let mut scaled = Vec::new();
    let mut out = vec![0.0; floors.len()];
    for row in rows {
        if let Some(scaler) = scalers.get(&row.service) {
            scaler.transform_into(&row.values, &mut out);
            scaled.extend_from_slice(&out);
        }
    }
    (scalers, scaled)
}

/// Scales `values` by `service`'s scaler in `metadata` into `out`; `None` for a service
/// without one.
pub(crate) fn scale_for(
    metadata: &ModelMetadata,
    service: &str,
    values: &[f64],
    out: &mut Vec<f64>,
) -> Option<()> {
    let scaler = metadata.scalers.get(service)?;
    out.resize(values.len(), 0.0);
    scaler.transform_into(values, out);
    Some(())
}

/// The drift reference of each feature from the scaled training matrix (row-major).
pub(crate) fn reference_histograms(features: &[String], scaled: &[f64]) -> Vec<Histogram> {
    let columns = features.len().max(1);
    features
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let column: Vec<f64> = scaled.iter().skip(i).step_by(columns).copied().collect();
            Histogram::fit(name, &column, DRIFT_BINS)
        })
        .collect()
}

pub(crate) fn data_hash(rows: &[TrainingRow]) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for row in rows {
        hasher.update(row.service.as_bytes());
        for value in &row.values {
            hasher.update(&value.to_le_bytes());
        }
    }
    format!("{:016x}", hasher.digest())
}

/// The `q` quantile of `sorted` (ascending; nearest rank); 0 for none.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n => sorted[((n - 1) as f64 * q).round() as usize],
    }
}

impl ServiceModel {
    /// Trains on `rows`. `floors[i]` is feature `i`'s smallest spread in its unit (see
    /// [`StandardScaler::fit`]); `tree_done` is called per tree grown. `training.rows` and
    /// `training.data_hash` are filled in here.
    pub fn train(
        features: Vec<String>,
        floors: &[f64],
        rows: &[TrainingRow],
        config: &IsolationForestConfig,
        mut training: TrainingInfo,
        tree_done: impl FnMut(usize),
    ) -> Result<Self, FitError> {
        if let Some(row) = rows.iter().find(|r| r.values.len() != features.len()) {
            return Err(FitError::Config(format!(
                "a row of {} has {} values for {} features",
                row.service,
                row.values.len(),
                features.len()
            )));
        }
        let (scalers, scaled) = scale_rows(rows, floors);
        let columns = features.len();
        let matrix = Array2::from_shape_vec((scaled.len() / columns.max(1), columns), scaled)
            .map_err(|e| FitError::Config(e.to_string()))?;
        if matrix.nrows() == 0 {
            return Err(FitError::Config(format!(
                "no service has {MIN_ROWS_PER_SERVICE} rows in the training range ({} rows in all)",
                rows.len()
            )));
        }
        let forest = IsolationForest::fit_with_progress(matrix.view(), config, tree_done)?;
        let mut scores = forest.score(matrix.view())?;
        scores.sort_by(f64::total_cmp);
        let flagged = scores.iter().filter(|s| **s >= forest.threshold()).count();
        let reference = reference_histograms(&features, matrix.as_slice().unwrap_or_default());
        training.rows = matrix.nrows();
        training.data_hash = data_hash(rows);
        let metadata = ModelMetadata {
            threshold: forest.threshold(),
            params: BTreeMap::from([
                ("trees".into(), config.trees as f64),
                ("subsample".into(), forest.subsample() as f64),
                ("contamination".into(), config.contamination),
            ]),
            evaluation: BTreeMap::from([
                ("services".into(), scalers.len() as f64),
                (
                    "training_flagged_share".into(),
                    flagged as f64 / scores.len() as f64,
                ),
                ("training_score_p50".into(), quantile(&scores, 0.5)),
                ("training_score_p99".into(), quantile(&scores, 0.99)),
            ]),
            scalers,
            reference,
            ..ModelMetadata::unwritten(ModelKind::IsolationForest, features, config.seed, training)
        };
        Ok(ServiceModel { metadata, forest })
    }

    /// Writes the model as the next version in `dir`, stamped `created_at` (RFC 3339).
    pub fn save(&mut self, dir: &Path, created_at: String) -> Result<PathBuf, ModelFileError> {
        self.metadata.created_at = created_at;
        model_file::write(dir, &mut self.metadata, self.forest.to_tensors())
    }

    /// Loads a model file, checking that it is an IsolationForest whose features are all in
    /// `known_features` (the inputs the caller can supply) and whose weights fit them.
    pub fn load(json_path: &Path, known_features: &[&str]) -> Result<Self, ModelFileError> {
        let (metadata, weights) =
            model_file::read_kind(json_path, ModelKind::IsolationForest, known_features)?;
        let subsample = metadata.params.get("subsample").copied().unwrap_or(0.0) as usize;
        let forest = IsolationForest::from_weights(
            &weights,
            metadata.features.len(),
            subsample,
            metadata.threshold,
        )?;
        Ok(ServiceModel { metadata, forest })
    }

    /// Each input's PSI on `rows` (scaled by their services' scalers; rows of services the
    /// model does not know are skipped) against the training reference, in feature order.
    /// Inputs without a value in `rows` are left out.
    pub fn drift(&self, rows: &[TrainingRow]) -> Vec<(String, f64)> {
        drift_of(&self.metadata, rows)
    }

    /// The metadata.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Scales `values` (in feature order) into `scratch`; `None` for a service the model has
    /// no scaler for.
    pub fn scale(&self, service: &str, values: &[f64], scratch: &mut Vec<f64>) -> Option<()> {
        scale_for(&self.metadata, service, values, scratch)
    }

    /// Judges one row of `service`; `None` for a service the model has no scaler for.
    pub fn score(
        &self,
        service: &str,
        values: &[f64],
        scratch: &mut Vec<f64>,
    ) -> Option<ModelScore> {
        self.scale(service, values, scratch)?;
        let raw = self.forest.score_one(scratch)?;
        let top_feature = scratch
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map_or(0, |(i, _)| i);
        Some(ModelScore {
            raw,
            normalized: normalize(raw, self.forest.threshold()),
            anomalous: raw >= self.forest.threshold(),
            top_feature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Two services at very different scales, both steady.
    fn rows(seed: u64) -> Vec<TrainingRow> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..400)
            .flat_map(|step| {
                let fast = vec![
                    5.0 + rng.random_range(-1.0..1.0),
                    rng.random_range(0.0..0.01),
                ];
                let slow = vec![
                    500.0 + rng.random_range(-50.0..50.0),
                    rng.random_range(0.0..0.02),
                ];
                [
                    TrainingRow {
                        service: "fast".into(),
                        step,
                        values: fast,
                    },
                    TrainingRow {
                        service: "slow".into(),
                        step,
                        values: slow,
                    },
                ]
            })
            .collect()
    }

    fn info() -> TrainingInfo {
        TrainingInfo::new("test", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")
    }

    fn train() -> ServiceModel {
        let features = vec!["latency".to_string(), "errors".to_string()];
        ServiceModel::train(
            features,
            &[1.0, 0.02],
            &rows(1),
            &Default::default(),
            info(),
            |_| {},
        )
        .expect("trains")
    }

    #[test]
    fn each_service_is_judged_against_its_own_normal() {
        let model = train();
        let mut scratch = Vec::new();
        let normal_slow = model
            .score("slow", &[510.0, 0.01], &mut scratch)
            .expect("known");
        assert!(!normal_slow.anomalous, "{normal_slow:?}");
        // 60 ms is nothing for `slow` but twelve times `fast`'s normal.
        let slow_fast = model
            .score("fast", &[60.0, 0.0], &mut scratch)
            .expect("known");
        assert!(
            slow_fast.anomalous && slow_fast.normalized > 0.5,
            "{slow_fast:?}"
        );
        assert_eq!(slow_fast.top_feature, 0);
        // A forest saturates at the edge of the training range: an error rate 25 spreads out
        // scores like the highest error rates seen in training, above normal but not
        // necessarily over the threshold. The robust detector covers that case in the job.
        let failing = model
            .score("slow", &[500.0, 0.5], &mut scratch)
            .expect("known");
        assert!(failing.raw > normal_slow.raw, "{failing:?} {normal_slow:?}");
        assert_eq!(failing.top_feature, 1);
        assert!(model.score("unknown", &[1.0, 0.0], &mut scratch).is_none());
        assert_eq!(model.metadata().training.rows, 800);
    }

    #[test]
    fn a_saved_model_loads_equal_and_mismatches_are_named() {
        let dir = tempfile::tempdir().expect("dir");
        let mut model = train();
        let path = model
            .save(dir.path(), "2026-01-02T00:00:00Z".into())
            .expect("saves");
        let loaded = ServiceModel::load(&path, &["errors", "latency", "cpu"]).expect("loads");
        let mut scratch = Vec::new();
        for values in [[5.0, 0.0], [60.0, 0.0], [5.0, 0.3]] {
            assert_eq!(
                loaded.score("fast", &values, &mut scratch),
                model.score("fast", &values, &mut scratch)
            );
        }
        let error = ServiceModel::load(&path, &["latency"]).expect_err("errors unknown");
        assert!(error.to_string().contains("[\"errors\"]"), "{error}");
    }

    #[test]
    fn drift_is_small_on_fresh_data_of_the_same_kind_and_large_after_a_shift() {
        let model = train();
        let fresh = rows(2);
        let drift = model.drift(&fresh);
        assert_eq!(drift.len(), 2);
        assert!(drift.iter().all(|(_, psi)| *psi < 0.1), "{drift:?}");
        let slower: Vec<TrainingRow> = fresh
            .into_iter()
            .map(|mut row| {
                row.values[0] *= 1.5;
                row
            })
            .collect();
        let drift = model.drift(&slower);
        assert!(drift[0].1 > 0.2 && drift[1].1 < 0.1, "{drift:?}");
    }

    #[test]
    fn the_same_seed_and_data_give_the_same_hash_and_threshold() {
        let (a, b) = (train(), train());
        assert_eq!(
            a.metadata().training.data_hash,
            b.metadata().training.data_hash
        );
        assert_eq!(a.metadata().threshold, b.metadata().threshold);
        assert!((0.0..0.05).contains(&a.metadata().evaluation["training_flagged_share"]));
    }

    #[test]
    fn normalize_puts_the_threshold_at_one_half_and_keeps_order() {
        assert_eq!(normalize(0.6, 0.6), 0.5);
        assert!(normalize(0.3, 0.6) < normalize(0.59, 0.6));
        assert!(normalize(0.61, 0.6) > 0.5);
        assert_eq!(normalize(1.0, 0.6), 1.0);
    }
}
