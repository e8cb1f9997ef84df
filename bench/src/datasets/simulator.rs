//! The simulator's ground truth: the faults a simulation injects, as root-cause cases and as
//! time spans for detection.

use aiops_engine::source::sim::Simulator;
use serde::Serialize;

use super::Case;

/// The faults a simulation injects.
pub fn cases(sim: &Simulator) -> Vec<Case> {
    sim.faults
        .iter()
        .filter(|f| f.start_ns < sim.end_ns())
        .map(|f| Case {
            service: sim.topology.services[f.service].name.clone(),
            fault: f.kind.name().to_string(),
            start_us: (f.start_ns / 1_000) as i64,
        })
        .collect()
}

/// A fault's type and time span (µs, end exclusive).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultSpan {
    /// Fault type.
    pub kind: String,
    /// Start.
    pub start_us: i64,
    /// End (exclusive).
    pub end_us: i64,
}

/// Every fault a simulation schedules, as time spans.
pub fn fault_spans(sim: &Simulator) -> Vec<FaultSpan> {
    sim.faults
        .iter()
        .map(|f| FaultSpan {
            kind: f.kind.name().to_string(),
            start_us: (f.start_ns / 1_000) as i64,
            end_us: (f.end_ns / 1_000) as i64,
        })
        .collect()
}
