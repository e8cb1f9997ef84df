//! The LSTM forecaster as a model file: per-service scaling, the network, a threshold on the
//! forecast error, and streaming scoring with per-service state kept by the caller.
//!
//! Training takes each service's rows in time order as one series (gaps are not filled: the
//! stores hold a row per minute while a service reports). The threshold comes from the errors
//! the trained network makes when streamed over the training series ([`ThresholdRule`]: a
//! tail fit or a contamination quantile), skipping each series' first [`WARM_UP_STEPS`] rows,
//! whose forecasts come from little context; the scoring operator skips them the same way.
//! Calibration and scoring both run the staggered state ([`StaggeredState`]) keyed by the
//! rows' steps, so the threshold is set on errors made the way the job makes them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor as CandleTensor};

use crate::error::FitError;
use crate::error::ModelFileError;
use crate::lstm::{Forecaster, LstmConfig, StaggeredState, MAX_RESET_PERIOD, MIN_RESET_PERIOD};
use crate::model_file::{self, ModelKind, ModelMetadata, Tensor, TrainingInfo};
use crate::service_model::{
    data_hash, quantile, reference_histograms, scale_rows, ModelScore, TrainingRow,
};
use crate::threshold::ThresholdRule;

/// Rows of a series whose forecast errors are not judged (the state is still filling).
pub const WARM_UP_STEPS: usize = 5;

/// An LSTM forecaster with its scaling and metadata.
pub struct SequenceModel {
    metadata: ModelMetadata,
    forecaster: Forecaster,
}

/// Each service's steps and scaled rows, in the order given; services in name order.
fn series_by_service(
    rows: &[TrainingRow],
    scalers: &BTreeMap<String, crate::scaler::StandardScaler>,
) -> (Vec<Vec<i64>>, Vec<Vec<Vec<f32>>>) {
    let mut series: BTreeMap<&str, (Vec<i64>, Vec<Vec<f32>>)> = BTreeMap::new();
    let mut scaled = Vec::new();
    for row in rows {
        if let Some(scaler) = scalers.get(&row.service) {
            scaled.resize(row.values.len(), 0.0);
            scaler.transform_into(&row.values, &mut scaled);
            let (steps, values) = series.entry(row.service.as_str()).or_default();
            steps.push(row.step);
            values.push(scaled.iter().map(|v| *v as f32).collect());
        }
    }
    series.into_values().unzip()
}

/// The forecast errors the trained network makes streaming over each series (its `steps`
/// and `rows`) with a staggered state of `period`, past each half's warm-up: what the
/// threshold is chosen from.
fn streamed_errors(
    forecaster: &Forecaster,
    steps: &[Vec<i64>],
    rows: &[Vec<Vec<f32>>],
    period: usize,
) -> Result<Vec<f64>, FitError> {
    let mut errors = Vec::new();
    for (steps, rows) in steps.iter().zip(rows) {
        let mut state = StaggeredState::new(period);
        for (step, row) in steps.iter().zip(rows) {
            let (error, seen) = forecaster.step_staggered(&mut state, *step, row)?;
            if seen > WARM_UP_STEPS {
                errors.extend(error.map(|(error, _)| error));
            }
        }
    }
    Ok(errors)
}

/// The rule's settings as model-file parameters (`risk` is absent for a contamination rule).
pub(crate) fn rule_params(rule: ThresholdRule) -> Vec<(String, f64)> {
    match rule {
        ThresholdRule::Contamination(share) => vec![("contamination".into(), share)],
        ThresholdRule::Tail { risk, fallback } => {
            vec![("risk".into(), risk), ("contamination".into(), fallback)]
        }
    }
}

