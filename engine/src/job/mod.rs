//! The streaming job: sources → ingest → panes → windows → sinks, on timely workers.
//!
//! Every worker runs the same loop: poll its share of the source, hand the batch to
//! [`ingest`], step the dataflow, and keep at most a few panes in flight. Workers may be
//! threads of one process (`-w N`) or spread over processes with timely's cluster mode; the
//! rows do not depend on which, because records are routed by a process-independent hash of
//! the service name and the simulator's output does not depend on the shard count.

mod commit;
mod dedup;
pub mod ingest;
pub mod resume;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use timely::communication::Config as CommunicationConfig;
use timely::dataflow::operators::vec::{Filter, Map};
use timely::dataflow::operators::{Concat, Exchange, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::worker::Worker;
use timely::WorkerConfig;

use crate::config::{JobConfig, SourceKind};
use crate::error::{Error, Result};
use crate::features::{service_hash, FeatureWindows, MetricPanes, SpanPane, SpanPanes};
use crate::graph::{CallPairs, EdgeWindow, EdgeWindows, SplitLinks, WithNeighbours};
use crate::otlp::Signal;
use crate::score::{
    AnnotateRows, DetectAnomalies, Detector, Incident, IncidentTracker, ModelSlot, RaiseIncidents,
};
use crate::sim::Simulator;
use crate::sink::alerts::KafkaAlerts;
use crate::sink::parquet::ParquetSink;
use crate::sink::postgres::{
    load_edges, GraphRecord, GraphStore, OffsetStore, PaneStore, PostgresSink, StoredProgress,
};
use crate::sink::{
    DeadLetters, JsonLines, KafkaDeadLetters, PersistClosed, RowSink, SideOutput, WriteRows,
};
use crate::source::{FileSource, KafkaSource, NezhaSource, Poll, SimulatorSource, Source};
use crate::stats::Stats;
use crate::time::{pane_start_ns, Pane, Watermarks};
use commit::OffsetCommitter;
use ingest::{Ingest, MetricInput, SpanInput};
use resume::{needed_from, ResumeTracker};

/// Panes the sources may run ahead of the rows: bounds memory when input is fast.
const MAX_PANES_IN_FLIGHT: u64 = 2;
/// Panes the sources may run ahead of the rows durable in PostgreSQL: while the database is
/// away, consumption pauses after this much instead of buffering rows without bound.
const MAX_UNDURABLE_PANES: u64 = 60;

/// Where the workers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// Worker threads per process.
    pub workers: usize,
    /// Number of processes.
    pub processes: usize,
    /// This process's index.
    pub process: usize,
    /// File with one `host:port` per line, one per process (required when processes > 1).
    pub hostfile: Option<PathBuf>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            workers: 1,
            processes: 1,
            process: 0,
            hostfile: None,
        }
    }
}

impl ClusterOptions {
    /// The timely configuration.
    pub fn timely_config(&self) -> Result<timely::Config> {
        let workers = self.workers.max(1);
        let communication = if self.processes > 1 {
            let hostfile = self.hostfile.as_ref().ok_or_else(|| {
                Error::Config("--hostfile is required with --processes > 1".into())
            })?;
            let text = std::fs::read_to_string(hostfile).map_err(|e| Error::io(hostfile, e))?;
            let addresses: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            if addresses.len() != self.processes || self.process >= self.processes {
                return Err(Error::Config(format!(
                    "{}: {} addresses for --processes {} and --process {}",
                    hostfile.display(),
                    addresses.len(),
                    self.processes,
                    self.process
                )));
            }
            CommunicationConfig::Cluster {
                threads: workers,
                process: self.process,
                addresses,
                report: false,
                zerocopy: false,
            }
        } else if workers > 1 {
            CommunicationConfig::Process(workers)
        } else {
            CommunicationConfig::Thread
        };
        Ok(timely::Config {
            communication,
            worker: WorkerConfig::default(),
        })
    }
}

