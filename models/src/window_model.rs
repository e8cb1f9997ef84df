//! The window-neighbour detector as a model file: per-service scaling in front of
//! [`Neighbours`] over two-row windows, with what the job needs to save, reload and score it.
//!
//! As with the forest, one model serves every service: each service's rows are scaled by its
//! own mean and spread, and the windows of all services are pooled, so a row is judged by how
//! its (previous minute, minute) pair compares with the pairs every service made in training.
//! Windows are taken only between consecutive steps of one service: a service that stopped
//! reporting for a while does not teach the model the jump across the gap. Scoring needs the
//! service's previous row; the caller keeps it (the job: per service, the last scaled row and
//! its minute), and a row without its predecessor is not scored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{FitError, ModelFileError};
use crate::model_file::{self, ModelKind, ModelMetadata, TrainingInfo};
use crate::neighbours::{mean_of, NeighbourConfig, Neighbours};
use crate::sequence_model::rule_params;
use crate::service_model::{
    data_hash, quantile, reference_histograms, scale_for, scale_rows, ModelScore, TrainingRow,
};
use crate::threshold::ThresholdRule;

/// Rows in a window: the previous minute and this one.
pub const WINDOW: usize = 2;

/// The window-neighbour detector with its scaling and metadata.
#[derive(Debug)]
pub struct WindowModel {
    metadata: ModelMetadata,
    neighbours: Neighbours<WINDOW>,
}

/// Each service's scaled rows (`scaled`: [`scale_rows`]' matrix, one row per row of a service
/// with a scaler, in `rows`' order) split into runs of consecutive steps, services in name
/// order.
fn runs_by_service<'a>(
    rows: &[TrainingRow],
    scalers: &BTreeMap<String, crate::scaler::StandardScaler>,
    scaled: &'a [f64],
) -> Vec<Vec<&'a [f64]>> {
    let width = rows.first().map_or(0, |r| r.values.len()).max(1);
    let mut series: BTreeMap<&str, Vec<(i64, &[f64])>> = BTreeMap::new();
    let kept = rows.iter().filter(|r| scalers.contains_key(&r.service));
    for (row, values) in kept.zip(scaled.chunks_exact(width)) {
        series
            .entry(row.service.as_str())
            .or_default()
            .push((row.step, values));
    }
    let mut runs = Vec::new();
    for mut steps in series.into_values() {
        steps.sort_by_key(|(step, _)| *step);
        let mut run = Vec::new();
        let mut last_step = None;
        for (step, values) in steps {
            if last_step.is_some_and(|last: i64| step != last + 1) {
                runs.push(std::mem::take(&mut run));
            }
            run.push(values);
            last_step = Some(step);
        }
        runs.push(run);
    }
    runs
}

/// Maps a raw score (0 and up) to 0..1 with `threshold` at 0.5, keeping order.
fn normalize(raw: f64, threshold: f64) -> f64 {
    let raw = raw.max(0.0);
    raw / (raw + threshold.max(1e-9))
}