impl SequenceModel {
    /// Trains on `rows` (time order within each service). `epoch_done(epoch, loss)` reports
    /// progress. `training.rows` and `training.data_hash` are filled in here.
    pub fn train(
        features: Vec<String>,
        floors: &[f64],
        rows: &[TrainingRow],
        config: &LstmConfig,
        rule: ThresholdRule,
        mut training: TrainingInfo,
        epoch_done: impl FnMut(usize, f64),
    ) -> Result<Self, FitError> {
        rule.validate()?;
        let (scalers, scaled) = scale_rows(rows, floors);
        let (steps, all) = series_by_service(rows, &scalers);
        let mut forecaster =
            Forecaster::new(features.len(), config.hidden, config.layers, config.seed)?;
        let loss = forecaster.train(&all, config, epoch_done)?;
        let period = config.reset_period();
        let mut errors = streamed_errors(&forecaster, &steps, &all, period)?;
        errors.sort_by(f64::total_cmp);
        if errors.is_empty() {
            return Err(FitError::Config(
                "no forecast errors to set a threshold from".into(),
            ));
        }
        let chosen = rule.choose(&errors);
        let threshold = chosen.threshold.max(f64::MIN_POSITIVE);
        let columns = features.len();
        let reference = reference_histograms(&features, &scaled);
        training.rows = scaled.len() / columns.max(1);
        training.data_hash = data_hash(rows);
        let metadata = ModelMetadata {
            threshold,
            params: [
                ("hidden".into(), config.hidden as f64),
                ("layers".into(), config.layers as f64),
                ("window".into(), config.window as f64),
                ("reset_period".into(), period as f64),
                ("epochs".into(), config.epochs as f64),
                ("learning_rate".into(), config.learning_rate),
            ]
            .into_iter()
            .chain(rule_params(rule))
            .collect(),
            evaluation: BTreeMap::from([
                ("services".into(), scalers.len() as f64),
                ("final_training_loss".into(), loss),
                ("training_error_p50".into(), quantile(&errors, 0.5)),
                ("training_error_p99".into(), quantile(&errors, 0.99)),
                (
                    "threshold_from_tail".into(),
                    f64::from(u8::from(chosen.from_tail)),
                ),
            ]),
            scalers,
            reference,
            ..ModelMetadata::unwritten(ModelKind::Lstm, features, config.seed, training)
        };
        Ok(SequenceModel {
            metadata,
            forecaster,
        })
    }

