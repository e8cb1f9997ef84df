//! The LSTM forecaster as a model file: per-service scaling, the network, a threshold on the
//! forecast error, and streaming scoring with per-service state kept by the caller.
//!
//! Training takes each service's rows in time order as one series (gaps are not filled: the
//! stores hold a row per minute while a service reports). The threshold is the (1 −
//! contamination) quantile of the errors the trained network makes when streamed over the
//! training series, skipping each series' first [`WARM_UP_STEPS`] rows, whose forecasts come
//! from little context; the scoring operator skips them the same way.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor as CandleTensor};

use crate::iforest::FitError;
use crate::lstm::{Forecaster, LstmConfig, StreamState};
use crate::model_file::{self, ModelFileError, ModelKind, ModelMetadata, Tensor, TrainingInfo};
use crate::service_model::{
    data_hash, quantile, reference_histograms, scale_rows, ModelScore, TrainingRow,
};

/// Rows of a series whose forecast errors are not judged (the state is still filling).
pub const WARM_UP_STEPS: usize = 5;

/// An LSTM forecaster with its scaling and metadata.
pub struct SequenceModel {
    metadata: ModelMetadata,
    forecaster: Forecaster,
}

fn config_error(message: String) -> FitError {
    FitError::Config(message)
}

/// Each service's scaled rows, in the order given.
fn series_by_service(
    rows: &[TrainingRow],
    scalers: &BTreeMap<String, crate::scaler::StandardScaler>,
) -> BTreeMap<String, Vec<Vec<f32>>> {
    let mut series: BTreeMap<String, Vec<Vec<f32>>> = BTreeMap::new();
    let mut scaled = Vec::new();
    for row in rows {
        if let Some(scaler) = scalers.get(&row.service) {
            scaled.resize(row.values.len(), 0.0);
            scaler.transform_into(&row.values, &mut scaled);
            let entry = series.entry(row.service.clone()).or_default();
            entry.push(scaled.iter().map(|v| *v as f32).collect());
        }
    }
    series
}

