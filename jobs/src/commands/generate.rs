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
    /// Record encoding.
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

/// Where one signal's records go.
enum Writer {
    File(OtlpFileWriter),
    Kafka { topic: String, partition: i32 },
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
    let (traces, metrics, destination) = match args.to {
        Destination::Files => {
            let out = args.out.clone().unwrap_or_default();
            let shards = args.shards.unwrap_or(1).max(1);
            let (traces, metrics) = write_shards(
                &sim,
                shards,
                encoding,
                |signal, index| {
                    Ok(Writer::File(OtlpFileWriter::create(
                        &out, signal, index, encoding,
                    )?))
                },
                None,
            )?;
            (traces, metrics, out.display().to_string())
        }
        Destination::Kafka => {
            let span_topic = topic_for(&config, Signal::Traces)?.name.clone();
            let metric_topic = topic_for(&config, Signal::Metrics)?.name.clone();
            let counts = aiops_engine::source::kafka::partition_counts(&config.kafka)?;
            let count = |topic: &str| {
                counts
                    .iter()
                    .find(|(t, _)| t == topic)
                    .map_or(1, |(_, n)| *n)
            };
            let (span_partitions, metric_partitions) = (count(&span_topic), count(&metric_topic));
            let shards = args
                .shards
                .unwrap_or(span_partitions.max(metric_partitions) as usize)
                .max(1);
            let mut producer = KafkaWriter::new(&config.kafka)?;
            let (traces, metrics) = write_shards(
                &sim,
                shards,
                encoding,
                |signal, index| {
                    Ok(match signal {
                        Signal::Traces => Writer::Kafka {
                            topic: span_topic.clone(),
                            partition: index as i32 % span_partitions,
                        },
                        Signal::Metrics => Writer::Kafka {
                            topic: metric_topic.clone(),
                            partition: index as i32 % metric_partitions,
                        },
                    })
                },
                Some(&mut producer),
            )?;
            producer.flush()?;
            (
                traces,
                metrics,
                format!(
                    "Kafka {} ({span_topic}, {metric_topic})",
                    config.kafka.brokers
                ),
            )
        }
    };
    if let Some(out) = &args.out {
        let truth = out.join("ground_truth.csv");
        std::fs::write(&truth, sim.ground_truth_csv())
            .with_context(|| format!("writing {}", truth.display()))?;
    }
    let seconds = (sim.end_ns() - sim.start_ns()) / 1_000_000_000;
    println!(
        "wrote {traces} trace and {metrics} metric records ({encoding}) covering {seconds} \
         simulated seconds, {} faults, to {destination}",
        sim.faults
            .iter()
            .filter(|f| f.start_ns < sim.end_ns())
            .count(),
    );
    Ok(())
}

/// Runs every shard of the simulation into the writers `open` returns; returns the trace and
/// metric record counts.
fn write_shards(
    sim: &Arc<Simulator>,
    shards: usize,
    encoding: Encoding,
    mut open: impl FnMut(Signal, usize) -> anyhow::Result<Writer>,
    mut producer: Option<&mut KafkaWriter>,
) -> anyhow::Result<(u64, u64)> {
    let seconds = (sim.end_ns() - sim.start_ns()) / 1_000_000_000;
    let bar = progress_bar(seconds, shards);
    let mut counts = (0, 0);
    for index in 0..shards {
        let mut traces = open(Signal::Traces, index)?;
        let mut metrics = open(Signal::Metrics, index)?;
        let mut shard = sim.shard(index, shards);
        while let Some(second) = shard.next_second() {
            if let Some(request) = second.traces {
                write(&mut traces, &mut producer, &encoding.encode(&request))?;
                counts.0 += 1;
            }
            if let Some(request) = second.metrics {
                write(&mut metrics, &mut producer, &encoding.encode(&request))?;
                counts.1 += 1;
            }
            bar.inc(1);
        }
        for writer in [traces, metrics] {
            if let Writer::File(file) = writer {
                file.finish()?;
            }
        }
    }
    bar.finish_and_clear();
    Ok(counts)
}

fn write(
    writer: &mut Writer,
    producer: &mut Option<&mut KafkaWriter>,
    bytes: &[u8],
) -> anyhow::Result<()> {
    match writer {
        Writer::File(file) => file.write(bytes)?,
        Writer::Kafka { topic, partition } => {
            let producer = producer.as_mut().context("no Kafka producer")?;
            producer.send(topic, Some(*partition), bytes, None)?;
        }
    }
    Ok(())
}