impl WindowModel {
    /// Trains on `rows` (any order; each service's rows are ordered by step). `floors[i]` is
    /// feature `i`'s smallest spread in its unit (see [`crate::scaler::StandardScaler::fit`]).
    /// `training.rows` and `training.data_hash` are filled in here.
    /// The threshold is `rule`'s choice among the training rows' own scores (each against the
    /// others), not `config.contamination`'s quantile.
    pub fn train(
        features: Vec<String>,
        floors: &[f64],
        rows: &[TrainingRow],
        config: NeighbourConfig,
        rule: ThresholdRule,
        mut training: TrainingInfo,
    ) -> Result<Self, FitError> {
        rule.validate()?;
        if let Some(row) = rows.iter().find(|r| r.values.len() != features.len()) {
            return Err(FitError::Config(format!(
                "a row of {} has {} values for {} features",
                row.service,
                row.values.len(),
                features.len()
            )));
        }
        let (scalers, scaled) = scale_rows(rows, floors);
        let runs = runs_by_service(rows, &scalers, &scaled);
        let borrowed: Vec<&[&[f64]]> = runs.iter().map(Vec::as_slice).collect();
        let (neighbours, own) = Neighbours::<WINDOW>::fit_scored(&borrowed, config)
            .map_err(|e| FitError::Config(e.to_string()))?;
        let chosen = rule.choose(&own);
        let neighbours = neighbours.with_threshold(chosen.threshold);
        let flagged = own.iter().filter(|s| neighbours.is_anomalous(**s)).count();
        training.rows = own.len();
        training.data_hash = data_hash(rows);
        let metadata = ModelMetadata {
            threshold: neighbours.threshold(),
            params: rule_params(rule)
                .into_iter()
                .chain([
                    ("window".into(), WINDOW as f64),
                    ("neighbours".into(), config.neighbours as f64),
                    ("reference_quantile".into(), config.reference_quantile),
                    ("floor".into(), config.floor),
                ])
                .collect(),
            evaluation: BTreeMap::from([
                ("services".into(), scalers.len() as f64),
                ("runs".into(), runs.len() as f64),
                (
                    "threshold_from_tail".into(),
                    f64::from(u8::from(chosen.from_tail)),
                ),
                (
                    "training_flagged_share".into(),
                    flagged as f64 / own.len().max(1) as f64,
                ),
                ("training_score_p50".into(), quantile(&own, 0.5)),
                ("training_score_p99".into(), quantile(&own, 0.99)),
            ]),
            reference: reference_histograms(&features, &scaled),
            scalers,
            ..ModelMetadata::unwritten(ModelKind::Neighbours, features, 0, training)
        };
        Ok(WindowModel {
            metadata,
            neighbours,
        })
    }

    /// Writes the model as the next version in `dir`, stamped `created_at` (RFC 3339).
    pub fn save(&mut self, dir: &Path, created_at: String) -> Result<PathBuf, ModelFileError> {
        self.metadata.created_at = created_at;
        model_file::write(dir, &mut self.metadata, self.neighbours.to_tensors())
    }

    /// Loads a model file, checking that it is a window-neighbour model over two-row windows
    /// whose features are all in `known_features` and whose weights fit them.
    pub fn load(json_path: &Path, known_features: &[&str]) -> Result<Self, ModelFileError> {
        let (metadata, weights) =
            model_file::read_kind(json_path, ModelKind::Neighbours, known_features)?;
        let param = |name: &str| {
            metadata.params.get(name).copied().ok_or_else(|| {
                ModelFileError::mismatch(json_path, format!("setting `{name}` is missing"))
            })
        };
        let window = param("window")?;
        if window != WINDOW as f64 {
            return Err(ModelFileError::mismatch(
                json_path,
                format!("windows of {window} rows; this build scores windows of {WINDOW}"),
            ));
        }
        let config = NeighbourConfig {
            neighbours: param("neighbours")? as usize,
            reference_quantile: param("reference_quantile")?,
            floor: param("floor")?,
            contamination: param("contamination")?,
        };
        let features = metadata.features.len();
        let neighbours = Neighbours::from_weights(&weights, features, config, metadata.threshold)?;
        Ok(WindowModel {
            metadata,
            neighbours,
        })
    }

    /// The metadata.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Scales `values` (in feature order) into `out`; `None` for a service the model has no
    /// scaler for.
    pub fn scale(&self, service: &str, values: &[f64], out: &mut Vec<f64>) -> Option<()> {
        scale_for(&self.metadata, service, values, out)
    }

