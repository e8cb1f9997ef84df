//! `aiops run`: the streaming job.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use std::ops::Range;

use aiops_engine::config::{JobConfig, SourceKind, StartOffset};
use aiops_engine::job::{self, ClusterOptions, JobOptions};
use aiops_engine::stats::Stats;
use aiops_engine::ui::{Store, Ui, UiConfig};
use anyhow::Context;
use clap::Args;

use super::settings::{EncodingArg, SimArgs};
use crate::console::{print_summary, Console, Outputs};

/// Options of `aiops run`.
#[derive(Args, Debug)]
#[command(after_help = include_str!("help/run.txt"))]
pub struct RunArgs {
    #[command(flatten)]
    sim: SimArgs,
    /// Replay OTLP files from this directory instead of running the simulator.
    #[arg(long, value_name = "DIR")]
    input: Option<PathBuf>,
    /// Consume the OTLP topics of this Kafka cluster (comma-separated host:port list) instead of
    /// running the simulator; topics, encodings and client options are in the kafka section of the
    /// config.
    #[arg(long, value_name = "BROKERS")]
    kafka_brokers: Option<String>,
    /// Receive OTLP/gRPC at this host:port (usually 4317), beside --input or --kafka-brokers, or
    /// alone instead of the simulator.
    #[arg(long, value_name = "ADDR")]
    otlp_grpc: Option<String>,
    /// Receive OTLP/HTTP (/v1/traces, /v1/metrics, /v1/logs) at this host:port (usually 4318),
    /// beside --input or --kafka-brokers, or alone instead of the simulator.
    #[arg(long, value_name = "ADDR")]
    otlp_http: Option<String>,
    /// With --kafka-brokers: stop when every partition reaches the end offset it had at start
    /// (bounded replay), instead of running until Ctrl-C.
    #[arg(long)]
    stop_at_end: bool,
    /// With --kafka-brokers: where partitions without stored resume offsets start.
    #[arg(long, value_enum)]
    start_offset: Option<StartArg>,
    /// Serve Prometheus metrics at this host:port while running ("" for none; default
    /// 127.0.0.1:9464, or addr in the metrics section).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<String>,
    /// Where Parquet files and side outputs go (default: ./data).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Write rows to this PostgreSQL database (after `aiops migrate`) instead of Parquet.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Score rows with the newest model in this directory (written by `aiops train`) as well as
    /// the robust detector; newer versions are picked up while running.
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// Simulated seconds per wall-clock second; 0 runs as fast as possible.
    #[arg(long)]
    speed: Option<f64>,
    /// Encoding the simulator emits (both go through the real decoder).
    #[arg(long, value_enum)]
    encoding: Option<EncodingArg>,
    /// IANA time zone of the calendar features.
    #[arg(long)]
    timezone: Option<String>,
    /// Delete earlier output (features, side outputs) in the data directory first.
    #[arg(long)]
    overwrite: bool,
    /// Timely worker threads per process.
    #[arg(long, short = 'w', default_value_t = 1)]
    workers: usize,
    /// Number of processes in a timely cluster.
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// This process's index in the cluster (0-based).
    #[arg(long, default_value_t = 0)]
    process: usize,
    /// File listing host:port of every process, one per line, in process order.
    #[arg(long, value_name = "FILE")]
    hostfile: Option<PathBuf>,
    /// No progress display (the summary is still printed).
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Serve the web console (service map, incidents, service features; JSON API under /api)
    /// at this host:port while running; "" for none. Default: 127.0.0.1:9465 when the job runs
    /// on its embedded default (simulator in, files out), else none.
    #[arg(long, value_name = "ADDR")]
    ui: Option<String>,
    /// Require this bearer token on the console's /api (set it when the console is exposed
    /// beyond loopback).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "AIOPS_UI_TOKEN",
        hide_env_values = true
    )]
    ui_token: Option<String>,
}

/// Where the embedded mode serves its console.
pub const DEFAULT_UI_ADDR: &str = "127.0.0.1:9465";

/// Starts the web console over the job's own output, when asked for or embedded; a console
/// that cannot listen is reported, not fatal: the job is what matters.
fn start_ui(args: &RunArgs, config: &JobConfig) -> Option<Ui> {
    let embedded = config.source.kind == SourceKind::Simulator && config.postgres.url.is_none();
    let addr = match args.ui.as_deref() {
        Some("") => return None,
        Some(addr) => addr.to_string(),
        None if embedded && args.process == 0 => DEFAULT_UI_ADDR.to_string(),
        None => return None,
    };
    let from = match &config.postgres.url {
        Some(url) => url.clone(),
        None => config.sink.data_dir.display().to_string(),
    };
    let ui = UiConfig {
        addr,
        store: Store::new(&from),
        token: args.ui_token.clone(),
        expiry_minutes: config.graph.edge_expiry_minutes,
    };
    match Ui::start(ui) {
        Ok(ui) => {
            crate::logs::console_url(format!("http://{}/", ui.addr()));
            if !args.quiet {
                println!("web console: http://{}/", ui.addr());
            }
            Some(ui)
        }
        Err(error) => {
            tracing::warn!(%error, "the web console is not served");
            None
        }
    }
}

/// `--start-offset`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum StartArg {
    /// The oldest retained record.
    Earliest,
    /// Only records produced after the start.
    Latest,
}

impl From<StartArg> for StartOffset {
    fn from(arg: StartArg) -> Self {
        match arg {
            StartArg::Earliest => StartOffset::Earliest,
            StartArg::Latest => StartOffset::Latest,
        }
    }
}

