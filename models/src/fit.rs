//! Fitting a model of any kind on training rows, written once: `aiops train`, the benchmark
//! crate's evaluations and the benches all call [`fit`].

use std::path::{Path, PathBuf};

use crate::error::{FitError, ModelFileError};
use crate::iforest::IsolationForestConfig;
use crate::lstm::LstmConfig;
use crate::model_file::{ModelKind, ModelMetadata, TrainingInfo};
use crate::neighbours::NeighbourConfig;
use crate::sequence_model::SequenceModel;
use crate::service_model::{ServiceModel, TrainingRow};
use crate::threshold::ThresholdRule;
use crate::window_model::WindowModel;

/// Which model to fit, with its settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModelSpec {
    /// An IsolationForest; its threshold follows the configured contamination.
    IsolationForest(IsolationForestConfig),
    /// The LSTM forecaster, its threshold set by the rule.
    Lstm(LstmConfig, ThresholdRule),
    /// The window-neighbour model, its threshold set by the rule.
    Neighbours(NeighbourConfig, ThresholdRule),
}

impl ModelSpec {
    /// The kind of model this fits.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelSpec::IsolationForest(_) => ModelKind::IsolationForest,
            ModelSpec::Lstm(..) => ModelKind::Lstm,
            ModelSpec::Neighbours(..) => ModelKind::Neighbours,
        }
    }
}

/// The rows a model learns from, and how its file describes them.
#[derive(Debug, Clone, Copy)]
pub struct TrainingSet<'a> {
    /// Input names, in the order of each row's values.
    pub inputs: &'a [String],
    /// Each input's smallest spread, in its unit (see [`crate::scaler::StandardScaler::fit`]).
    pub floors: &'a [f64],
    /// The rows, in time order within each service.
    pub rows: &'a [TrainingRow],
}

/// How a fit is getting on, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Progress {
    /// The forest grew one more tree.
    Tree,
    /// The LSTM finished an epoch with this mean loss.
    Epoch(f64),
}

/// A fitted model of any kind.
pub enum Fitted {
    /// An IsolationForest.
    Forest(ServiceModel),
    /// An LSTM forecaster.
    Lstm(SequenceModel),
    /// A window-neighbour model.
    Neighbours(WindowModel),
}

impl Fitted {
    /// The model's metadata: features, scalers, threshold, training figures.
    pub fn metadata(&self) -> &ModelMetadata {
        match self {
            Fitted::Forest(model) => model.metadata(),
            Fitted::Lstm(model) => model.metadata(),
            Fitted::Neighbours(model) => model.metadata(),
        }
    }

    /// The IsolationForest, if that is what was fitted.
    pub fn into_forest(self) -> Option<ServiceModel> {
        match self {
            Fitted::Forest(model) => Some(model),
            _ => None,
        }
    }

    /// The LSTM forecaster, if that is what was fitted.
    pub fn into_lstm(self) -> Option<SequenceModel> {
        match self {
            Fitted::Lstm(model) => Some(model),
            _ => None,
        }
    }

    /// Writes the model as the next version of its kind in `dir`.
    pub fn save(&mut self, dir: &Path, created_at: String) -> Result<PathBuf, ModelFileError> {
        match self {
            Fitted::Forest(model) => model.save(dir, created_at),
            Fitted::Lstm(model) => model.save(dir, created_at),
            Fitted::Neighbours(model) => model.save(dir, created_at),
        }
    }
}

