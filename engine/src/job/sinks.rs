//! Each worker's outputs: the row and operation sinks (Parquet or PostgreSQL), dead letters, the JSON-lines
//! side outputs of edges and incidents, the alerts topic, and the stores a resumable job keeps
//! its graph and closed panes in, with what those stores give back at a restart.

use std::ops::Range;
use std::sync::Arc;

use super::dataflow::Restored;
use super::resume::needed_from;
use super::Shared;
use crate::error::Result;
use crate::graph::EdgeWindow;
use crate::record::Signal;
use crate::score::incidents::IncidentState;
use crate::score::Incident;
use crate::sink::alerts::KafkaAlerts;
use crate::sink::notify::Notifier;
use crate::sink::parquet::ParquetSink;
use crate::sink::postgres::{
    load_edges, load_incident_states, GraphStore, LogPaneStore, OperationStore, PaneStore,
    PostgresSink, StoredProgress,
};
use crate::sink::{DeadLetters, JsonLines, KafkaDeadLetters, OperationFiles, OperationSink};
use crate::sink::{RowSink, SideOutput};
use crate::time::{pane_start_ns, Pane};

/// Feature rows: to PostgreSQL when `postgres.url` is set (worker 0 also applies native
/// retention), else to Parquet files under `<data_dir>/features/`.
pub(super) fn row_sink(shared: &Shared, index: usize) -> Result<Box<dyn RowSink>> {
    let config = &shared.config;
    if config.postgres.url.is_none() {
        let dir = config.sink.data_dir.join("features");
        let prefix = format!("{}-w{index:03}", shared.run_id);
        let sink = ParquetSink::create(&dir, prefix, config.sink.max_rows_per_file)?;
        return Ok(Box::new(sink.with_stats(Arc::clone(&shared.stats))));
    }
    let mut sink = PostgresSink::connect(&config.postgres)?;
    if index == 0 {
        sink = sink.applying_retention(Arc::clone(&shared.stats))?;
    }
    Ok(Box::new(sink))
}

/// Undecodable records: to `kafka.dead_letter_topic` for a Kafka job that names one, else
/// to `<data_dir>/dead_letter/`.
pub(super) fn dead_letters(shared: &Shared, index: usize) -> Result<Box<dyn DeadLetters>> {
    let kafka = &shared.config.kafka;
    if let (true, Some(topic)) = (shared.input.is_kafka(), &kafka.dead_letter_topic) {
        return Ok(Box::new(KafkaDeadLetters::new(kafka, topic)?));
    }
    let dir = shared.config.sink.data_dir.join("dead_letter");
    Ok(Box::new(SideOutput::new(&dir, "dead", index)))
}

/// Records of closed minutes before the window is open: `<data_dir>/late/`.
pub(super) fn late_records(shared: &Shared, index: usize) -> SideOutput {
    SideOutput::new(&shared.config.sink.data_dir.join("late"), "late", index)
}

/// The call edges of each minute, as JSON lines under `<data_dir>/edges/`.
pub(super) fn edge_lines(shared: &Shared, index: usize, keep: Range<i64>) -> JsonLines<EdgeWindow> {
    let dir = shared.config.sink.data_dir.join("edges");
    let stem = format!("edges-{}", shared.run_id);
    JsonLines::new(&dir, &stem, index, keep, |edge: &EdgeWindow| {
        (pane_start_ns(edge.pane) / 1_000) as i64
    })
}

/// Incident updates, as JSON lines under `<data_dir>/incidents/`.
pub(super) fn incident_lines(
    shared: &Shared,
    index: usize,
    keep: Range<i64>,
) -> JsonLines<Incident> {
    let dir = shared.config.sink.data_dir.join("incidents");
    let stem = format!("incidents-{}", shared.run_id);
    JsonLines::new(&dir, &stem, index, keep, |incident: &Incident| {
        incident.time_us
    })
}

/// Incident updates to `kafka.alerts_topic`, from worker 0 of a Kafka job that names one.
pub(super) fn alerts(
    shared: &Shared,
    index: usize,
    keep: Range<i64>,
) -> Result<Option<KafkaAlerts>> {
    let kafka = &shared.config.kafka;
    match (shared.input.is_kafka(), &kafka.alerts_topic, index) {
        (true, Some(topic), 0) => Ok(Some(KafkaAlerts::new(kafka, topic, keep)?)),
        _ => Ok(None),
    }
}

/// Incidents to Alertmanager and the webhook, from worker 0 (which sees every incident and the
/// incident stream's frontier), when `[alerts]` names a receiver.
pub(super) fn notifier(shared: &Shared, index: usize, keep: Range<i64>) -> Option<Notifier> {
    match index {
        0 => Notifier::start(&shared.config.alerts, keep, Arc::clone(&shared.stats)),
        _ => None,
    }
}