fn remove_previous_output(data_dir: &std::path::Path) -> anyhow::Result<()> {
    for sub in ["features", "operations", "late", "dead_letter"] {
        let path = data_dir.join(sub);
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Runs the job with a live console until the source ends or Ctrl-C.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut config = args.sim.load()?;
    if let Some(input) = &args.input {
        config.source.kind = SourceKind::Files;
        config.source.path = Some(input.clone());
    }
    if let Some(brokers) = &args.kafka_brokers {
        config.source.kind = SourceKind::Kafka;
        config.kafka.brokers.clone_from(brokers);
    }
    if let Some(addr) = &args.otlp_grpc {
        config.receiver.grpc = Some(addr.clone());
    }
    if let Some(addr) = &args.otlp_http {
        config.receiver.http = Some(addr.clone());
    }
    let receivers_given = args.otlp_grpc.is_some() || args.otlp_http.is_some();
    if receivers_given && args.input.is_none() && args.kafka_brokers.is_none() {
        config.source.kind = SourceKind::Otlp;
    }
    if args.stop_at_end {
        config.kafka.stop_at_end = true;
    }
    if let Some(start) = args.start_offset {
        config.kafka.start = start.into();
    }
    if let Some(addr) = &args.metrics_addr {
        config.metrics.addr = (!addr.is_empty()).then(|| addr.clone());
    }
    if let Some(dir) = &args.data_dir {
        config.sink.data_dir.clone_from(dir);
    }
    if let Some(url) = &args.database_url {
        config.postgres.url = Some(url.clone());
    }
    if let Some(dir) = &args.models {
        config.models.dir = Some(dir.clone());
    }
    if let Some(speed) = args.speed {
        config.simulator.speed = speed;
    }
    if let Some(encoding) = args.encoding {
        config.simulator.encoding = encoding.into();
    }
    if let Some(zone) = &args.timezone {
        config.features.timezone.clone_from(zone);
    }
    // Resolve "now" once, so the ground truth and the job agree on simulated time.
    if config.simulator.start == "now" {
        config.simulator.start = chrono::Utc::now().format("%Y-%m-%dT%H:%M:00Z").to_string();
    }
    let ui = start_ui(&args, &config);
    let cluster = ClusterOptions {
        workers: args.workers,
        processes: args.processes,
        process: args.process,
        hostfile: args.hostfile,
    };
    let result = execute(config, cluster, args.quiet, args.overwrite, None);
    drop(ui);
    result
}

/// Runs a configured job with the console, the metrics endpoint and the summary; with
/// `backfill` (µs range), only the rows of that range are written, with a progress bar.
pub fn execute(
    config: JobConfig,
    cluster: ClusterOptions,
    quiet: bool,
    overwrite: bool,
    backfill: Option<Range<i64>>,
) -> anyhow::Result<()> {
    let data_dir = config.sink.data_dir.clone();
    if overwrite && cluster.process == 0 {
        remove_previous_output(&data_dir)?;
    }
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let is_simulation = config.source.kind == SourceKind::Simulator;
    if is_simulation && cluster.process == 0 {
        let sim = job::simulator(&config, 0)?;
        let path = data_dir.join("ground_truth.csv");
        std::fs::write(&path, sim.ground_truth_csv())
            .with_context(|| format!("writing {}", path.display()))?;
    }

    let config_url = config.postgres.url.clone();
    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    install_ctrl_c(Arc::clone(&stop))?;
    if let Some(addr) = &config.metrics.addr {
        serve_metrics(addr, &stats);
    }
    let minutes = backfill.as_ref().map(|range| {
        let pane = |us: i64| (us.max(0) as u64) / 60_000_000;
        pane(range.start)..pane(range.end)
    });
    let run_id = format!(
        "run-{}-p{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        cluster.process
    );
    let options = JobOptions::new(config, run_id)
        .on(cluster)
        .backfill(backfill);
    let dead_letters = match (
        &options.config.source.kind,
        &options.config.kafka.dead_letter_topic,
    ) {
        (SourceKind::Kafka, Some(topic)) => format!("Kafka topic {topic}"),
        _ => data_dir.join("dead_letter").display().to_string(),
    };
    let started = Instant::now();
    let console = Console::start(Arc::clone(&stats), quiet, minutes);
    let result = job::run(options, Arc::clone(&stats), stop);
    console.finish();
    // Where each table went: a directory under the data dir, or a table on the server.
    let place = |table: &str, dir: &str| match &config_url {
        None => data_dir.join(dir).display().to_string(),
        Some(url) => format!(
            "{table} on {}",
            aiops_engine::sink::postgres::server_of(url)
        ),
    };
    let destination = place("otlp_ai_features", "features");
    let operations = place("operation_features", "operations");
    let outputs = Outputs {
        data_dir: &data_dir,
        rows: &destination,
        operations: &operations,
        dead_letters,
        simulation: is_simulation,
    };
    print_summary(&stats, started.elapsed(), &outputs);
    result.context("the job failed")
}

/// Starts the metrics endpoint; a taken address only costs the endpoint, not the job.
fn serve_metrics(addr: &str, stats: &Arc<Stats>) {
    match aiops_engine::sink::prometheus::serve(addr, Arc::clone(stats)) {
        Ok(bound) => tracing::info!("metrics at http://{bound}/metrics"),
        Err(error) => tracing::warn!(%error, "running without the metrics endpoint"),
    }
}

fn install_ctrl_c(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting without flushing");
            std::process::exit(130);
        }
        eprintln!("\nstopping: closing the last minute and flushing files (Ctrl-C again to abort)");
    })
    .context("installing the handler of Ctrl-C and SIGTERM")
}
