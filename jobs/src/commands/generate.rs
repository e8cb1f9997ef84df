//! `aiops generate`: simulated OTLP to files, for replay and tests.

use std::path::PathBuf;
use std::sync::Arc;

use aiops_engine::config::{JobConfig, KafkaTopic};
use aiops_engine::job;
use aiops_engine::record::{Encoding, Signal};
use aiops_engine::source::sim::Simulator;
use aiops_engine::source::{KafkaWriter, OtlpFileWriter};
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::settings::{EncodingArg, SimArgs};

/// Options of `aiops generate`.
#[derive(Args, Debug)]
#[command(after_help = include_str!("help/generate.txt"))]
pub struct GenerateArgs {
    #[command(flatten)]
    sim: SimArgs,
    /// Where the telemetry goes.
    #[arg(long, value_enum, default_value = "files")]
    to: Destination,
    /// Output directory (with --to files; ground_truth.csv is written here with --to kafka too).
    #[arg(long, short = 'o', value_name = "DIR", required_if_eq("to", "files"))]
    out: Option<PathBuf>,
    /// Kafka bootstrap servers (with --to kafka; default: kafka.brokers of the config).
    #[arg(long, value_name = "BROKERS")]
    brokers: Option<String>,
    /// Record encoding of the files (Kafka records take their topic's configured encoding).
    #[arg(long, value_enum, default_value = "otlp-proto")]
    format: EncodingArg,
    /// Files per signal, or Kafka partitions written (the simulator's shards; replay spreads
    /// files and partitions over workers). Default: 1 file, or every partition.
    #[arg(long)]
    shards: Option<usize>,
}

/// `--to`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// OTLP files under --out.
    Files,
    /// The OTLP topics of a Kafka cluster.
    Kafka,
}

/// Where one signal's records go, and in which encoding.
enum Writer {
    File(OtlpFileWriter, Encoding),
    /// A topic is written in its configured encoding, as the job will read it.
    Kafka {
        topic: String,
        partition: i32,
        encoding: Encoding,
    },
}

fn progress_bar(seconds: u64, shards: usize) -> ProgressBar {
    let bar = ProgressBar::new(seconds * shards as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} simulated seconds {msg} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn topic_for(config: &JobConfig, signal: Signal) -> anyhow::Result<&KafkaTopic> {
    config
        .kafka
        .topics
        .iter()
        .find(|t| t.signal == signal)
        .with_context(|| format!("no {signal} topic under [kafka] in the configuration"))
}

/// Generates the configured simulation into files or Kafka topics.
pub fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let mut config = args.sim.load()?;
    if config.simulator.duration.is_none() {
        config.simulator.duration = Some("1h".to_string());
    }
    if let Some(brokers) = &args.brokers {
        config.kafka.brokers.clone_from(brokers);
    }
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    let sim = Arc::new(job::simulator(&config, now_ns)?);
    let encoding: Encoding = args.format.into();
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let (counts, destination) = match args.to {
        Destination::Files => {
            let out = args.out.clone().unwrap_or_default();
            let shards = args.shards.unwrap_or(1).max(1);
            let counts = write_shards(
                &sim,
                shards,
                |signal, index| {
                    if signal == Signal::Logs && !config.simulator.logs {
                        return Ok(None);
                    }
                    let file = OtlpFileWriter::create(&out, signal, index, encoding)?;
                    Ok(Some(Writer::File(file, encoding)))
                },
                None,
            )?;
            (counts, out.display().to_string())
        }
        Destination::Kafka => to_kafka(&config, &sim, args.shards)?,
    };
    if let Some(out) = &args.out {
        let truth = out.join("ground_truth.csv");
        std::fs::write(&truth, sim.ground_truth_csv())
            .with_context(|| format!("writing {}", truth.display()))?;
    }
    let seconds = (sim.end_ns() - sim.start_ns()) / 1_000_000_000;
    let Counts {
        traces,
        metrics,
        logs,
    } = counts;
    println!(
        "wrote {traces} trace, {metrics} metric and {logs} log records ({encoding}) covering \
         {seconds} simulated seconds, {} faults, to {destination}",
        sim.faults
            .iter()
            .filter(|f| f.start_ns < sim.end_ns())
            .count(),
    );
    Ok(())
}

