//! The streaming job, the last stage: sources → ingest → panes → windows → graph → scoring →
//! sinks, on timely workers.
//!
//! Every worker runs the same loop: poll its share of the source, hand the batch to
//! [`ingest`], step the dataflow, and keep at most a few panes in flight. Workers may be
//! threads of one process (`-w N`) or spread over processes with timely's cluster mode; the
//! rows do not depend on which, because records are routed by a process-independent hash of
//! the service name and the simulator's output does not depend on the shard count.
//!
//! Modules, in the order a worker uses them: `cluster` (where the workers run), `sources` and
//! `sinks` (the factories of each worker's source and outputs), `scoring` (its detector and
//! incident tracker), `dataflow` (the stages wired together), [`ingest`] (records into the
//! dataflow), [`resume`] and `commit` (Kafka offsets stored once the rows they cover are
//! durable), `drive` (the poll, step, back-pressure and commit loop), and [`offline`] (the
//! job over a bounded input into a directory, for training runs and evaluations).

mod cluster;
mod commit;
mod dataflow;
mod dedup;
mod drive;
pub mod ingest;
pub mod offline;
pub mod resume;
mod scoring;
mod sinks;
pub mod sizing;
mod sources;

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use timely::worker::Worker;

use crate::config::JobConfig;
use crate::error::{Error, Result};
use crate::otlp::{Decoding, Receivers, ResourceCache, ServiceNaming};
use crate::sink::postgres::{OffsetStore, StoredProgress};
use crate::stats::Stats;
use crate::time::{pane_start_ns, Pane, Watermarks};
pub use cluster::ClusterOptions;
use commit::OffsetCommitter;
use dataflow::{Outputs, Stages};
use ingest::Ingest;
use resume::ResumeTracker;
use sources::Input;
pub use sources::{simulator, SourceFactory};

/// Everything a job needs.
#[derive(Clone)]
pub struct JobOptions {
    /// The configuration.
    pub config: JobConfig,
    /// Where the workers run.
    pub cluster: ClusterOptions,
    /// Distinguishes this run's files from earlier runs' in the same data directory.
    pub run_id: String,
    /// A backfill: only rows of this time range (µs, end exclusive) are written, and no Kafka
    /// offsets are read or stored (a backfill never moves the live job's resume point).
    pub backfill: Option<Range<i64>>,
    /// Minutes at which root causes are ranked even if the detector flags nothing: alerts
    /// raised elsewhere, or the labelled fault times of an evaluation.
    pub rca_triggers: BTreeSet<Pane>,
    /// A source of the caller's in place of `[source]`.
    pub source: Option<SourceFactory>,
}

impl JobOptions {
    /// A job of `config` on one worker, its files named after `run_id`.
    pub fn new(config: JobConfig, run_id: impl Into<String>) -> Self {
        JobOptions {
            config,
            cluster: ClusterOptions::default(),
            run_id: run_id.into(),
            backfill: None,
            rca_triggers: BTreeSet::new(),
            source: None,
        }
    }

    /// Runs the workers as `cluster` says.
    pub fn on(mut self, cluster: ClusterOptions) -> Self {
        self.cluster = cluster;
        self
    }

    /// Writes only the rows of `range` (µs), if given (see [`JobOptions::backfill`]).
    pub fn backfill(mut self, range: Option<Range<i64>>) -> Self {
        self.backfill = range;
        self
    }

    /// Ranks root causes at these minutes too (see [`JobOptions::rca_triggers`]).
    pub fn triggered_at(mut self, minutes: BTreeSet<Pane>) -> Self {
        self.rca_triggers = minutes;
        self
    }

    /// Reads from `factory`'s sources instead of the one `[source]` configures: how the
    /// benchmark crate replays datasets through the unchanged job.
    pub fn with_source(mut self, factory: SourceFactory) -> Self {
        self.source = Some(factory);
        self
    }
}

