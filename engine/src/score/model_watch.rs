//! Which model version to load next: the bookkeeping shared by everything that hot-reloads a
//! model kind from `models.dir` (the detectors' [`ModelSlot`](super::learned::ModelSlot) and
//! the GNN ranker).
//!
//! A newer version is offered once per check; a version that fails to load is reported once
//! (logged and counted in `model_load_errors`) and not offered again, so a half-copied file
//! neither floods the log nor is re-read every check, while a later version still is.

use std::path::{Path, PathBuf};

use aiops_models::model_file::{self, ModelKind};

use crate::stats::Stats;

/// The loaded and rejected versions of one model kind in one directory.
#[derive(Debug, Clone)]
pub struct ModelWatch {
    /// Who watches, for the log ("worker 0", "rca").
    owner: String,
    kind: ModelKind,
    current: Option<u64>,
    rejected: Option<u64>,
}

impl ModelWatch {
    /// A watch for `kind` on behalf of `owner`, with `current` already loaded (`None`:
    /// nothing yet).
    pub fn new(owner: impl Into<String>, kind: ModelKind, current: Option<u64>) -> Self {
        ModelWatch {
            owner: owner.into(),
            kind,
            current,
            rejected: None,
        }
    }

    /// The newest version in `dir` when it is newer than the current one and has not failed
    /// before. A directory that cannot be read is reported (as version 0) and offers nothing.
    pub fn newer(&mut self, dir: &Path, stats: &Stats) -> Option<(u64, PathBuf)> {
        let newest = match model_file::versions(dir, self.kind) {
            Ok(versions) => versions.into_iter().last()?,
            Err(error) => {
                self.reject(0, &error.to_string(), stats);
                return None;
            }
        };
        let stale = self.current >= Some(newest.0) || self.rejected >= Some(newest.0);
        (!stale).then_some(newest)
    }

    /// Records that `version` is now in use.
    pub fn loaded(&mut self, version: u64, stats: &Stats) {
        stats.set_model_version(self.kind.name(), version);
        self.current = Some(version);
    }

    /// Records that `version` failed to load: logged and counted the first time only.
    pub fn reject(&mut self, version: u64, message: &str, stats: &Stats) {
        if self.rejected == Some(version) {
            return;
        }
        let keeping = self.current.map_or("none".into(), |v| format!("v{v}"));
        tracing::warn!(
            "{}: {} model not loaded, keeping {keeping}: {message}",
            self.owner,
            self.kind.name()
        );
        Stats::add(&stats.model_load_errors, 1);
        self.rejected = Some(version);
    }
}