/// Writes the simulation to the configured topics: each signal's shard `i` to partition
/// `i mod partitions`; logs only when a logs topic is configured.
fn to_kafka(
    config: &JobConfig,
    sim: &Arc<Simulator>,
    shards: Option<usize>,
) -> anyhow::Result<(Counts, String)> {
    let partitions = aiops_engine::source::kafka::partition_counts(&config.kafka)?;
    let target = |signal: Signal| -> Option<(&KafkaTopic, i32)> {
        let topic = config.kafka.topics.iter().find(|t| t.signal == signal)?;
        let count = partitions
            .iter()
            .find(|(t, _)| *t == topic.name)
            .map_or(1, |(_, n)| *n);
        Some((topic, count))
    };
    // Traces and metrics need a topic; logs are written only where one is configured.
    topic_for(config, Signal::Traces)?;
    topic_for(config, Signal::Metrics)?;
    let most = [Signal::Traces, Signal::Metrics, Signal::Logs]
        .into_iter()
        .filter_map(|signal| target(signal).map(|(_, n)| n))
        .max()
        .unwrap_or(1);
    let shards = shards.unwrap_or(most as usize).max(1);
    let mut producer = KafkaWriter::new(&config.kafka)?;
    let counts = write_shards(
        sim,
        shards,
        |signal, index| {
            Ok(target(signal).map(|(topic, count)| Writer::Kafka {
                topic: topic.name.clone(),
                partition: index as i32 % count,
                encoding: topic.encoding,
            }))
        },
        Some(&mut producer),
    )?;
    producer.flush()?;
    let topics: Vec<String> = [Signal::Traces, Signal::Metrics, Signal::Logs]
        .into_iter()
        .filter_map(|signal| target(signal).map(|(topic, _)| topic.name.clone()))
        .collect();
    Ok((
        counts,
        format!("Kafka {} ({})", config.kafka.brokers, topics.join(", ")),
    ))
}

/// Runs every shard of the simulation into the writers `open` returns (none: the signal is
/// not written); returns the record counts.
fn write_shards(
    sim: &Arc<Simulator>,
    shards: usize,
    mut open: impl FnMut(Signal, usize) -> anyhow::Result<Option<Writer>>,
    mut producer: Option<&mut KafkaWriter>,
) -> anyhow::Result<Counts> {
    let seconds = (sim.end_ns() - sim.start_ns()) / 1_000_000_000;
    let bar = progress_bar(seconds, shards);
    let mut counts = Counts::default();
    for index in 0..shards {
        let mut traces = open(Signal::Traces, index)?;
        let mut metrics = open(Signal::Metrics, index)?;
        let mut logs = open(Signal::Logs, index)?;
        let mut shard = sim.shard(index, shards);
        while let Some(second) = shard.next_second() {
            if let Some(request) = second.traces {
                counts.traces += write(&mut traces, &mut producer, |e| e.encode(&request))?;
            }
            if let Some(request) = second.metrics {
                counts.metrics += write(&mut metrics, &mut producer, |e| e.encode(&request))?;
            }
            if let Some(request) = second.logs {
                counts.logs += write(&mut logs, &mut producer, |e| e.encode(&request))?;
            }
            bar.inc(1);
        }
        for writer in [traces, metrics, logs].into_iter().flatten() {
            if let Writer::File(file, _) = writer {
                file.finish()?;
            }
        }
    }
    bar.finish_and_clear();
    Ok(counts)
}

/// Writes one record, encoded by `encode` in the writer's encoding, where `writer` says;
/// returns how many were written (0 when the signal has nowhere to go).
fn write(
    writer: &mut Option<Writer>,
    producer: &mut Option<&mut KafkaWriter>,
    encode: impl Fn(Encoding) -> Vec<u8>,
) -> anyhow::Result<u64> {
    match writer {
        None => return Ok(0),
        Some(Writer::File(file, encoding)) => file.write(&encode(*encoding))?,
        Some(Writer::Kafka {
            topic,
            partition,
            encoding,
        }) => {
            let producer = producer.as_mut().context("no Kafka producer")?;
            producer.send(topic, Some(*partition), &encode(*encoding), None)?;
        }
    }
    Ok(1)
}

/// Records written per signal.
#[derive(Default)]
struct Counts {
    traces: u64,
    metrics: u64,
    logs: u64,
}