/// What the workers share.
struct Shared {
    config: JobConfig,
    zone: Tz,
    input: Input,
    /// The OTLP receivers of this process, when configured.
    receivers: Option<Receivers>,
    run_id: String,
    backfill: Option<Range<i64>>,
    rca_triggers: BTreeSet<Pane>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    /// Whether this job keeps Kafka resume offsets (Kafka in, PostgreSQL out, not a backfill).
    fn resumable(&self) -> bool {
        self.input.is_kafka() && self.config.postgres.url.is_some() && self.backfill.is_none()
    }

    /// The rows this run writes (µs): from where an earlier run's durable rows end (the
    /// replay before it only rebuilds window state, its rows there would lack the records
    /// before the resume point), within the backfill range if any.
    fn rows_to_keep(&self, stored: &StoredProgress) -> Range<i64> {
        let durable_before = stored
            .durable_before
            .map_or(i64::MIN, |pane| (pane_start_ns(pane) / 1_000) as i64);
        match &self.backfill {
            Some(range) => range.start.max(durable_before)..range.end,
            None => durable_before..i64::MAX,
        }
    }
}

/// Runs the job until its source is exhausted or `stop` is set; counters go to `stats`. A
/// worker's error comes back as it was raised (a database error stays retryable).
pub fn run(options: JobOptions, stats: Arc<Stats>, stop: Arc<AtomicBool>) -> Result<()> {
    let zone = options.config.features.zone()?;
    let input = Input::resolve(&options.config, options.source)?;
    scoring::check_models_dir(options.config.models.dir.as_deref())?;
    let receivers = match options.config.receiver.any() {
        true => Some(Receivers::start(
            &options.config.receiver,
            decoding(&options.config)?,
            Arc::clone(&stats),
        )?),
        false => None,
    };
    let timely_config = options.cluster.timely_config()?;
    let shared = Arc::new(Shared {
        config: options.config,
        zone,
        input,
        receivers,
        run_id: options.run_id,
        backfill: options.backfill,
        rca_triggers: options.rca_triggers,
        stats: Arc::clone(&stats),
        stop,
    });
    let guards = timely::execute(timely_config, move |worker| run_worker(worker, &shared))
        .map_err(Error::Dataflow)?;
    for result in guards.join() {
        result.map_err(|panic| Error::Dataflow(format!("a worker failed: {panic}")))??;
    }
    match stats.sink_error() {
        Some(error) => Err(Error::Dataflow(format!(
            "rows could not be written: {error}"
        ))),
        None => Ok(()),
    }
}

/// For a resumable job: the Kafka offsets and durable progress earlier runs stored, and the
/// committer that stores this run's.
fn resume_point(
    shared: &Shared,
    index: usize,
) -> Result<(Option<OffsetCommitter>, StoredProgress)> {
    if !shared.resumable() {
        return Ok((None, StoredProgress::default()));
    }
    let mut store = OffsetStore::connect(&shared.config.postgres)?;
    let stored = store.load()?;
    if index == 0 && !stored.offsets.is_empty() {
        tracing::info!(
            partitions = stored.offsets.len(),
            durable_before = ?stored.durable_before,
            "resuming from stored Kafka offsets"
        );
    }
    let interval = Duration::from_millis(shared.config.sink.flush_interval_ms);
    Ok((Some(OffsetCommitter::new(store, interval)), stored))
}

/// How records are decoded: service naming and sampling weights from the configuration.
fn decoding(config: &JobConfig) -> Result<Decoding> {
    Ok(Decoding {
        naming: ServiceNaming::with_pod_pattern(config.identity.pod_pattern()?),
        weight_attribute: config.source.span_weight_attribute.clone(),
        user_attribute: config.identity.user_attribute.clone(),
        resources: ResourceCache::default(),
    })
}

