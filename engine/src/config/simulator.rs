//! `[simulator]`: the built-in simulator's settings, and the vocabulary users write in them
//! (topology shapes, fault kinds).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::record::Encoding;

const SECOND_NS: u64 = 1_000_000_000;
const MINUTE_NS: u64 = 60 * SECOND_NS;

/// Shape of the generated call graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// A web shop: a frontend fanning out to many shallow services (like the OpenTelemetry demo).
    Shop,
    /// TrainTicket-like: long call chains, each service calling the next few.
    Trainticket,
}

/// Kinds of injected faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// +250 ms of processing time on every request.
    Latency,
    /// 35% of requests fail.
    ErrorBurst,
    /// CPU +45 percentage points, processing twice as slow.
    CpuHog,
    /// Memory grows by up to 50 points over the fault; latency and errors grow with it.
    MemoryLeak,
    /// +120 ms on the network path into the service (seen by callers only).
    NetworkDelay,
    /// The service's first operation throws before its calls: it makes none, the framework's
    /// error handler answers (an `ErrorHandler.handle` child span, status OK, as TrainTicket's
    /// controllers answer a caught exception) and an ERROR line is logged. Latency does not
    /// rise (the skipped calls make it faster); add a `latency` fault beside it for both.
    Exception,
    /// The service's first operation returns a wrong (default) result early: no calls, no
    /// error, another INFO statement logged.
    EarlyReturn,
}

impl FaultKind {
    /// The kinds the random schedule rotates through unless `fault_kinds` says otherwise.
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Latency,
        FaultKind::ErrorBurst,
        FaultKind::CpuHog,
        FaultKind::MemoryLeak,
        FaultKind::NetworkDelay,
    ];

    /// The snake_case name used in configs and ground truth.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Latency => "latency",
            FaultKind::ErrorBurst => "error_burst",
            FaultKind::CpuHog => "cpu_hog",
            FaultKind::MemoryLeak => "memory_leak",
            FaultKind::NetworkDelay => "network_delay",
            FaultKind::Exception => "exception",
            FaultKind::EarlyReturn => "early_return",
        }
    }

    /// Whether the fault breaks one operation's code (see [`FaultKind::Exception`]) rather
    /// than the whole service.
    pub fn breaks_operation(self) -> bool {
        matches!(self, FaultKind::Exception | FaultKind::EarlyReturn)
    }
}

/// A fault the user schedules explicitly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// What goes wrong.
    pub kind: FaultKind,
    /// The faulty service's name.
    pub service: String,
    /// Minutes after the simulation start.
    pub start_minute: u64,
    /// Length in minutes.
    pub duration_minutes: u64,
}

/// Simulator settings (`[simulator]` in the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Seed of every random decision.
    pub seed: u64,
    /// Shape of the call graph.
    pub topology: Shape,
    /// Number of services.
    pub services: usize,
    /// Pods per service.
    pub pods_per_service: usize,
    /// Requests per second reaching the entry service at the daily peak.
    pub traces_per_second: f64,
    /// `cloud.region` of every pod.
    pub region: String,
    /// Seconds between metric samples.
    pub metric_interval_s: u64,
    /// A random fault every this many minutes (0: none).
    pub fault_every_minutes: u64,
    /// Length of each random fault, minutes.
    pub fault_duration_minutes: u64,
    /// The kinds random faults rotate through (default: the five of [`FaultKind::ALL`]).
    #[serde(default = "default_fault_kinds")]
    pub fault_kinds: Vec<FaultKind>,
    /// Explicit faults, in addition to the random ones.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// RFC 3339 start of simulated time, or `now` (the current minute).
    pub start: String,
    /// Simulated time to run (`2h`, `90m`); absent (or `""` in a file): until stopped.
    #[serde(default, deserialize_with = "super::values::empty_as_none")]
    pub duration: Option<String>,
    /// Simulated seconds per wall-clock second; 0: as fast as possible.
    pub speed: f64,
    /// Encoding of the emitted OTLP.
    pub encoding: Encoding,
    /// Whether served requests write log lines (see `source::sim::logs`).
    #[serde(default = "logs_on")]
    pub logs: bool,
}

fn logs_on() -> bool {
    true
}

fn default_fault_kinds() -> Vec<FaultKind> {
    FaultKind::ALL.to_vec()
}

impl SimConfig {
    /// Resolves `start` and `duration` to `[start_ns, end_ns)`; `end_ns` is `u64::MAX` when
    /// open-ended. `now_ns` is the wall clock, used for `start = "now"`.
    pub fn time_range(&self, now_ns: u64) -> Result<(u64, u64)> {
        let start_ns = if self.start == "now" {
            now_ns / MINUTE_NS * MINUTE_NS
        } else {
            let start = chrono::DateTime::parse_from_rfc3339(&self.start).map_err(|e| {
                Error::Config(format!(
                    "simulator.start {:?}: {e} (expected RFC 3339 or \"now\")",
                    self.start
                ))
            })?;
            u64::try_from(start.timestamp())
                .map_err(|_| Error::Config("simulator.start is before 1970".into()))?
                * SECOND_NS
        };
        let Some(duration) = &self.duration else {
            return Ok((start_ns, u64::MAX));
        };
        let duration = humantime::parse_duration(duration).map_err(|e| {
            Error::Config(format!(
                "simulator.duration {duration:?}: {e} (e.g. \"90m\", \"2h\")"
            ))
        })?;
        let end_ns = start_ns.saturating_add(duration.as_nanos().min(u128::from(u64::MAX)) as u64);
        Ok((start_ns, end_ns))
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            topology: Shape::Shop,
            services: 20,
            pods_per_service: 2,
            traces_per_second: 20.0,
            region: "eu-west-1".to_string(),
            metric_interval_s: 15,
            fault_every_minutes: 20,
            fault_duration_minutes: 5,
            fault_kinds: default_fault_kinds(),
            faults: Vec::new(),
            start: "now".to_string(),
            duration: None,
            speed: 60.0,
            encoding: Encoding::OtlpProto,
            logs: true,
        }
    }
}
