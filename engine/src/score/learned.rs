//! Learned models in the running job: load the newest model from a directory, score rows with
//! it, pick up new versions without a restart, and measure input drift.
//!
//! The directory is checked every `models.reload_seconds`. A newer version that fails to load
//! (half copied, wrong format version, features this build does not provide) is reported once
//! and skipped; the job keeps scoring with the model it has. A model changes the flags only
//! from the row at which it was loaded on, so a reload is as visible in the data as a config
//! change; the row's `anomaly_score` says which detectors judged it only through its value.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiops_models::drift::DriftWindow;
use aiops_models::lstm::StaggeredState;
use aiops_models::model_file::{ModelKind, ModelMetadata};
use aiops_models::sequence_model::SequenceModel;
use aiops_models::service_model::{ModelScore, ServiceModel};
use aiops_models::window_model::WindowModel;

use super::inputs::{input_reader, model_inputs};
use super::model_watch::ModelWatch;
use crate::config::ModelsConfig;
use crate::features::FeatureRow;
use crate::features::HISTORY_PANES;
use crate::stats::Stats;
use crate::time::{minute_of_us, MINUTE_US};

/// The model kinds the job scores rows with, in the order they are consulted.
pub const KINDS: [ModelKind; 3] = [
    ModelKind::IsolationForest,
    ModelKind::Lstm,
    ModelKind::Neighbours,
];

/// A model of any of the [`KINDS`]. The LSTM carries each service's stream state, the
/// window-neighbour model each service's last scaled row and its minute.
enum Model {
    Forest(ServiceModel),
    Lstm(SequenceModel, HashMap<String, StaggeredState>),
    Neighbours(WindowModel, HashMap<String, (i64, Vec<f64>)>),
}

// The LSTM's scoring state reaches back one row less than its reset period. A restarted job
// replays the last hour's records, and a row's byte-counter rates need the sample before it,
// so the states must reach back less than an hour, with a margin for sparse counters: then
// a restart rebuilds them exactly and rescoring the replayed rows gives the same scores.
const _: () = assert!(aiops_models::lstm::MAX_RESET_PERIOD - 1 <= HISTORY_PANES as usize - 12);

impl Model {
    fn load(kind: ModelKind, path: &Path) -> Result<Model, String> {
        let inputs = model_inputs();
        match kind {
            ModelKind::IsolationForest => ServiceModel::load(path, &inputs).map(Model::Forest),
            ModelKind::Lstm => {
                SequenceModel::load(path, &inputs).map(|m| Model::Lstm(m, HashMap::new()))
            }
            ModelKind::Neighbours => {
                WindowModel::load(path, &inputs).map(|m| Model::Neighbours(m, HashMap::new()))
            }
            // The GNN ranks root causes; the incident tracker loads it, not the detector.
            ModelKind::Gnn => return Err("a gnn model does not score rows".into()),
        }
        .map_err(|e| e.to_string())
    }

    fn metadata(&self) -> &ModelMetadata {
        match self {
            Model::Forest(model) => model.metadata(),
            Model::Lstm(model, _) => model.metadata(),
            Model::Neighbours(model, _) => model.metadata(),
        }
    }

    /// Scores the row of `minute` (minutes since the epoch) of `service`.
    fn score(
        &mut self,
        service: &str,
        minute: i64,
        values: &[f64],
        scaled: &mut Vec<f64>,
    ) -> Option<ModelScore> {
        match self {
            Model::Forest(model) => model.score(service, values, scaled),
            Model::Lstm(model, states) => {
                if !states.contains_key(service) {
                    states.insert(service.to_string(), model.start());
                }
                let state = states.get_mut(service)?;
                model.score(state, service, minute, values, scaled)
            }
            Model::Neighbours(model, last_rows) => {
                model.scale(service, values, scaled)?;
                // A row is judged with the row of the minute before; after a gap it only
                // becomes the next row's predecessor.
                let Some((last_minute, last)) = last_rows.get_mut(service) else {
                    last_rows.insert(service.to_string(), (minute, scaled.clone()));
                    return None;
                };
                let score = (*last_minute == minute - 1).then(|| model.score(last, scaled));
                *last_minute = minute;
                last.clone_from(scaled);
                score
            }
        }
    }
}

/// A loaded model and how to read its inputs.
struct Loaded {
    model: Model,
    readers: Vec<fn(&FeatureRow) -> Option<f64>>,
    /// Input names, as the static names the detector uses.
    names: Vec<&'static str>,
}

