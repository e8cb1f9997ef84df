//! Each worker's detector and worker 0's incident tracker, with the learned models of
//! `models.dir` when one is set.

use std::path::Path;
use std::sync::Arc;

use super::sinks::{edge_history, incident_states};
use super::Shared;
use crate::config::RcaMethod;
use crate::error::{Error, Result};
use crate::score::learned::KINDS;
use crate::score::learned_ranker::ReloadingGnn;
use crate::score::{Detector, IncidentTracker, ModelSlot};
use crate::sink::postgres::StoredProgress;
use crate::sink::SideOutput;

/// A set `models.dir` must be a directory; it may be empty (a model can arrive later).
pub(super) fn check_models_dir(dir: Option<&Path>) -> Result<()> {
    let Some(dir) = dir else {
        return Ok(());
    };
    if !dir.is_dir() {
        return Err(Error::Config(format!(
            "models.dir {dir:?} is not a directory (write one with `aiops train --out {}`)",
            dir.display()
        )));
    }
    let mut any = false;
    for kind in KINDS {
        let versions = aiops_models::model_file::versions(dir, kind)
            .map_err(|e| Error::Config(e.to_string()))?;
        any |= !versions.is_empty();
    }
    if !any {
        tracing::warn!(
            "no model in {} yet: scoring with the robust detector until one appears",
            dir.display()
        );
    }
    Ok(())
}

/// The worker's detector: robust, plus the learned models of `models.dir` when set.
pub(super) fn detector(shared: &Shared, index: usize) -> Detector {
    let detector =
        Detector::new(shared.config.detection.clone()).with_input_end(Arc::clone(&shared.stats));
    let models = &shared.config.models;
    let Some(dir) = &models.dir else {
        return detector;
    };
    let stats = Arc::clone(&shared.stats);
    let slot = ModelSlot::new(models.clone(), dir.clone(), index, stats);
    detector.with_models(slot, models.combine)
}

/// Worker 0's incident tracker: the configured ranking method, configured and restored
/// edges, the open incidents a restart goes on with, the evaluation's trigger minutes, the
/// GNN when there is one, and a recorder of ranking inputs when `rca.record_inputs` asks for
/// one.
pub(super) fn tracker(
    shared: &Shared,
    stored: &StoredProgress,
    index: usize,
) -> Result<IncidentTracker> {
    let config = &shared.config;
    let tracker = IncidentTracker::new(&config.rca, &config.detection)?
        .with_static_edges(&config.graph.static_edges)
        .with_edge_expiry(config.graph.edge_expiry_minutes)
        .triggered_at(shared.rca_triggers.clone())
        .with_edge_history(
            edge_history(shared, stored, index)?,
            stored.durable_before.unwrap_or(0),
        );
    let tracker = match incident_states(shared, stored, index)? {
        Some(states) => tracker.with_open_incidents(states),
        None => tracker,
    };
    let tracker = learned_ranker(shared, tracker)?;
    if !config.rca.record_inputs {
        return Ok(tracker);
    }
    let dir = config.sink.data_dir.join("rca_inputs");
    let mut output = SideOutput::new(&dir, &format!("rca-inputs-{}", shared.run_id), 0);
    Ok(tracker.recording_with(Box::new(move |input| {
        output.write(input)?;
        output.flush()
    })))
}

/// Adds the GNN of `models.dir` to the tracker's rankers when there is one, or when
/// `rca.method = "gnn"` asks for it (then, until a first version appears, it ranks as the
/// combined rules); newer versions replace it while the job runs. `rca.method = "gnn"`
/// without a `models.dir` to watch is a configuration error.
fn learned_ranker(shared: &Shared, tracker: IncidentTracker) -> Result<IncidentTracker> {
    let config = &shared.config.rca;
    let gnn = config.method == RcaMethod::Gnn;
    let Some(dir) = &shared.config.models.dir else {
        return match gnn {
            true => Err(Error::Config(
                "rca.method = \"gnn\" needs models.dir, where `aiops train --model gnn` writes \
                 the network"
                    .into(),
            )),
            false => Ok(tracker),
        };
    };
    let loaded = aiops_models::rca::gnn::Gnn::newest(dir)
        .map_err(|e| Error::Config(format!("loading the gnn model: {e}")))?;
    match &loaded {
        Some((version, _)) => tracing::info!("ranking root causes with gnn v{version} too"),
        None if gnn => tracing::warn!(
            "no gnn model in {} yet: the gnn method ranks as the combined rules until \
             `aiops train --model gnn` writes one",
            dir.display()
        ),
        None => return Ok(tracker),
    }
    let reload = shared.config.models.reload_seconds;
    let ranker = ReloadingGnn::new(dir.clone(), loaded, reload, Arc::clone(&shared.stats));
    Ok(tracker.with_ranker(Box::new(ranker), config))
}
