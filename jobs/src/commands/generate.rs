//! `aiops generate`: simulated OTLP to files, for replay and tests.

use std::path::PathBuf;
use std::sync::Arc;

use aiops_engine::job;
use aiops_engine::otlp::{encode_metrics, encode_traces, Encoding, Signal};
use aiops_engine::source::OtlpFileWriter;
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::settings::{EncodingArg, SimArgs};

/// Options of `aiops generate`.
#[derive(Args, Debug)]
#[command(
    after_help = "Writes <out>/traces-NNNN.<ext>, <out>/metrics-NNNN.<ext> (.binpb: 4-byte big-endian length + protobuf \
ExportTraceServiceRequest/ExportMetricsServiceRequest per record; .jsonl: one OTLP/JSON request per line) and \
<out>/ground_truth.csv (fault,service,start,end). Replay with `aiops run --input <out>`."
)]
pub struct GenerateArgs {
    #[command(flatten)]
    sim: SimArgs,
    /// Output directory.
    #[arg(long, short = 'o', value_name = "DIR")]
    out: PathBuf,
    /// Record encoding.
    #[arg(long, value_enum, default_value = "otlp-proto")]
    format: EncodingArg,
    /// Files per signal (the simulator's shards; replay spreads files over workers).
    #[arg(long, default_value_t = 1)]
    shards: usize,
}

/// Generates the configured simulation into files.
pub fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let mut config = args.sim.load()?;
    if config.simulator.duration.is_empty() {
        config.simulator.duration = "1h".to_string();
    }
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    let sim = Arc::new(job::simulator(&config, now_ns)?);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let encoding: Encoding = args.format.into();
    let seconds = (sim.end_ns() - sim.start_ns()) / 1_000_000_000;
    let shards = args.shards.max(1);
    let bar = ProgressBar::new(seconds * shards as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} simulated seconds {msg} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut trace_records, mut metric_records) = (0, 0);
    for index in 0..shards {
        let mut traces = OtlpFileWriter::create(&args.out, Signal::Traces, index, encoding)?;
        let mut metrics = OtlpFileWriter::create(&args.out, Signal::Metrics, index, encoding)?;
        let mut shard = sim.shard(index, shards);
        while let Some(second) = shard.next_second() {
            if let Some(request) = second.traces {
                traces.write(&encode_traces(&request, encoding))?;
            }
            if let Some(request) = second.metrics {
                metrics.write(&encode_metrics(&request, encoding))?;
            }
            bar.inc(1);
        }
        trace_records += traces.records;
        metric_records += metrics.records;
        traces.finish()?;
        metrics.finish()?;
    }
    bar.finish_and_clear();
    let truth = args.out.join("ground_truth.csv");
    std::fs::write(&truth, sim.ground_truth_csv())
        .with_context(|| format!("writing {}", truth.display()))?;
    println!(
        "wrote {trace_records} trace and {metric_records} metric records ({encoding}) covering {seconds} simulated seconds, {} faults, to {}",
        sim.faults.iter().filter(|f| f.start_ns < sim.end_ns()).count(),
        args.out.display()
    );
    Ok(())
}