/// The models a worker scores with, and recent scaled inputs for drift.
pub struct ModelSlot {
    config: ModelsConfig,
    dir: PathBuf,
    worker: usize,
    stats: Arc<Stats>,
    last_check: Option<Instant>,
    loaded: BTreeMap<ModelKind, Loaded>,
    /// Per kind, the loaded and rejected versions.
    watches: Vec<ModelWatch>,
    /// The first model's scaled inputs of the drift window, as bin counts.
    drift: Option<DriftWindow>,
    drift_minute: i64,
    values: Vec<f64>,
    scaled: Vec<f64>,
}

impl ModelSlot {
    /// A slot watching `dir`; loads nothing until the first row.
    pub fn new(config: ModelsConfig, dir: PathBuf, worker: usize, stats: Arc<Stats>) -> Self {
        ModelSlot {
            config,
            dir,
            worker,
            stats,
            last_check: None,
            loaded: BTreeMap::new(),
            watches: KINDS
                .iter()
                .map(|kind| ModelWatch::new(format!("worker {worker}"), *kind, None))
                .collect(),
            drift: None,
            drift_minute: i64::MIN,
            values: Vec::new(),
            scaled: Vec::new(),
        }
    }

    /// Loads each kind's newest version if it is newer than the current one, when due.
    fn refresh(&mut self) {
        let due = self
            .last_check
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(self.config.reload_seconds));
        if !due {
            return;
        }
        self.last_check = Some(Instant::now());
        for (kind, watch) in KINDS.iter().zip(&mut self.watches) {
            let Some((version, path)) = watch.newer(&self.dir, &self.stats) else {
                continue;
            };
            match load(*kind, &path) {
                Ok(loaded) => {
                    let (worker, path) = (self.worker, path.display());
                    tracing::info!(worker, %path, "scoring with {} v{version}", kind.name());
                    watch.loaded(version, &self.stats);
                    self.loaded.insert(*kind, loaded);
                    self.drift = self.loaded.values().next().map(|first| {
                        let window_us = self.config.drift_window_minutes as i64 * MINUTE_US;
                        DriftWindow::new(first.model.metadata().reference.clone(), window_us)
                    });
                }
                Err(message) => watch.reject(version, &message, &self.stats),
            }
        }
    }

    /// Scores `row` with every loaded model (checking the directory when due): one
    /// (normalized score, input furthest from the service's normal) per model that knows the
    /// service and is past its warm-up.
    pub fn score(&mut self, row: &FeatureRow) -> Vec<(ModelScore, &'static str)> {
        self.refresh();
        let mut verdicts = Vec::with_capacity(self.loaded.len());
        let minute = minute_of_us(row.time_us);
        for (position, loaded) in self.loaded.values_mut().enumerate() {
            self.values.clear();
            self.values.extend(
                loaded
                    .readers
                    .iter()
                    .map(|read| read(row).unwrap_or(f64::NAN)),
            );
            if let Some(score) =
                loaded
                    .model
                    .score(&row.service_key(), minute, &self.values, &mut self.scaled)
            {
                verdicts.push((score, loaded.names[score.top_feature]));
                // Drift is measured on the first model's inputs, against its reference.
                if let (0, Some(drift)) = (position, self.drift.as_mut()) {
                    drift.push(row.time_us, &self.scaled);
                }
            }
        }
        self.publish_drift(row.time_us);
        verdicts
    }

    /// Once per minute, publishes each input's PSI over the drift window.
    fn publish_drift(&mut self, time_us: i64) {
        if time_us <= self.drift_minute {
            return;
        }
        self.drift_minute = time_us;
        if let Some(drift) = &self.drift {
            self.stats.set_drift(self.worker, drift.psi());
        }
    }
}

fn load(kind: ModelKind, path: &Path) -> Result<Loaded, String> {
    let model = Model::load(kind, path)?;
    let inputs = model_inputs();
    let features = &model.metadata().features;
    let readers = features
        .iter()
        .map(|name| input_reader(name).ok_or_else(|| format!("unknown input {name}")))
        .collect::<Result<_, _>>()?;
    let names = features
        .iter()
        .map(|name| {
            inputs
                .iter()
                .copied()
                .find(|i| i == name)
                .ok_or_else(|| format!("unknown input {name}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Loaded {
        model,
        readers,
        names,
    })
}
