//! The worker's dataflow, wired stage by stage: spans, metric points and logs into panes (and
//! operation rows), panes into windows and feature rows, spans into call edges, rows scored,
//! incidents raised, and every output attached. Nothing here touches IO itself: the sinks and stores it is given do.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use timely::dataflow::operators::vec::{Filter, Map};
use timely::dataflow::operators::{Concat, Exchange, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::worker::Worker;

use super::ingest::Inputs;
use crate::config::GraphConfig;
use crate::features::{
    service_hash, FeatureWindows, LogPane, LogPanes, MetricPanes, SpanPane, SpanPanes,
};
use crate::graph::{CallPairs, EdgeWindow, EdgeWindows, SplitLinks, WithNeighbours};
use crate::score::RaiseIncidents;
use crate::score::{AnnotateRows, DetectAnomalies, Detector, Incident, IncidentTracker};
use crate::sink::alerts::KafkaAlerts;
use crate::sink::notify::Notifier;
use crate::sink::postgres::{GraphRecord, GraphStore, LogPaneStore, PaneStore};
use crate::sink::results::{PublishEdges, PublishRows};
use crate::sink::{JsonLines, OperationSink, PersistClosed, RowSink, WriteRows};
use crate::stats::Stats;
use crate::time::{pane_start_ns, Pane};

/// What the stages compute with: their settings and their state.
pub(super) struct Stages {
    /// `[graph]`: how spans pair into calls.
    pub graph: GraphConfig,
    /// The calendar features' time zone.
    pub zone: Tz,
    /// Spans before this pane are already counted in restored panes (replayed only as
    /// context for trace assembly).
    pub span_floor: Pane,
    /// `[features] max_operations`: operation rows kept per service-minute.
    pub max_operations: usize,
    /// Scores each row.
    pub detector: Detector,
    /// Raises incidents (worker 0's state).
    pub tracker: IncidentTracker,
    /// Counters.
    pub stats: Arc<Stats>,
}

/// Where the dataflow's results go.
pub(super) struct Outputs {
    /// Feature rows.
    pub rows: Box<dyn RowSink>,
    /// Rows, edges and incidents of these times (µs) are written; others only rebuild state.
    pub keep: Range<i64>,
    /// Longest time rows wait before they are written.
    pub flush_interval: Duration,
    /// Closed span panes, for a resumable job.
    pub panes: Option<PaneStore>,
    /// Closed log panes (the template miners' state), for a resumable job.
    pub log_panes: Option<LogPaneStore>,
    /// Edges and incidents in PostgreSQL.
    pub graph: Option<GraphStore>,
    /// Operation rows, to Parquet or PostgreSQL.
    pub operations: OperationSink,
    /// Incident updates to Kafka.
    pub alerts: Option<KafkaAlerts>,
    /// Incidents to Alertmanager and the webhook.
    pub notifier: Option<Notifier>,
    /// Edges as JSON lines.
    pub edge_lines: JsonLines<EdgeWindow>,
    /// Incidents as JSON lines.
    pub incident_lines: JsonLines<Incident>,
}

/// The dataflow's inputs, and the probes the drive loop watches.
pub(super) struct Handles {
    /// Decoded spans, points and log records.
    pub inputs: Inputs,
    /// Rows are scored up to here: bounds the panes in flight.
    pub scored: ProbeHandle<Pane>,
    /// Everything before here is durable in every sink: bounds what a restart replays.
    pub durable: ProbeHandle<Pane>,
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Logs an incident update (those of replayed minutes before `from_us` quietly).
fn announce(incident: &Incident, from_us: i64) {
    if incident.time_us < from_us {
        return;
    }
    let time = chrono::DateTime::from_timestamp_micros(incident.time_us).unwrap_or_default();
    let top: Vec<&str> = incident
        .candidates
        .iter()
        .take(3)
        .map(|c| c.service.as_str())
        .collect();
    // The job's incident lines kept their log target when the job was split into modules.
    tracing::warn!(
        target: "aiops_engine::job",
        incident = %incident.incident_id,
        minute = %time.format("%Y-%m-%d %H:%M"),
        root_cause = incident.root_cause.as_deref().unwrap_or("-"),
        anomalous = %incident.anomalous_services.join(","),
        candidates = %top.join(","),
        "incident"
    );
}

/// What a restarted job restored from PostgreSQL: closed span and log panes.
#[derive(Default)]
pub(super) struct Restored {
    /// Span panes of the last hour before the first minute not yet durable.
    pub spans: Vec<SpanPane>,
    /// Log panes of that hour: the latest of each service seeds its template miner, and all
    /// of them give the replayed minutes their log features, as the span panes do.
    pub logs: Vec<LogPane>,
}

/// Sends restored panes into the dataflow at their own minutes, oldest first.
fn inject<P: Clone + 'static>(
    mut panes: Vec<P>,
    input: &mut InputHandleVec<Pane, P>,
    pane_of: fn(&P) -> Pane,
) {
    panes.sort_by_key(pane_of);
    for pane in panes {
        if pane_of(&pane) > *input.time() {
            input.advance_to(pane_of(&pane));
        }
        input.send(pane);
    }
}

/// Builds the worker's dataflow, sends it the panes `restored` from PostgreSQL at a restart,
/// and returns its inputs and probes.
pub(super) fn build(
    worker: &mut Worker,
    stages: Stages,
    outputs: Outputs,
    restored: Restored,
) -> Handles {
    let mut inputs = Inputs::default();
    let mut restored_in: InputHandleVec<Pane, SpanPane> = InputHandleVec::new();
    let mut restored_logs_in: InputHandleVec<Pane, LogPane> = InputHandleVec::new();
    let (probe, durable) = (ProbeHandle::new(), ProbeHandle::new());
    let (graph, stats) = (&stages.graph, &stages.stats);
    worker.dataflow::<Pane, _, _>(|scope| {
        let (spans, links) = inputs.spans.to_stream(scope).split_links(stages.span_floor);
        let (span_panes, operations) = spans.span_and_operation_panes(stages.max_operations);
        let (kept, counted) = (outputs.keep.clone(), Arc::clone(stats));
        operations
            .filter(move |row| kept.contains(&((pane_start_ns(row.pane) / 1_000) as i64)))
            .inspect(move |_| Stats::add(&counted.operation_rows, 1))
            .persist_closed(outputs.operations)
            .probe_with(&durable);
        if let Some(store) = outputs.panes {
            span_panes
                .clone()
                .persist_closed(store)
                .probe_with(&durable);
        }
        let (wait, max_edges) = (graph.pairing_wait_minutes, graph.max_edges_per_minute);
        let mut publish_edges = PublishEdges::new(Arc::clone(stats), max_edges);
        let edges = links
            .call_pairs(wait, max_edges, Arc::clone(stats))
            .inspect_core(move |event| publish_edges.observe(event))
            .edge_windows();
        let restored_panes = restored_in
            .to_stream(scope)
            .exchange(|pane: &SpanPane| service_hash(&pane.service));
        let metric_panes = inputs.metrics.to_stream(scope).metric_panes();
        let restored_logs = restored_logs_in.to_stream(scope);
        let log_panes = inputs
            .logs
            .to_stream(scope)
            .log_panes(restored_logs.clone());
        if let Some(store) = outputs.log_panes {
            log_panes.clone().persist_closed(store).probe_with(&durable);
        }
        // Replayed minutes get their log features from the stored panes (their records are
        // dropped at ingest), so the detector's history after a restart is the same.
        let log_panes =
            log_panes.concat(restored_logs.exchange(|pane: &LogPane| service_hash(&pane.service)));
        let scored = span_panes
            .concat(restored_panes)
            .feature_windows(metric_panes, log_panes, stages.zone, now_us)
            .with_neighbours(edges.clone())
            .detect_anomalies(stages.detector);
        let (announce_from, mut incident_lines) = (outputs.keep.start, outputs.incident_lines);
        let (incidents, incident_states) = scored
            .clone()
            .map(|(_, evidence)| evidence)
            .raise_incidents(edges.clone(), stages.tracker, Arc::clone(stats));
        let mut incidents = incidents
            .inspect(move |incident| announce(incident, announce_from))
            .inspect_core(move |event| incident_lines.observe(event));
        if let Some(mut alerts) = outputs.alerts {
            incidents = incidents.inspect_core(move |event| alerts.observe(event));
        }
        if let Some(mut notifier) = outputs.notifier {
            incidents = incidents.inspect_core(move |event| notifier.observe(event));
        }
        let mut edge_lines = outputs.edge_lines;
        let edges = edges.inspect_core(move |event| edge_lines.observe(event));
        if let Some(store) = outputs.graph {
            let kept = outputs.keep.clone();
            edges
                .map(GraphRecord::Edge)
                .concat(incidents.clone().map(GraphRecord::Incident))
                .concat(incident_states.map(GraphRecord::IncidentState))
                .filter(move |record| kept.contains(&record.time_us()))
                .persist_closed(store)
                .probe_with(&durable);
        }
        let mut publish_rows = PublishRows::new(Arc::clone(stats), max_edges);
        scored
            .map(|(row, _)| row)
            .annotate_rows(incidents)
            .inspect_core(move |event| publish_rows.observe(event))
            .probe_with(&probe)
            .write_rows(
                outputs.rows,
                outputs.flush_interval,
                outputs.keep,
                Arc::clone(stats),
            )
            .probe_with(&durable);
    });
    inject(restored.spans, &mut restored_in, |pane| pane.pane);
    inject(restored.logs, &mut restored_logs_in, |pane| pane.pane);
    Handles {
        inputs,
        scored: probe,
        durable,
    }
}
