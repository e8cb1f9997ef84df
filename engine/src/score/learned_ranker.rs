//! The GNN root-cause ranker in the running job, replaced when a newer version appears.
//!
//! The detectors' models reload through [`ModelSlot`](super::learned::ModelSlot); the GNN
//! lives in the incident tracker instead, which ranks only when something is anomalous. So
//! the check is made there: at a ranking, when `models.reload_seconds` have passed since the
//! last check, the newest `gnn` version in the directory is loaded if it is newer (the
//! bookkeeping is [`ModelWatch`]'s, as for the detectors: a version that fails to load is
//! reported once, counted, and skipped; the ranking goes on with the network it has).
//!
//! A job told to rank with the GNN may start before any network is trained: until the first
//! version appears, the method ranks as the combined rules, which is exactly what an untrained
//! network does (its logits are corrections to the combined score's logarithm), so a nightly
//! `aiops train --model gnn` can deliver the first network to a running job.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aiops_models::model_file::ModelKind;
use aiops_models::rca::gnn::Gnn;
use aiops_models::rca::{CallGraph, Candidate, Combined, RootCauseRanker, ServiceEvidence};

use super::model_watch::ModelWatch;
use crate::stats::Stats;

/// A GNN ranker that watches its directory for newer versions.
pub struct ReloadingGnn {
    dir: PathBuf,
    every: Duration,
    stats: Arc<Stats>,
    state: Mutex<State>,
}

struct State {
    /// The network; none until a first version loads.
    gnn: Option<Gnn>,
    watch: ModelWatch,
    last_check: Instant,
}

impl ReloadingGnn {
    /// Ranks with `loaded` (a version of `dir` and its network; none yet: as the combined
    /// rules) and checks `dir` for a newer version at most every `reload_seconds`.
    pub fn new(
        dir: PathBuf,
        loaded: Option<(u64, Gnn)>,
        reload_seconds: u64,
        stats: Arc<Stats>,
    ) -> Self {
        let mut watch = ModelWatch::new("rca", ModelKind::Gnn, None);
        let gnn = loaded.map(|(version, gnn)| {
            watch.loaded(version, &stats);
            gnn
        });
        ReloadingGnn {
            dir,
            every: Duration::from_secs(reload_seconds),
            stats,
            state: Mutex::new(State {
                gnn,
                watch,
                last_check: Instant::now(),
            }),
        }
    }

    /// Loads the newest version if it is newer than the current one and not already rejected.
    fn refresh(&self, state: &mut State) {
        let Some((version, path)) = state.watch.newer(&self.dir, &self.stats) else {
            return;
        };
        match Gnn::load(&path) {
            Ok(gnn) => {
                tracing::info!(path = %path.display(), "ranking root causes with gnn v{version}");
                state.watch.loaded(version, &self.stats);
                state.gnn = Some(gnn);
            }
            Err(error) => state.watch.reject(version, &error.to_string(), &self.stats),
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
        match &state.gnn {
            Some(gnn) => gnn.rank(graph, evidence),
            None => Combined::default().rank(graph, evidence),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::Ordering;

    use aiops_models::model_file::TrainingInfo;
    use aiops_models::rca::gnn::{GnnConfig, LabelledIncident};
    use aiops_models::rca::{CallEdge, Deviation};

    use super::*;

    /// Saves a network trained for `epochs` on the incident of [`incident`] labelled with
    /// `stock` as its cause (an untrained network ranks as the rules do, so versions that
    /// must differ need training).
    fn save(dir: &std::path::Path, epochs: usize) -> Gnn {
        let config = GnnConfig {
            epochs,
            ..GnnConfig::default()
        };
        let gnn = Gnn::new(config.hidden, config.layers, config.seed).expect("builds");
        let (edges, evidence) = incident();
        let labelled = LabelledIncident {
            edges: edges.to_vec(),
            evidence,
            cause: "stock".into(),
        };
        gnn.train(&[labelled], &config, |_, _| {}).expect("trains");
        let info = TrainingInfo::new("test", "", "");
        gnn.save(dir, &config, info, BTreeMap::new(), "now".into())
            .expect("saves");
        gnn
    }

    /// A small incident: a front end calling two services, both deviating.
    fn incident() -> ([CallEdge; 2], Vec<ServiceEvidence>) {
        let edges = [
            CallEdge::new("front", "cart", 100, 5, Some(30.0)),
            CallEdge::new("front", "stock", 100, 0, Some(10.0)),
        ];
        let evidence: Vec<ServiceEvidence> = [("front", 4.0), ("cart", 6.0), ("stock", 1.0)]
            .into_iter()
            .map(|(service, z)| ServiceEvidence {
                service: service.into(),
                deviations: vec![Deviation {
                    feature: "p95_latency_1m".into(),
                    z,
                }],
                anomalous: z > 3.0,
                ..Default::default()
            })
            .collect();
        (edges, evidence)
    }

    /// Scores of [`incident`], by service.
    fn scores(ranker: &dyn RootCauseRanker) -> Vec<(String, f64)> {
        let (edges, evidence) = incident();
        let graph = CallGraph::new(&edges, std::iter::empty());
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
        let first = save(dir.path(), 0);
        let stats = Arc::new(Stats::default());
        let ranker = ReloadingGnn::new(dir.path().into(), Some((1, first)), 0, stats.clone());
        let version = || stats.model_versions().get("gnn").copied();
        let before = scores(&ranker);
        assert_eq!(version(), Some(1));

        let second = save(dir.path(), 3);
        let after = scores(&ranker);
        assert_eq!(version(), Some(2));
        assert_eq!(after, scores(&second));
        assert_ne!(
            after, before,
            "a trained network differs from the untrained one"
        );

        // A half-written v3: reported once, v2 keeps ranking.
        std::fs::write(dir.path().join("gnn-v3.json"), "{ not json").expect("writes");
        assert_eq!(scores(&ranker), after);
        assert_eq!(scores(&ranker), after);
        assert_eq!(version(), Some(2));
        assert_eq!(stats.model_load_errors.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn without_a_network_it_ranks_as_the_rules_until_a_first_one_appears() {
        let dir = tempfile::tempdir().expect("dir");
        let stats = Arc::new(Stats::default());
        let ranker = ReloadingGnn::new(dir.path().into(), None, 0, stats.clone());
        let rules = scores(&Combined::default());
        assert_eq!(scores(&ranker), rules);
        assert_eq!(stats.model_versions().get("gnn"), None);

        let first = save(dir.path(), 3);
        let loaded = scores(&ranker);
        assert_eq!(stats.model_versions().get("gnn"), Some(&1));
        assert_eq!(loaded, scores(&first));
        assert_ne!(loaded, rules, "the trained network ranks differently");
    }
}
