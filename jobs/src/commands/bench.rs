//! `aiops bench`: how many spans this machine handles, stage by stage, to size a deployment.
//!
//! The workload is the simulator's (services, rate, topology and length as flags), encoded as
//! OTLP protobuf requests in memory before anything is timed. Each stage then runs the job's
//! own code over the same requests ([`aiops_engine::job::sizing`]); the last row is the whole
//! job (`aiops run --input` over the requests written to a temporary directory: file source,
//! features, graph, scoring, incidents, Parquet). Wall time and the process's CPU time are
//! measured around each run, so spans per CPU-second is the figure that carries to another
//! machine's core count.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiops_engine::config::{JobConfig, SourceKind};
use aiops_engine::job::sizing::{self, Stages, Workload};
use aiops_engine::job::{self, ClusterOptions, JobOptions};
use aiops_engine::record::{Encoding, Signal};
use aiops_engine::source::OtlpFileWriter;
use aiops_engine::stats::Stats;
use anyhow::Context;
use clap::Args;
use cpu_time::ProcessTime;

use super::settings::SimArgs;
use crate::console::counted_bar;

/// Options of `aiops bench`.
#[derive(Args, Debug)]
#[command(after_help = include_str!("help/bench.txt"))]
pub struct BenchArgs {
    #[command(flatten)]
    sim: SimArgs,
    /// Time these OTLP files (`traces-*.binpb`, as `aiops generate` or the Collector's file
    /// exporter writes them) instead of a simulated workload.
    #[arg(long, value_name = "DIR")]
    input: Option<PathBuf>,
    /// Worker threads of the whole-job run (the stages run on one).
    #[arg(long, short = 'w', default_value_t = 1)]
    workers: usize,
    /// Times each stage runs; the fastest run is reported.
    #[arg(long, default_value_t = 2)]
    repeat: usize,
    /// Time only the stages, not the whole job.
    #[arg(long)]
    stages_only: bool,
    /// No progress display.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// The simulator settings `aiops bench` uses where neither flags nor configuration say:
/// a 200-service shop at its daily peak for 10 minutes (about two million spans).
const DEFAULT_SERVICES: usize = 200;
const DEFAULT_TRACES_PER_SECOND: f64 = 100.0;
const DEFAULT_DURATION: &str = "10m";
const DEFAULT_START: &str = "2026-01-05T14:00:00Z";

/// One timed run.
#[derive(Debug, Clone, Copy)]
struct Timed {
    wall: Duration,
    cpu: Duration,
}

impl Timed {
    fn per_second(&self, spans: u64) -> f64 {
        spans as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    fn per_cpu_second(&self, spans: u64) -> f64 {
        spans as f64 / self.cpu.as_secs_f64().max(1e-9)
    }
}

/// Runs `work` and measures it; `Err` only when the CPU clock cannot be read.
fn timed<T>(work: impl FnOnce() -> T) -> anyhow::Result<(T, Timed)> {
    let (wall, cpu) = (Instant::now(), ProcessTime::try_now()?);
    let out = work();
    let cpu = cpu.try_elapsed()?;
    Ok((
        out,
        Timed {
            wall: wall.elapsed(),
            cpu,
        },
    ))
}

/// Times the stages and the whole job and prints the table.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let config = workload_config(&args)?;
    let workload = match &args.input {
        Some(dir) => read_files(dir)?,
        None => {
            let workload = generate(&config, args.quiet)?;
            print_simulated(&config);
            workload
        }
    };
    print_workload(&workload);
    let mut rows = Vec::new();
    for (name, stages) in [
        ("decode", Stages::Decode),
        ("+ features", Stages::Features),
        ("+ graph", Stages::Graph),
    ] {
        rows.push((name.to_string(), fastest(&args, name, &workload, stages)?));
    }
    if !args.stages_only {
        let name = format!("whole job, -w {}", args.workers);
        rows.push((
            name,
            whole_job(&config, &workload, args.input.as_deref(), &args)?,
        ));
    }
    print_table(&rows, workload.spans);
    Ok(())
}

fn workload_config(args: &BenchArgs) -> anyhow::Result<JobConfig> {
    let mut config = args.sim.load()?;
    let sim = &args.sim;
    if sim.services.is_none() {
        config.simulator.services = DEFAULT_SERVICES;
    }
    if sim.traces_per_second.is_none() {
        config.simulator.traces_per_second = DEFAULT_TRACES_PER_SECOND;
    }
    if sim.duration.is_none() {
        config.simulator.duration = Some(DEFAULT_DURATION.into());
    }
    if sim.start.is_none() {
        config.simulator.start = DEFAULT_START.into();
    }
    Ok(config)
}

fn generate(config: &JobConfig, quiet: bool) -> anyhow::Result<Workload> {
    let seconds = config
        .simulator
        .time_range(0)
        .map(|(start, end)| (end.saturating_sub(start)) / 1_000_000_000)?;
    let bar = counted_bar(quiet, seconds, "simulating");
    let workload = sizing::simulated(config, |_| bar.inc(1)).context("simulating the workload")?;
    bar.finish_and_clear();
    Ok(workload)
}

fn read_files(dir: &Path) -> anyhow::Result<Workload> {
    let (workload, skipped_json) =
        sizing::from_files(dir).with_context(|| format!("reading {}", dir.display()))?;
    anyhow::ensure!(
        workload.spans > 0,
        "no spans in protobuf trace files (traces-*.binpb) under {}",
        dir.display()
    );
    println!("workload: the trace files under {}", dir.display());
    if skipped_json > 0 {
        println!(
            "          ({skipped_json} OTLP/JSON trace records left out: the stages time protobuf)"
        );
    }
    Ok(workload)
}

fn print_simulated(config: &JobConfig) {
    let sim = &config.simulator;
    println!(
        "workload: simulator ({:?}, {} services, {} traces/s at peak, {} from {}, seed {})",
        sim.topology,
        sim.services,
        sim.traces_per_second,
        sim.duration.as_deref().unwrap_or("?"),
        sim.start,
        sim.seed
    );
}

fn print_workload(workload: &Workload) {
    let requests = workload.requests.len().max(1);
    println!(
        "          {} spans in {} OTLP protobuf requests ({:.0} spans, {:.1} KiB each; {:.0} bytes a span)",
        workload.spans,
        requests,
        workload.spans as f64 / requests as f64,
        workload.bytes as f64 / requests as f64 / 1024.0,
        workload.bytes as f64 / workload.spans.max(1) as f64
    );
}

/// The fastest of `args.repeat` runs of `stages`.
fn fastest(
    args: &BenchArgs,
    name: &str,
    workload: &Workload,
    stages: Stages,
) -> anyhow::Result<Timed> {
    let bar = counted_bar(args.quiet, args.repeat.max(1) as u64, "timing");
    bar.set_message(name.to_string());
    let mut best: Option<Timed> = None;
    for _ in 0..args.repeat.max(1) {
        let (made, run) = timed(|| sizing::run(&workload.requests, stages))?;
        anyhow::ensure!(
            made.spans == workload.spans,
            "{name}: decoded {} spans of {}",
            made.spans,
            workload.spans
        );
        best = Some(match best {
            Some(best) if best.cpu <= run.cpu => best,
            _ => run,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    best.context("no run")
}

/// The job over the user's files as they are (`input`, metrics and logs included), or over the
/// simulated requests written as files (one per worker, requests dealt round-robin so each
/// covers the whole time range); Parquet into a temporary directory.
fn whole_job(
    config: &JobConfig,
    workload: &Workload,
    input: Option<&Path>,
    args: &BenchArgs,
) -> anyhow::Result<Timed> {
    let (workers, quiet) = (args.workers.max(1), args.quiet);
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let input = match input {
        Some(given) => given.to_path_buf(),
        None => {
            let written = dir.path().join("input");
            write_requests(&written, workload, workers)?;
            written
        }
    };
    let mut config = config.clone();
    config.source.kind = SourceKind::Files;
    config.source.path = Some(input);
    config.sink.data_dir = dir.path().join("data");
    config.metrics.addr = None;
    config.postgres.url = None;
    let stats = Arc::new(Stats::default());
    let options = JobOptions::new(config, "bench").on(ClusterOptions {
        workers,
        ..ClusterOptions::default()
    });
    let bar = counted_bar(quiet, 1, "whole job");
    bar.enable_steady_tick(Duration::from_millis(200));
    let stop = Arc::new(AtomicBool::new(false));
    let (result, run) = timed(|| job::run(options, Arc::clone(&stats), stop))?;
    bar.finish_and_clear();
    result.context("the whole-job run failed")?;
    let spans = stats.snapshot().spans;
    if args.input.is_some() && spans != workload.spans {
        // Spans later than the watermark allows are set aside by the job, not timed as spans.
        println!("          (the whole job took {spans} of them in time; the rest were late)");
    } else {
        anyhow::ensure!(
            spans == workload.spans,
            "the whole job read {spans} spans of {}",
            workload.spans
        );
    }
    Ok(run)
}

fn write_requests(dir: &Path, workload: &Workload, files: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut writers = (0..files)
        .map(|shard| OtlpFileWriter::create(dir, Signal::Traces, shard, Encoding::OtlpProto))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, request) in workload.requests.iter().enumerate() {
        writers[i % files].write(request)?;
    }
    for writer in writers {
        writer.finish()?;
    }
    Ok(())
}

fn print_table(rows: &[(String, Timed)], spans: u64) {
    println!();
    println!(
        "{:<20} {:>9} {:>9} {:>12} {:>16} {:>14}",
        "stage", "wall s", "CPU s", "spans/s", "spans per CPU-s", "CPU µs a span"
    );
    let mut previous: Option<Timed> = None;
    for (name, run) in rows {
        let micros = run.cpu.as_secs_f64() * 1e6 / spans.max(1) as f64;
        let added = match (previous, name.starts_with('+')) {
            (Some(before), true) => {
                let before = before.cpu.as_secs_f64() * 1e6 / spans.max(1) as f64;
                format!(" (+{:.2})", micros - before)
            }
            _ => String::new(),
        };
        println!(
            "{:<20} {:>9.2} {:>9.2} {:>12} {:>16} {:>6.2}{added}",
            name,
            run.wall.as_secs_f64(),
            run.cpu.as_secs_f64(),
            millions(run.per_second(spans)),
            millions(run.per_cpu_second(spans)),
            micros,
        );
        previous = Some(*run);
    }
    println!();
    println!("Stages run on one thread over requests in memory; the whole job adds the file");
    println!("source, scoring, incidents and Parquet. Size by spans per CPU-second: one core of");
    println!("this machine handles about that many spans a second through the stages shown.");
}

fn millions(value: f64) -> String {
    format!("{:.2} M", value / 1e6)
}