/// Fits the model `spec` describes on `set`; `training` (source and range) goes into its
/// file, and `progress` hears of every tree or epoch.
pub fn fit(
    spec: &ModelSpec,
    set: TrainingSet<'_>,
    training: TrainingInfo,
    mut progress: impl FnMut(Progress),
) -> Result<Fitted, FitError> {
    let (inputs, floors, rows) = (set.inputs.to_vec(), set.floors, set.rows);
    Ok(match *spec {
        ModelSpec::IsolationForest(config) => {
            let tree_done = |_| progress(Progress::Tree);
            let model = ServiceModel::train(inputs, floors, rows, &config, training, tree_done)?;
            Fitted::Forest(model)
        }
        ModelSpec::Lstm(config, rule) => {
            let epoch_done = |_, loss| progress(Progress::Epoch(loss));
            let model =
                SequenceModel::train(inputs, floors, rows, &config, rule, training, epoch_done)?;
            Fitted::Lstm(model)
        }
        ModelSpec::Neighbours(config, rule) => {
            let model = WindowModel::train(inputs, floors, rows, config, rule, training)?;
            Fitted::Neighbours(model)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two services, 150 minutes each, three inputs moving on a cycle.
    fn rows() -> Vec<TrainingRow> {
        let mut rows = Vec::new();
        for step in 0..150i64 {
            for (index, service) in ["api", "db"].iter().enumerate() {
                let phase = (step as f64 / 10.0 + index as f64).sin();
                rows.push(TrainingRow {
                    service: service.to_string(),
                    step,
                    values: vec![10.0 + phase, 0.01 * (1.0 + phase), 100.0 + 5.0 * phase],
                });
            }
        }
        rows
    }

    fn info() -> TrainingInfo {
        TrainingInfo::new("test", "", "")
    }

    #[test]
    fn every_spec_fits_its_own_kind_and_reports_its_progress() {
        let (rows, inputs) = (rows(), ["rate", "errors", "latency"].map(String::from));
        let set = TrainingSet {
            inputs: &inputs,
            floors: &[0.1, 0.01, 1.0],
            rows: &rows,
        };
        let forest = IsolationForestConfig {
            trees: 7,
            ..Default::default()
        };
        let lstm = LstmConfig {
            hidden: 4,
            layers: 1,
            window: 20,
            epochs: 3,
            ..Default::default()
        };
        let rule = ThresholdRule::Contamination(0.01);
        let specs = [
            (ModelSpec::IsolationForest(forest), vec![Progress::Tree; 7]),
            (ModelSpec::Lstm(lstm, rule), vec![]),
            (
                ModelSpec::Neighbours(NeighbourConfig::default(), rule),
                vec![],
            ),
        ];
        for (spec, expected) in specs {
            let mut heard = Vec::new();
            let fitted = fit(&spec, set, info(), |p| heard.push(p)).expect("fits");
            assert_eq!(fitted.metadata().kind, spec.kind());
            assert_eq!(fitted.metadata().features, inputs.to_vec());
            assert_eq!(fitted.metadata().scalers.len(), 2, "a scaler per service");
            match spec {
                ModelSpec::Lstm(..) => {
                    assert_eq!(heard.len(), 3);
                    assert!(heard
                        .iter()
                        .all(|p| matches!(p, Progress::Epoch(l) if l.is_finite())));
                }
                _ => assert_eq!(heard, expected),
            }
        }
    }

    #[test]
    fn a_fitted_model_unwraps_only_as_its_own_kind() {
        let (rows, inputs) = (rows(), ["rate", "errors", "latency"].map(String::from));
        let set = TrainingSet {
            inputs: &inputs,
            floors: &[0.1, 0.01, 1.0],
            rows: &rows,
        };
        let forest = ModelSpec::IsolationForest(IsolationForestConfig::default());
        let fitted = fit(&forest, set, info(), |_| {}).expect("fits");
        assert!(fitted.into_lstm().is_none());
        let fitted = fit(&forest, set, info(), |_| {}).expect("fits");
        assert!(fitted.into_forest().is_some());
    }

    #[test]
    fn a_bad_setting_is_an_error_not_a_panic() {
        let (rows, inputs) = (rows(), ["rate", "errors", "latency"].map(String::from));
        let set = TrainingSet {
            inputs: &inputs,
            floors: &[0.1, 0.01, 1.0],
            rows: &rows,
        };
        let bad = ModelSpec::Neighbours(
            NeighbourConfig::default(),
            ThresholdRule::Contamination(0.7),
        );
        let error = fit(&bad, set, info(), |_| {}).err().expect("refused");
        assert!(error.to_string().contains("contamination 0.7"), "{error}");
    }
}