impl SequenceModel {
    /// Trains on `rows` (time order within each service). `epoch_done(epoch, loss)` reports
    /// progress. `training.rows` and `training.data_hash` are filled in here.
    pub fn train(
        features: Vec<String>,
        floors: &[f64],
        rows: &[TrainingRow],
        config: &LstmConfig,
        contamination: f64,
        mut training: TrainingInfo,
        epoch_done: impl FnMut(usize, f64),
    ) -> Result<Self, FitError> {
        if !(0.0..0.5).contains(&contamination) {
            return Err(config_error(format!(
                "contamination {contamination} is not in [0, 0.5)"
            )));
        }
        let (scalers, scaled) = scale_rows(rows, floors);
        let series = series_by_service(rows, &scalers);
        let all: Vec<Vec<Vec<f32>>> = series.values().cloned().collect();
        let mut forecaster =
            Forecaster::new(features.len(), config.hidden, config.layers, config.seed)
                .map_err(config_error)?;
        let loss = forecaster
            .train(&all, config, epoch_done)
            .map_err(config_error)?;
        let mut errors = Vec::new();
        for rows in &all {
            let mut state = forecaster.start().map_err(config_error)?;
            for row in rows {
                let error = forecaster.step(&mut state, row).map_err(config_error)?;
                if state.steps > WARM_UP_STEPS {
                    errors.extend(error);
                }
            }
        }
        errors.sort_by(f64::total_cmp);
        if errors.is_empty() {
            return Err(config_error(
                "no forecast errors to set a threshold from".into(),
            ));
        }
        let rank = ((1.0 - contamination) * (errors.len() - 1) as f64).round() as usize;
        let threshold = errors[rank].max(f64::MIN_POSITIVE);
        let columns = features.len();
        let reference = reference_histograms(&features, &scaled);
        training.rows = scaled.len() / columns.max(1);
        training.data_hash = data_hash(rows);
        let metadata = ModelMetadata {
            threshold,
            params: BTreeMap::from([
                ("hidden".into(), config.hidden as f64),
                ("layers".into(), config.layers as f64),
                ("window".into(), config.window as f64),
                ("epochs".into(), config.epochs as f64),
                ("learning_rate".into(), config.learning_rate),
                ("contamination".into(), contamination),
            ]),
            evaluation: BTreeMap::from([
                ("services".into(), scalers.len() as f64),
                ("final_training_loss".into(), loss),
                ("training_error_p50".into(), quantile(&errors, 0.5)),
                ("training_error_p99".into(), quantile(&errors, 0.99)),
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
        let mut tensors = HashMap::new();
        for name in weights.names() {
            let (shape, values) = weights.f32(name)?;
            let tensor = CandleTensor::from_vec(values, shape, &Device::Cpu)
                .map_err(|e| ModelFileError::corrupt(weights.path(), e))?;
            tensors.insert(name.to_string(), tensor);
        }
        let forecaster = Forecaster::from_tensors(tensors, metadata.features.len(), hidden, layers)
            .map_err(|e| ModelFileError::mismatch(weights.path(), e))?;
        Ok(SequenceModel {
            metadata,
            forecaster,
        })
    }

    /// The metadata.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// A fresh per-service streaming state.
    pub fn start(&self) -> Option<StreamState> {
        self.forecaster.start().ok()
    }

    /// Judges one row of `service` and advances its `state`; `None` for an unknown service,
    /// or during the first [`WARM_UP_STEPS`] rows of a series. `scratch` receives the scaled
    /// inputs.
    pub fn score(
        &self,
        state: &mut StreamState,
        service: &str,
        values: &[f64],
        scratch: &mut Vec<f64>,
    ) -> Option<ModelScore> {
        let scaler = self.metadata.scalers.get(service)?;
        scratch.resize(values.len(), 0.0);
        scaler.transform_into(values, scratch);
        let row: Vec<f32> = scratch.iter().map(|v| *v as f32).collect();
        let (error, top_feature) = self.forecaster.step_with_top(state, &row).ok()??;
        if state.steps <= WARM_UP_STEPS {
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
                        values: vec![10.0 + phase.sin() + noise, 1.0],
                    },
                    TrainingRow {
                        service: "b".into(),
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

    fn info() -> TrainingInfo {
        TrainingInfo {
            source: "test".into(),
            from: String::new(),
            to: String::new(),
            rows: 0,
            data_hash: String::new(),
        }
    }

    #[test]
    fn trains_saves_loads_and_flags_a_break_in_the_pattern() {
        let features = vec!["x".to_string(), "y".to_string()];
        let mut model = SequenceModel::train(
            features,
            &[0.1, 0.1],
            &rows(300, 1),
            &config(),
            0.01,
            info(),
            |_, _| {},
        )
        .expect("trains");
        let dir = tempfile::tempdir().expect("dir");
        let path = model.save(dir.path(), "now".into()).expect("saves");
        assert!(path.ends_with("lstm-v1.json"));
        let loaded = SequenceModel::load(&path, &["x", "y"]).expect("loads");
        assert!(SequenceModel::load(&path, &["x"]).is_err());
        let (mut state, mut scratch) = (loaded.start().expect("state"), Vec::new());
        let mut flagged = 0;
        for row in rows(100, 2).iter().filter(|r| r.service == "a") {
            let score = loaded.score(&mut state, "a", &row.values, &mut scratch);
            flagged += usize::from(score.is_some_and(|s| s.anomalous));
        }
        assert!(flagged <= 5, "{flagged} of 100 normal rows flagged");
        let broken = loaded
            .score(&mut state, "a", &[16.0, 1.0], &mut scratch)
            .expect("scored");
        assert!(broken.anomalous && broken.normalized > 0.9, "{broken:?}");
        assert_eq!(broken.top_feature, 0);
    }
}
