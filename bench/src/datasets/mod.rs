//! Labelled data: the public datasets' readers and the simulator's ground truth.
//!
//! [`nab`] and [`asd`] read anomaly-detection benchmarks; [`nezha`] replays the Nezha
//! TrainTicket dataset through the job as OTLP (a source the job's factory accepts) and reads
//! its fault lists; [`simulator`] gives the faults a simulation injects. Labelled faults of
//! root-cause datasets are [`Case`]s.

pub mod asd;
pub mod ids;
pub mod nab;
pub mod nezha;
pub mod nezha_logs;
pub mod simulator;

use serde::Serialize;

/// Microseconds per minute.
pub(crate) const MINUTE_US: i64 = 60_000_000;

/// One labelled fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// The faulty service.
    pub service: String,
    /// Fault type, as the dataset names it.
    pub fault: String,
    /// Injection time, µs since the epoch.
    pub start_us: i64,
}

impl Case {
    /// The minute (µs) the fault started in.
    pub fn start_minute_us(&self) -> i64 {
        self.start_us.div_euclid(MINUTE_US) * MINUTE_US
    }
}

/// A published figure: method, source, AC@1/3/5 in percent.
pub type Published = (&'static str, &'static str, [f64; 3]);