    /// Writes the model as the next version in `dir`.
    pub fn save(&mut self, dir: &Path, created_at: String) -> Result<PathBuf, ModelFileError> {
        self.metadata.created_at = created_at;
        let layers = self.layers();
        let shapes: HashMap<String, Vec<usize>> =
            self.forecaster.shapes(layers).into_iter().collect();
        let tensors = self
            .forecaster
            .tensors()
            .map_err(|e| ModelFileError::corrupt(dir, e))?
            .into_iter()
            .map(|(name, values)| {
                let shape = shapes
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| vec![values.len()]);
                (name, Tensor::f32(shape, &values))
            })
            .collect();
        model_file::write(dir, &mut self.metadata, tensors)
    }

    fn layers(&self) -> usize {
        self.metadata.params.get("layers").copied().unwrap_or(0.0) as usize
    }

    /// Loads an LSTM model file whose features are all in `known_features`.
    pub fn load(json_path: &Path, known_features: &[&str]) -> Result<Self, ModelFileError> {
        let (metadata, weights) =
            model_file::read_kind(json_path, ModelKind::Lstm, known_features)?;
        let param = |name: &str| metadata.params.get(name).copied().unwrap_or(0.0) as usize;
        let (hidden, layers) = (param("hidden"), param("layers"));
        if hidden == 0 || layers == 0 {
            return Err(ModelFileError::mismatch(
                json_path,
                "params hidden and layers must be positive",
            ));
        }
        let period = metadata.params.get("reset_period").copied();
        if period.is_some_and(|p| !(MIN_RESET_PERIOD..=MAX_RESET_PERIOD).contains(&(p as usize))) {
            return Err(ModelFileError::mismatch(
                json_path,
                format!(
                    "param reset_period must be within {MIN_RESET_PERIOD}..={MAX_RESET_PERIOD}"
                ),
            ));
        }
        let mut tensors = HashMap::new();
        for name in weights.names() {
            let (shape, values) = weights.f32(name)?;
            let tensor = CandleTensor::from_vec(values, shape, &Device::Cpu)
                .map_err(|e| ModelFileError::corrupt(weights.path(), e))?;
            tensors.insert(name.to_string(), tensor);
        }
        let forecaster = Forecaster::from_tensors(tensors, metadata.features.len(), hidden, layers)
            .map_err(|e| ModelFileError::mismatch(weights.path(), e.to_string()))?;
        Ok(SequenceModel {
            metadata,
            forecaster,
        })
    }

    /// The metadata.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// The restart period of the scoring state, in rows (steps). Model files written before
    /// it was recorded get the period their training window implies.
    pub fn reset_period(&self) -> usize {
        let param = |name: &str| self.metadata.params.get(name).copied();
        match param("reset_period") {
            Some(period) => period as usize,
            None => LstmConfig {
                window: param("window").unwrap_or(0.0) as usize,
                ..LstmConfig::default()
            }
            .reset_period(),
        }
    }

    /// A fresh per-service streaming state.
    pub fn start(&self) -> StaggeredState {
        StaggeredState::new(self.reset_period())
    }

    /// Judges the row of `step` (the row's minute in the job) of `service` and advances its
    /// `state`; `None` for an unknown service, or while the judging half of the state has
    /// seen at most [`WARM_UP_STEPS`] rows. `scratch` receives the scaled inputs.
    pub fn score(
        &self,
        state: &mut StaggeredState,
        service: &str,
        step: i64,
        values: &[f64],
        scratch: &mut Vec<f64>,
    ) -> Option<ModelScore> {
        let scaler = self.metadata.scalers.get(service)?;
        scratch.resize(values.len(), 0.0);
        scaler.transform_into(values, scratch);
        let row: Vec<f32> = scratch.iter().map(|v| *v as f32).collect();
        let (judged, seen) = self.forecaster.step_staggered(state, step, &row).ok()?;
        let (error, top_feature) = judged?;
        if seen <= WARM_UP_STEPS {
            return None;
        }
        let threshold = self.metadata.threshold;
        Some(ModelScore {
            raw: error,
            normalized: 1.0 - 0.5f64.powf(error / threshold),
            anomalous: error >= threshold,
            top_feature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Two services with daily-ish cycles at different scales, interleaved in time order.
    fn rows(minutes: usize, seed: u64) -> Vec<TrainingRow> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..minutes)
            .flat_map(|t| {
                let phase = t as f64 * 0.2;
                let noise = rng.random_range(-0.02..0.02);
                [
                    TrainingRow {
                        service: "a".into(),
                        step: t as i64,
                        values: vec![10.0 + phase.sin() + noise, 1.0],
                    },
                    TrainingRow {
                        service: "b".into(),
                        step: t as i64,
                        values: vec![500.0 + 50.0 * phase.cos() + noise, 2.0],
                    },
                ]
            })
            .collect()
    }

    fn config() -> LstmConfig {
        LstmConfig {
            hidden: 16,
            layers: 2,
            window: 30,
            epochs: 15,
            batch: 8,
            learning_rate: 1e-2,
            seed: 9,
        }
    }

    fn trained() -> SequenceModel {
        trained_with(ThresholdRule::Contamination(0.01))
    }

    fn trained_with(rule: ThresholdRule) -> SequenceModel {
        let features = vec!["x".to_string(), "y".to_string()];
        SequenceModel::train(
            features,
            &[0.1, 0.1],
            &rows(300, 1),
            &config(),
            rule,
            info(),
            |_, _| {},
        )
        .expect("trains")
    }

    #[test]
    fn a_tail_threshold_lies_beyond_the_contamination_quantile_and_is_recorded() {
        let by_share = trained();
        let tail = trained_with(ThresholdRule::Tail {
            risk: 1e-4,
            fallback: 0.01,
        });
        let (share, far) = (by_share.metadata(), tail.metadata());
        // The same seed trains the same network: only the rule differs.
        assert_eq!(
            share.evaluation["training_error_p99"],
            far.evaluation["training_error_p99"]
        );
        assert!(
            far.threshold > share.threshold,
            "{} vs {}",
            far.threshold,
            share.threshold
        );
        assert_eq!(far.params["risk"], 1e-4);
        assert_eq!(far.evaluation["threshold_from_tail"], 1.0);
        assert_eq!(share.evaluation["threshold_from_tail"], 0.0);
        assert!(!share.params.contains_key("risk"));
        let bad = SequenceModel::train(
            vec!["x".into(), "y".into()],
            &[0.1, 0.1],
            &rows(100, 1),
            &config(),
            ThresholdRule::Tail {
                risk: 0.2,
                fallback: 0.01,
            },
            info(),
            |_, _| {},
        );
        assert!(bad.is_err_and(|e| e.to_string().contains("risk 0.2")));
    }

    fn info() -> TrainingInfo {
        TrainingInfo::new("test", "", "")
    }

    #[test]
    fn trains_saves_loads_and_flags_a_break_in_the_pattern() {
        let mut model = trained();
        assert_eq!(model.metadata().params["reset_period"], 30.0);
        let dir = tempfile::tempdir().expect("dir");
        let path = model.save(dir.path(), "now".into()).expect("saves");
        assert!(path.ends_with("lstm-v1.json"));
        let loaded = SequenceModel::load(&path, &["x", "y"]).expect("loads");
        assert!(SequenceModel::load(&path, &["x"]).is_err());
        let (mut state, mut scratch) = (loaded.start(), Vec::new());
        let mut flagged = 0;
        for row in rows(100, 2).iter().filter(|r| r.service == "a") {
            let score = loaded.score(&mut state, "a", row.step, &row.values, &mut scratch);
            flagged += usize::from(score.is_some_and(|s| s.anomalous));
        }
        assert!(flagged <= 5, "{flagged} of 100 normal rows flagged");
        let broken = loaded
            .score(&mut state, "a", 100, &[16.0, 1.0], &mut scratch)
            .expect("scored");
        assert!(broken.anomalous && broken.normalized > 0.9, "{broken:?}");
        assert_eq!(broken.top_feature, 0);
    }

    #[test]
    fn a_file_without_a_reset_period_takes_its_window_and_one_out_of_range_is_refused() {
        let mut model = trained();
        let dir = tempfile::tempdir().expect("dir");
        let path = model.save(dir.path(), "now".into()).expect("saves");
        let text = std::fs::read_to_string(&path).expect("reads");
        let mut json: serde_json::Value = serde_json::from_str(&text).expect("json");
        let params = json["params"].as_object_mut().expect("params");
        params.remove("reset_period");
        std::fs::write(&path, json.to_string()).expect("writes");
        let older = SequenceModel::load(&path, &["x", "y"]).expect("a file from before loads");
        assert_eq!(older.reset_period(), 30, "the training window of config()");
        json["params"]["reset_period"] = 100.0.into();
        std::fs::write(&path, json.to_string()).expect("writes");
        let refused = SequenceModel::load(&path, &["x", "y"])
            .err()
            .expect("refused");
        let message = refused.to_string();
        assert!(
            message.contains("reset_period must be within 12..=48"),
            "{message}"
        );
        assert!(message.contains("lstm-v1.json"), "{message}");
    }

    /// Scores of service "a"'s rows of `steps`, streamed from the first of them.
    fn scores_from(
        model: &SequenceModel,
        all: &[TrainingRow],
        steps: std::ops::Range<i64>,
    ) -> Vec<Option<f64>> {
        let (mut state, mut scratch) = (model.start(), Vec::new());
        all.iter()
            .filter(|r| r.service == "a" && steps.contains(&r.step))
            .map(|r| {
                model
                    .score(&mut state, "a", r.step, &r.values, &mut scratch)
                    .map(|s| s.raw)
            })
            .collect()
    }

    #[test]
    fn a_restart_that_replays_one_reset_period_scores_exactly_as_an_uninterrupted_run() {
        let model = trained();
        let period = model.reset_period() as i64;
        let all = rows(400, 3);
        let uninterrupted = scores_from(&model, &all, 0..400);
        // A job restarted at `restart` replays the rows of the period before it, but one:
        // at any minute the judging half started at most `period - 1` rows earlier.
        let replay = period - 1;
        for restart in [104, 119, 130, 149, 237, 374] {
            let replayed = scores_from(&model, &all, restart - replay..400);
            let from = restart as usize;
            assert_eq!(
                replayed[replay as usize..],
                uninterrupted[from..],
                "restart at {restart}"
            );
        }
        // Where the judging half is that old, one row fewer changes the score.
        for restart in [104, 119, 149, 374] {
            let short = scores_from(&model, &all, restart - replay + 1..400);
            let from = restart as usize;
            assert_ne!(
                short[replay as usize - 1],
                uninterrupted[from],
                "restart at {restart}"
            );
        }
        // Every row past the first warm-up is judged: the judging half is never fresh.
        let judged = uninterrupted
            .iter()
            .skip(WARM_UP_STEPS + 1)
            .filter(|s| s.is_some())
            .count();
        assert_eq!(judged, 400 - WARM_UP_STEPS - 1);
    }
}