/// Everything a job needs.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// The configuration.
    pub config: JobConfig,
    /// Where the workers run.
    pub cluster: ClusterOptions,
    /// Distinguishes this run's files from earlier runs' in the same data directory.
    pub run_id: String,
    /// A backfill: only rows of this time range (µs, end exclusive) are written, and no Kafka
    /// offsets are read or stored (a backfill never moves the live job's resume point).
    pub backfill: Option<std::ops::Range<i64>>,
    /// Minutes at which root causes are ranked even if the detector flags nothing: alerts
    /// raised elsewhere, or the labelled fault times of an evaluation.
    pub rca_triggers: BTreeSet<Pane>,
}

/// What the workers share.
struct Shared {
    config: JobConfig,
    zone: Tz,
    simulator: Option<Arc<Simulator>>,
    run_id: String,
    backfill: Option<std::ops::Range<i64>>,
    rca_triggers: BTreeSet<Pane>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
}

/// The simulator a configuration describes, with its time range resolved against `now_ns`.
pub fn simulator(config: &JobConfig, now_ns: u64) -> Result<Simulator> {
    let (start, end) = config.simulator.time_range(now_ns)?;
    Simulator::new(config.simulator.clone(), start, end)
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Runs the job until its source is exhausted or `stop` is set; counters go to `stats`.
pub fn run(options: JobOptions, stats: Arc<Stats>, stop: Arc<AtomicBool>) -> Result<()> {
    let zone = options.config.features.zone()?;
    let simulator = match options.config.source.kind {
        SourceKind::Simulator => Some(Arc::new(simulator(
            &options.config,
            now_us() as u64 * 1_000,
        )?)),
        SourceKind::Files => {
            let path = &options.config.source.path;
            if !path.is_dir() {
                return Err(Error::Config(format!(
                    "source.path {:?} is not a directory of OTLP files",
                    path
                )));
            }
            None
        }
        SourceKind::Nezha => None,
        SourceKind::Kafka => {
            if options.config.postgres.url.is_empty() {
                tracing::warn!(
                    "Kafka source without a PostgreSQL sink: no resume offsets are kept, every \
                     start begins at kafka.start"
                );
            }
            None
        }
    };
    check_models_dir(&options.config.models.dir)?;
    let timely_config = options.cluster.timely_config()?;
    let shared = Arc::new(Shared {
        config: options.config,
        zone,
        simulator,
        run_id: options.run_id,
        backfill: options.backfill,
        rca_triggers: options.rca_triggers,
        stats: Arc::clone(&stats),
        stop,
    });
    let guards = timely::execute(timely_config, move |worker| {
        run_worker(worker, &shared).map_err(|e| e.to_string())
    })
    .map_err(Error::Dataflow)?;
    for result in guards.join() {
        result.map_err(Error::Dataflow)?.map_err(Error::Dataflow)?;
    }
    match stats.sink_error() {
        Some(error) => Err(Error::Dataflow(format!(
            "rows could not be written: {error}"
        ))),
        None => Ok(()),
    }
}

fn build_source(
    shared: &Shared,
    index: usize,
    peers: usize,
    stored: &StoredProgress,
) -> Result<Box<dyn Source>> {
    if shared.config.source.kind == SourceKind::Kafka {
        let source = KafkaSource::open(
            &shared.config.kafka,
            &stored.offsets,
            (index, peers),
            Arc::clone(&shared.stats),
        )?;
        return Ok(Box::new(source));
    }
    if shared.config.source.kind == SourceKind::Nezha {
        return Ok(Box::new(NezhaSource::open(
            &shared.config.source.path,
            index,
        )?));
    }
    Ok(match &shared.simulator {
        Some(sim) => {
            let config = &shared.config.simulator;
            Box::new(SimulatorSource::new(
                sim,
                index,
                peers,
                config.speed,
                config.encoding,
            ))
        }
        None => Box::new(FileSource::open(&shared.config.source.path, index, peers)?),
    })
}

fn build_dead_letters(shared: &Shared, index: usize) -> Result<Box<dyn DeadLetters>> {
    let kafka = &shared.config.kafka;
    if shared.config.source.kind == SourceKind::Kafka && !kafka.dead_letter_topic.is_empty() {
        return Ok(Box::new(KafkaDeadLetters::new(kafka)?));
    }
    let dir = shared.config.sink.data_dir.join("dead_letter");
    Ok(Box::new(SideOutput::new(&dir, "dead", index)))
}

/// Whether this job keeps Kafka resume offsets (Kafka in, PostgreSQL out).
fn resumable(shared: &Shared) -> bool {
    shared.config.source.kind == SourceKind::Kafka
        && !shared.config.postgres.url.is_empty()
        && shared.backfill.is_none()
}

/// The rows this run writes (µs): from where an earlier run's durable rows end (the replay
/// before it only rebuilds window state, its rows there would lack the records before the
/// resume point), within the backfill range if any.
fn rows_to_keep(shared: &Shared, stored: &StoredProgress) -> std::ops::Range<i64> {
    let durable_before = stored
        .durable_before
        .map_or(i64::MIN, |pane| (pane_start_ns(pane) / 1_000) as i64);
    match &shared.backfill {
        Some(range) => range.start.max(durable_before)..range.end,
        None => durable_before..i64::MAX,
    }
}

fn build_sink(shared: &Shared, index: usize) -> Result<Box<dyn RowSink>> {
    let sink_config = &shared.config.sink;
    if shared.config.postgres.url.is_empty() {
        let dir = sink_config.data_dir.join("features");
        let prefix = format!("{}-w{index:03}", shared.run_id);
        let sink = ParquetSink::create(&dir, prefix, sink_config.max_rows_per_file)?;
        return Ok(Box::new(sink.with_stats(Arc::clone(&shared.stats))));
    }
    let mut sink = PostgresSink::connect(&shared.config.postgres)?;
    if index == 0 {
        sink = sink.applying_retention()?;
    }
    Ok(Box::new(sink))
}

/// The topics whose closed panes a resumable job persists: the span topics.
fn persisted_topics(shared: &Shared) -> Vec<String> {
    if !resumable(shared) {
        return Vec::new();
    }
    let topics = shared.config.kafka.topics.iter();
    topics
        .filter(|t| t.signal == Signal::Traces)
        .map(|t| t.name.clone())
        .collect()
}

/// For a resumable job: the store closed span panes go to, and the panes of the hour before
/// the first minute not yet durable, which replace replaying that hour of spans.
fn restore_span_panes(
    shared: &Shared,
    stored: &StoredProgress,
) -> Result<(Option<PaneStore>, Vec<SpanPane>)> {
    if !resumable(shared) {
        return Ok((None, Vec::new()));
    }
    let mut store = PaneStore::connect(&shared.config.postgres)?;
    let restored = match stored.durable_before {
        Some(pane) => store.load(needed_from(pane), pane)?,
        None => Vec::new(),
    };
    Ok((Some(store), restored))
}

/// Sends restored panes into the dataflow at their own minutes, oldest first.
fn inject(mut panes: Vec<SpanPane>, input: &mut InputHandleVec<Pane, SpanPane>) {
    panes.sort_by_key(|pane| pane.pane);
    for pane in panes {
        if pane.pane > *input.time() {
            input.advance_to(pane.pane);
        }
        input.send(pane);
    }
}

/// A set `models.dir` must be a directory; it may be empty (a model can arrive later).
fn check_models_dir(dir: &str) -> Result<()> {
    if dir.is_empty() {
        return Ok(());
    }
    if !std::path::Path::new(dir).is_dir() {
        return Err(Error::Config(format!(
            "models.dir {dir:?} is not a directory (write one with `aiops train --out {dir}`)"
        )));
    }
    let mut any = false;
    for kind in crate::score::learned::KINDS {
        let versions = aiops_models::model_file::versions(std::path::Path::new(dir), kind)
            .map_err(|e| Error::Config(e.to_string()))?;
        any |= !versions.is_empty();
    }
    if !any {
        tracing::warn!("no model in {dir} yet: scoring with the robust detector until one appears");
    }
    Ok(())
}

/// Adds the GNN of `models.dir` to the tracker's rankers when there is one, or when
/// `rca.method = "gnn"` asks for it (then, until a first version appears, it ranks as the
/// combined rules); newer versions replace it while the job runs. `rca.method = "gnn"`
/// without a `models.dir` to watch is a configuration error.
fn learned_ranker(shared: &Shared, tracker: IncidentTracker) -> Result<IncidentTracker> {
    let (config, dir) = (&shared.config.rca, &shared.config.models.dir);
    if dir.is_empty() {
        return match config.method.as_str() {
            "gnn" => Err(Error::Config(
                "rca.method = \"gnn\" needs models.dir, where `aiops train --model gnn` writes the network"
                    .into(),
            )),
            _ => Ok(tracker),
        };
    }
    let loaded = aiops_models::rca::gnn::Gnn::newest(std::path::Path::new(dir))
        .map_err(|e| Error::Config(format!("loading the gnn model: {e}")))?;
    match &loaded {
        Some((version, _)) => tracing::info!("ranking root causes with gnn v{version} too"),
        None if config.method == "gnn" => tracing::warn!(
            "no gnn model in {dir} yet: the gnn method ranks as the combined rules until `aiops train --model gnn` writes one"
        ),
        None => return Ok(tracker),
    }
    let ranker = crate::score::learned_ranker::ReloadingGnn::new(
        dir.into(),
        loaded,
        shared.config.models.reload_seconds,
        shared.stats.clone(),
    );
    Ok(tracker.with_ranker(Box::new(ranker), config))
}

/// The worker's detector: robust, plus the learned models of `models.dir` when set.
fn detector(shared: &Shared, index: usize) -> Detector {
    let detector = Detector::new(shared.config.detection.clone());
    let models = &shared.config.models;
    if models.dir.is_empty() {
        return detector;
    }
    let slot = ModelSlot::new(
        models.clone(),
        PathBuf::from(&models.dir),
        index,
        Arc::clone(&shared.stats),
    );
    detector.with_models(slot, models.combine)
}

/// For worker 0 of a resumed job with PostgreSQL: the stored edges of the detection history
/// before the first minute not yet durable, so edge baselines survive a restart.
fn edge_history(shared: &Shared, stored: &StoredProgress, index: usize) -> Result<Vec<EdgeWindow>> {
    let (Some(durable_before), true, 0) = (stored.durable_before, resumable(shared), index) else {
        return Ok(Vec::new());
    };
    let history = shared.config.detection.history_minutes as Pane;
    let first = durable_before.saturating_sub(history);
    load_edges(
        &shared.config.postgres.url,
        first,
        durable_before.saturating_sub(1),
    )
}

/// Logs an incident update (those of replayed minutes before `from_us` quietly).
fn announce(incident: &Incident, from_us: i64) {
    if incident.time_us < from_us {
        return;
    }
    let time = chrono::DateTime::from_timestamp_micros(incident.time_us).unwrap_or_default();
    tracing::warn!(
        incident = %incident.incident_id,
        minute = %time.format("%Y-%m-%d %H:%M"),
        root_cause = incident.root_cause.as_deref().unwrap_or("-"),
        anomalous = %incident.anomalous_services.join(","),
        "incident"
    );
}

fn run_worker(worker: &mut Worker, shared: &Shared) -> Result<()> {
    let (index, peers) = (worker.index(), worker.peers());
    let data_dir = &shared.config.sink.data_dir;
    let mut committer = None;
    let mut stored = StoredProgress::default();
    if resumable(shared) {
        let mut store = OffsetStore::connect(&shared.config.postgres)?;
        stored = store.load()?;
        if index == 0 && !stored.offsets.is_empty() {
            tracing::info!(
                partitions = stored.offsets.len(),
                durable_before = ?stored.durable_before,
                "resuming from stored Kafka offsets"
            );
        }
        let interval = Duration::from_millis(shared.config.sink.flush_interval_ms);
        committer = Some(OffsetCommitter::new(store, interval));
    }
    let (pane_store, restored) = restore_span_panes(shared, &stored)?;
    let mut source = build_source(shared, index, peers, &stored)?;
    let sink = build_sink(shared, index)?;
    let keep = rows_to_keep(shared, &stored);
    let flush_interval = Duration::from_millis(shared.config.sink.flush_interval_ms);

    let mut spans_in = SpanInput::new();
    let mut metrics_in = MetricInput::new();
    let mut restored_in: InputHandleVec<Pane, SpanPane> = InputHandleVec::new();
    let probe: ProbeHandle<Pane> = ProbeHandle::new();
    let durable: ProbeHandle<Pane> = ProbeHandle::new();
    let zone = shared.zone;
    let stats = Arc::clone(&shared.stats);
    let span_floor = match (&stored.durable_before, restored.is_empty()) {
        (Some(pane), false) => *pane,
        _ => 0,
    };
    let graph = shared.config.graph.clone();
    let detector = detector(shared, index);
    let tracker = IncidentTracker::new(&shared.config.rca, &shared.config.detection)?
        .with_static_edges(&shared.config.graph.static_edges)
        .with_edge_expiry(shared.config.graph.edge_expiry_minutes)
        .triggered_at(shared.rca_triggers.clone())
        .with_edge_history(
            edge_history(shared, &stored, index)?,
            stored.durable_before.unwrap_or(0),
        );
    let tracker = learned_ranker(shared, tracker)?;
    let tracker = match shared.config.rca.record_inputs {
        true => tracker.recording_to(
            &data_dir.join("rca_inputs"),
            &format!("rca-inputs-{}", shared.run_id),
        ),
        false => tracker,
    };
    let run_id = &shared.run_id;
    let mut edge_lines = JsonLines::new(
        &data_dir.join("edges"),
        &format!("edges-{run_id}"),
        index,
        keep.clone(),
        |edge: &EdgeWindow| (pane_start_ns(edge.pane) / 1_000) as i64,
    );
    let mut incident_lines = JsonLines::new(
        &data_dir.join("incidents"),
        &format!("incidents-{run_id}"),
        index,
        keep.clone(),
        |incident: &Incident| incident.time_us,
    );
    let announce_from = keep.start;
    let graph_keep = keep.clone();
    let kafka = &shared.config.kafka;
    let alerts = match (
        shared.config.source.kind,
        kafka.alerts_topic.is_empty(),
        index,
    ) {
        (SourceKind::Kafka, false, 0) => Some(KafkaAlerts::new(kafka, keep.clone())?),
        _ => None,
    };
    let graph_store = match shared.config.postgres.url.is_empty() {
        true => None,
        false => Some(GraphStore::connect(
            &shared.config.postgres,
            shared.config.graph.edge_expiry_minutes,
        )?),
    };
    worker.dataflow::<Pane, _, _>(|scope| {
        // Replayed spans before the floor are already counted in the restored panes; they are
        // replayed only as context for trace assembly.
        let (spans, links) = spans_in.to_stream(scope).split_links(span_floor);
        let span_panes = spans.span_panes();
        if let Some(store) = pane_store {
            span_panes
                .clone()
                .persist_closed(store)
                .probe_with(&durable);
        }
        let edges = links
            .call_pairs(
                graph.pairing_wait_minutes,
                graph.max_edges_per_minute,
                Arc::clone(&stats),
            )
            .edge_windows();
        let restored_panes = restored_in
            .to_stream(scope)
            .exchange(|pane: &SpanPane| service_hash(&pane.service));
        let metric_panes = metrics_in.to_stream(scope).metric_panes();
        let scored = span_panes
            .concat(restored_panes)
            .feature_windows(metric_panes, zone, now_us)
            .with_neighbours(edges.clone())
            .detect_anomalies(detector);
        let incidents = scored
            .clone()
            .map(|(_, evidence)| evidence)
            .raise_incidents(edges.clone(), tracker, Arc::clone(&stats));
        let mut incidents = incidents
            .inspect(move |incident| announce(incident, announce_from))
            .inspect_core(move |event| incident_lines.observe(event));
        if let Some(mut alerts) = alerts {
            incidents = incidents.inspect_core(move |event| alerts.observe(event));
        }
        let edges = edges.inspect_core(move |event| edge_lines.observe(event));
        if let Some(store) = graph_store {
            let kept = graph_keep.clone();
            edges
                .map(GraphRecord::Edge)
                .concat(incidents.clone().map(GraphRecord::Incident))
                .filter(move |record| kept.contains(&record.time_us()))
                .persist_closed(store)
                .probe_with(&durable);
        }
        scored
            .map(|(row, _)| row)
            .annotate_rows(incidents)
            .probe_with(&probe)
            .write_rows(sink, flush_interval, keep, stats)
            .probe_with(&durable);
    });

    let watermarks = Watermarks::new(
        shared.config.watermark.clone(),
        source.partitions(),
        Instant::now(),
    );
    let late = SideOutput::new(&data_dir.join("late"), "late", index);
    let dead = build_dead_letters(shared, index)?;
    if index == 0 {
        inject(restored, &mut restored_in);
    }
    drop(restored_in);
    let mut ingest = Ingest::new(watermarks, Arc::clone(&shared.stats), late, dead)
        .without_spans(!shared.config.source.traces)
        .with_resume(ResumeTracker::with_persisted_topics(
            persisted_topics(shared),
            shared.config.graph.pairing_wait_minutes,
        ))
        .with_span_floor(span_floor.saturating_sub(shared.config.graph.pairing_wait_minutes));
    let mut stopping = false;
    let database_sink = !shared.config.postgres.url.is_empty();
    loop {
        if !stopping && shared.stop.load(Ordering::Relaxed) {
            source.stop();
            stopping = true;
            if let Some(committer) = committer.as_mut() {
                committer.stopping_at(ingest.open_pane());
            }
        }
        if let Some(committer) = committer.as_mut() {
            committer.saw_pane(*spans_in.time());
            committer.maybe_commit(&durable, ingest.resume());
        }
        let undurable_limit = spans_in.time().saturating_sub(MAX_UNDURABLE_PANES);
        if database_sink && durable.less_than(&undurable_limit) {
            worker.step_or_park(Some(Duration::from_millis(50)));
            continue;
        }
        match source.poll() {
            Poll::Ready(batch) => ingest.push(batch, &mut spans_in, &mut metrics_in),
            Poll::Wait(wait) => {
                ingest.advance(&mut spans_in, &mut metrics_in);
                worker.step_or_park(Some(wait.min(Duration::from_millis(100))));
                continue;
            }
            Poll::Done => break,
        }
        worker.step();
        let behind = spans_in.time().saturating_sub(MAX_PANES_IN_FLIGHT);
        while probe.less_than(&behind) {
            worker.step();
        }
    }
    ingest.finish();
    drop(spans_in);
    drop(metrics_in);
    while worker.step_or_park(Some(Duration::from_millis(5))) {}
    if let Some(committer) = committer.as_mut() {
        // The dataflow has drained: every minute with a record is durable, including those the
        // input's time never reached before the source ended (a bounded replay's last minutes).
        committer.saw_pane(ingest.newest_pane());
        let patience = shared.config.postgres.connect_patience();
        committer.commit_patiently(&durable, ingest.resume(), patience)?;
    }
    Ok(())
}