    /// Judges a row of a service from its scaled `previous` row and its own scaled row (both
    /// from [`WindowModel::scale`]).
    pub fn score(&self, previous: &[f64], scaled: &[f64]) -> ModelScore {
        let per_metric = self.neighbours.metric_scores(&[previous, scaled]);
        let raw = mean_of(&per_metric);
        let top_feature = per_metric
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, (*s)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0, |(i, _)| i);
        ModelScore {
            raw,
            normalized: normalize(raw, self.neighbours.threshold()),
            anomalous: self.neighbours.is_anomalous(raw),
            top_feature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Two services at very different scales, steady with noise; the fast one misses steps
    /// 200..210, so its rows make two runs.
    fn rows(seed: u64) -> Vec<TrainingRow> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..400)
            .flat_map(|step| {
                let fast = vec![
                    5.0 + rng.random_range(-1.0..1.0),
                    rng.random_range(0.0..0.1),
                ];
                let slow = vec![500.0 + rng.random_range(-50.0..50.0), 3.0];
                [("fast", fast), ("slow", slow)]
                    .into_iter()
                    .filter(move |(service, _)| !(*service == "fast" && (200..210).contains(&step)))
                    .map(move |(service, values)| TrainingRow {
                        service: service.to_string(),
                        step,
                        values,
                    })
            })
            .collect()
    }

    fn info() -> TrainingInfo {
        TrainingInfo::new("test", "a", "b")
    }

    fn train() -> WindowModel {
        let features = vec!["latency".to_string(), "errors".to_string()];
        let rule = ThresholdRule::Contamination(0.01);
        let config = NeighbourConfig::default();
        WindowModel::train(features, &[0.01, 0.01], &rows(1), config, rule, info()).expect("trains")
    }

    fn judge(model: &WindowModel, service: &str, previous: &[f64], now: &[f64]) -> ModelScore {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        model
            .scale(service, previous, &mut a)
            .expect("known service");
        model.scale(service, now, &mut b).expect("known service");
        model.score(&a, &b)
    }

    #[test]
    fn each_service_is_judged_against_its_own_normal() {
        let model = train();
        // 500 is the slow service's normal and far outside the fast one's.
        assert!(!judge(&model, "slow", &[500.0, 3.0], &[505.0, 3.0]).anomalous);
        let jump = judge(&model, "fast", &[5.0, 0.05], &[500.0, 0.05]);
        assert!(jump.anomalous && jump.normalized > 0.9, "{jump:?}");
        assert_eq!(jump.top_feature, 0);
        assert!(judge(&model, "fast", &[5.0, 0.05], &[5.2, 0.05]).normalized < 0.5);
        let mut out = Vec::new();
        assert_eq!(model.scale("unknown", &[1.0, 1.0], &mut out), None);
        // Rows of both services, less the first window of each run (3 runs).
        assert_eq!(model.metadata().training.rows, 790 - 3);
    }

    #[test]
    fn a_saved_model_loads_equal_and_mismatches_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut model = train();
        let path = model.save(dir.path(), "now".into()).expect("saves");
        let loaded = WindowModel::load(&path, &["latency", "errors"]).expect("loads");
        assert_eq!(loaded.metadata().threshold, model.metadata().threshold);
        for (a, b) in [
            ([5.0, 0.05], [7.0, 0.08]),
            ([5.0, 0.05], [5.1, 0.04]),
            ([4.0, 0.0], [60.0, 1.0]),
        ] {
            assert_eq!(
                judge(&loaded, "fast", &a, &b),
                judge(&model, "fast", &a, &b)
            );
        }
        let error = WindowModel::load(&path, &["latency"]).expect_err("unknown feature");
        assert!(error.to_string().contains("errors"), "{error}");
    }

    #[test]
    fn an_alarm_budget_sets_the_threshold_by_a_tail_fit_beyond_the_quantile() {
        let features = vec!["latency".to_string(), "errors".to_string()];
        let config = NeighbourConfig::default();
        // One alarm an hour over 2 services: a risk of 1/120 per row.
        let rule = ThresholdRule::for_alarm_budget(1.0, 2, 0.01);
        let model = WindowModel::train(features, &[0.01, 0.01], &rows(1), config, rule, info())
            .expect("trains");
        let metadata = model.metadata();
        assert_eq!(metadata.evaluation["threshold_from_tail"], 1.0);
        assert!((metadata.params["risk"] - 1.0 / 120.0).abs() < 1e-12);
        let share = metadata.evaluation["training_flagged_share"];
        assert!(share > 0.0 && share < 0.02, "{share}");
    }

    #[test]
    fn normalize_puts_the_threshold_at_one_half_and_keeps_order() {
        assert_eq!(normalize(2.0, 2.0), 0.5);
        assert!(normalize(1.0, 2.0) < normalize(3.0, 2.0));
        assert_eq!(normalize(0.0, 0.0), 0.0);
        assert!(normalize(1e9, 2.0) < 1.0);
    }
}
