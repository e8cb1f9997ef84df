//! The GNN root-cause ranker in the running job, replaced when a newer version appears.
//!
//! The detectors' models reload through [`ModelSlot`](super::learned::ModelSlot); the GNN
//! lives in the incident tracker instead, which ranks only when something is anomalous. So
//! the check is made there: at a ranking, when `models.reload_seconds` have passed since the
//! last check, the newest `gnn` version in the directory is loaded if it is newer. A version
//! that fails to load is reported once, counted in `model_load_errors`, and skipped; the
//! ranking goes on with the network it has. The first GNN must exist when the job starts (it
//! decides whether the tracker ranks with a GNN at all); later versions replace it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aiops_models::model_file::{self, ModelKind};
use aiops_models::rca::gnn::Gnn;
use aiops_models::rca::{CallGraph, Candidate, RootCauseRanker, ServiceEvidence};

use crate::stats::Stats;

/// A GNN ranker that watches its directory for newer versions.
pub struct ReloadingGnn {
    dir: PathBuf,
    every: Duration,
    stats: Arc<Stats>,
    state: Mutex<State>,
}

struct State {
    version: u64,
    gnn: Gnn,
    last_check: Instant,
    /// The newest version that failed to load (reported once, not at every check).
    rejected: Option<u64>,
}

impl ReloadingGnn {
    /// Ranks with `gnn` (version `version` of `dir`) and checks `dir` for a newer version at
    /// most every `reload_seconds`.
    pub fn new(
        dir: PathBuf,
        version: u64,
        gnn: Gnn,
        reload_seconds: u64,
        stats: Arc<Stats>,
    ) -> Self {
        stats.set_model_version(ModelKind::Gnn.name(), version);
        ReloadingGnn {
            dir,
            every: Duration::from_secs(reload_seconds),
            stats,
            state: Mutex::new(State {
                version,
                gnn,
                last_check: Instant::now(),
                rejected: None,
            }),
        }
    }

    /// Loads the newest version if it is newer than the current one and not already rejected.
    fn refresh(&self, state: &mut State) {
        let newest = match model_file::versions(&self.dir, ModelKind::Gnn) {
            Ok(versions) => versions.into_iter().last(),
            Err(error) => return self.reject(state, 0, &error.to_string()),
        };
        let Some((version, path)) = newest else {
            return;
        };
        if version <= state.version || state.rejected >= Some(version) {
            return;
        }
        match Gnn::load(&path) {
            Ok(gnn) => {
                tracing::info!(path = %path.display(), "ranking root causes with gnn v{version}");
                self.stats.set_model_version(ModelKind::Gnn.name(), version);
                state.version = version;
                state.gnn = gnn;
            }
            Err(error) => self.reject(state, version, &error.to_string()),
        }
    }

    fn reject(&self, state: &mut State, version: u64, message: &str) {
        if state.rejected != Some(version) {
            tracing::warn!(
                dir = %self.dir.display(),
                "gnn v{version} not loaded, keeping v{}: {message}",
                state.version
            );
            Stats::add(&self.stats.model_load_errors, 1);
            state.rejected = Some(version);
        }
    }
}

impl RootCauseRanker for ReloadingGnn {
    fn name(&self) -> &'static str {
        "gnn"
    }

    fn rank(&self, graph: &CallGraph, evidence: &[ServiceEvidence]) -> Vec<Candidate> {
        // A panic while ranking cannot leave the state half-written (fields are replaced
        // whole), so a poisoned lock is still safe to use.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.last_check.elapsed() >= self.every {
            state.last_check = Instant::now();
            self.refresh(&mut state);
        }
        state.gnn.rank(graph, evidence)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::Ordering;

    use aiops_models::model_file::TrainingInfo;
    use aiops_models::rca::gnn::GnnConfig;
    use aiops_models::rca::{CallEdge, Deviation};

    use super::*;

    fn save(dir: &std::path::Path, seed: u64) -> Gnn {
        let gnn = Gnn::new(32, 3, seed).expect("builds");
        let info = TrainingInfo {
            source: "test".into(),
            from: String::new(),
            to: String::new(),
            rows: 0,
            data_hash: String::new(),
        };
        gnn.save(
            dir,
            &GnnConfig::default(),
            info,
            BTreeMap::new(),
            "now".into(),
        )
        .expect("saves");
        gnn
    }

    /// Scores of a small incident: a front end calling two services, both deviating.
    fn scores(ranker: &dyn RootCauseRanker) -> Vec<(String, f64)> {
        let edges = [
            CallEdge::new("front", "cart", 100, 5, Some(30.0)),
            CallEdge::new("front", "stock", 100, 0, Some(10.0)),
        ];
        let graph = CallGraph::new(&edges, std::iter::empty());
        let evidence: Vec<ServiceEvidence> = [("front", 4.0), ("cart", 6.0), ("stock", 1.0)]
            .into_iter()
            .map(|(service, z)| ServiceEvidence {
                service: service.into(),
                deviations: vec![Deviation {
                    feature: "p95_latency_1m".into(),
                    z,
                }],
                anomalous: z > 3.0,
            })
            .collect();
        let mut ranked: Vec<(String, f64)> = ranker
            .rank(&graph, &evidence)
            .into_iter()
            .map(|c| (c.service, c.score))
            .collect();
        ranked.sort_by(|a, b| a.0.cmp(&b.0));
        ranked
    }

    #[test]
    fn a_newer_gnn_replaces_the_old_and_a_corrupt_one_is_skipped() {
        let dir = tempfile::tempdir().expect("dir");
        let first = save(dir.path(), 1);
        let stats = Arc::new(Stats::default());
        let ranker = ReloadingGnn::new(dir.path().into(), 1, first, 0, stats.clone());
        let version = || stats.model_versions().get("gnn").copied();
        let before = scores(&ranker);
        assert_eq!(version(), Some(1));

        let second = save(dir.path(), 2);
        let after = scores(&ranker);
        assert_eq!(version(), Some(2));
        assert_eq!(after, scores(&second));
        assert_ne!(after, before, "different seeds give different networks");

        // A half-written v3: reported once, v2 keeps ranking.
        std::fs::write(dir.path().join("gnn-v3.json"), "{ not json").expect("writes");
        assert_eq!(scores(&ranker), after);
        assert_eq!(scores(&ranker), after);
        assert_eq!(version(), Some(2));
        assert_eq!(stats.model_load_errors.load(Ordering::Relaxed), 1);
    }
}