/// The worker's ingest: watermarks over its source's partitions, its side outputs, and what
/// a restart already restored.
fn ingest(
    shared: &Shared,
    index: usize,
    partitions: Vec<u32>,
    floors: (Pane, Pane),
) -> Result<Ingest> {
    let (span_floor, log_floor) = floors;
    let config = &shared.config;
    let watermarks = Watermarks::new(config.watermark.clone(), partitions, Instant::now());
    let late = sinks::late_records(shared, index);
    let dead = sinks::dead_letters(shared, index)?;
    let wait = config.graph.pairing_wait_minutes;
    let resume = ResumeTracker::with_persisted_topics(sinks::persisted_topics(shared), wait);
    Ok(
        Ingest::new(watermarks, Arc::clone(&shared.stats), late, dead)
            .with_decoding(decoding(config)?)
            .with_environments(config.identity.environment_filter())
            .without_spans(!config.source.traces)
            .without_logs(!config.source.logs)
            .with_resume(resume)
            .with_span_floor(span_floor.saturating_sub(wait))
            .with_log_floor(log_floor),
    )
}

fn run_worker(worker: &mut Worker, shared: &Shared) -> Result<()> {
    let (index, peers) = (worker.index(), worker.peers());
    let (committer, stored) = resume_point(shared, index)?;
    let (pane_store, log_pane_store, restored) = sinks::restore_panes(shared, &stored)?;
    let source = shared.input.open(
        &shared.config,
        (&shared.stats, shared.receivers.as_ref()),
        (index, peers),
        &stored,
    )?;
    let keep = shared.rows_to_keep(&stored);
    let span_floor = match (&stored.durable_before, restored.spans.is_empty()) {
        (Some(pane), false) => *pane,
        _ => 0,
    };
    // Log records before the first minute not yet durable were mined into the restored
    // templates (a service without a restored pane had not logged for an hour).
    let log_floor = match log_pane_store {
        Some(_) => stored.durable_before.unwrap_or(0),
        None => 0,
    };
    let stages = Stages {
        graph: shared.config.graph.clone(),
        zone: shared.zone,
        span_floor,
        max_operations: shared.config.features.max_operations,
        detector: scoring::detector(shared, index),
        tracker: scoring::tracker(shared, &stored, index)?,
        stats: Arc::clone(&shared.stats),
    };
    let outputs = Outputs {
        rows: sinks::row_sink(shared, index)?,
        keep: keep.clone(),
        flush_interval: Duration::from_millis(shared.config.sink.flush_interval_ms),
        panes: pane_store,
        log_panes: log_pane_store,
        graph: sinks::graph_store(shared)?,
        operations: sinks::operation_sink(shared, index)?,
        alerts: sinks::alerts(shared, index, keep.clone())?,
        notifier: sinks::notifier(shared, index, keep.clone()),
        edge_lines: sinks::edge_lines(shared, index, keep.clone()),
        incident_lines: sinks::incident_lines(shared, index, keep),
    };
    // Every worker loaded the same restored panes; worker 0 sends them, routed by service.
    let restored = if index == 0 {
        restored
    } else {
        Default::default()
    };
    let handles = dataflow::build(worker, stages, outputs, restored);
    let drive = drive::Drive {
        ingest: ingest(shared, index, source.partitions(), (span_floor, log_floor))?,
        source,
        committer,
        database_sink: shared.config.postgres.url.is_some(),
        patience: shared.config.postgres.connect_patience(),
    };
    drive::run(worker, handles, drive, &shared.stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every worker fails to reach a database that is not there: the error the job returns is
    /// the database error a worker raised, still retryable, not a flattened message.
    #[test]
    fn a_worker_error_keeps_its_kind() {
        let mut config = JobConfig::load(None, Vec::new()).expect("defaults");
        config.postgres.url = Some("postgres://postgres@127.0.0.1:1/absent".into());
        config.postgres.connect_retry_s = 0;
        config.simulator.duration = Some("1m".into());
        config.metrics.addr = None;
        let dir = tempfile::tempdir().expect("temp dir");
        config.sink.data_dir = dir.path().to_path_buf();
        let cluster = ClusterOptions {
            workers: 2,
            ..ClusterOptions::default()
        };
        let options = JobOptions::new(config, "test").on(cluster);
        let stats = Arc::new(Stats::default());
        let error = run(options, stats, Arc::new(AtomicBool::new(false))).expect_err("no database");
        assert!(
            matches!(
                error,
                Error::Database {
                    retryable: true,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.is_retryable());
    }
}