/// Edges and incidents to PostgreSQL, when rows go there.
pub(super) fn graph_store(shared: &Shared) -> Result<Option<GraphStore>> {
    let config = &shared.config;
    if config.postgres.url.is_none() {
        return Ok(None);
    }
    let expiry = config.graph.edge_expiry_minutes;
    Ok(Some(GraphStore::connect(&config.postgres, expiry)?))
}

/// Operation rows: to PostgreSQL when `postgres.url` is set, else to Parquet files under
/// `<data_dir>/operations/`.
pub(super) fn operation_sink(shared: &Shared, index: usize) -> Result<OperationSink> {
    let config = &shared.config;
    if config.postgres.url.is_some() {
        let store = OperationStore::connect(&config.postgres)?;
        return Ok(OperationSink::Postgres(Box::new(store)));
    }
    let dir = config.sink.data_dir.join("operations");
    let prefix = format!("{}-w{index:03}", shared.run_id);
    let flush = std::time::Duration::from_millis(config.sink.flush_interval_ms);
    let files = OperationFiles::create(&dir, prefix, config.sink.max_rows_per_file, flush)?;
    Ok(OperationSink::Files(files))
}

/// The topics whose closed panes a resumable job persists: the span topics.
pub(super) fn persisted_topics(shared: &Shared) -> Vec<String> {
    if !shared.resumable() {
        return Vec::new();
    }
    let topics = shared.config.kafka.topics.iter();
    topics
        .filter(|t| matches!(t.signal, Signal::Traces | Signal::Logs))
        .map(|t| t.name.clone())
        .collect()
}

/// For a resumable job: the stores closed span and log panes go to, and what they hold of
/// the hour before the first minute not yet durable, which replaces replaying that hour of
/// spans and logs.
pub(super) fn restore_panes(
    shared: &Shared,
    stored: &StoredProgress,
) -> Result<(Option<PaneStore>, Option<LogPaneStore>, Restored)> {
    if !shared.resumable() {
        return Ok((None, None, Restored::default()));
    }
    let mut spans = PaneStore::connect(&shared.config.postgres)?;
    let mut logs = LogPaneStore::connect(&shared.config.postgres)?;
    let restored = match stored.durable_before {
        Some(pane) => Restored {
            spans: spans.load(needed_from(pane), pane)?,
            logs: logs.load(needed_from(pane), pane)?,
        },
        None => Restored::default(),
    };
    Ok((Some(spans), Some(logs), restored))
}

/// For worker 0 of a resumed job with PostgreSQL: the database and the first minute not yet
/// durable, where worker 0's incident state resumes.
fn resumed_tracker<'a>(
    shared: &'a Shared,
    stored: &StoredProgress,
    index: usize,
) -> Option<(&'a str, Pane)> {
    match (stored.durable_before, shared.resumable(), index) {
        (Some(durable_before), true, 0) => {
            let url = shared.config.postgres.url.as_deref()?;
            Some((url, durable_before))
        }
        _ => None,
    }
}

/// For worker 0 of a resumed job with PostgreSQL: the stored edges of the detection history
/// before the first minute not yet durable, so edge baselines survive a restart.
pub(super) fn edge_history(
    shared: &Shared,
    stored: &StoredProgress,
    index: usize,
) -> Result<Vec<EdgeWindow>> {
    let Some((url, durable_before)) = resumed_tracker(shared, stored, index) else {
        return Ok(Vec::new());
    };
    let history = shared.config.detection.history_minutes as Pane;
    let first = durable_before.saturating_sub(history);
    load_edges(url, first, durable_before.saturating_sub(1))
}

/// For worker 0 of a resumed job with PostgreSQL: the open incidents stored after each minute
/// of the replay, up to the last durable one (see
/// [`crate::score::IncidentTracker::with_open_incidents`]). `None` without a state after the
/// last durable minute (a first run, or a minute without telemetry): the replayed hour then
/// rebuilds them, and one open longer than that gets a new id.
pub(super) fn incident_states(
    shared: &Shared,
    stored: &StoredProgress,
    index: usize,
) -> Result<Option<Vec<IncidentState>>> {
    let resumed = resumed_tracker(shared, stored, index);
    let Some((url, last)) = resumed.and_then(|(url, from)| Some((url, from.checked_sub(1)?)))
    else {
        return Ok(None);
    };
    let states = load_incident_states(url, needed_from(last + 1).saturating_sub(1), last)?;
    let open = match states.last() {
        Some(state) if state.pane == last => state.open.len(),
        _ => {
            tracing::info!(
                "no open incidents stored after minute {last}: the replayed hour rebuilds them"
            );
            return Ok(None);
        }
    };
    tracing::info!(
        open,
        "resuming with the open incidents stored after minute {last}"
    );
    Ok(Some(states))
}
