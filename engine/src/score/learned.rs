//! Learned models in the running job: load the newest model from a directory, score rows with
//! it, pick up new versions without a restart, and measure input drift.
//!
//! The directory is checked every `models.reload_seconds`. A newer version that fails to load
//! (half copied, wrong format version, features this build does not provide) is reported once
//! and skipped; the job keeps scoring with the model it has. A model changes the flags only
//! from the row at which it was loaded on, so a reload is as visible in the data as a config
//! change; the row's `anomaly_score` says which detectors judged it only through its value.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiops_models::model_file::{self, ModelKind};
use aiops_models::service_model::{ModelScore, ServiceModel};

use super::detect::{input_reader, model_inputs};
use crate::config::ModelsConfig;
use crate::features::FeatureRow;
use crate::stats::Stats;

/// Microseconds per minute.
const MINUTE_US: i64 = 60_000_000;

/// A loaded model and how to read its inputs.
struct Loaded {
    version: u64,
    model: ServiceModel,
    readers: Vec<fn(&FeatureRow) -> Option<f64>>,
}

/// The model a worker scores with, and its recent scaled inputs for drift.
pub struct ModelSlot {
    config: ModelsConfig,
    dir: PathBuf,
    worker: usize,
    stats: Arc<Stats>,
    last_check: Option<Instant>,
    loaded: Option<Loaded>,
    /// The newest version that failed to load, so it is reported once, not every check.
    rejected: Option<u64>,
    /// (minute, scaled inputs) of recent scored rows, oldest first.
    recent: VecDeque<(i64, Vec<f64>)>,
    drift_minute: i64,
    values: Vec<f64>,
    scaled: Vec<f64>,
}

impl ModelSlot {
    /// A slot watching `config.dir`; loads nothing until the first row.
    pub fn new(config: ModelsConfig, dir: PathBuf, worker: usize, stats: Arc<Stats>) -> Self {
        ModelSlot {
            config,
            dir,
            worker,
            stats,
            last_check: None,
            loaded: None,
            rejected: None,
            recent: VecDeque::new(),
            drift_minute: i64::MIN,
            values: Vec::new(),
            scaled: Vec::new(),
        }
    }

    /// Loads the newest version if it is newer than the current one and due for a check.
    fn refresh(&mut self) {
        let due = self
            .last_check
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(self.config.reload_seconds));
        if !due {
            return;
        }
        self.last_check = Some(Instant::now());
        let newest = match model_file::versions(&self.dir, ModelKind::IsolationForest) {
            Ok(versions) => versions.into_iter().last(),
            Err(error) => {
                self.reject(0, &error.to_string());
                return;
            }
        };
        let Some((version, path)) = newest else {
            return;
        };
        let current = self.loaded.as_ref().map(|l| l.version);
        if current >= Some(version) || self.rejected >= Some(version) {
            return;
        }
        match self.load(version, &path) {
            Ok(loaded) => {
                tracing::info!(worker = self.worker, path = %path.display(), "scoring with model version {version}");
                Stats::raise(&self.stats.model_version, version);
                self.loaded = Some(loaded);
                self.recent.clear();
            }
            Err(message) => self.reject(version, &message),
        }
    }

    fn load(&self, version: u64, path: &std::path::Path) -> Result<Loaded, String> {
        let model = ServiceModel::load(path, &model_inputs()).map_err(|e| e.to_string())?;
        let readers = model
            .metadata()
            .features
            .iter()
            .map(|name| input_reader(name).ok_or_else(|| format!("unknown input {name}")))
            .collect::<Result<_, _>>()?;
        Ok(Loaded {
            version,
            model,
            readers,
        })
    }

    fn reject(&mut self, version: u64, message: &str) {
        if self.rejected != Some(version) {
            let keeping = self
                .loaded
                .as_ref()
                .map_or("none".into(), |l| format!("v{}", l.version));
            tracing::warn!(
                worker = self.worker,
                "model not loaded, keeping {keeping}: {message}"
            );
            Stats::add(&self.stats.model_load_errors, 1);
            self.rejected = Some(version);
        }
    }

    /// Scores `row` with the current model (checking the directory when due); `None` without
    /// a model or for a service the model does not know. Returns the score and the name of
    /// the input furthest from the service's normal.
    pub fn score(&mut self, row: &FeatureRow) -> Option<(ModelScore, &str)> {
        self.refresh();
        let loaded = self.loaded.as_ref()?;
        self.values.clear();
        self.values.extend(
            loaded
                .readers
                .iter()
                .map(|read| read(row).unwrap_or(f64::NAN)),
        );
        let score = loaded
            .model
            .score(&row.service_name, &self.values, &mut self.scaled)?;
        self.track_drift(row.time_us);
        let loaded = self.loaded.as_ref()?;
        Some((
            score,
            loaded.model.metadata().features[score.top_feature].as_str(),
        ))
    }

    /// Keeps the last `drift_window_minutes` of scaled inputs and, once per minute, publishes
    /// each input's PSI against the training reference.
    fn track_drift(&mut self, time_us: i64) {
        let window_us = self.config.drift_window_minutes as i64 * MINUTE_US;
        self.recent.push_back((time_us, self.scaled.clone()));
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| *t <= time_us - window_us)
        {
            self.recent.pop_front();
        }
        if time_us <= self.drift_minute {
            return;
        }
        self.drift_minute = time_us;
        let Some(loaded) = &self.loaded else {
            return;
        };
        let mut column = Vec::with_capacity(self.recent.len());
        let mut drift = Vec::new();
        for (i, histogram) in loaded.model.metadata().reference.iter().enumerate() {
            column.clear();
            column.extend(self.recent.iter().map(|(_, values)| values[i]));
            if let Some(psi) = histogram.psi(&column) {
                drift.push((histogram.feature.clone(), psi));
            }
        }
        self.stats.set_drift(self.worker, drift);
    }
}
