//! Options shared by `run` and `generate`: the config file and simulator overrides.

use std::path::PathBuf;

use aiops_engine::config::JobConfig;
use aiops_engine::config::{FaultKind, Shape};
use aiops_engine::record::Encoding;
use anyhow::Context;
use clap::Args;

/// Configuration file and simulator overrides.
#[derive(Args, Debug, Clone, Default)]
pub struct SimArgs {
    /// TOML configuration file layered over the built-in defaults (engine/config/default.toml);
    /// `AIOPS_<SECTION>__<KEY>` environment variables override it, flags override both.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Seed of the simulator: same seed, same telemetry.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Call-graph shape of the simulated system.
    #[arg(long, value_enum)]
    pub topology: Option<ShapeArg>,
    /// Number of simulated services.
    #[arg(long)]
    pub services: Option<usize>,
    /// Entry requests per second at the daily peak.
    #[arg(long)]
    pub traces_per_second: Option<f64>,
    /// Start of simulated time: RFC 3339 (2026-01-05T09:00:00Z) or "now".
    #[arg(long)]
    pub start: Option<String>,
    /// Simulated time to cover, e.g. 30m, 2h.
    #[arg(long)]
    pub duration: Option<String>,
    /// A random fault every N simulated minutes (0: none).
    #[arg(long, value_name = "N")]
    pub fault_every: Option<u64>,
    /// The kinds random faults rotate through, comma-separated (default: latency,
    /// error-burst, cpu-hog, memory-leak, network-delay).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "KINDS")]
    pub fault_kinds: Option<Vec<FaultKindArg>>,
}

/// Fault kinds, as flags (see `[simulator]` in the README).
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum FaultKindArg {
    /// +250 ms of processing time.
    Latency,
    /// 35% of requests fail.
    ErrorBurst,
    /// CPU +45 points, processing twice as slow.
    CpuHog,
    /// Memory grows, latency and errors with it.
    MemoryLeak,
    /// +120 ms on the network into the service.
    NetworkDelay,
    /// The first operation throws before its calls; the error handler answers.
    Exception,
    /// The first operation returns a default result before its calls.
    EarlyReturn,
}

impl From<FaultKindArg> for FaultKind {
    fn from(value: FaultKindArg) -> Self {
        match value {
            FaultKindArg::Latency => FaultKind::Latency,
            FaultKindArg::ErrorBurst => FaultKind::ErrorBurst,
            FaultKindArg::CpuHog => FaultKind::CpuHog,
            FaultKindArg::MemoryLeak => FaultKind::MemoryLeak,
            FaultKindArg::NetworkDelay => FaultKind::NetworkDelay,
            FaultKindArg::Exception => FaultKind::Exception,
            FaultKindArg::EarlyReturn => FaultKind::EarlyReturn,
        }
    }
}

/// Call-graph shapes, as flags.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum ShapeArg {
    /// A frontend fanning out to shallow services.
    Shop,
    /// Long call chains, TrainTicket-like.
    Trainticket,
}

/// Encodings, as flags.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum EncodingArg {
    /// Protobuf (the Collector's default).
    OtlpProto,
    /// OTLP/JSON.
    OtlpJson,
}

impl From<EncodingArg> for Encoding {
    fn from(value: EncodingArg) -> Self {
        match value {
            EncodingArg::OtlpProto => Encoding::OtlpProto,
            EncodingArg::OtlpJson => Encoding::OtlpJson,
        }
    }
}

impl SimArgs {
    /// Loads the layered configuration and applies these flags.
    pub fn load(&self) -> anyhow::Result<JobConfig> {
        let mut config = JobConfig::load(self.config.as_deref(), std::env::vars())
            .context("loading configuration")?;
        let sim = &mut config.simulator;
        if let Some(seed) = self.seed {
            sim.seed = seed;
        }
        if let Some(shape) = self.topology {
            sim.topology = match shape {
                ShapeArg::Shop => Shape::Shop,
                ShapeArg::Trainticket => Shape::Trainticket,
            };
        }
        if let Some(services) = self.services {
            sim.services = services;
        }
        if let Some(rate) = self.traces_per_second {
            sim.traces_per_second = rate;
        }
        if let Some(start) = &self.start {
            sim.start.clone_from(start);
        }
        if let Some(duration) = &self.duration {
            sim.duration = Some(duration.clone());
        }
        if let Some(every) = self.fault_every {
            sim.fault_every_minutes = every;
        }
        if let Some(kinds) = &self.fault_kinds {
            sim.fault_kinds = kinds.iter().map(|&k| k.into()).collect();
        }
        Ok(config)
    }
}

/// An RFC 3339 time given with `flag`, as µs since the epoch; the error names flag and format.
pub fn micros(text: &str, flag: &str) -> anyhow::Result<i64> {
    use anyhow::Context;
    let time = chrono::DateTime::parse_from_rfc3339(text).with_context(|| {
        format!("{flag} {text:?} is not an RFC 3339 time (2026-01-05T09:00:00Z)")
    })?;
    Ok(time.timestamp_micros())
}

/// Where the public evaluation datasets are.
#[derive(clap::Args, Debug)]
pub struct DataRoot {
    /// Folder of the public datasets (nab/, asd/, nezha-trainticket/).
    #[arg(
        long = "data-root",
        value_name = "DIR",
        env = "AIOPS_DATA_ROOT",
        default_value = "../shared/data"
    )]
    pub root: PathBuf,
}
